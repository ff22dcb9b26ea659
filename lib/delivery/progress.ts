/**
 * Applying what a vendor says of a step (from a poll or a callback) — forward only, figures
 * replaced by the latest — and telling the caller that something changed.
 */
import { logger } from '../infra/logger';
import type { Invoker } from '../infra/workerInvoker';
import type { DeliveryStats, Step } from '../core/task';
import { canMove, moveStep } from '../core/states';
import type { StoredTask, TaskStore } from '../infra/taskStore';
import type { VendorStatus } from '../vendors/adapter';

const STAT_KEYS = ['planned', 'sent', 'failed', 'notFriend', 'overQuota', 'unconfirmedStaff'] as const;

export function sumStats(steps: readonly Pick<Step, 'stats'>[]): DeliveryStats | undefined {
  const withStats = steps.filter((s) => s.stats);
  if (!withStats.length) return undefined;
  const out: DeliveryStats = {};
  for (const k of STAT_KEYS) {
    const vals = withStats.map((s) => s.stats?.[k]).filter((v): v is number => v !== undefined);
    if (vals.length) out[k] = vals.reduce((a, b) => a + b, 0);
  }
  return out;
}

const sameStats = (a?: DeliveryStats, b?: DeliveryStats) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

/**
 * One conditional write at most. Returns the task if anything changed (state or figures), else
 * undefined: a late, duplicate or backward event changes nothing.
 */
export async function applyVendorStatus(
  store: TaskStore,
  tenantId: string,
  taskId: string,
  index: number,
  status: Omit<VendorStatus, 'raw'>,
  cause: string,
  extra: Partial<Step> = {},
  known?: StoredTask,
  nextPoll?: { n: number; at: number },
): Promise<StoredTask | undefined> {
  const out = await store.update(
    tenantId,
    taskId,
    (t) => {
      const step = t.steps[index];
      if (!step) return undefined;
      let changed = false;
      if (status.stats && Object.keys(status.stats).length && !sameStats(step.stats, status.stats)) {
        step.stats = { ...status.stats };
        t.stats = sumStats(t.steps);
        changed = true;
      }
      if (extra.polls !== undefined && extra.polls !== step.polls) {
        step.polls = extra.polls;
        changed = true;
      }
      if (status.state !== step.status && canMove(step.status, status.state)) {
        moveStep(t, index, status.state, cause, status.error ? { error: status.error } : {});
        changed = true;
      }
      // Written with a change only: a poll always changes its count, so its next poll is noted with it.
      if (changed && nextPoll) t.nextPolls = { ...t.nextPolls, [String(index)]: nextPoll };
      return changed ? true : undefined;
    },
    known,
  );
  return out?.result ? out.task : undefined;
}

/** After a change to a task with a callbackUrl, start delivering its callbacks (in order, signed). */
export async function notifyChange(invoke: Invoker, task: Pick<StoredTask, 'tenantId' | 'id' | 'callbackUrl'>): Promise<void> {
  if (!task.callbackUrl) return;
  await invoke({ kind: 'callback', tenantId: task.tenantId, taskId: task.id }).catch((err: unknown) =>
    logger.warn('could not start callback delivery; the next change or retry will', { taskId: task.id, error: (err as Error).message }),
  );
}
