/**
 * The canonical request schemas held to the registry: the core's schemas (lib/core/task.ts) take
 * any vendor id; here `vendor` must name a registered vendor, with the message, path and order of
 * field errors the schema always gave (400 `vendor: must be one of …`).
 */
import * as z from 'zod/mini';
import { taskSchemas } from '../core/task';
import { vendorIds } from '../vendors/registry';

const oneOf = (ids: string[]) => z.enum(ids as [string, ...string[]], { error: `must be one of ${ids.join(', ')}` });

/** The request schemas, built on first use (with the core's: lib/core/task.ts taskSchemas). */
function buildRequestSchemas() {
  const { CreateTaskInput, ListQuery } = taskSchemas();
  /** A registered vendor's id. */
  const KnownVendor = oneOf(vendorIds());
  return {
    KnownVendor,
    /** POST /v1/tasks: the canonical task, naming a registered vendor. */
    CreateTaskRequest: z.safeExtend(CreateTaskInput, { vendor: KnownVendor }),
    /** GET /v1/tasks: the list query, filtering by a registered vendor. */
    ListTasksRequest: z.safeExtend(ListQuery, { vendor: z.optional(KnownVendor) }),
  };
}

let built: ReturnType<typeof buildRequestSchemas> | undefined;
export const requestSchemas = () => (built ??= buildRequestSchemas());
