/**
 * The task service: create (validated, stored, scheduled or fired now), get, list, cancel.
 * Handlers call these; these call the store, the scheduler and the adapters' pure parts.
 */
import type { Settings } from '../infra/settings';
import {
  badRequest,
  conflict,
  notFound,
  payloadTooLarge,
  unavailable,
  unprocessable,
  validationError,
  type FieldError,
  type ServiceError,
} from '../core/errors';
import { newTaskId, TASK_ID } from '../core/ids';
import { NoRoom, withPermit } from '../delivery/flowControl';
import type { Invoker } from '../infra/workerInvoker';
import type { FlowLimiter } from '../infra/flowLimiter';
import { canonicalJson, sha256 } from '../core/canonicalJson';
import { logger } from '../infra/logger';
import { metric } from '../infra/metrics';
import { callbackUrlProblem } from '../infra/guardedFetch';
import { notifyChange } from '../delivery/progress';
import { revScheduleName, scheduleName, stepScheduleName, type DispatchEvent, type Scheduler } from '../infra/scheduler/scheduler';
import { taskSchemas, type CreateTaskInput, type PatchTaskInput, type Step, type Task } from '../core/task';
import { requestSchemas } from './requests';
import {
  cancelAction,
  cancelledAtVendor,
  cancelUnsent,
  canPatch,
  isFinal,
  isStateChange,
  missesDeadline,
  nothingCancelled,
  redateUnsent,
  stepDeadline,
} from '../core/states';
import { GROWTH_HEADROOM_BYTES, itemBytes, MAX_ITEM_BYTES, MAX_TASK_BYTES, publicTask, storedForm, type StoredTask, type TaskStore } from '../infra/taskStore';
import type { Tenant, TenantDirectory } from '../infra/tenantDirectory';
import { batchCount, ENTRIES_PER_CALL, ENTRIES_PER_TASK, entriesOf } from '../vendors/batches';
import { capabilityErrors } from '../vendors/capabilities';
import { adapterFor, type VendorSettingsMap } from '../vendors/registry';
import { stepInput } from '../vendors/stepInput';
import { vendorContext } from '../delivery/vendorContext';
import { VendorCallError, type VendorAdapter } from '../vendors/adapter';

export interface TaskDeps {
  settings: Settings;
  vendors: VendorSettingsMap;
  store: TaskStore;
  scheduler: () => Promise<Scheduler>;
  invoke: Invoker;
  limiter: FlowLimiter;
}

/** A step due within this is fired directly rather than through the scheduler. */
const DUE_NOW_MS = 2_000;

