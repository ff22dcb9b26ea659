/**
 * Callbacks to the caller (SPEC §1): for each change in a task's history, in order, POST
 * {id, type: "task.updated", occurredAt, task} signed with the tenant's webhookSecret:
 *   Qunfa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 * A failed delivery is retried through the scheduler with backoff until a 2xx, for up to
 * 24 h; every attempt is recorded. One delivery runs per task at a time (a lease), so events
 * arrive in order; receivers dedupe by `id`. `task` is the task as GET returns it at delivery.
 * Each attempt ends within CALLBACK_TIMEOUT_MS; a delivery that dies holding the lease is taken
 * over by the backstop schedule it made before its first attempt.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Settings } from '../infra/settings';
import { logger } from '../infra/logger';
import { metric } from '../infra/metrics';
import { postJson } from '../infra/guardedFetch';
import { callbackBackstopName, callbackContinueName, callbackScheduleName, type CallbackEvent, type Scheduler } from '../infra/scheduler/scheduler';
import { publicTask, type CallbackState, type TaskStore } from '../infra/taskStore';
import { callbackAbandoned, callbackLeaseHeld, callbackLeaseUntil, isStateChange } from '../core/states';
import { findTenant, type TenantDirectory } from '../infra/tenantDirectory';

export function signCallback(secret: string, timestamp: number, rawBody: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`, 'utf8').digest('hex')}`;
}

/** What a receiver does (the README shows the same in a few lines): check v1 and the timestamp's age. */
export function verifyCallbackSignature(secret: string, header: string | undefined, rawBody: string, toleranceSeconds = 300, now = Date.now()): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(now / 1000 - t) > toleranceSeconds) return false;
  const expected = Buffer.from(signCallback(secret, t, rawBody).slice(-64));
  return timingSafeEqual(expected, Buffer.from(m[2] as string));
}

export interface CallbackDeps {
  settings: Settings;
  store: TaskStore;
  tenants: TenantDirectory;
  scheduler: () => Promise<Scheduler>;
}

const MAX_ATTEMPTS_KEPT = 500;
/** Kept after the last attempt of an invocation for the writes and schedules that close it. */
const CLOSING_MS = 5_000;
/** A backstop fires this long after its lease ends (schedulers fire at or after their time; clocks differ a little). */
const BACKSTOP_MARGIN_MS = 5_000;
/** How soon a delivery that ran out of time is continued. */
const CONTINUE_AFTER_MS = 1_000;

/**
 * `remainingMs`: the invocation's time left (Lambda's getRemainingTimeInMillis). No attempt starts
 * unless it can end (CALLBACK_TIMEOUT_MS) within half the lease and before the invocation must end.
 */
export async function deliverCallbacks(
  deps: CallbackDeps,
  ev: CallbackEvent,
  o: { remainingMs?: () => number } = {},
): Promise<{ delivered: number; pending: number }> {
  const budget = Math.min(deps.settings.CALLBACK_LEASE_SECONDS * 500, (o.remainingMs?.() ?? Number.POSITIVE_INFINITY) - CLOSING_MS);
  return deliverWithin(deps, ev, Date.now() + budget);
}

