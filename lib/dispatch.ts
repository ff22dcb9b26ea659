/**
 * dispatchStep: claim → vendor adapter → record the outcome. Schedules and async invokes are
 * at-least-once; the claim (SCHEDULED → DISPATCHING, a conditional write) makes it exactly-once
 * in effect. A vendor call is retried only where the vendor provably did not accept it; anything
 * that may have reached the vendor ends UNKNOWN and is never re-sent.
 */
import { config } from './config';
import type { Invoker } from './invoke';
import { logger } from './log';
import { schedulePoll } from './poll';
import { notifyChange } from './progress';
import type { DispatchEvent, Scheduler } from './scheduler/index';
import type { Step, Vendor } from './schema';
import { moveStep } from './states';
import type { StoredTask, TaskStore } from './store';
import { stepInput } from './tasks';
import type { TenantDirectory } from './tenants';
import { vendorContext, type Wired } from './vendors/context';
import { splitIntoBatches } from './vendors/batches';
import { adapterFor } from './vendors/registry';
import { VendorCallError, type StepRequestInput, type SubmitResult } from './vendors/types';

export interface DispatchDeps {
  store: TaskStore;
  tenants: TenantDirectory;
  scheduler: () => Promise<Scheduler>;
  invoke: Invoker;
  /** Milliseconds this invocation may still use (Lambda's getRemainingTimeInMillis). */
  remainingMs?: () => number;
}

export type DispatchOutcome =
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'SUBMITTED' | 'FAILED' | 'UNKNOWN'; vendorTaskId?: string };

/** A stray or early invoke more than this before the step's time is ignored. */
const EARLY_TOLERANCE_MS = 5_000;

export async function dispatchStep(deps: DispatchDeps, event: DispatchEvent): Promise<DispatchOutcome> {
  const { tenantId, taskId, step: index } = event;
  const c = config();
  const now = Date.now();
  const leaseOver = (s: Step) => !!s.claimedAt && now - Date.parse(s.claimedAt) > c.DISPATCH_LEASE_SECONDS * 1000;

  const found = await deps.store.get(tenantId, taskId);
  if (!found) return { outcome: 'skipped', reason: 'no such task' };
  const before = found.steps[index];
  // The audience is read (and split into vendor-sized batches) only when this invocation may send.
  const maySend = !!before && (before.status === 'SCHEDULED' || (before.status === 'DISPATCHING' && !!before.batches && leaseOver(before)));
  const parts = maySend ? await requestParts(deps, found, before as Step) : [];

  const claim = await deps.store.update(tenantId, taskId, (t) => {
    const s = t.steps[index];
    if (!s) return undefined;
    if (s.status === 'SCHEDULED') {
      if (Date.parse(s.sendAt) - now > EARLY_TOLERANCE_MS) return undefined;
      moveStep(t, index, 'DISPATCHING', 'claimed by a dispatcher', {
        claimedAt: new Date(now).toISOString(),
        attempts: (s.attempts ?? 0) + 1,
        ...(parts.length > 1 ? { batches: parts.map((p, i) => ({ index: i, size: audienceSize(p), status: i === 0 ? 'SENDING' as const : 'PENDING' as const })) } : {}),
      });
      return 'claimed' as const;
    }
    if (s.status === 'DISPATCHING' && leaseOver(s)) {
      if (s.batches) {
        // Resume a fan-out whose dispatcher died: the batch it was sending may have reached the
        // vendor (UNKNOWN, never re-sent); the batches not yet sent go out now.
        for (const b of s.batches) {
          if (b.status === 'SENDING') Object.assign(b, { status: 'UNKNOWN', error: { code: 'qunfa.dispatch_lost', message: 'the dispatcher died while sending this batch' } });
        }
        s.claimedAt = new Date(now).toISOString();
        const next = s.batches.find((b) => b.status === 'PENDING');
        if (next) { next.status = 'SENDING'; return 'resumed' as const; }
        finishBatches(t, index);
        return 'lease_expired' as const;
      }
      // The dispatcher that claimed it died; the vendor may or may not have the step. Never re-send.
      moveStep(t, index, 'UNKNOWN', `the dispatch that claimed this step did not finish; the vendor may have received it, so it is not re-sent. ${lookupAdvice(t.vendor, t.name, s.claimedAt)}`, {
        error: { code: 'qunfa.dispatch_lost', message: `no outcome recorded within ${c.DISPATCH_LEASE_SECONDS} s of the claim` },
      });
      return 'lease_expired' as const;
    }
    return undefined;
  }, found);
  if (!claim) return { outcome: 'skipped', reason: 'no such task' };
  if (claim.result === 'lease_expired') await notifyChange(deps.invoke, claim.task);
  if (claim.result !== 'claimed' && claim.result !== 'resumed') {
    return { outcome: 'skipped', reason: claim.result ?? `step is ${claim.task.steps[index]?.status ?? 'missing'}` };
  }
  if (claim.task.steps[index]?.batches) return sendBatches(deps, claim.task, index, parts);

  const task = claim.task;
  const step = task.steps[index] as Step;
  const result = await submitWithRetries(deps, task.vendor, tenantId, parts[0] as StepRequestInput, task.id);

  const patch: Partial<Step> = result.kind === 'ok'
    ? { vendorTaskId: result.value.vendorTaskId, vendorResponse: result.value.raw, submittedAt: new Date().toISOString() }
    : { error: { code: result.error.code, message: result.error.message } };
  const to = result.kind === 'ok' ? 'SUBMITTED' : result.error.kind === 'ambiguous' ? 'UNKNOWN' : 'FAILED';
  const cause = result.kind === 'ok'
    ? acceptedCause(task.vendor)
    : to === 'UNKNOWN'
      ? `${task.vendor} may have received the step (${result.error.message}); not re-sent. ${lookupAdvice(task.vendor, task.name, step.claimedAt)}`
      : `${task.vendor} refused: ${result.error.code} ${result.error.message}`;

  const recorded = await deps.store.update(tenantId, taskId, (t) => {
    if (t.steps[index]?.status !== 'DISPATCHING') return undefined; // someone (the lease sweep) got there first
    moveStep(t, index, to, cause, patch);
    return true;
  }, task);
  logger.info('step dispatched', { taskId, step: index, vendor: task.vendor, outcome: to });
  if (result.kind === 'ok' && recorded?.result) await followUp(deps, task.vendor, tenantId, taskId, index, result.value.vendorTaskId);
  if (recorded?.result) await notifyChange(deps.invoke, recorded.task);
  return { outcome: to, ...(result.kind === 'ok' && result.value.vendorTaskId ? { vendorTaskId: result.value.vendorTaskId } : {}) };
}

