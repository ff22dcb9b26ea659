/**
 * Status polling, for vendors whose results are only asked for (Weiban, WShoto). After a step is
 * SUBMITTED, checks are scheduled with the same scheduler at STATUS_POLL_INTERVALS (the last one
 * repeating) and stop at a final state. A vendor that still says "running" past its documented
 * horizon ends clearly: COMPLETED with the last figures if anything was sent, else FAILED.
 */
import { config } from './config';
import { NoRoom, nextAttempt, withPermit } from './flow';
import type { FlowLimiter } from './limiter';
import { logger } from './log';
import type { Invoker } from './invoke';
import { applyVendorStatus, notifyChange } from './progress';
import { pollScheduleName, type PollEvent, type Scheduler } from './scheduler/index';
import { isFinal } from './states';
import type { TaskStore } from './store';
import { stepInput } from './tasks';
import type { TenantDirectory } from './tenants';
import { combineStatuses } from './vendors/batches';
import { vendorContext } from './vendors/context';
import { VendorCallError, type VendorStatus } from './vendors/types';

export interface PollDeps { store: TaskStore; tenants: TenantDirectory; scheduler: () => Promise<Scheduler>; invoke: Invoker; limiter: FlowLimiter }

export async function schedulePoll(scheduler: Scheduler, tenantId: string, taskId: string, step: number, n: number, at?: Date): Promise<void> {
  const intervals = config().STATUS_POLL_INTERVALS;
  const seconds = intervals[Math.min(n, intervals.length - 1)] as number;
  await scheduler.schedule(pollScheduleName(taskId, step, n), at ?? new Date(Date.now() + seconds * 1000), { kind: 'poll', tenantId, taskId, step, n });
}

export async function pollStep(deps: PollDeps, ev: PollEvent): Promise<{ outcome: string }> {
  const task = await deps.store.get(ev.tenantId, ev.taskId);
  const step = task?.steps[ev.step];
  if (!task || !step) return { outcome: 'no such step' };
  if (isFinal(step.status)) return { outcome: `already ${step.status}` };
  // A step sent in batches is as far along as its batches together.
  const ids = step.batches
    ? step.batches.filter((b) => b.status === 'SUBMITTED' && b.vendorTaskId).map((b) => b.vendorTaskId as string)
    : step.vendorTaskId ? [step.vendorTaskId] : [];
  if (!ids.length) return { outcome: 'no vendor task id to ask about' };

  const { adapter, ctx, limits } = await vendorContext(deps.tenants, ev.tenantId, task.vendor);
  const ask = adapter.status?.bind(adapter);
  if (!ask) return { outcome: `${task.vendor} cannot be asked` };
  let status: VendorStatus;
  try {
    const input = stepInput(task, step);
    const each: VendorStatus[] = [];
    // Each question is a vendor call like any other: it takes an in-flight slot (not a write's window).
    for (const id of ids) each.push(await withPermit(deps.limiter, ev.tenantId, task.vendor, 'read', limits, () => ask(ctx, id, input)));
    status = each.length === 1 ? each[0] as VendorStatus : combineStatuses(each);
  } catch (err) {
    if (err instanceof NoRoom) {
      // No room to ask now: ask when there is, without counting it as a poll.
      await schedulePoll(await deps.scheduler(), ev.tenantId, ev.taskId, ev.step, ev.n + 1, nextAttempt(err.retryAt));
      return { outcome: `no room to ask: ${err.message}` };
    }
    if (!(err instanceof VendorCallError)) throw err;
    // Asking is always safe to repeat: a failed ask only means asking again later.
    logger.warn('status poll failed; asking again later', { taskId: task.id, step: ev.step, code: err.code });
    await schedulePoll(await deps.scheduler(), ev.tenantId, ev.taskId, ev.step, ev.n + 1);
    return { outcome: `poll failed: ${err.code}` };
  }

  let cause = `${task.vendor} reports ${status.state.toLowerCase()}`;
  const horizonDays = adapter.capabilities.resultHorizonDays;
  const since = Date.parse(step.submittedAt ?? step.updatedAt);
  if (!isFinal(status.state) && horizonDays && Date.now() - since > horizonDays * 86_400_000) {
    const sent = status.stats?.sent ?? 0;
    status = sent > 0
      ? { ...status, state: 'COMPLETED' }
      : { ...status, state: 'FAILED', error: { code: 'qunfa.result_horizon', message: `${task.vendor} stopped updating results after ${horizonDays} days and nothing was sent (staff never confirmed)` } };
    cause = `${task.vendor} keeps results for ${horizonDays} days; figures are final as of now`;
  }

  const changed = await applyVendorStatus(deps.store, ev.tenantId, ev.taskId, ev.step, status, cause, { polls: (step.polls ?? 0) + 1 }, task);
  if (changed && changed.history.length !== task.history.length) await notifyChange(deps.invoke, changed);
  if (!isFinal(status.state)) await schedulePoll(await deps.scheduler(), ev.tenantId, ev.taskId, ev.step, ev.n + 1);
  return { outcome: status.state };
}
