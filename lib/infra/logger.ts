/**
 * One structured logger (Powertools) for every function. Nothing secret is ever passed to it:
 * vendor requests are logged by path only, never with tokens, keys or bodies.
 *
 * Each invocation is tagged with what it is about (tenant, task, step, vendor) as soon as that is
 * known: every later log line of the invocation, and every metric's metadata, carries the tags.
 * The `observed()` middleware (lib/infra/telemetry.ts) adds the Lambda request id and clears the
 * tags when the invocation ends. A Lambda process runs one invocation at a time, so one set of
 * tags per process is the invocation's.
 */
import { Logger } from '@aws-lambda-powertools/logger';

/** Its level comes from POWERTOOLS_LOG_LEVEL or LOG_LEVEL, read by Powertools itself (INFO when unset). */
export const logger = new Logger({ serviceName: 'qunfa' });

export interface InvocationTags {
  tenantId?: string;
  taskId?: string;
  step?: number;
  vendor?: string;
}

let tags: InvocationTags = {};

/** Tags the rest of this invocation (its log lines and metrics); an undefined value leaves a tag as it was. */
export function tagInvocation(more: InvocationTags): void {
  const known = Object.fromEntries(Object.entries(more).filter(([, v]) => v !== undefined && v !== '')) as InvocationTags;
  if (!Object.keys(known).length) return;
  tags = { ...tags, ...known };
  logger.appendKeys(known as Record<string, string | number>);
}

/** Tags the rest of this invocation afresh (an invocation that goes from one task to the next: the sweeper, the dead-letter consumer). */
export function retagInvocation(next: InvocationTags): void {
  logger.removeKeys(Object.keys(tags));
  tags = {};
  tagInvocation(next);
}

export const invocationTags = (): Readonly<InvocationTags> => tags;

let requestId: string | undefined;

/** A new invocation starts untagged (the logger's own keys are reset by injectLambdaContext); its request id goes on its metrics too. */
export function startInvocation(awsRequestId?: string): void {
  tags = {};
  requestId = awsRequestId;
}

/** The Lambda request id of the invocation running now (the logger's function_request_id). */
export const invocationRequestId = (): string | undefined => requestId;
