/**
 * Status polling, for vendors whose results are only asked for (Weiban, WShoto). After a step is
 * SUBMITTED, checks are scheduled with the same scheduler at STATUS_POLL_INTERVALS (the last one
 * repeating) and stop at a final state. They also stop, for every vendor, at STATUS_POLL_MAX_COUNT
 * polls (failed ones counted), STATUS_POLL_MAX_AGE_SECONDS after the submit, or the vendor's own
 * result horizon: the step then ends COMPLETED with its last figures if anything was sent, else
 * FAILED, and its history says qunfa stopped following it and why (lib/core/states.ts pollCutoff).
 */
import type { Settings } from '../infra/settings';
import { NoRoom, nextAttempt, withPermit } from './flowControl';
import type { FlowLimiter } from '../infra/flowLimiter';
import { logger } from '../infra/logger';
import { metric } from '../infra/metrics';
import type { Invoker } from '../infra/workerInvoker';
import { applyVendorStatus, notifyChange } from './progress';
import { pollScheduleName, type PollEvent, type Scheduler } from '../infra/scheduler/scheduler';
import { followedSince, followedVendorTaskIds, isFinal, lastKnown, pollCutoff, pollLimits, polledOutcome } from '../core/states';
import type { TaskStore } from '../infra/taskStore';
import { stepInput } from '../vendors/stepInput';
import type { TenantDirectory } from '../infra/tenantDirectory';
import { combineStatuses } from '../vendors/batches';
import { adapterFor, type VendorSettingsMap } from '../vendors/registry';
import { vendorContext } from './vendorContext';
import { VendorCallError, type VendorStatus } from '../vendors/adapter';

export interface PollDeps {
  settings: Settings;
  vendors: VendorSettingsMap;
  store: TaskStore;
  tenants: TenantDirectory;
  scheduler: () => Promise<Scheduler>;
  invoke: Invoker;
  limiter: FlowLimiter;
}

export async function schedulePoll(
  scheduler: Scheduler,
  intervals: readonly number[],
  tenantId: string,
  taskId: string,
  step: number,
  n: number,
  at?: Date,
): Promise<{ n: number; at: number }> {
  const when = at ?? nextPollTime(intervals, n);
  await scheduler.schedule(pollScheduleName(taskId, step, n), when, { kind: 'poll', tenantId, taskId, step, n });
  return { n, at: when.getTime() };
}

/** When poll number `n` (from 0) of a step comes: the interval for it after now (the last repeats). */
export const nextPollTime = (intervals: readonly number[], n: number) => new Date(Date.now() + (intervals[Math.min(n, intervals.length - 1)] as number) * 1000);