const acceptedCause = (vendor: Vendor) => adapterFor(vendor)?.capabilities.status === 'none'
  ? `accepted by ${vendor}; ${vendor} offers no way to learn results (no status endpoint, no callback), so qunfa's knowledge of this step ends here`
  : `accepted by ${vendor}`;

const audienceSize = (i: StepRequestInput) => (i.audience.kind === 'groups' ? i.audience.groupIds?.length : i.audience.customerIds?.length) ?? 0;

/** The step's vendor requests: one, or one per vendor-sized batch of its (full) audience. */
async function requestParts(deps: DispatchDeps, task: StoredTask, step: Step): Promise<StepRequestInput[]> {
  const input = stepInput({ ...task, audience: await deps.store.fullAudience(task) }, step);
  const adapter = adapterFor(task.vendor);
  return adapter ? splitIntoBatches(input, adapter.capabilities.limits) : [input];
}

/**
 * Sends the batches one after another. Each batch's outcome and the next batch's claim are one
 * conditional write (which also renews the lease), so a batch is sent at most once even when the
 * dispatcher dies half-way: a later invocation resumes with the batches never sent.
 */
async function sendBatches(deps: DispatchDeps, start: StoredTask, index: number, parts: StepRequestInput[]): Promise<DispatchOutcome> {
  let task = start;
  for (;;) {
    const b = task.steps[index]?.batches?.find((x) => x.status === 'SENDING');
    if (!b) break;
    const result = await submitWithRetries(deps, task.vendor, task.tenantId, parts[b.index] as StepRequestInput, task.id);
    const rec = await deps.store.update(task.tenantId, task.id, (t) => {
      const s = t.steps[index];
      const mine = s?.batches?.[b.index];
      if (!s || s.status !== 'DISPATCHING' || mine?.status !== 'SENDING') return undefined;
      if (result.kind === 'ok') Object.assign(mine, { status: 'SUBMITTED', ...(result.value.vendorTaskId ? { vendorTaskId: result.value.vendorTaskId } : {}) });
      else Object.assign(mine, { status: result.error.kind === 'ambiguous' ? 'UNKNOWN' : 'FAILED', error: { code: result.error.code, message: result.error.message } });
      s.claimedAt = new Date().toISOString();
      const next = s.batches?.find((x) => x.status === 'PENDING');
      if (next) { next.status = 'SENDING'; return 'more' as const; }
      finishBatches(t, index);
      return 'done' as const;
    }, task);
    if (!rec?.result) break;
    task = rec.task;
    if (rec.result === 'done') {
      const s = task.steps[index] as Step;
      logger.info('step dispatched in batches', { taskId: task.id, step: index, vendor: task.vendor, batches: s.batches?.length, outcome: s.status });
      if (s.status === 'SUBMITTED') await followUp(deps, task.vendor, task.tenantId, task.id, index, s.vendorTaskId);
      await notifyChange(deps.invoke, task);
      break;
    }
  }
  const s = task.steps[index] as Step;
  return s.status === 'SUBMITTED' || s.status === 'FAILED' || s.status === 'UNKNOWN'
    ? { outcome: s.status, ...(s.vendorTaskId ? { vendorTaskId: s.vendorTaskId } : {}) }
    : { outcome: 'skipped', reason: `step is ${s.status}` };
}

