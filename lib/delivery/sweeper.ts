/**
 * The sweeper: every few minutes (serverless.yml `sweeper`), the work that should have happened
 * and did not — a step still SCHEDULED past its time, a claim past its lease, a status poll or a
 * callback overdue — is put back on its path by invoking its worker, as its lost schedule would
 * have. It reads the `byWatch` index (lib/infra/taskStore.ts): only the tasks overdue now, in
 * each shard, never a tenant's partition. The claim rules downstream keep a repair exactly once:
 * a dispatch claims the step by a conditional write, a poll chain keeps its numbered schedule
 * names, a callback delivery takes the task's lease. Of two sweepers, the conditional rewatch
 * lets one repair a task.
 */
import type { Settings } from '../infra/settings';
import { logger, retagInvocation } from '../infra/logger';
import { metric } from '../infra/metrics';
import type { Invoker } from '../infra/workerInvoker';
import type { WorkEvent } from '../infra/scheduler/scheduler';
import { WATCH_SHARDS, type StoredTask, type TaskStore } from '../infra/taskStore';
import { sweepDecision, watchTerms, type WatchRules, type WatchedWork } from '../core/states';
import { adapterFor } from '../vendors/registry';

export interface SweepDeps {
  settings: Settings;
  store: TaskStore;
  invoke: Invoker;
}

/** The watch over each task, from the settings and each vendor's way of reporting progress (the store keeps it with every write). */
export function watchRules(c: Settings): WatchRules {
  return {
    graceMs: c.SWEEP_GRACE_SECONDS * 1000,
    leaseMs: c.DISPATCH_LEASE_SECONDS * 1000,
    firstPollMs: (c.STATUS_POLL_INTERVALS[0] ?? 60) * 1000,
    polled: (vendor) => adapterFor(vendor)?.capabilities.status === 'poll',
    callbackGiveUpMs: c.CALLBACK_GIVE_UP_SECONDS * 1000,
  };
}

export interface SweepReport {
  /** Index entries read (the sweep's cost). */
  read: number;
  /** Work put back on its path. */
  repaired: { tenantId: string; taskId: string; work: WatchedWork }[];
  /** Tasks found overdue that another writer (or sweeper) moved first. */
  skipped: number;
  /** Tasks the sweep could not look at (an error; the next sweep tries again). */
  failed: number;
}

const PAGE = 100;

export async function sweep(deps: SweepDeps, now = Date.now()): Promise<SweepReport> {
  const report: SweepReport = { read: 0, repaired: [], skipped: 0, failed: 0 };
  const rules = watchRules(deps.settings);
  const budget = deps.settings.SWEEP_MAX_TASKS;
  // Every shard, oldest overdue first in each, until the budget is spent (the next sweep goes on).
  // Each sweep starts at another shard, so a budget spent early never starves the same shards.
  const first = Math.floor(now / 60_000) % WATCH_SHARDS;
  for (let i = 0; i < WATCH_SHARDS && report.read < budget; i++) {
    const shard = (first + i) % WATCH_SHARDS;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await deps.store.overdue(shard, now, Math.min(PAGE, budget - report.read), start);
      report.read += page.items.length;
      for (const found of page.items) {
        retagInvocation({ tenantId: found.tenantId, taskId: found.taskId });
        // One task's trouble (a throttled read, a bug) does not stop the sweep: the task comes round again.
        await repairTask(deps, rules, found, now, report).catch((err: unknown) => {
          report.failed++;
          logger.error('could not sweep this task; the next sweep tries again', { error: (err as Error).message });
        });
      }
      start = page.next;
    } while (start && report.read < budget);
  }
  retagInvocation({});
  metric('SweepItemsRead', {}, report.read);
  return report;
}

async function repairTask(
  deps: SweepDeps,
  rules: WatchRules,
  found: { tenantId: string; taskId: string; watchAt: number },
  now: number,
  report: SweepReport,
): Promise<void> {
  const task = await deps.store.get(found.tenantId, found.taskId);
  if (!task) return;
  const callbacks = task.callbackUrl ? await deps.store.getCallbackState(task.tenantId, task.id) : undefined;
  const terms = watchTerms(task, rules, callbacks ? { cursor: callbacks.cursor, leaseUntil: callbacks.leaseUntil, retryAt: callbacks.retryAt } : undefined);
  const { overdue, watchAt } = sweepDecision(terms, now, rules.graceMs);
  // Callbacks found all delivered (or past their retry window) are not looked at again until the next change.
  const watched = terms.some((t) => t.work.kind === 'callback' && (t.until === undefined || t.until >= now));
  const delivered = task.callbackUrl && !watched ? { callbacksSweptThrough: task.history.length } : {};
  // The claim on this repair: nobody changed the task since it was read, and no other sweeper took it.
  if (!(await deps.store.rewatch(task, found.watchAt, watchAt, delivered))) {
    report.skipped++;
    return;
  }
  for (const work of overdue) {
    const event = workEvent(task, work);
    retagInvocation({ tenantId: task.tenantId, taskId: task.id, ...(work.kind === 'callback' ? {} : { step: work.step }), vendor: task.vendor });
    logger.warn('overdue work put back on its path', { kind: work.kind, overdueSince: new Date(found.watchAt).toISOString() });
    // A failed invoke is not retried here: the task's watch comes round again after the grace.
    try {
      await deps.invoke(event);
    } catch (err) {
      logger.error('repair invoke failed; the next sweep retries it', { error: (err as Error).message });
      continue;
    }
    metric('WorkRepaired', { kind: work.kind });
    report.repaired.push({ tenantId: task.tenantId, taskId: task.id, work });
  }
}

function workEvent(task: StoredTask, work: WatchedWork): WorkEvent {
  const base = { tenantId: task.tenantId, taskId: task.id };
  if (work.kind === 'dispatch') return { kind: 'dispatch', ...base, step: work.step };
  if (work.kind === 'poll') return { kind: 'poll', ...base, step: work.step, n: work.n };
  return { kind: 'callback', ...base };
}