export interface CreateResult {
  task: Task;
  created: boolean;
}

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

  const input = validate(tenant, body, deps.settings.QUNFA_MODE === 'local');
  const now = new Date();
  // Measured before anything is written (the key's claim included) or scheduled: a task that
  // cannot be stored must leave nothing behind. Ids are all one length, so the size holds for
  // whichever id the claim settles on.
  const draft = buildTask(taskId ?? newTaskId(), tenant.id, input, now, deps.settings.NOT_AFTER_DEFAULT_SECONDS, keyHash);
  const tooLarge = sizeProblem(draft, (t) => largestField(t, input.steps ? 'steps' : 'content'));
  if (tooLarge) throw tooLarge;

  if (keyHash && !taskId) {
    const claim = await deps.store.claimIdempotency(tenant.id, keyHash, { taskId: draft.id, bodyHash, createdAt: now.toISOString() });
    if (!claim.claimed) {
      const task = await replay(deps, tenant, claim.record, bodyHash);
      if (task) return { task, created: false };
    }
    taskId = claim.record.taskId;
  }

  const task: StoredTask = { ...draft, id: taskId ?? draft.id };

  // Schedules first, then the task: if scheduling throws, no task exists yet and a retry with the
  // same key makes the same schedules (deterministic names) and then the task. A schedule that
  // fires for a task never written finds nothing and does nothing.
  const scheduler = await deps.scheduler();
  const backstop = new Date(now.getTime() + deps.settings.BACKSTOP_SECONDS * 1000);
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
  metric('TasksCreated', { vendor: task.vendor });
  logger.info('task created', { steps: task.steps.length, firstSendAt: task.steps[0]?.sendAt });

  for (const event of dueNow) {
    await deps
      .invoke(event, 'now')
      .catch((err: unknown) =>
        logger.warn('direct dispatch invoke failed; the backstop schedule will fire it', { taskId: task.id, step: event.step, error: (err as Error).message }),
      );
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
export function validate(tenant: Tenant, body: unknown, allowPrivateCallbacks: boolean): CreateTaskInput {
  const parsed = requestSchemas().CreateTaskRequest.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error);
  const input = parsed.data;
  const urlProblem = input.callbackUrl ? callbackUrlProblem(input.callbackUrl, allowPrivateCallbacks) : undefined;
  if (urlProblem) throw badRequest(`callbackUrl: ${urlProblem}`, [{ path: 'callbackUrl', message: urlProblem }]);
  const adapter = adapterFor(input.vendor);
  if (!adapter)
    throw unprocessable(`vendor ${input.vendor} is not available`, [{ path: 'vendor', message: `${input.vendor} is not available in this deployment` }]);
  const options = adapter.options.safeParse(input.vendorOptions ?? {});
  if (!options.success) throw validationError(options.error, ['vendorOptions']);
  // Only the names of the configured vendors: createTask never reads vendor credentials.
  if (!tenant.vendors.includes(input.vendor)) {
    throw unprocessable(`this tenant has not configured ${input.vendor}`, [{ path: 'vendor', message: `${input.vendor} is not configured for this tenant` }]);
  }
  const errors: FieldError[] = capabilityErrors(adapter, input);
  errors.push(...fanOutErrors(adapter, input));
  if (errors.length === 0) {
    for (const s of normaliseSteps(input, new Date()))
      errors.push(...adapter.check(stepInput({ id: '', name: input.name, audience: input.audience, vendorOptions: options.data }, s)));
  }
  if (errors.length) {
    const unique = [...new Map(errors.map((e) => [`${e.path}|${e.message}`, e])).values()];
    throw unprocessable(`${input.vendor} cannot carry this task: ${unique.map((e) => `${e.path}: ${e.message}`).join('; ')}`, unique);
  }
  return { ...input, vendorOptions: options.data };
}

/**
 * What the audience costs in vendor calls: senders × ids entries bounded per task (a vendor that
 * lists recipients per sender multiplies the request); a vendor that declares it takes no batches
 * (capabilities.batches false) takes the whole audience in one call.
 */
function fanOutErrors(adapter: VendorAdapter<unknown>, input: CreateTaskInput): FieldError[] {
  const caps = adapter.capabilities;
  const a = input.audience;
  const field = a.kind === 'groups' ? 'groupIds' : 'customerIds';
  const ids = a[field]?.length ?? 0;
  const entries = entriesOf(a, caps);
  if (entries > ENTRIES_PER_TASK) {
    return [
      {
        path: 'audience',
        message: `${a.senders?.length ?? 0} senders × ${ids} ${field} = ${entries} recipient entries; ${input.vendor} lists every recipient once per sender, and a task may carry at most ${ENTRIES_PER_TASK}: split the task (fewer senders or fewer ${field} per task)`,
      },
    ];
  }
  if (caps.batches) return [];
  const limit = a.kind === 'groups' ? caps.limits.groupIdsPerCall : caps.limits.customerIdsPerCall;
  if (limit && ids > limit) return [{ path: `audience.${field}`, message: `${input.vendor} takes at most ${limit} per task` }];
  if (batchCount(a, caps) > 1) {
    const senders = caps.limits.sendersPerCall ? `at most ${caps.limits.sendersPerCall} senders and ` : '';
    return [
      {
        path: 'audience',
        message: `${input.vendor} takes the whole audience in one call: ${senders}at most ${ENTRIES_PER_CALL} senders × ${field} entries per task; split the task`,
      },
    ];
  }
  return [];
}

function normaliseSteps(input: CreateTaskInput, now: Date): { index: number; sendAt: string; content: Step['content'] }[] {
  const raw = input.steps ?? [{ sendAt: input.sendAt, content: input.content! }];
  return raw.map((s, index) => {
    const at = s.sendAt ? Math.max(Date.parse(s.sendAt), now.getTime()) : now.getTime();
    return { index, sendAt: new Date(at).toISOString(), content: s.content };
  });
}