/** All batches have an outcome: the step's own. */
function finishBatches(t: StoredTask, index: number): void {
  const s = t.steps[index] as Step;
  const bs = s.batches ?? [];
  const sent = bs.filter((b) => b.status === 'SUBMITTED');
  const unknown = bs.filter((b) => b.status === 'UNKNOWN');
  const failed = bs.filter((b) => b.status === 'FAILED');
  const first = sent[0]?.vendorTaskId ? { vendorTaskId: sent[0].vendorTaskId, submittedAt: new Date().toISOString() } : {};
  const list = (xs: typeof bs) => xs.map((b) => b.index).join(', ');
  if (unknown.length) {
    moveStep(t, index, 'UNKNOWN', `batches ${list(unknown)} of ${bs.length} may have reached ${t.vendor} and are not re-sent; ${sent.length} submitted. ${lookupAdvice(t.vendor, t.name, s.claimedAt)}`, { ...first, error: unknown[0]?.error });
  } else if (!sent.length) {
    moveStep(t, index, 'FAILED', `${t.vendor} refused every batch: ${failed[0]?.error?.code} ${failed[0]?.error?.message}`, { error: failed[0]?.error });
  } else {
    moveStep(t, index, 'SUBMITTED', `${acceptedCause(t.vendor)} in ${bs.length} batches`, {
      ...first,
      ...(failed.length ? { error: { code: 'qunfa.partial', message: `batches ${list(failed)} of ${bs.length} were refused: ${failed[0]?.error?.message}` } } : {}),
    });
  }
}

/**
 * How qunfa will learn the rest: schedule the first status poll, or index the vendor's id so its
 * callbacks find the step. A failure here is logged, never turned into a re-send.
 */
async function followUp(deps: DispatchDeps, vendor: Vendor, tenantId: string, taskId: string, index: number, vendorTaskId: string | undefined): Promise<void> {
  const how = adapterFor(vendor)?.capabilities.status;
  try {
    if (how === 'poll' && vendorTaskId) await schedulePoll(await deps.scheduler(), tenantId, taskId, index, 0);
    if (how === 'callback' && vendorTaskId) await deps.store.putVendorRef(tenantId, vendor, vendorTaskId, { taskId, step: index });
  } catch (err) {
    logger.error('could not arrange status follow-up', { taskId, step: index, errorMessage: (err as Error).message });
  }
}

/** No vendor documents a lookup by anything but the id it returns: say what a person can do. */
function lookupAdvice(vendor: Vendor, name: string, claimedAt?: string): string {
  return `${vendor} offers no lookup except by the task id it returns, which never arrived: look in ${vendor}'s console for a task named "${name}" created around ${claimedAt ?? 'the claim time'}`;
}

type Attempt = { kind: 'ok'; value: SubmitResult } | { kind: 'error'; error: VendorCallError };

async function submitWithRetries(deps: DispatchDeps, vendor: Vendor, tenantId: string, input: ReturnType<typeof stepInput>, taskId: string): Promise<Attempt> {
  const c = config();
  let wired: Wired;
  try {
    wired = await vendorContext(deps.tenants, tenantId, vendor);
  } catch (err) {
    if (err instanceof VendorCallError) return { kind: 'error', error: err };
    throw err;
  }
  const { adapter, ctx } = wired;
  for (let retry = 0; ; retry++) {
    try {
      return { kind: 'ok', value: await adapter.submit(ctx, input) };
    } catch (err) {
      const error = err instanceof VendorCallError
        ? err
        // A bug in our own code mid-call: we cannot know whether the request left.
        : new VendorCallError('ambiguous', 'qunfa.internal', 'the dispatch failed unexpectedly mid-call');
      if (!(err instanceof VendorCallError)) logger.error('adapter threw', { taskId, error: err as Error });
      const retryable = error.kind === 'throttled' || error.kind === 'not_sent';
      const pause = Math.max(error.retryAfterMs ?? 0, c.DISPATCH_BACKOFF_MS * 2 ** retry * (0.5 + Math.random() / 2));
      const timeLeft = deps.remainingMs?.() ?? Number.POSITIVE_INFINITY;
      if (!retryable || retry >= c.DISPATCH_MAX_RETRIES || pause + c.VENDOR_TIMEOUT_MS + 2_000 > timeLeft) {
        if (retryable) {
          return { kind: 'error', error: new VendorCallError('refused', error.code, `${error.message} (gave up after ${retry + 1} attempts)`) };
        }
        return { kind: 'error', error };
      }
      logger.warn('vendor call not accepted; retrying', { taskId, vendor, code: error.code, retry: retry + 1, pauseMs: Math.round(pause) });
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
