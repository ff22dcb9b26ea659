/**
 * Flow control around every vendor call: take a permit from the shared limiter (waiting in-process
 * only while all in-flight slots are busy, which passes in milliseconds), make the call, give the
 * permit back with what happened. When there is no room for longer — a full window, or the vendor
 * asked us to wait — the caller defers through the scheduler to when room is expected, spread by
 * jitter so deferred work does not stampede.
 */
import type { RateLimits } from '../core/rateLimits';
import type { Admission, CallKind, FlowLimiter, Permit } from '../infra/flowLimiter';
import { metric } from '../infra/metrics';
import { traced } from '../infra/tracing';
import { VendorCallError } from '../vendors/adapter';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tries for a permit; waits for an in-flight slot at most `budgetMs`, never for a window. */
export async function admit(
  limiter: FlowLimiter,
  tenantId: string,
  vendor: string,
  kind: CallKind,
  limits: RateLimits,
  budgetMs: number,
  returning = false,
): Promise<Admission> {
  const until = Date.now() + Math.max(0, budgetMs);
  let pause = 20;
  for (;;) {
    const a = await limiter.tryAcquire(tenantId, vendor, kind, limits, returning);
    if (a.granted || (a.reason !== 'in-flight' && a.reason !== 'contention')) return a;
    // Slots free as calls end (milliseconds); a lease's own end is only the worst case.
    if (Date.now() + pause > until) return { ...a, retryAt: Date.now() + 1_000 };
    await sleep(pause * (0.5 + Math.random()));
    pause = Math.min(pause * 2, 100);
  }
}

/** When deferred work should try again: when room is expected, plus jitter that grows with the wait. */
export function nextAttempt(retryAt: number, jitterMs: number, now = Date.now()): Date {
  const wait = Math.max(0, retryAt - now);
  const spread = Math.min(jitterMs, Math.max(500, wait / 20));
  return new Date(Math.max(retryAt, now) + Math.random() * spread);
}

/** The words a history entry uses for why a step waits. */
export function deferralReason(a: Exclude<Admission, { granted: true }>, limits: RateLimits, vendor: string): string {
  switch (a.reason) {
    case 'per-minute':
      return `no room: ${limits.perMinute} ${vendor} writes in the last minute`;
    case 'per-hour':
      return `no room: ${limits.perHour} ${vendor} writes in the last hour`;
    case 'vendor-ban':
      return `${vendor} throttled this tenant's calls until ${new Date(a.retryAt).toISOString()}`;
    default:
      return `all ${limits.inFlight} in-flight slots for ${vendor} stayed busy`;
  }
}

/** No room for a call that cannot be deferred (a poll reschedules itself; an API request answers 503). */
export class NoRoom extends Error {
  constructor(
    readonly retryAt: number,
    reason: string,
  ) {
    super(reason);
    this.name = 'NoRoom';
  }
}

/**
 * One vendor call inside a permit, for calls that are simply asked again later when there is no
 * room (status polls, cancels, reminders). Throws NoRoom when no permit came within the wait.
 */
export async function withPermit<T>(
  limiter: FlowLimiter,
  tenantId: string,
  vendor: string,
  kind: CallKind,
  limits: RateLimits,
  waitMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const a = await admit(limiter, tenantId, vendor, kind, limits, Math.min(waitMs, 3_000));
  if (!a.granted) throw new NoRoom(a.retryAt, deferralReason(a, limits, vendor));
  let outcome: Parameters<FlowLimiter['release']>[1] = { reachedVendor: true };
  try {
    return await vendorCall(vendor, kind, fn);
  } catch (err) {
    outcome = callOutcome(err);
    throw err;
  } finally {
    await releaseQuietly(limiter, a.permit, outcome);
  }
}

/**
 * One call to a vendor, measured: its latency (VendorCallLatency), a throttle answer
 * (VendorThrottles), and an X-Ray subsegment where tracing is on. Every vendor call goes through it.
 */
export async function vendorCall<T>(vendor: string, operation: CallKind, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await traced(`${vendor}.${operation}`, { vendor, operation }, fn);
  } catch (err) {
    if (err instanceof VendorCallError && err.kind === 'throttled') metric('VendorThrottles', { vendor });
    throw err;
  } finally {
    metric('VendorCallLatency', { vendor, operation }, Math.round(performance.now() - started));
  }
}

/** What a failed vendor call means for the limiter: was it counted, did the vendor ask for a pause? */
export function callOutcome(err: unknown): Parameters<FlowLimiter['release']>[1] {
  if (!(err instanceof VendorCallError)) return { reachedVendor: true };
  return {
    reachedVendor: err.kind !== 'not_sent',
    ...(err.kind === 'throttled' ? { banUntil: Date.now() + (err.retryAfterMs ?? 1_000) } : {}),
  };
}

/** Giving a permit back never fails the call it was for: a slot not given back returns by expiry. */
export async function releaseQuietly(limiter: FlowLimiter, permit: Permit, outcome: Parameters<FlowLimiter['release']>[1]): Promise<void> {
  await limiter.release(permit, outcome).catch(() => undefined);
}