function buildTask(id: string, tenantId: string, input: CreateTaskInput, now: Date, notAfterWindowSeconds: number, keyHash?: string): StoredTask {
  const at = now.toISOString();
  const notAfter = input.notAfter ? new Date(input.notAfter).toISOString() : undefined;
  const window = notAfterWindowSeconds;
  const steps: Step[] = normaliseSteps(input, now).map((s) => ({
    ...s,
    status: 'SCHEDULED',
    notAfter: stepDeadline(s.sendAt, notAfter, window),
    updatedAt: at,
  }));
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
    ...(notAfter ? { notAfter } : {}),
    createdAt: at,
    updatedAt: at,
    history: steps.map((s) => ({ at, step: s.index, from: null, to: 'SCHEDULED' as const, cause: 'created' })),
    ...(keyHash ? { idempotencyKeyHash: keyHash } : {}),
  };
}

const KB = (bytes: number) => `${bytes / 1024} KB`;

/**
 * 413 when the task's item, as it would be stored, leaves less than GROWTH_HEADROOM_BYTES of
 * DynamoDB's item limit; `field` names the part of the request that takes most of it.
 */
function sizeProblem(task: StoredTask, field: (stored: StoredTask) => { path: string; bytes: number }): ServiceError | undefined {
  const stored = storedForm(task);
  const bytes = itemBytes(stored);
  if (bytes <= MAX_TASK_BYTES) return undefined;
  const biggest = field(stored);
  const rule = `at most ${MAX_TASK_BYTES} bytes fit (DynamoDB's ${KB(MAX_ITEM_BYTES)} item less ${KB(GROWTH_HEADROOM_BYTES)} kept for the history, batches and vendor answers a task gathers while it runs)`;
  return payloadTooLarge(
    `the task would take ${bytes} bytes in the store; ${rule}. ${biggest.path} takes ${biggest.bytes} bytes: make it smaller or split the task`,
    [
      {
        path: biggest.path,
        message: `takes ${biggest.bytes} bytes of the ${bytes} the task would take; at most ${MAX_TASK_BYTES} bytes fit (${KB(MAX_ITEM_BYTES)} less ${KB(GROWTH_HEADROOM_BYTES)} headroom)`,
      },
    ],
  );
}

const jsonBytes = (v: unknown) => (v === undefined ? 0 : Buffer.byteLength(JSON.stringify(v)));

/** The request field of a new task that takes the most room in its item (steps hold the content). */
function largestField(stored: StoredTask, stepsField: 'steps' | 'content'): { path: string; bytes: number } {
  const fields = [
    { path: stepsField, bytes: jsonBytes(stored.steps) },
    { path: 'audience', bytes: jsonBytes(stored.audience) },
    { path: 'vendorOptions', bytes: jsonBytes(stored.vendorOptions) },
  ];
  return fields.reduce((a, b) => (b.bytes > a.bytes ? b : a));
}

export async function getTask(deps: Pick<TaskDeps, 'store'>, tenant: Tenant, taskId: string | undefined): Promise<Task> {
  if (!taskId || !TASK_ID.test(taskId)) throw notFound('task');
  const stored = await deps.store.get(tenant.id, taskId);
  if (!stored) throw notFound('task');
  const task = publicTask(stored);
  if (!stored.callbackUrl) return task;
  const cb = await deps.store.getCallbackState(tenant.id, taskId);
  const changes = stored.history.filter(isStateChange).length;
  const delivered = cb ? stored.history.slice(0, cb.cursor).filter(isStateChange).length - cb.abandoned.length : 0;
  return {
    ...task,
    callbacks: { delivered, pending: changes - delivered - (cb?.abandoned.length ?? 0), abandoned: cb?.abandoned ?? [], attempts: cb?.attempts ?? [] },
  };
}