async function deliverWithin(deps: CallbackDeps, ev: CallbackEvent, attemptsUntil: number): Promise<{ delivered: number; pending: number }> {
  const c = deps.settings;
  const task = await deps.store.get(ev.tenantId, ev.taskId);
  const tenant = task?.callbackUrl ? await findTenant(deps.tenants, ev.tenantId) : undefined;
  if (!task?.callbackUrl || !tenant) return { delivered: 0, pending: 0 };

  // Take the lease; whoever holds it delivers everything pending, in order.
  const now = Date.now();
  let state: CallbackState = (await deps.store.getCallbackState(ev.tenantId, ev.taskId)) ?? {
    cursor: 0,
    attempts: [],
    abandoned: [],
    leaseUntil: 0,
    version: 0,
  };
  if (callbackLeaseHeld(state.leaseUntil, now)) return { delivered: 0, pending: task.history.length - state.cursor };
  // Nothing to tell (a backstop or a retry that finds all delivered): no lease, no schedule.
  if (!task.history.slice(state.cursor).some(isStateChange)) return { delivered: 0, pending: task.history.length - state.cursor };
  const expected = state.version;
  state = { ...state, leaseUntil: callbackLeaseUntil(now, c.CALLBACK_LEASE_SECONDS), version: expected + 1 };
  if (!(await deps.store.putCallbackState(ev.tenantId, ev.taskId, state, expected))) return { delivered: 0, pending: -1 };
  const lease = state.version;
  /** Writes what is known so far; false if the lease has gone to someone else. */
  const save = async (patch: Partial<CallbackState> = {}) => {
    const before = state.version;
    state = { ...state, ...patch, version: before + 1 };
    return deps.store.putCallbackState(ev.tenantId, ev.taskId, state, before);
  };

  // The next attempt is arranged before this one starts: if this invocation dies holding the lease
  // (killed, timed out), the backstop delivers what is left once the lease has passed.
  const scheduler = await deps.scheduler();
  const backstop = callbackBackstopName(ev.taskId, lease);
  try {
    await scheduler.schedule(backstop, new Date(state.leaseUntil + BACKSTOP_MARGIN_MS), ev);
  } catch (err) {
    // Nothing attempted without one: the lease is given back and the invocation fails (Lambda retries it).
    await save({ leaseUntil: 0 }).catch(() => false);
    throw err;
  }

  let delivered = 0;
  let arranged = false; // a later attempt is scheduled (a retry or a continuation)
  let lost = false; // the lease went to someone else: nothing more here is ours to do
  let fresh = task;
  try {
    while (state.cursor < fresh.history.length) {
      const entry = fresh.history[state.cursor]!;
      if (!isStateChange(entry)) {
        state.cursor++;
        continue;
      } // creation (the caller has the 201) or a note such as a deferral
      if (Date.now() + c.CALLBACK_TIMEOUT_MS > attemptsUntil) {
        // Out of this invocation's time: the rest goes to a schedule, and no attempt outlives the lease.
        await scheduler.schedule(callbackContinueName(fresh.id, lease), new Date(Date.now() + CONTINUE_AFTER_MS), ev);
        arranged = true;
        break;
      }
      const eventId = `${fresh.id}.${state.cursor}`;
      const body = JSON.stringify({ id: eventId, type: 'task.updated', occurredAt: entry.at, task: publicTask(fresh) });
      const t = Math.floor(Date.now() / 1000);
      let status: number | undefined;
      let error: string | undefined;
      try {
        status = (
          await postJson(
            fresh.callbackUrl as string,
            body,
            { 'qunfa-signature': signCallback(tenant.webhookSecret, t, body), 'qunfa-event-id': eventId },
            {
              allowPrivate: c.QUNFA_MODE === 'local',
              timeoutMs: c.CALLBACK_TIMEOUT_MS,
            },
          )
        ).status;
      } catch (err) {
        error = (err as { code?: string }).code ?? (err as Error).message;
      }
      state.attempts.push({ eventId, at: new Date().toISOString(), ...(status !== undefined ? { status } : {}), ...(error ? { error } : {}) });
      if (state.attempts.length > MAX_ATTEMPTS_KEPT) state.attempts.splice(0, state.attempts.length - MAX_ATTEMPTS_KEPT);
      const ok = status !== undefined && status >= 200 && status < 300;
      if (ok) {
        state.cursor++;
        delivered++;
        delete state.retryAt;
        metric('CallbacksDelivered', {});
        logger.info('callback delivered', { eventId, status });
      } else metric('CallbackAttemptsFailed', {});
      // Each attempt is kept as it ends, so a delivery that dies later re-sends at most the event in flight.
      if (!(await save())) {
        lost = true;
        break;
      }
      if (ok) {
        // Later changes may have landed meanwhile: deliver them too, with the newest task.
        if (state.cursor >= fresh.history.length) fresh = (await deps.store.get(ev.tenantId, ev.taskId)) ?? fresh;
        continue;
      }
      const tries = state.attempts.filter((a) => a.eventId === eventId).length;
      if (callbackAbandoned(entry.at, Date.now(), c.CALLBACK_GIVE_UP_SECONDS)) {
        logger.warn('callback abandoned after the retry window', { taskId: fresh.id, eventId, tries });
        state.abandoned.push(eventId);
        state.cursor++;
        metric('CallbacksAbandoned', {});
        continue;
      }
      const pauses = c.CALLBACK_RETRY_SECONDS;
      const pause = pauses[Math.min(tries - 1, pauses.length - 1)] as number;
      const retryAt = Date.now() + pause * 1000;
      await scheduler.schedule(callbackScheduleName(fresh.id, state.cursor, tries), new Date(retryAt), ev);
      // Kept with the state (saved as the lease is given back): the sweeper knows when the retry is due.
      state.retryAt = retryAt;
      arranged = true;
      break;
    }
  } finally {
    if (!lost) await save({ leaseUntil: 0 });
  }
  // What comes next is arranged, or nothing is left: the backstop has no work. Should deleting it
  // fail, its firing finds nothing pending, or delivers what is (receivers dedupe by id).
  await scheduler.cancel(backstop).catch((err: unknown) =>
    logger.warn('could not delete the callback backstop; it will fire and find little or nothing to do', {
      taskId: ev.taskId,
      error: (err as Error).message,
    }),
  );
  // A change that landed while we held the lease found it taken and left the work to us.
  if (!arranged && !lost) {
    const latest = await deps.store.get(ev.tenantId, ev.taskId);
    if (latest && latest.history.length > state.cursor) {
      const more = await deliverWithin(deps, ev, attemptsUntil);
      return { delivered: delivered + more.delivered, pending: more.pending };
    }
  }
  return { delivered, pending: fresh.history.length - state.cursor };
}
