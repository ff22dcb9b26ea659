/**
 * dispatchStep: claim → vendor adapter → record the outcome. Schedules and async invokes are
 * at-least-once; the claim (SCHEDULED → DISPATCHING, a conditional write) makes it exactly-once
 * in effect. A vendor call is retried only where the vendor provably did not accept it; anything
 * that may have reached the vendor ends UNKNOWN and is never re-sent.
 */
import type { Settings } from '../infra/settings';
import { admit, callOutcome, deferralReason, nextAttempt, releaseQuietly, vendorCall } from './flowControl';
import type { Invoker } from '../infra/workerInvoker';
import type { FlowLimiter } from '../infra/flowLimiter';
import { logger } from '../infra/logger';
import { metric } from '../infra/metrics';
import { schedulePoll } from './pollStatus';
import { notifyChange } from './progress';
import { revScheduleName, stepScheduleName, type DispatchEvent, type Scheduler } from '../infra/scheduler/scheduler';
import type { Batch, Step, VendorId } from '../core/task';
import {
  batchesDone,
  batchesOutcome,
  claimNextCall,
  dispatchDecision,
  expireStep,
  loseClaim,
  moveBatch,
  moveStep,
  noteDeferral,
  pastDeadline,
  refuseUnsent,
  releaseUnsent,
  retriesUntil,
  stateAfterError,
  stillClaimed,
  type CallClaim,
} from '../core/states';
import type { StoredTask, TaskStore } from '../infra/taskStore';
import type { TenantDirectory } from '../infra/tenantDirectory';
import { vendorContext, type Wired } from './vendorContext';
import { planBatches } from '../vendors/batches';
import { adapterFor, type VendorSettingsMap } from '../vendors/registry';
import { stepInput } from '../vendors/stepInput';
import { VendorCallError, type StepRequestInput, type SubmitResult } from '../vendors/adapter';

export interface DispatchDeps {
  settings: Settings;
  vendors: VendorSettingsMap;
  store: TaskStore;
  tenants: TenantDirectory;
  scheduler: () => Promise<Scheduler>;
  invoke: Invoker;
  limiter: FlowLimiter;
  /** Milliseconds this invocation may still use (Lambda's getRemainingTimeInMillis). */
  remainingMs?: () => number;
}

export type DispatchOutcome =
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'deferred'; nextAttemptAt: string }
  | { outcome: 'SUBMITTED' | 'FAILED' | 'UNKNOWN'; vendorTaskId?: string };

/** A vendor that could not be reached is tried again after this (until the step's notAfter). */
const UNREACHABLE_RETRY_MS = 30_000;

/** A stray or early invoke more than this before the step's time is ignored. */
const EARLY_TOLERANCE_MS = 5_000;

/**
 * One path for every step: each vendor call (the step's one call, or each of its batches) takes a
 * permit from the flow limiter, is claimed by a conditional write, is sent, and its outcome is
 * recorded. No room → the step waits (deferred) and its schedule fires it again; the vendor
 * throttling → the claim is given back unsent and deferred the same way; past notAfter → FAILED.
 */
