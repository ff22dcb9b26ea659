/**
 * The task service: create (validated, stored, scheduled or fired now), get, list, cancel.
 * Handlers call these; these call the store, the scheduler and the adapters' pure parts.
 */
import { config } from './config';
import { badRequest, conflict, notFound, unprocessable, validationError, type FieldError } from './errors';
import { newTaskId, TASK_ID } from './ids';
import type { Invoker } from './invoke';
import { canonicalJson, sha256 } from './json';
import { logger } from './log';
import { callbackUrlProblem } from './net';
import { notifyChange } from './progress';
import { scheduleName, type DispatchEvent, type Scheduler } from './scheduler/index';
import { CreateTaskInput, ListQuery, type Step, type Task } from './schema';
import { canMove, isFinal, moveStep } from './states';
import { publicTask, type StoredTask, type TaskStore } from './store';
import type { Tenant, TenantDirectory } from './tenants';
import { capabilityErrors } from './vendors/capabilities';
import { adapterFor } from './vendors/registry';
import { vendorContext } from './vendors/context';
import { VendorCallError, type StepRequestInput, type VendorAdapter } from './vendors/types';

export interface TaskDeps {
  store: TaskStore;
  scheduler: () => Promise<Scheduler>;
  invoke: Invoker;
}

/** A step due within this is fired directly rather than through the scheduler. */
const DUE_NOW_MS = 2_000;

export interface CreateResult { task: Task; created: boolean }

export async function createTask(deps: TaskDeps, tenant: Tenant, body: unknown, idempotencyKey?: string): Promise<CreateResult> {
  const keyHash = idempotencyKey === undefined ? undefined : sha256(idempotencyKey);
  const bodyHash = sha256(canonicalJson(body ?? null));
  let taskId: string | undefined;

  // A replay is answered from what was stored, before validation: a body that was valid when
  // first sent (a sendAt then in the future) stays the same task.
  if (keyHash) {
    const existing = await deps.store.getIdempotency(tenant.id, keyHash);
    if (existing) {
      const task = await replay(deps, tenant, existing, bodyHash);
      if (task) return { task, created: false };
      taskId = existing.taskId; // the first attempt failed half-way: finish it
    }
  }

  const input = validate(tenant, body);
  const now = new Date();

  if (keyHash && !taskId) {
    const claim = await deps.store.claimIdempotency(tenant.id, keyHash, { taskId: newTaskId(), bodyHash, createdAt: now.toISOString() });
    if (!claim.claimed) {
      const task = await replay(deps, tenant, claim.record, bodyHash);
      if (task) return { task, created: false };
    }
    taskId = claim.record.taskId;
  }

  const task = buildTask(taskId ?? newTaskId(), tenant.id, input, now, keyHash);

  // Schedules first, then the task: if scheduling throws, no task exists yet and a retry with the
  // same key makes the same schedules (deterministic names) and then the task. A schedule that
  // fires for a task never written finds nothing and does nothing.
  const scheduler = await deps.scheduler();
  const backstop = new Date(now.getTime() + config().BACKSTOP_SECONDS * 1000);
  const dueNow: DispatchEvent[] = [];
  for (const step of task.steps) {
    const event: DispatchEvent = { kind: 'dispatch', tenantId: tenant.id, taskId: task.id, step: step.index };
    const at = new Date(step.sendAt);
    if (at.getTime() - now.getTime() <= DUE_NOW_MS) {
      dueNow.push(event);
      // Fired directly below; this schedule only catches a lost invoke (the claim makes a second firing a no-op).
      await scheduler.schedule(scheduleName(task.id, step.index), backstop, event);
    } else {
      await scheduler.schedule(scheduleName(task.id, step.index), at, event);
    }
  }

  const created = await deps.store.create(task);
  if (!created) {
    const stored = await deps.store.get(tenant.id, task.id);
    if (stored) return { task: publicTask(stored), created: false };
  }

  for (const event of dueNow) {
    await deps.invoke(event).catch((err: unknown) => logger.warn('direct dispatch invoke failed; the backstop schedule will fire it', { taskId: task.id, step: event.step, error: (err as Error).message }));
  }
  return { task: publicTask(created || task), created: true };
}

async function replay(deps: TaskDeps, tenant: Tenant, record: { taskId: string; bodyHash: string }, bodyHash: string): Promise<Task | undefined> {
  if (record.bodyHash !== bodyHash) {
    throw unprocessable('this Idempotency-Key was used with a different body', [{ path: 'Idempotency-Key', message: 'already used with a different body' }]);
  }
  const stored = await deps.store.get(tenant.id, record.taskId);
  return stored ? publicTask(stored) : undefined;
}