export async function pollStep(deps: PollDeps, ev: PollEvent): Promise<{ outcome: string }> {
  const task = await deps.store.get(ev.tenantId, ev.taskId);
  const step = task?.steps[ev.step];
  if (!task || !step) return { outcome: 'no such step' };
  if (isFinal(step.status)) return { outcome: `already ${step.status}` };
  // A step sent in batches is as far along as its batches together.
  const ids = followedVendorTaskIds(step);
  if (!ids.length) return { outcome: 'no vendor task id to ask about' };
  // A poll of a chain already further on (a late or re-driven one, or the sweeper's racing the schedule's): the chain goes on without it.
  const recorded = task.nextPolls?.[String(ev.step)]?.n;
  if (recorded !== undefined && recorded > ev.n) return { outcome: `poll ${ev.n} is behind this step's poll ${recorded}` };

  // Credentials gone or the vendor disabled: a failed poll like any other (counted, so the step ends at the cap).
  const wired = await vendorContext(deps.tenants, ev.tenantId, task.vendor, deps.vendors, deps.settings).catch((err: unknown) => {
    if (err instanceof VendorCallError) return err;
    throw err;
  });
  const adapter = wired instanceof VendorCallError ? adapterFor(task.vendor) : wired.adapter;
  if (!adapter?.status) return { outcome: `${task.vendor} cannot be asked` };
  const c = deps.settings;
  // Decided before asking, so a poll that fails is counted and ends the step at the cap too.
  const cut = pollCutoff(
    { n: ev.n + 1, since: followedSince(step), now: Date.now() },
    pollLimits(c.STATUS_POLL_MAX_COUNT, c.STATUS_POLL_MAX_AGE_SECONDS, adapter.capabilities.resultHorizonDays),
    task.vendor,
  );
  let status: Omit<VendorStatus, 'raw'>;
  let failedWith: string | undefined;
  try {
    if (wired instanceof VendorCallError) throw wired;
    const { ctx, limits } = wired;
    const ask = adapter.status.bind(adapter);
    const input = stepInput(task, step);
    const each: VendorStatus[] = [];
    // Each question is a vendor call like any other: it takes an in-flight slot (not a write's window).
    for (const id of ids)
      each.push(await withPermit(deps.limiter, ev.tenantId, task.vendor, 'read', limits, deps.settings.IN_FLIGHT_WAIT_MS, () => ask(ctx, id, input)));
    const asked = each.length === 1 ? (each[0] as VendorStatus) : combineStatuses(each);
    // A call the vendor has no results for yet (WeCom's "not yet") says nothing of its recipients:
    // this poll's sums and rows would be short, so the last known ones are kept until all answer.
    const partial = each.length > 1 && each.some((s) => !s.stats) && each.some((s) => s.stats);
    // Each recipient's outcome, where the vendor reports it, kept apart from the task (GET /recipients).
    if (asked.recipients && adapter.capabilities.recipientResults && !partial)
      await deps.store.putRecipients(ev.tenantId, ev.taskId, ev.step, asked.recipients);
    const { recipients: _r, raw: _raw, stats, ...summary } = asked;
    status = { ...summary, ...(stats && !partial ? { stats } : {}) };
  } catch (err) {
    if (err instanceof NoRoom) {
      // No room to ask now: ask when there is, without counting it as a poll.
      const next = await schedulePoll(
        await deps.scheduler(),
        deps.settings.STATUS_POLL_INTERVALS,
        ev.tenantId,
        ev.taskId,
        ev.step,
        ev.n + 1,
        nextAttempt(err.retryAt, deps.settings.DEFER_JITTER_MS),
      );
      await deps.store.noteNextPoll(ev.tenantId, ev.taskId, ev.step, next);
      metric('StatusPolls', { vendor: task.vendor, result: 'noRoom' });
      return { outcome: `no room to ask: ${err.message}` };
    }
    if (!(err instanceof VendorCallError)) throw err;
    // Asking is always safe to repeat: a failed ask only means asking again later, up to the cap.
    logger.warn('status poll failed', { taskId: task.id, step: ev.step, code: err.code, last: Boolean(cut) });
    metric('StatusPolls', { vendor: task.vendor, result: 'failed' });
    if (!cut) {
      const next = await schedulePoll(await deps.scheduler(), deps.settings.STATUS_POLL_INTERVALS, ev.tenantId, ev.taskId, ev.step, ev.n + 1);
      await deps.store.noteNextPoll(ev.tenantId, ev.taskId, ev.step, next);
      return { outcome: `poll failed: ${err.code}` };
    }
    failedWith = err.code;
    status = lastKnown(step);
  }

  if (!failedWith) metric('StatusPolls', { vendor: task.vendor, result: 'ok' });
  logger.info('status polled', { n: ev.n, state: status.state });
  const outcome = polledOutcome(status, cut, task.vendor, failedWith);
  status = outcome.status;
  const cause = outcome.cause;

  // The next poll's time is noted with this poll's outcome (one write), then scheduled.
  const next = isFinal(status.state) ? undefined : { n: ev.n + 1, at: nextPollTime(deps.settings.STATUS_POLL_INTERVALS, ev.n + 1).getTime() };
  const changed = await applyVendorStatus(
    deps.store,
    ev.tenantId,
    ev.taskId,
    ev.step,
    status,
    cause,
    failedWith ? {} : { polls: (step.polls ?? 0) + 1 },
    task,
    next,
  );
  if (changed && changed.history.length !== task.history.length) await notifyChange(deps.invoke, changed);
  if (next) await schedulePoll(await deps.scheduler(), deps.settings.STATUS_POLL_INTERVALS, ev.tenantId, ev.taskId, ev.step, next.n, new Date(next.at));
  return { outcome: status.state };
}