export async function listTasks(deps: Pick<TaskDeps, 'store'>, tenant: Tenant, query: Record<string, string | undefined>) {
  const parsed = requestSchemas().ListTasksRequest.safeParse(query);
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
  const outcome = await deps.store.update(
    tenant.id,
    current.id,
    (t) => {
      const cancelled = cancelUnsent(t);
      return cancelled.length ? cancelled : undefined;
    },
    current,
  );
  if (!outcome) throw notFound('task');
  let task = outcome.task;
  const cancelled = [...(outcome.result ?? [])];

  const scheduler = await deps.scheduler();
  for (const index of cancelled) {
    for (const name of new Set([scheduleName(task.id, index), stepScheduleName(task.id, task.steps[index] as Step)])) {
      await scheduler.cancel(name).catch((err: unknown) =>
        logger.warn('schedule delete failed; the step is CANCELLED so its firing will send nothing', {
          taskId: task.id,
          step: index,
          error: (err as Error).message,
        }),
      );
    }
  }

  // Steps the vendor already holds: cancelled there, where the vendor has a way to.
  const reasons: string[] = [];
  const vendor = { id: task.vendor, displayName: adapter.displayName, canCancel: adapter.capabilities.cancelAfterSubmit && !!adapter.cancel };
  for (const s of task.steps) {
    // (steps not yet claimed were all cancelled above: none is left to cancel 'here')
    const action = cancelAction(s, vendor);
    if (action.kind !== 'at-vendor') {
      if (action.kind === 'refused') reasons.push(action.reason);
      continue;
    }
    try {
      const { ctx, limits } = await vendorContext(deps.tenants, tenant.id, task.vendor, deps.vendors, deps.settings);
      // Every call of the step (one per batch); the step is CANCELLED only when each was. A cancel
      // that stopped half-way is repeated by the caller's retry (the vendor's "already cancelled"
      // counts as done).
      for (const vendorTaskId of action.vendorTaskIds) {
        await withPermit(deps.limiter, tenant.id, task.vendor, 'write', limits, deps.settings.IN_FLIGHT_WAIT_MS, () =>
          (adapter.cancel as NonNullable<typeof adapter.cancel>)(ctx, vendorTaskId),
        );
      }
    } catch (err) {
      if (err instanceof NoRoom)
        throw unavailable(
          `${task.vendor} has no room for this tenant's calls right now (${err.message}); retry`,
          Math.max(1, Math.ceil((err.retryAt - Date.now()) / 1000)),
        );
      if (!(err instanceof VendorCallError)) throw err;
      reasons.push(`${task.vendor} did not cancel step ${s.index}: ${err.code} ${err.message}`);
      continue;
    }
    const moved = await deps.store.update(tenant.id, task.id, (t) => cancelledAtVendor(t, s.index));
    if (moved) task = moved.task;
    if (moved?.result) cancelled.push(s.index);
  }

  if (cancelled.length === 0) throw conflict(nothingCancelled(task, reasons));
  await notifyChange(deps.invoke, task);
  return publicTask(task);
}

/**
 * PATCH: change what has not been sent — a waiting step's sendAt and content, the task's notAfter —
 * validated like a create (400 schema, 422 what the vendor cannot carry), race-safe against a
 * dispatch firing at that moment: the change and the dispatcher's claim are conditional writes on
 * the same task version, so either the change lands first (the new version is sent, once, at its
 * time) or the claim does (409: that version was already claimed). The new schedule is made
 * before the change is written (a change never exists without its schedule); the old one is
 * deleted after (if it fires meanwhile it finds the step not yet due and does nothing).
 */
