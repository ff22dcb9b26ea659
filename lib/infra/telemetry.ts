/**
 * What every function wears (one middy middleware list): Powertools' logger middleware adds the
 * Lambda request id (function_request_id), cold start and function name to every log line and
 * resets the invocation's keys at its end; the invocation's tags start empty. Metrics need no
 * flush here: each is written as it happens (lib/infra/metrics.ts).
 */
import type middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logger, startInvocation } from './logger';

export function observed(): middy.MiddlewareObj[] {
  return [{ before: (request) => startInvocation(request.context?.awsRequestId) }, injectLambdaContext(logger, { resetKeys: true })];
}