export async function dispatchStep(deps: DispatchDeps, event: DispatchEvent): Promise<DispatchOutcome> {
  const { tenantId, taskId, step: index } = event;
  const c = deps.settings;
  const decide = (s: Step | undefined) => decideNow(c, s);

  const found = await deps.store.get(tenantId, taskId);
  const decision = decide(found?.steps[index]);
  if (!found || !decision) return { outcome: 'skipped', reason: 'no such task' };
  let task: StoredTask = found;
  if (decision.kind === 'wait') {
    await rearm(deps, found, index);
    return { outcome: 'skipped', reason: decision.reason };
  }
  if (decision.kind === 'expire') return expire(deps, task, index);
  if (decision.kind === 'lost') {
    const lost = await declareLost(deps, task, index);
    if (!lost) return { outcome: 'skipped', reason: 'the step changed meanwhile' };
    if (!lost.steps[index]?.batches) return { outcome: 'UNKNOWN' };
    task = lost;
  }

  let wired: Wired;
  try {
    wired = await vendorContext(deps.tenants, tenantId, task.vendor, deps.vendors, deps.settings);
  } catch (err) {
    if (!(err instanceof VendorCallError)) throw err;
    return fail(deps, task, index, err);
  }
  // The audience never changes after create: it is read and planned once, and each batch is built
  // only when it is sent (a step never holds every batch's request at once). The content is taken
  // from the version each claim holds (a PATCH may have changed it a moment ago).
  const plan = planBatches(stepInput({ ...task, audience: await deps.store.fullAudience(task) }, task.steps[index] as Step), wired.adapter.capabilities);

  for (;;) {
    const budget = Math.min(c.IN_FLIGHT_WAIT_MS, (deps.remainingMs?.() ?? Number.POSITIVE_INFINITY) - c.VENDOR_TIMEOUT_MS * 2 - 2_000);
    const admission = await admit(deps.limiter, tenantId, task.vendor, 'write', wired.limits, budget, (task.steps[index]?.deferrals ?? 0) > 0);
    if (!admission.granted) return defer(deps, task, index, deferralReason(admission, wired.limits, task.vendor), admission.retryAt, admission.reserved);
    const { permit } = admission;

    const claimedAt = new Date();
    const claim = await deps.store
      .update(tenantId, taskId, (t) => (decide(t.steps[index])?.kind === 'send' ? claimNextCall(t, index, plan.shapes, claimedAt) : undefined), task)
      .catch(async (err: unknown) => {
        await releaseQuietly(deps.limiter, permit, { reachedVendor: false });
        throw err;
      });
    if (!claim?.result) {
      await releaseQuietly(deps.limiter, permit, { reachedVendor: false });
      if (claim && decide(claim.task.steps[index])?.kind === 'expire') return expire(deps, claim.task, index);
      return { outcome: 'skipped', reason: claim ? `step is ${claim.task.steps[index]?.status}` : 'no such task' };
    }
    task = claim.task;
    const call = claim.result;
    const step = task.steps[index] as Step;
    const input: StepRequestInput = { ...plan.batch(call.batch ?? 0), content: step.content, sendAt: step.sendAt };

    // Retries stop while the place in flight is surely still ours, and at the step's deadline.
    const deadline = retriesUntil(step, permit.lease);
    const result = await submitWithRetries(deps, wired, input, taskId, deadline);
    await releaseQuietly(deps.limiter, permit, callOutcome(result.kind === 'error' ? result.error : undefined));

    if (result.kind === 'error' && result.error.kind === 'throttled') {
      return giveBack(
        deps,
        task,
        index,
        call,
        claimedAt.toISOString(),
        `${task.vendor} throttled the call (${result.error.code} ${result.error.message})`,
        Date.now() + (result.error.retryAfterMs ?? 1_000),
        'throttled',
      );
    }
    if (result.kind === 'error' && result.error.kind === 'not_sent') {
      return giveBack(
        deps,
        task,
        index,
        call,
        claimedAt.toISOString(),
        `${task.vendor} could not be reached (${result.error.code} ${result.error.message})`,
        Date.now() + UNREACHABLE_RETRY_MS,
        'unreachable',
      );
    }
    const recorded = await deps.store.update(
      tenantId,
      taskId,
      (t) => (stillClaimed(t, index, call, claimedAt.toISOString()) ? recordCall(t, index, call, result) : undefined),
      task,
    );
    if (!recorded?.result) return { outcome: 'skipped', reason: 'the claim was declared lost before the outcome arrived' };
    task = recorded.task;
    const s = task.steps[index] as Step;
    if (s.status === 'DISPATCHING') continue; // the next batch
    logger.info('step dispatched', { taskId, step: index, vendor: task.vendor, outcome: s.status, ...(s.batches ? { batches: s.batches.length } : {}) });
    countDispatched(task.vendor, s.status);
    if (s.status === 'SUBMITTED') await followUp(deps, task.vendor, tenantId, taskId, index, s.vendorTaskId);
    await notifyChange(deps.invoke, task);
    return s.status === 'SUBMITTED' || s.status === 'FAILED' || s.status === 'UNKNOWN'
      ? { outcome: s.status, ...(s.vendorTaskId ? { vendorTaskId: s.vendorTaskId } : {}) }
      : { outcome: 'skipped', reason: `step is ${s.status}` };
  }
}

