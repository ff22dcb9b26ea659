/**
 * POST /v1/tasks/{taskId}/remind: ask the vendor to remind the staff who have not yet confirmed a
 * send. Each vendor task still in progress is reminded once, inside a flow-control permit; what
 * the vendor took is noted in the task's history.
 */
import { conflict, notFound, tooManyRequests, unavailable } from '../core/errors';
import { TASK_ID } from '../core/ids';
import { nothingToRemind, remindedAtVendor, remindTargets } from '../core/states';
import type { Task } from '../core/task';
import { NoRoom, withPermit } from '../delivery/flowControl';
import { vendorContext, type Wired } from '../delivery/vendorContext';
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
  const remind = adapter.remind.bind(adapter);
  const targets = remindTargets(current);
  if (!targets.length) throw conflict(nothingToRemind(current));

  let wired: Wired;
  try {
    wired = await vendorContext(deps.tenants, tenant.id, current.vendor, deps.vendors, deps.settings);
  } catch (err) {
    // No usable credentials, or the vendor is disabled in this deployment: nothing can be reminded.
    if (err instanceof VendorCallError) throw conflict(`nothing was reminded: ${err.message}`);
    throw err;
  }
  const { ctx, limits } = wired;
  let task = current;
  const refusals: string[] = [];
  let asked = 0;
  for (const target of targets) {
    let reminded = 0;
    for (const id of target.vendorTaskIds) {
      asked++;
      try {
        await withPermit(deps.limiter, tenant.id, current.vendor, 'write', limits, deps.settings.IN_FLIGHT_WAIT_MS, () => remind(ctx, id));
        reminded++;
      } catch (err) {
        // What was reminded before a stop is still noted.
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
        if (err.kind === 'not_sent' || err.kind === 'ambiguous') {
          await note(target.step, reminded);
          throw unavailable(`${current.vendor} could not be reached to remind (${err.code}); retry`, 5);
        }
        refusals.push(`${current.vendor} did not remind step ${target.step} (${id}): ${err.code} ${err.message}`);
      }
    }
    await note(target.step, reminded);
  }
  if (refusals.length === asked) throw conflict(`nothing was reminded: ${refusals.join('; ')}`);
  return publicTask(task);

  async function note(step: number, count: number): Promise<void> {
    if (!count) return;
    const out = await deps.store.update(tenant.id, task.id, (t) => remindedAtVendor(t, step, count));
    if (out) task = out.task;
  }
}
