/**
 * POST /v1/tasks/{taskId}/remind: ask the vendor to remind the staff who have not yet confirmed a
 * send. Each vendor task still in progress is reminded once, inside a flow-control permit; what
 * the vendor took is noted in the task's history.
 */
import { conflict, notFound, tooManyRequests } from '../core/errors';
import { TASK_ID } from '../core/ids';
import { nothingToRemind, remindedAtVendor, remindTargets } from '../core/states';
import type { Task } from '../core/task';
import { NoRoom, withPermit } from '../delivery/flowControl';
import { vendorContext } from '../delivery/vendorContext';
import { publicTask } from '../infra/taskStore';
import type { Tenant, TenantDirectory } from '../infra/tenantDirectory';
import { VendorCallError } from '../vendors/adapter';
import { adapterFor } from '../vendors/registry';
import type { TaskDeps } from './taskService';

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export async function remindStaff(deps: TaskDeps & { tenants: TenantDirectory }, tenant: Tenant, taskId: string | undefined): Promise<Task> {
  const current = taskId && TASK_ID.test(taskId) ? await deps.store.get(tenant.id, taskId) : undefined;
  if (!current) throw notFound('task');
  const adapter = adapterFor(current.vendor);
  if (!adapter?.remind || !adapter.capabilities.remind) {
    throw conflict(`${current.vendor} cannot remind staff: it offers no reminder (capabilities.remind is false at GET /v1/vendors)`);
  }
  const targets = remindTargets(current);
  if (!targets.length) throw conflict(nothingToRemind(current));

  const { ctx, limits } = await vendorContext(deps.tenants, tenant.id, current.vendor, deps.vendors, deps.settings);
  let task = current;
  const refusals: string[] = [];
  for (const target of targets) {
    let reminded = 0;
    try {
      for (const id of target.vendorTaskIds) {
        await withPermit(deps.limiter, tenant.id, current.vendor, 'write', limits, deps.settings.IN_FLIGHT_WAIT_MS, () => adapter.remind!(ctx, id));
        reminded++;
      }
    } catch (err) {
      // What was reminded before the stop is still noted below.
      if (err instanceof NoRoom) {
        await note(target.step, reminded);
        throw tooManyRequests(`${current.vendor} has no room for this tenant's calls right now (${err.message}); retry`, seconds(err.retryAt - Date.now()));
      }
      if (!(err instanceof VendorCallError)) throw err;
      if (err.kind === 'throttled' || err.kind === 'limited') {
        await note(target.step, reminded);
        throw tooManyRequests(
          `${current.vendor} refused to remind now (${err.code}: ${err.message}); retry after Retry-After`,
          seconds(err.retryAfterMs ?? 60_000),
        );
      }
      refusals.push(`${current.vendor} did not remind step ${target.step}: ${err.code} ${err.message}`);
    }
    await note(target.step, reminded);
  }
  if (refusals.length === targets.length) throw conflict(`nothing was reminded: ${refusals.join('; ')}`);
  return publicTask(task);

  async function note(step: number, count: number): Promise<void> {
    if (!count) return;
    const out = await deps.store.update(tenant.id, task.id, (t) => remindedAtVendor(t, step, count));
    if (out) task = out.task;
  }
}