type Attempt = { kind: 'ok'; value: SubmitResult } | { kind: 'error'; error: VendorCallError };

/** A call's outcome on the claimed step (or batch); the last batch's gives the step its own. */
function recordCall(t: StoredTask, index: number, call: CallClaim, result: Attempt): true {
  // (a step of one call: its own outcome; a batch: the batch's, and the step's after the last)
  const now = new Date().toISOString();
  if (call.batch === undefined) {
    if (result.kind === 'ok') {
      moveStep(t, index, 'SUBMITTED', acceptedCause(t.vendor), { vendorTaskId: result.value.vendorTaskId, vendorResponse: result.value.raw, submittedAt: now });
    } else if (stateAfterError(result.error.kind) === 'UNKNOWN') {
      const s = t.steps[index] as Step;
      moveStep(
        t,
        index,
        'UNKNOWN',
        `${t.vendor} may have received the step (${result.error.message}); not re-sent. ${lookupAdvice(t.vendor, t.name, s.claimedAt)}`,
        { error: { code: result.error.code, message: result.error.message } },
      );
    } else {
      moveStep(t, index, 'FAILED', `${t.vendor} refused: ${result.error.code} ${result.error.message}`, {
        error: { code: result.error.code, message: result.error.message },
      });
    }
    return true;
  }
  const s = t.steps[index] as Step;
  const b = s.batches?.[call.batch] as Batch;
  if (result.kind === 'ok') moveBatch(b, 'SUBMITTED', result.value.vendorTaskId ? { vendorTaskId: result.value.vendorTaskId } : {});
  else moveBatch(b, stateAfterError(result.error.kind), { error: { code: result.error.code, message: result.error.message } });
  if (batchesDone(s.batches ?? [])) finishBatches(t, index);
  else s.nextAttemptAt = now; // the rest may go now (this dispatcher goes on with them)
  return true;
}

/** The deadline passed before the step (or its remaining batches) reached the vendor. */
async function expire(deps: DispatchDeps, known: StoredTask, index: number): Promise<DispatchOutcome> {
  const out = await deps.store.update(
    known.tenantId,
    known.id,
    (t) => {
      const s = t.steps[index];
      if (decideNow(deps.settings, s)?.kind !== 'expire') return undefined;
      expireStep(t, index);
      if ((s as Step).status === 'DISPATCHING') finishBatches(t, index);
      return true;
    },
    known,
  );
  if (!out?.result) return { outcome: 'skipped', reason: 'the step changed meanwhile' };
  logger.info('step expired', { taskId: known.id, step: index, vendor: known.vendor });
  metric('StepsExpired', { vendor: known.vendor });
  await notifyChange(deps.invoke, out.task);
  const s = out.task.steps[index] as Step;
  return { outcome: s.status === 'SUBMITTED' ? 'SUBMITTED' : 'FAILED' };
}

const decideNow = (c: Pick<Settings, 'DISPATCH_LEASE_SECONDS'>, s: Step | undefined) =>
  s && dispatchDecision(s, Date.now(), { leaseMs: c.DISPATCH_LEASE_SECONDS * 1000, earlyMs: EARLY_TOLERANCE_MS });

/**
 * No room now: the step waits. Its next schedule is made first (a record without a schedule
 * would wait forever; a schedule without a record just finds the step as it is), then the note.
 * If room is expected only after the step's notAfter, it ends now instead.
 */