/** Schema (400), the vendor's options (400), the tenant's vendor set-up and the vendor's capabilities (422). */
export function validate(tenant: Tenant, body: unknown): CreateTaskInput {
  const parsed = CreateTaskInput.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error);
  const input = parsed.data;
  const urlProblem = input.callbackUrl ? callbackUrlProblem(input.callbackUrl, config().QUNFA_MODE === 'local') : undefined;
  if (urlProblem) throw badRequest(`callbackUrl: ${urlProblem}`, [{ path: 'callbackUrl', message: urlProblem }]);
  const adapter = adapterFor(input.vendor);
  if (!adapter) throw unprocessable(`vendor ${input.vendor} is not available`, [{ path: 'vendor', message: `${input.vendor} is not available in this deployment` }]);
  const options = adapter.options.safeParse(input.vendorOptions ?? {});
  if (!options.success) throw validationError(options.error, ['vendorOptions']);
  // Only the names of the configured vendors: createTask never reads vendor credentials.
  if (!tenant.vendors.includes(input.vendor)) {
    throw unprocessable(`this tenant has not configured ${input.vendor}`, [{ path: 'vendor', message: `${input.vendor} is not configured for this tenant` }]);
  }
  const errors: FieldError[] = capabilityErrors(adapter, input);
  // A vendor whose results come by callback is not split into batches (its events name one task).
  const limit = input.audience.kind === 'groups' ? adapter.capabilities.limits.groupIdsPerCall : adapter.capabilities.limits.customerIdsPerCall;
  const field = input.audience.kind === 'groups' ? 'groupIds' : 'customerIds';
  if (adapter.capabilities.status === 'callback' && limit && (input.audience[field]?.length ?? 0) > limit) {
    errors.push({ path: `audience.${field}`, message: `${input.vendor} takes at most ${limit} per task` });
  }
  if (errors.length === 0) {
    for (const s of normaliseSteps(input, new Date())) errors.push(...adapter.check(stepInput({ id: '', name: input.name, audience: input.audience, vendorOptions: options.data }, s)));
  }
  if (errors.length) {
    const unique = [...new Map(errors.map((e) => [`${e.path}|${e.message}`, e])).values()];
    throw unprocessable(`${input.vendor} cannot carry this task: ${unique.map((e) => `${e.path}: ${e.message}`).join('; ')}`, unique);
  }
  return { ...input, vendorOptions: options.data };
}

function normaliseSteps(input: CreateTaskInput, now: Date): { index: number; sendAt: string; content: Step['content'] }[] {
  const raw = input.steps ?? [{ sendAt: input.sendAt, content: input.content! }];
  return raw.map((s, index) => {
    const at = s.sendAt ? Math.max(Date.parse(s.sendAt), now.getTime()) : now.getTime();
    return { index, sendAt: new Date(at).toISOString(), content: s.content };
  });
}

function buildTask(id: string, tenantId: string, input: CreateTaskInput, now: Date, keyHash?: string): StoredTask {
  const at = now.toISOString();
  const steps: Step[] = normaliseSteps(input, now).map((s) => ({ ...s, status: 'SCHEDULED', updatedAt: at }));
  return {
    id,
    tenantId,
    version: 1,
    vendor: input.vendor,
    name: input.name,
    status: 'SCHEDULED',
    audience: input.audience,
    steps,
    ...(input.callbackUrl ? { callbackUrl: input.callbackUrl } : {}),
    ...(input.vendorOptions && Object.keys(input.vendorOptions).length ? { vendorOptions: input.vendorOptions } : {}),
    createdAt: at,
    updatedAt: at,
    history: steps.map((s) => ({ at, step: s.index, from: null, to: 'SCHEDULED' as const, cause: 'created' })),
    ...(keyHash ? { idempotencyKeyHash: keyHash } : {}),
  };
}

export function stepInput(task: Pick<Task, 'id' | 'name' | 'audience' | 'vendorOptions'>, step: Pick<Step, 'index' | 'sendAt' | 'content'>): StepRequestInput {
  return {
    taskId: task.id,
    name: task.name,
    audience: task.audience,
    content: step.content,
    sendAt: step.sendAt,
    stepIndex: step.index,
    vendorOptions: task.vendorOptions ?? {},
  };
}

