/**
 * Powertools Tracer for a function that opts in (the vendor-calling workers). On when
 * POWERTOOLS_TRACE_ENABLED is true, which serverless.yml sets for those functions only (with
 * Lambda's active tracing); the local stack and tests leave it unset, so locally nothing is loaded
 * and nothing traced. The variable is Powertools' own, read here as the Tracer itself reads it.
 */
import type middy from '@middy/core';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { useTracer } from './tracing';

let tracer: Tracer | undefined;

function tracerIfOn(): Tracer | undefined {
  if (tracer || process.env.POWERTOOLS_TRACE_ENABLED !== 'true') return tracer;
  // Loaded only when on: the X-Ray SDK is most of this module's weight.
  const { Tracer } = require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
  tracer = new Tracer({ serviceName: 'qunfa', captureHTTPsRequests: false });
  useTracer(tracer);
  return tracer;
}

/** The handler's segment, the AWS clients given, and (through lib/infra/tracing.ts) each vendor call. */
export function tracing(clients: () => object[]): middy.MiddlewareObj[] {
  const t = tracerIfOn();
  if (!t) return [];
  const { captureLambdaHandler } = require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
  let captured = false;
  return [
    {
      before: () => {
        if (captured) return;
        captured = true;
        for (const c of clients()) t.captureAWSv3Client(c);
      },
    },
    captureLambdaHandler(t, { captureResponse: false }),
  ];
}