async function defer(deps: DispatchDeps, known: StoredTask, index: number, reason: string, retryAt: number, reserved = false): Promise<DispatchOutcome> {
  const s = known.steps[index] as Step;
  // A second the limiter chose for this step is kept (spread within it); otherwise jitter spreads.
  const at = reserved ? new Date(retryAt + Math.random() * 800) : nextAttempt(retryAt, deps.settings.DEFER_JITTER_MS);
  if (pastDeadline(s, at.getTime())) return expireEarly(deps, known, index, `${reason}; room is expected only at ${at.toISOString()}`);
  const rev = (s.rev ?? 0) + 1;
  await (
    await deps.scheduler()
  ).schedule(revScheduleName(known.id, index, rev, at), at, { kind: 'dispatch', tenantId: known.tenantId, taskId: known.id, step: index });
  const out = await deps.store.update(
    known.tenantId,
    known.id,
    (t) => {
      if (decideNow(deps.settings, t.steps[index])?.kind !== 'send') return undefined;
      noteDeferral(t, index, reason, at);
      return true;
    },
    known,
  );
  if (!out?.result) return { outcome: 'skipped', reason: 'the step changed meanwhile' };
  logger.info('step deferred', { taskId: known.id, step: index, vendor: known.vendor, reason, nextAttemptAt: at.toISOString() });
  metric('StepsDeferred', { vendor: known.vendor, reason: 'noRoom' });
  return { outcome: 'deferred', nextAttemptAt: at.toISOString() };
}

/**
 * A firing that finds its step deferred makes sure the schedule for the deferral exists (named by
 * version and time, so this is a no-op when it does): a deferral whose schedule could not be made
 * is healed by the next firing — Lambda's retry, or any other schedule of the step.
 */
async function rearm(deps: DispatchDeps, task: StoredTask, index: number): Promise<void> {
  const s = task.steps[index] as Step;
  if (!s.nextAttemptAt || !s.rev) return;
  await (
    await deps.scheduler()
  ).schedule(stepScheduleName(task.id, s), new Date(s.nextAttemptAt), { kind: 'dispatch', tenantId: task.tenantId, taskId: task.id, step: index });
}

/**
 * The vendor provably has nothing of a claimed call (it throttled, or could not be reached): the
 * claim is given back and the step waits. If its schedule cannot be made, the claim is still given
 * back (a claim left standing would end UNKNOWN though nothing was sent) and the error rethrown:
 * Lambda's retry of this invocation finds the step waiting and makes the schedule (see `rearm`).
 */
async function giveBack(
  deps: DispatchDeps,
  known: StoredTask,
  index: number,
  call: CallClaim,
  claimedAt: string,
  reason: string,
  retryAt: number,
  cause: 'throttled' | 'unreachable',
): Promise<DispatchOutcome> {
  const s = known.steps[index] as Step;
  const at = nextAttempt(retryAt, deps.settings.DEFER_JITTER_MS);
  const late = pastDeadline(s, at.getTime());
  const rev = (s.rev ?? 0) + 1;
  let scheduleError: Error | undefined;
  if (!late) {
    await (
      await deps.scheduler()
    )
      .schedule(revScheduleName(known.id, index, rev, at), at, { kind: 'dispatch', tenantId: known.tenantId, taskId: known.id, step: index })
      .catch((err: unknown) => {
        scheduleError = err instanceof Error ? err : new Error(String(err));
      });
  }
  const out = await deps.store.update(
    known.tenantId,
    known.id,
    (t) => {
      if (!stillClaimed(t, index, call, claimedAt)) return undefined;
      releaseUnsent(t, index, call, reason, at);
      if (late) {
        expireStep(t, index);
        if (t.steps[index]?.status === 'DISPATCHING') finishBatches(t, index);
      }
      return true;
    },
    known,
  );
  if (scheduleError) throw scheduleError;
  if (!out?.result) return { outcome: 'skipped', reason: 'the claim was declared lost meanwhile' };
  logger.info('vendor call given back unsent; step deferred', { taskId: known.id, step: index, vendor: known.vendor, reason, nextAttemptAt: at.toISOString() });
  if (late) metric('StepsExpired', { vendor: known.vendor });
  else metric('StepsDeferred', { vendor: known.vendor, reason: cause });
  await notifyChange(deps.invoke, out.task);
  return late ? { outcome: 'FAILED' } : { outcome: 'deferred', nextAttemptAt: at.toISOString() };
}