export async function patchTask(deps: TaskDeps, tenant: Tenant, taskId: string | undefined, body: unknown): Promise<Task> {
  const parsed = taskSchemas().PatchTaskInput.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error);
  const patch = parsed.data;
  const now = new Date();
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = taskId && TASK_ID.test(taskId) ? await deps.store.get(tenant.id, taskId) : undefined;
    if (!current) throw notFound('task');
    const changes = patchedSteps(current, patch);
    checkPatch(current, patch, changes, now);

    // Steps that move get a schedule under a new name, made before the change is written.
    const scheduler = await deps.scheduler();
    const moved = changes
      .filter((c) => c.sendAt !== undefined)
      .map((c) => {
        const step = current.steps[c.index] as Step;
        const at = new Date(Math.max(Date.parse(c.sendAt as string), now.getTime()));
        return { index: c.index, at, toRev: (step.rev ?? 0) + 1, dueNow: at.getTime() - now.getTime() <= DUE_NOW_MS };
      });
    for (const m of moved) {
      const event: DispatchEvent = { kind: 'dispatch', tenantId: tenant.id, taskId: current.id, step: m.index };
      await scheduler.schedule(
        revScheduleName(current.id, m.index, m.toRev, m.at),
        m.dueNow ? new Date(now.getTime() + deps.settings.BACKSTOP_SECONDS * 1000) : m.at,
        event,
      );
    }

    const window = deps.settings.NOT_AFTER_DEFAULT_SECONDS;
    let tooLarge: ServiceError | undefined;
    const out = await deps.store.update(
      tenant.id,
      current.id,
      (t) => {
        tooLarge = undefined;
        for (const c of changes) {
          const s = t.steps[c.index] as Step;
          if (!canPatch(s)) return { conflict: `step ${c.index} is already ${s.status}: the version that was claimed is the one sent` } as const;
          if ((s.rev ?? 0) !== (current.steps[c.index]?.rev ?? 0)) return { retry: true } as const;
        }
        if (patch.notAfter && t.steps.every((s) => isFinal(s.status))) return { conflict: `the task is already ${t.status}` } as const;
        const at = new Date().toISOString();
        if (patch.notAfter) t.notAfter = new Date(patch.notAfter).toISOString();
        for (const c of changes) {
          const s = t.steps[c.index] as Step;
          const what: string[] = [];
          if (c.content) {
            s.content = c.content;
            what.push('content changed');
          }
          const m = moved.find((x) => x.index === c.index);
          if (m) {
            s.sendAt = m.at.toISOString();
            s.rev = m.toRev;
            delete s.nextAttemptAt;
            what.push(`moved to ${s.sendAt}`);
          }
          s.updatedAt = at;
          t.history.push({ at, step: c.index, from: s.status, to: s.status, cause: `${what.join(', ')} by the caller` });
        }
        // Every step not yet sent gets its deadline again: the task's notAfter, else its sendAt + the window.
        redateUnsent(t.steps, t.notAfter, window);
        if (patch.notAfter) t.history.push({ at, from: t.status, to: t.status, cause: `notAfter set to ${t.notAfter} by the caller` });
        t.updatedAt = at;
        // Measured on the state this write would replace; too large → nothing is written.
        tooLarge = sizeProblem(t, (stored) => largestChange(changes, stored));
        if (tooLarge) return undefined;
        return { ok: true } as const;
      },
      current,
    );
    if (!out) throw notFound('task');
    const result = out.result;
    if (result && 'retry' in result) continue;
    if (!result || 'conflict' in result) {
      for (const m of moved) await scheduler.cancel(revScheduleName(current.id, m.index, m.toRev, m.at)).catch(() => undefined);
      if (tooLarge) throw tooLarge;
      throw conflict(result && 'conflict' in result ? String(result.conflict) : 'nothing could be changed');
    }
    for (const m of moved) {
      await scheduler.cancel(stepScheduleName(current.id, current.steps[m.index] as Step)).catch((err: unknown) =>
        logger.warn('old schedule not deleted; when it fires it finds the step not yet due', {
          taskId: current.id,
          step: m.index,
          error: (err as Error).message,
        }),
      );
      if (m.dueNow) {
        await deps.invoke({ kind: 'dispatch', tenantId: tenant.id, taskId: current.id, step: m.index }, 'now').catch((err: unknown) =>
          logger.warn('direct dispatch invoke failed; the backstop schedule will fire it', {
            taskId: current.id,
            step: m.index,
            error: (err as Error).message,
          }),
        );
      }
    }
    return publicTask(out.task);
  }
  throw unavailable('the task is being changed by many requests at once; retry', 1);
}

interface StepChange {
  index: number;
  sendAt?: string;
  content?: Step['content'];
  path: string;
}

