/**
 * The OpenAPI 3.1 document, generated from the zod schemas that validate requests (OpenAPI 3.1
 * uses JSON Schema 2020-12, which is what zod emits). Nothing here is written by hand twice.
 */
import * as z from 'zod/mini';
import { MAX_BODY_BYTES } from './handler';
import { taskSchemas } from '../core/task';
import { requestSchemas } from '../tasks/requests';
import { RecipientsQuery } from '../tasks/recipients';
import { RECIPIENT_STATUSES, type RecipientStatus } from '../core/recipients';

const schema = (s: z.ZodMiniType, io: 'input' | 'output' = 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

export function openApiDocument(): Record<string, unknown> {
  const { PatchTaskInput, Problem, Task, TaskList, StepState } = taskSchemas();
  const { CreateTaskRequest, KnownVendor } = requestSchemas();
  /** Tasks as the API returns them: naming a registered vendor (the core's Task takes any id). */
  const TaskOfKnownVendor = z.safeExtend(Task, { vendor: KnownVendor });
  const TaskListOfKnownVendor = z.safeExtend(TaskList, { items: z.array(TaskOfKnownVendor) });

  /** A page of GET /v1/tasks/{taskId}/recipients (as lib/infra/taskStore.ts listRecipients returns it). */
  const RecipientPage = z.object({
    items: z.array(
      z.object({
        step: z.int(),
        sender: z.optional(z.string()),
        recipient: z.string(),
        kind: z.enum(['customer', 'group']),
        status: z.enum(RECIPIENT_STATUSES as [RecipientStatus, ...RecipientStatus[]]),
        sentAt: z.optional(z.string()),
      }),
    ),
    nextCursor: z.nullable(z.string()),
  });

  const taskResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Task' } } } });
  const taskId = { name: 'taskId', in: 'path', required: true, schema: { type: 'string', pattern: '^tsk_[0-9A-Z]{26}$' } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'qunfa',
      version: '1',
      description: `One HTTP API for WeCom bulk-send (群发) and SOP tasks across SCRM vendors. Bodies are JSON, at most ${MAX_BODY_BYTES} bytes.`,
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/tasks': {
        post: {
          summary: 'Create a task (validated, stored, scheduled or sent now)',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } }],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateTask' } } } },
          responses: {
            201: taskResponse('Created'),
            200: taskResponse('An idempotent replay: the task created earlier with this key and body'),
            400: problem('Malformed JSON or a schema violation; `errors[].path` names the field'),
            401: problem('No or bad API key'),
            413: problem(
              "Body too large, or a task whose stored form would exceed DynamoDB's 400 KB item less 64 KB headroom; `errors[].path` names the largest field",
            ),
            422: problem('Idempotency-Key reused with another body, or content the vendor cannot carry'),
            503: problem('A dependency throttles; retry after Retry-After with the same Idempotency-Key'),
          },
        },
        get: {
          summary: "The tenant's tasks, newest first",
          description:
            'Each request reads at most 100 tasks, matching the filters or not, so a filtered page may be short or empty and still carry a nextCursor. Follow nextCursor until it is null: every match comes exactly once.',
          parameters: [
            { name: 'status', in: 'query', schema: schema(StepState) },
            { name: 'vendor', in: 'query', schema: schema(KnownVendor) },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            200: { description: 'A page', content: { 'application/json': { schema: { $ref: '#/components/schemas/TaskList' } } } },
            400: problem('Bad query'),
            401: problem('No or bad API key'),
          },
        },
      },
      '/v1/tasks/{taskId}': {
        get: {
          summary: 'One task, with steps, vendor refs and history',
          parameters: [taskId],
          responses: { 200: taskResponse('The task'), 401: problem('No or bad API key'), 404: problem('No such task for this tenant') },
        },
        delete: {
          summary: 'Cancel: unfired steps are never sent',
          parameters: [taskId],
          responses: {
            200: taskResponse('The task after cancelling'),
            401: problem('No or bad API key'),
            404: problem('No such task for this tenant'),
            409: problem('Nothing could be cancelled (already final, or at a vendor that cannot cancel)'),
          },
        },
        patch: {
          summary: "Change what has not been sent: a waiting step's sendAt and content, the task's notAfter",
          parameters: [taskId],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PatchTask' } } } },
          responses: {
            200: taskResponse('The task after the change; a moved step has a new schedule'),
            400: problem('A schema violation, a step that does not exist, an order or deadline broken; `errors[].path` names the field'),
            401: problem('No or bad API key'),
            404: problem('No such task for this tenant'),
            409: problem('A step named is already claimed or sent: the version that was claimed is the one sent'),
            413: problem("The changed task would exceed DynamoDB's 400 KB item less 64 KB headroom; nothing is changed"),
            422: problem('Content the vendor cannot carry'),
          },
        },
      },
      '/v1/tasks/{taskId}/remind': {
        post: {
          summary: 'Ask the vendor to remind the staff who have not yet confirmed the send (where the vendor can: capabilities.remind)',
          parameters: [taskId],
          responses: {
            200: taskResponse('The task, its history noting each reminder'),
            401: problem('No or bad API key'),
            404: problem('No such task for this tenant'),
            409: problem('The vendor cannot remind, or no step waits for staff to confirm'),
            429: problem("The vendor's remind limit (WeCom: 3 a day per send) or this tenant's flow-control room is reached; retry after Retry-After"),
          },
        },
      },
      '/v1/tasks/{taskId}/recipients': {
        get: {
          summary: "Each recipient's outcome as the vendor last reported it (where it reports them: capabilities.recipientResults)",
          parameters: [
            taskId,
            ...Object.entries(schema(RecipientsQuery, 'input').properties as Record<string, unknown>).map(([name, s]) => ({
              name,
              in: 'query',
              required: false,
              schema: s,
            })),
          ],
          responses: {
            200: { description: 'A page of rows', content: { 'application/json': { schema: schema(RecipientPage) } } },
            400: problem('Bad query (status, limit, cursor)'),
            401: problem('No or bad API key'),
            404: problem('No such task for this tenant'),
            409: problem('The vendor does not report per-recipient outcomes'),
          },
        },
      },
      '/v1/vendors': {
        get: {
          summary: 'The vendors and what each can carry (the capability matrix create-time validation enforces)',
          security: [],
          responses: { 200: { description: '{items: [{id, name, productionBaseUrl, capabilities}]}' } },
        },
      },
      '/v1/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        CreateTask: schema(CreateTaskRequest, 'input'),
        PatchTask: schema(PatchTaskInput, 'input'),
        Task: schema(TaskOfKnownVendor),
        TaskList: schema(TaskListOfKnownVendor),
        Problem: schema(Problem),
      },
    },
  };
}