/** Room is expected only after the deadline: end now rather than wait for nothing. */
async function expireEarly(deps: DispatchDeps, known: StoredTask, index: number, why: string): Promise<DispatchOutcome> {
  const out = await deps.store.update(
    known.tenantId,
    known.id,
    (t) => {
      const s = t.steps[index];
      if (decideNow(deps.settings, s)?.kind !== 'send') return undefined;
      expireStep(t, index);
      const h = t.history.at(-1);
      if (h) h.cause = `${h.cause} (${why})`;
      if (t.steps[index]?.status === 'DISPATCHING') finishBatches(t, index);
      return true;
    },
    known,
  );
  if (!out?.result) return { outcome: 'skipped', reason: 'the step changed meanwhile' };
  metric('StepsExpired', { vendor: known.vendor });
  await notifyChange(deps.invoke, out.task);
  return { outcome: out.task.steps[index]?.status === 'SUBMITTED' ? 'SUBMITTED' : 'FAILED' };
}

/** No usable credentials: nothing can be sent. */
async function fail(deps: DispatchDeps, known: StoredTask, index: number, err: VendorCallError): Promise<DispatchOutcome> {
  const out = await deps.store.update(known.tenantId, known.id, (t) => refuseUnsent(t, index, err), known);
  if (out?.result) countDispatched(known.vendor, 'FAILED');
  if (out?.result) await notifyChange(deps.invoke, out.task);
  return out?.result ? { outcome: 'FAILED' } : { outcome: 'skipped', reason: 'the step changed meanwhile' };
}

/**
 * A claimed call whose dispatcher died (lease over) may have reached the vendor: UNKNOWN, never
 * re-sent. A step of one call becomes UNKNOWN; in a step of batches that batch does, and the
 * batches never sent go out after it.
 */
async function declareLost(deps: DispatchDeps, known: StoredTask, index: number): Promise<StoredTask | undefined> {
  const out = await deps.store.update(
    known.tenantId,
    known.id,
    (t) => {
      const s = t.steps[index];
      if (!s || decideNow(deps.settings, s)?.kind !== 'lost') return undefined;
      loseClaim(t, index, { leaseSeconds: deps.settings.DISPATCH_LEASE_SECONDS, advice: lookupAdvice(t.vendor, t.name, s.claimedAt) });
      if (s.batches && batchesDone(s.batches)) finishBatches(t, index);
      return true;
    },
    known,
  );
  if (!out?.result) return undefined;
  if (out.task.steps[index]?.status === 'UNKNOWN') countDispatched(known.vendor, 'UNKNOWN');
  if (out.task.steps[index]?.status !== 'DISPATCHING') await notifyChange(deps.invoke, out.task);
  return out.task;
}

/** A step's vendor call(s) ended: counted by outcome, and UNKNOWN once more on its own (it pages a person). */
function countDispatched(vendor: VendorId, outcome: string): void {
  metric('StepsDispatched', { vendor, outcome });
  if (outcome === 'UNKNOWN') metric('StepsUnknown', { vendor });
}

const acceptedCause = (vendor: VendorId) =>
  adapterFor(vendor)?.capabilities.status === 'none'
    ? `accepted by ${vendor}; ${vendor} offers no way to learn results (no status endpoint, no callback), so qunfa's knowledge of this step ends here`
    : `accepted by ${vendor}`;

