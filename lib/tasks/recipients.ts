/**
 * GET /v1/tasks/{taskId}/recipients: each recipient's outcome as the vendor last reported it
 * (kept by the status polls apart from the task), in the vendor's order, filtered by status,
 * a page at a time. A vendor that reports no per-recipient outcome gets a clear 409.
 */
import * as z from 'zod/mini';
import { conflict, notFound, validationError } from '../core/errors';
import { TASK_ID } from '../core/ids';
import { RECIPIENT_STATUSES, type RecipientRow, type RecipientStatus } from '../core/recipients';
import type { TaskStore } from '../infra/taskStore';
import type { Tenant } from '../infra/tenantDirectory';
import { adapterFor } from '../vendors/registry';

export const RecipientsQuery = z.strictObject({
  status: z.optional(z.enum(RECIPIENT_STATUSES as [RecipientStatus, ...RecipientStatus[]], { error: `must be one of ${RECIPIENT_STATUSES.join(', ')}` })),
  limit: z._default(z.coerce.number().check(z.int('must be a whole number'), z.minimum(1, 'must be at least 1'), z.maximum(1000, 'must be at most 1000')), 100),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
});

export async function listRecipients(
  deps: { store: TaskStore },
  tenant: Tenant,
  taskId: string | undefined,
  query: Record<string, string | undefined>,
): Promise<{ items: RecipientRow[]; nextCursor: string | null }> {
  const parsed = RecipientsQuery.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error);
  const task = taskId && TASK_ID.test(taskId) ? await deps.store.get(tenant.id, taskId) : undefined;
  if (!task) throw notFound('task');
  if (!adapterFor(task.vendor)?.capabilities.recipientResults) {
    throw conflict(
      `${task.vendor} does not report each recipient's outcome (capabilities.recipientResults is false at GET /v1/vendors); the task's stats hold its figures`,
    );
  }
  return deps.store.listRecipients(tenant.id, task.id, parsed.data);
}
