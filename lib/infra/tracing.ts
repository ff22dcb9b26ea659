/**
 * Tracing (X-Ray through Powertools Tracer), where it pays: the workers that call vendors
 * (dispatchStep, dispatchNow, pollStatus) turn it on (lib/infra/xray.ts, imported by those
 * functions only, so no other bundle carries the X-Ray SDK). Everything else calls `traced()`,
 * which is the bare call when no tracer is set: locally, in tests, and in the API functions.
 */
import type { Tracer } from '@aws-lambda-powertools/tracer';

let tracer: Tracer | undefined;

/** Set once per process by lib/infra/xray.ts when tracing is on. */
export function useTracer(t: Tracer | undefined): void {
  tracer = t;
}

/** `fn` in a subsegment named `name` (annotated, so X-Ray can filter by vendor) when tracing is on. */
export async function traced<T>(name: string, annotations: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const parent = tracer?.getSegment();
  if (!tracer || !parent) return fn();
  const sub = parent.addNewSubsegment(name);
  for (const [k, v] of Object.entries(annotations)) sub.addAnnotation(k, v);
  tracer.setSegment(sub);
  try {
    return await fn();
  } catch (err) {
    sub.addError(err as Error);
    throw err;
  } finally {
    sub.close();
    tracer.setSegment(parent);
  }
}