/** All batches have an outcome: the step's own. */
function finishBatches(t: StoredTask, index: number): void {
  const s = t.steps[index] as Step;
  const bs = s.batches ?? [];
  const sent = bs.filter((b) => b.status === 'SUBMITTED');
  const unknown = bs.filter((b) => b.status === 'UNKNOWN');
  const failed = bs.filter((b) => b.status === 'FAILED');
  const first = sent[0]?.vendorTaskId ? { vendorTaskId: sent[0].vendorTaskId, submittedAt: new Date().toISOString() } : {};
  const list = (xs: typeof bs) => xs.map((b) => b.index).join(', ');
  const outcome = batchesOutcome(bs);
  if (outcome === 'UNKNOWN') {
    moveStep(
      t,
      index,
      'UNKNOWN',
      `batches ${list(unknown)} of ${bs.length} may have reached ${t.vendor} and are not re-sent; ${sent.length} submitted. ${lookupAdvice(t.vendor, t.name, s.claimedAt)}`,
      { ...first, error: unknown[0]?.error },
    );
  } else if (outcome === 'FAILED') {
    moveStep(t, index, 'FAILED', `${t.vendor} refused every batch: ${failed[0]?.error?.code} ${failed[0]?.error?.message}`, { error: failed[0]?.error });
  } else {
    moveStep(t, index, 'SUBMITTED', `${acceptedCause(t.vendor)} in ${bs.length} batches`, {
      ...first,
      ...(failed.length
        ? { error: { code: 'qunfa.partial', message: `batches ${list(failed)} of ${bs.length} were refused: ${failed[0]?.error?.message}` } }
        : {}),
    });
  }
}

/**
 * How qunfa will learn the rest: schedule the first status poll, or index the vendor's id so its
 * callbacks find the step. A failure here is logged, never turned into a re-send.
 */
async function followUp(
  deps: DispatchDeps,
  vendor: VendorId,
  tenantId: string,
  taskId: string,
  index: number,
  vendorTaskId: string | undefined,
): Promise<void> {
  const how = adapterFor(vendor)?.capabilities.status;
  try {
    if (how === 'poll' && vendorTaskId) await schedulePoll(await deps.scheduler(), deps.settings.STATUS_POLL_INTERVALS, tenantId, taskId, index, 0);
    if (how === 'callback' && vendorTaskId) await deps.store.putVendorRef(tenantId, vendor, vendorTaskId, { taskId, step: index });
  } catch (err) {
    logger.error('could not arrange status follow-up', { taskId, step: index, errorMessage: (err as Error).message });
  }
}

/** No vendor documents a lookup by anything but the id it returns: say what a person can do. */
function lookupAdvice(vendor: VendorId, name: string, claimedAt?: string): string {
  return `${vendor} offers no lookup except by the task id it returns, which never arrived: look in ${vendor}'s console for a task named "${name}" created around ${claimedAt ?? 'the claim time'}`;
}

/**
 * One vendor call. A failure to connect (the vendor provably has nothing) is retried in-process
 * with backoff, within the permit and before `deadline`; a throttle answer returns at once (the
 * caller defers); anything that may have reached the vendor is never retried.
 */
async function submitWithRetries(deps: DispatchDeps, wired: Wired, input: StepRequestInput, taskId: string, deadline: number): Promise<Attempt> {
  const c = deps.settings;
  const { adapter, ctx } = wired;
  for (let retry = 0; ; retry++) {
    try {
      return { kind: 'ok', value: await vendorCall(adapter.id, 'write', () => adapter.submit(ctx, input)) };
    } catch (err) {
      const error =
        err instanceof VendorCallError
          ? err
          : // A bug in our own code mid-call: we cannot know whether the request left.
            new VendorCallError('ambiguous', 'qunfa.internal', 'the dispatch failed unexpectedly mid-call');
      if (!(err instanceof VendorCallError)) logger.error('adapter threw', { taskId, error: err as Error });
      if (error.kind !== 'not_sent') return { kind: 'error', error };
      const pause = c.DISPATCH_BACKOFF_MS * 2 ** retry * (0.5 + Math.random() / 2);
      const timeLeft = deps.remainingMs?.() ?? Number.POSITIVE_INFINITY;
      // Out of tries or time: still provably unsent, so the caller gives the claim back (deferred).
      if (retry >= c.DISPATCH_MAX_RETRIES || pause + c.VENDOR_TIMEOUT_MS + 2_000 > timeLeft || Date.now() + pause + c.VENDOR_TIMEOUT_MS > deadline) {
        return { kind: 'error', error: new VendorCallError('not_sent', error.code, `${error.message} (not reached in ${retry + 1} attempts)`) };
      }
      logger.warn('vendor not reachable; retrying', { taskId, vendor: adapter.id, code: error.code, retry: retry + 1, pauseMs: Math.round(pause) });
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