/** The new content in a PATCH that takes the most room (what the caller can shrink). */
function largestChange(changes: StepChange[], task: StoredTask): { path: string; bytes: number } {
  const sized = changes.filter((c) => c.content).map((c) => ({ path: c.path ? `${c.path}.content` : 'content', bytes: jsonBytes(c.content) }));
  // A PATCH that only moves steps or sets notAfter adds history entries: name the history it adds to.
  return sized.reduce((a, b) => (b.bytes > a.bytes ? b : a), sized[0] ?? { path: 'history', bytes: jsonBytes(task.history) });
}

/** The patch as changes per step index, with the body path each came from (for field errors). */
function patchedSteps(task: StoredTask, patch: PatchTaskInput): StepChange[] {
  if (patch.steps) {
    return patch.steps.map((s, i) => ({
      index: s.index,
      path: `steps.${i}`,
      ...(s.sendAt ? { sendAt: s.sendAt } : {}),
      ...(s.content ? { content: s.content } : {}),
    }));
  }
  if (patch.sendAt === undefined && patch.content === undefined) return [];
  if (task.steps.length !== 1) {
    const field = patch.sendAt !== undefined ? 'sendAt' : 'content';
    throw badRequest(`${field}: this task has ${task.steps.length} steps: name them in steps[]`, [
      { path: field, message: `this task has ${task.steps.length} steps: name them in steps[] with their index` },
    ]);
  }
  return [{ index: 0, path: '', ...(patch.sendAt ? { sendAt: patch.sendAt } : {}), ...(patch.content ? { content: patch.content } : {}) }];
}

/** What the schema cannot see: steps that exist, order kept, deadlines after sends, content the vendor can carry. */
function checkPatch(task: StoredTask, patch: PatchTaskInput, changes: StepChange[], now: Date): void {
  const errors: FieldError[] = [];
  const at = (p: string, f: string) => (p ? `${p}.${f}` : f);
  for (const c of changes) if (!task.steps[c.index]) errors.push({ path: at(c.path, 'index'), message: `this task has no step ${c.index}` });
  if (errors.length) throw badRequest(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);

  const sendAts = task.steps.map((s) => Date.parse(s.sendAt));
  for (const c of changes) if (c.sendAt) sendAts[c.index] = Math.max(Date.parse(c.sendAt), now.getTime());
  for (const c of changes) {
    const i = c.index;
    if (
      c.sendAt &&
      ((i > 0 && (sendAts[i] as number) <= (sendAts[i - 1] as number)) || (i < sendAts.length - 1 && (sendAts[i] as number) >= (sendAts[i + 1] as number)))
    ) {
      errors.push({ path: at(c.path, 'sendAt'), message: 'steps must keep strictly increasing sendAt' });
    }
  }
  const deadline = patch.notAfter ? Date.parse(patch.notAfter) : task.notAfter ? Date.parse(task.notAfter) : undefined;
  if (deadline !== undefined) {
    const late = task.steps.some((s, i) => missesDeadline(s, sendAts[i] as number, deadline));
    if (late)
      errors.push(
        patch.notAfter
          ? { path: 'notAfter', message: 'must be after the sendAt of every step not yet sent' }
          : {
              path: changes.find((c) => c.sendAt)?.path ? at(changes.find((c) => c.sendAt)?.path as string, 'sendAt') : 'sendAt',
              message: `must be before the task's notAfter (${task.notAfter})`,
            },
      );
  }
  if (errors.length) throw badRequest(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);

  // New content is held to the vendor's capabilities exactly as at create (422).
  const adapter = adapterFor(task.vendor) as VendorAdapter<unknown>;
  for (const c of changes) {
    if (!c.content) continue;
    const base = at(c.path, 'content');
    for (const e of capabilityErrors(adapter, { vendor: task.vendor, name: task.name, audience: task.audience, content: c.content })) {
      errors.push({ path: e.path.replace(/^content/, base), message: e.message });
    }
    const step = task.steps[c.index] as Step;
    for (const e of adapter.check(stepInput(task, { ...step, content: c.content })))
      errors.push({ path: e.path.replace(/^content/, base), message: e.message });
  }
  if (errors.length) throw unprocessable(`${task.vendor} cannot carry this change: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
}
