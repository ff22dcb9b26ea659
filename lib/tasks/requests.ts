/**
 * The canonical request schemas held to the registry: the core's schemas (lib/core/task.ts) take
 * any vendor id; here `vendor` must name a registered vendor, with the message, path and order of
 * field errors the schema always gave (400 `vendor: must be one of …`).
 */
import * as z from 'zod/mini';
import { CreateTaskInput, ListQuery } from '../core/task';
import { vendorIds } from '../vendors/registry';

const oneOf = (ids: string[]) => z.enum(ids as [string, ...string[]], { error: `must be one of ${ids.join(', ')}` });

// Pure (annotated): a function that validates no task (e.g. getTask) bundles no adapter for these.

/** A registered vendor's id. */
export const KnownVendor = /* @__PURE__ */ oneOf(/* @__PURE__ */ vendorIds());

/** POST /v1/tasks: the canonical task, naming a registered vendor. */
export const CreateTaskRequest = /* @__PURE__ */ z.safeExtend(CreateTaskInput, { vendor: KnownVendor });

/** GET /v1/tasks: the list query, filtering by a registered vendor. */
export const ListTasksRequest = /* @__PURE__ */ z.safeExtend(ListQuery, { vendor: /* @__PURE__ */ z.optional(KnownVendor) });
