/**
 * Powertools Tracer for a function that opts in (the vendor-calling workers). On when
 * POWERTOOLS_TRACE_ENABLED is true, which serverless.yml sets for those functions only (with
 * Lambda's active tracing); the local stack and tests leave it unset, so locally nothing is loaded
 * and nothing traced. The variable is Powertools' own, read here as the Tracer itself reads it.
 * The Tracer (most of it the X-Ray SDK) is loaded at the first invocation, not at module load.
 */
import type middy from '@middy/core';
import { useTracer } from './tracing';

/** The handler's segment, the AWS clients given, and (through lib/infra/tracing.ts) each vendor call. */
export function tracing(clients: () => object[]): middy.MiddlewareObj[] {
  if (process.env.POWERTOOLS_TRACE_ENABLED !== 'true') return [];
  let traced: Promise<middy.MiddlewareObj> | undefined;
  const load = () =>
    (traced ??= (async () => {
      const [{ Tracer }, { captureLambdaHandler }] = await Promise.all([
        import('@aws-lambda-powertools/tracer'),
        import('@aws-lambda-powertools/tracer/middleware'),
      ]);
      const tracer = new Tracer({ serviceName: 'qunfa', captureHTTPsRequests: false });
      useTracer(tracer);
      for (const c of clients()) tracer.captureAWSv3Client(c);
      return captureLambdaHandler(tracer, { captureResponse: false });
    })());
  // Powertools' own middleware, run once it is loaded (it opens the segment before, closes it after).
  return [
    {
      before: async (request) => {
        await (await load()).before?.(request);
      },
      after: async (request) => {
        await (await load()).after?.(request);
      },
      onError: async (request) => {
        await (await load()).onError?.(request);
      },
    },
  ];
}
