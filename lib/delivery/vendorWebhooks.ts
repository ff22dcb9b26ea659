/**
 * Vendor callbacks: verified with the tenant's own secrets (anything unverifiable → 401, nothing
 * changed), deduplicated by the vendor's event id, applied forward-only, answered at once (the
 * work is one conditional write; callbacks to the caller go out asynchronously).
 */
import type { Settings } from '../infra/settings';
import { ServiceError, notFound, unavailable } from '../core/errors';
import type { Invoker } from '../infra/workerInvoker';
import { logger } from '../infra/logger';
import { applyVendorStatus, notifyChange } from './progress';
import type { TaskStore } from '../infra/taskStore';
import { vendorCredentials, type TenantDirectory } from '../infra/tenantDirectory';
import { adapterFor } from '../vendors/registry';
import { WebhookRejected, type WebhookRequest } from '../vendors/adapter';

export interface WebhookDeps {
  settings: Settings;
  store: TaskStore;
  tenants: TenantDirectory;
  invoke: Invoker;
}
export interface WebhookReply {
  status: number;
  contentType: string;
  body: string;
}

const unverifiable = () => new ServiceError(401, 'Unauthorized', 'the callback could not be verified');

export async function handleVendorWebhook(
  deps: WebhookDeps,
  vendorParam: string | undefined,
  tenantId: string | undefined,
  req: WebhookRequest,
): Promise<WebhookReply> {
  // Only a registered vendor's id: the registry is the one list.
  const adapter = vendorParam === undefined ? undefined : adapterFor(vendorParam);
  if (!adapter) throw notFound('vendor');
  const vendor = adapter.id;
  if (!adapter.webhook) throw notFound(`callbacks for ${vendor}`);
  // Vendor credentials only: this function never reads API-key hashes.
  const raw = tenantId ? await vendorCredentials(deps.tenants, tenantId, vendor) : undefined;
  const creds = raw ? adapter.credentials.safeParse(raw) : undefined;
  if (!tenantId || !creds?.success) throw unverifiable(); // the same answer as a bad signature: nothing to learn here
  const tenant = { id: tenantId };

  let outcome;
  try {
    outcome = adapter.webhook(req, creds.data, deps.settings.WEBHOOK_MAX_SKEW_SECONDS);
  } catch (err) {
    if (err instanceof WebhookRejected) {
      logger.warn('vendor callback rejected', { vendor: vendor, tenantId: tenant.id, reason: err.message });
      throw unverifiable();
    }
    throw err;
  }
  if (outcome.kind === 'echo') return { status: 200, contentType: 'text/plain', body: outcome.body };

  for (const event of outcome.events) {
    if (!(await deps.store.recordEvent(tenant.id, vendor, event.eventId))) continue; // a duplicate delivery
    try {
      if (!event.vendorTaskId || !event.status) continue;
      const ref = await deps.store.getVendorRef(tenant.id, vendor, event.vendorTaskId);
      if (!ref) continue; // not a task of this tenant's made through qunfa
      const changed = await applyVendorStatus(
        deps.store,
        tenant.id,
        ref.taskId,
        ref.step,
        event.status,
        `${vendor} event ${event.type}: ${event.status.state.toLowerCase()}`,
      );
      if (changed) await notifyChange(deps.invoke, changed);
    } catch (err) {
      // Let the vendor's retry be taken in again rather than lose the event.
      await deps.store.forgetEvent(tenant.id, vendor, event.eventId).catch(() => undefined);
      logger.error('applying a vendor event failed', { vendor: vendor, eventId: event.eventId, errorMessage: (err as Error).message });
      throw unavailable('the event could not be applied; retry', 1);
    }
  }
  return outcome.reply;
}