export async function getTask(deps: Pick<TaskDeps, 'store'>, tenant: Tenant, taskId: string | undefined): Promise<Task> {
  if (!taskId || !TASK_ID.test(taskId)) throw notFound('task');
  const stored = await deps.store.get(tenant.id, taskId);
  if (!stored) throw notFound('task');
  const task = publicTask(stored);
  if (!stored.callbackUrl) return task;
  const cb = await deps.store.getCallbackState(tenant.id, taskId);
  const changes = stored.history.filter((h) => h.from !== null).length;
  const delivered = cb ? stored.history.slice(0, cb.cursor).filter((h) => h.from !== null).length - cb.abandoned.length : 0;
  return { ...task, callbacks: { delivered, pending: changes - delivered - (cb?.abandoned.length ?? 0), abandoned: cb?.abandoned ?? [], attempts: cb?.attempts ?? [] } };
}

export async function listTasks(deps: Pick<TaskDeps, 'store'>, tenant: Tenant, query: Record<string, string | undefined>) {
  const parsed = ListQuery.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error);
  const page = await deps.store.list(tenant.id, parsed.data);
  return { items: page.items.map(publicTask), nextCursor: page.nextCursor };
}

/**
 * Cancel: unfired steps become CANCELLED (a dispatch firing a moment later finds them so and
 * sends nothing) and their schedules are deleted; steps already at the vendor are cancelled there
 * where the vendor can. 409 when nothing could be cancelled, saying why.
 */
export async function cancelTask(deps: TaskDeps & { tenants: TenantDirectory }, tenant: Tenant, taskId: string | undefined): Promise<Task> {
  const current = taskId && TASK_ID.test(taskId) ? await deps.store.get(tenant.id, taskId) : undefined;
  if (!current) throw notFound('task');
  const adapter = adapterFor(current.vendor) as VendorAdapter<unknown>;
  const outcome = await deps.store.update(tenant.id, current.id, (t) => {
    const cancelled: number[] = [];
    for (const s of t.steps) {
      if (s.status === 'SCHEDULED') {
        moveStep(t, s.index, 'CANCELLED', 'cancelled by the caller before it was sent');
        cancelled.push(s.index);
      }
    }
    return cancelled.length ? cancelled : undefined;
  }, current);
  if (!outcome) throw notFound('task');
  let task = outcome.task;
  const cancelled = [...(outcome.result ?? [])];

  const scheduler = await deps.scheduler();
  for (const index of cancelled) {
    await scheduler.cancel(scheduleName(task.id, index)).catch((err: unknown) =>
      logger.warn('schedule delete failed; the step is CANCELLED so its firing will send nothing', { taskId: task.id, step: index, error: (err as Error).message }));
  }

  // Steps the vendor already holds: cancelled there, where the vendor has a way to.
  const reasons: string[] = [];
  for (const s of task.steps) {
    if (isFinal(s.status)) continue;
    if (s.status === 'DISPATCHING') { reasons.push(`step ${s.index} is being sent to ${task.vendor} right now`); continue; }
    if (!adapter.capabilities.cancelAfterSubmit || !adapter.cancel) {
      reasons.push(`step ${s.index} is already at ${task.vendor} (${s.status}), and ${adapter.displayName} cannot cancel a task it has accepted`);
      continue;
    }
    if (!s.vendorTaskId) { reasons.push(`step ${s.index} is ${s.status} with no ${task.vendor} task id to cancel`); continue; }
    try {
      const { ctx } = await vendorContext(deps.tenants, tenant.id, task.vendor);
      await adapter.cancel(ctx, s.vendorTaskId);
    } catch (err) {
      if (!(err instanceof VendorCallError)) throw err;
      reasons.push(`${task.vendor} did not cancel step ${s.index}: ${err.code} ${err.message}`);
      continue;
    }
    const moved = await deps.store.update(tenant.id, task.id, (t) => {
      const step = t.steps[s.index];
      if (!step || !canMove(step.status, 'CANCELLED')) return undefined;
      moveStep(t, s.index, 'CANCELLED', `cancelled at ${task.vendor} by the caller`);
      return true;
    });
    if (moved) task = moved.task;
    if (moved?.result) cancelled.push(s.index);
  }

  if (cancelled.length === 0) {
    if (task.steps.every((s) => isFinal(s.status))) throw conflict(`the task is already ${task.status}; there is nothing left to cancel`);
    throw conflict(`nothing could be cancelled: ${reasons.join('; ')}`);
  }
  await notifyChange(deps.invoke, task);
  return publicTask(task);
}
