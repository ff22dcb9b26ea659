/**
 * The canonical task (SPEC §1) as zod schemas. These same schemas validate requests, type the
 * code (z.infer) and generate GET /v1/openapi.json, so the three can never disagree.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// zod/mini ships no messages by default: English ones (only English: the locales together are
// ~290 KB) for the checks that have none of our own.
z.config(en());

export const STEP_STATES = ['SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'UNKNOWN'] as const;
/** WeCom's limit on text.content is in bytes, not characters. */
export const MAX_TEXT_BYTES = 4000;
export const MAX_ATTACHMENTS = 9;
export const MAX_STEPS = 20;
/** A sendAt this far in the past is refused; within it, the step is sent now (clock skew). */
export const PAST_TOLERANCE_MS = 60_000;
const MAX_HORIZON_MS = 366 * 24 * 3600 * 1000;

const utf8 = new TextEncoder();

const Title = (max: number) => z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(max, `must be at most ${max} characters`));
const MaxText = (max: number) => z.string().check(z.maxLength(max, `must be at most ${max} characters`));

// ---- what the API returns ----

/**
 * The schemas, built on first use (a function that never validates a task, e.g. getTask, never
 * builds them: at a cold start they would cost a few milliseconds of module load for nothing).
 */
function buildTaskSchemas() {
  /**
   * A vendor's id, opaque here: the core knows no vendor. Which ids exist is the registry's
   * (lib/vendors/registry.ts); requests are held to it where they are validated (lib/tasks).
   */
  const VendorId = z.string({ error: 'must be a string' });

  const StepState = z.enum(STEP_STATES);

  const HttpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).check(z.maxLength(2048, 'must be at most 2048 characters'));

  /** Ids are opaque vendor strings; control characters are never legitimate in them. */
  const Id = z.string({ error: 'must be a string' }).check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(128, 'must be at most 128 characters'),
    // eslint-disable-next-line no-control-regex -- the control characters are what it refuses
    z.regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters'),
  );

  const Attachment = z.discriminatedUnion(
    'type',
    [
      z.strictObject({ type: z.literal('image'), url: HttpUrl, title: z.optional(Title(128)) }),
      z.strictObject({ type: z.literal('video'), url: HttpUrl, title: z.optional(Title(128)) }),
      z.strictObject({
        type: z.literal('link'),
        url: HttpUrl,
        title: Title(128),
        description: z.optional(MaxText(512)),
        thumbUrl: z.optional(HttpUrl),
      }),
      z.strictObject({ type: z.literal('file'), url: HttpUrl, name: Title(255) }),
      z.strictObject({
        type: z.literal('miniprogram'),
        appId: Id,
        title: Title(64),
        page: Title(1024),
        coverUrl: HttpUrl,
      }),
      z.strictObject({
        type: z.literal('material'),
        materialId: Id,
        /** The vendor's material type (e.g. WShoto 1 poster … 12 activity; Tanmarket mcType). */
        kind: z.optional(Title(32)),
        /** How the material shows, where the vendor wants it repeated (Tanmarket type 99). */
        title: z.optional(Title(128)),
        description: z.optional(MaxText(512)),
        url: z.optional(HttpUrl),
      }),
    ],
    { error: 'must be one of image, video, link, file, miniprogram, material' },
  );

  const Content = z
    .strictObject({
      text: z.optional(
        z
          .string({ error: 'must be a string' })
          .check(z.refine((t) => utf8.encode(t).length <= MAX_TEXT_BYTES, `must be at most ${MAX_TEXT_BYTES} bytes in UTF-8`)),
      ),
      attachments: z.optional(z.array(Attachment).check(z.maxLength(MAX_ATTACHMENTS, `at most ${MAX_ATTACHMENTS} attachments`))),
    })
    .check(z.refine((c) => (c.text !== undefined && c.text.trim() !== '') || (c.attachments?.length ?? 0) > 0, 'a step needs text or at least one attachment'));

  /** An instant with an explicit offset (Z or ±hh:mm): a bare local time is ambiguous across zones. */
  const SendAt = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with an offset, e.g. 2026-12-01T10:00:00+08:00' }).check(
    z.refine((v) => Date.parse(v) >= Date.now() - PAST_TOLERANCE_MS, 'must not be in the past'),
    z.refine((v) => Date.parse(v) <= Date.now() + MAX_HORIZON_MS, 'must be within one year'),
  );

  const TagFilter = z.strictObject({
    match: z.enum(['any', 'all']),
    ids: z.array(Id).check(z.minLength(1, 'at least one id'), z.maxLength(100, 'at most 100 ids')),
  });

  const Audience = z
    .strictObject({
      kind: z.enum(['customers', 'groups'], { error: 'must be customers or groups' }),
      senders: z.optional(z.array(Id).check(z.maxLength(100, 'at most 100 senders'))),
      customerIds: z.optional(z.array(Id).check(z.maxLength(100_000, 'at most 100000 customers'))),
      groupIds: z.optional(z.array(Id).check(z.maxLength(10_000, 'at most 10000 groups'))),
      tags: z.optional(z.strictObject({ include: z.optional(TagFilter), exclude: z.optional(TagFilter) })),
    })
    .check(
      z.superRefine((a, ctx) => {
        if (a.kind === 'customers' && a.groupIds?.length) {
          ctx.addIssue({ code: 'custom', path: ['groupIds'], message: 'only for audience kind "groups"' });
        }
        if (a.kind === 'groups' && a.customerIds?.length) {
          ctx.addIssue({ code: 'custom', path: ['customerIds'], message: 'only for audience kind "customers"' });
        }
        const targets = (a.senders?.length ?? 0) + (a.customerIds?.length ?? 0) + (a.groupIds?.length ?? 0) + (a.tags?.include ? 1 : 0);
        if (targets === 0) {
          ctx.addIssue({ code: 'custom', path: [], message: 'names nobody: give senders, customerIds, groupIds or tags.include' });
        }
      }),
    );

  const StepInput = z.strictObject({ sendAt: SendAt, content: Content });

  /** The latest moment a step may reach the vendor: an instant with an offset, like sendAt. */
  const NotAfter = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with an offset, e.g. 2026-12-01T11:00:00+08:00' }).check(
    z.refine((v) => Date.parse(v) > Date.now(), 'must be in the future'),
    z.refine((v) => Date.parse(v) <= Date.now() + MAX_HORIZON_MS + 7 * 24 * 3600 * 1000, 'must be within one year and a week'),
  );

  const CreateTaskInput = z
    .strictObject({
      vendor: VendorId,
      name: z.string({ error: 'must be a string' }).check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(64, 'must be at most 64 characters')),
      audience: Audience,
      content: z.optional(Content),
      sendAt: z.optional(SendAt),
      steps: z.optional(z.array(StepInput).check(z.minLength(1, 'at least one step'), z.maxLength(MAX_STEPS, `at most ${MAX_STEPS} steps`))),
      notAfter: z.optional(NotAfter),
      callbackUrl: z.optional(HttpUrl),
      vendorOptions: z.optional(z.record(z.string(), z.unknown())),
    })
    .check(
      z.superRefine((t, ctx) => {
        if (t.steps && (t.content || t.sendAt)) {
          ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give either content (and sendAt) or steps, not both' });
        }
        if (!t.steps && !t.content) {
          ctx.addIssue({ code: 'custom', path: ['content'], message: 'required (or give steps)' });
        }
        t.steps?.forEach((s, i) => {
          const prev = t.steps?.[i - 1];
          if (prev && Date.parse(s.sendAt) <= Date.parse(prev.sendAt)) {
            ctx.addIssue({ code: 'custom', path: ['steps', i, 'sendAt'], message: 'steps must have strictly increasing sendAt' });
          }
        });
        const last = t.steps?.at(-1)?.sendAt ?? t.sendAt;
        if (t.notAfter && last && Date.parse(t.notAfter) <= Date.parse(last)) {
          ctx.addIssue({ code: 'custom', path: ['notAfter'], message: 'must be after the sendAt of every step' });
        }
      }),
    );

  /**
   * PATCH /v1/tasks/{id}: what has not been sent may change. `steps` name steps by index;
   * `sendAt`/`content` at the top are the shorthand for a task of one step (as at create).
   */
  const PatchStepInput = z.strictObject({
    index: z.int({ error: 'must be a whole number' }).check(z.nonnegative('must not be negative'), z.maximum(MAX_STEPS - 1, `must be below ${MAX_STEPS}`)),
    sendAt: z.optional(SendAt),
    content: z.optional(Content),
  });

  const PatchTaskInput = z
    .strictObject({
      sendAt: z.optional(SendAt),
      content: z.optional(Content),
      steps: z.optional(z.array(PatchStepInput).check(z.minLength(1, 'at least one step'), z.maxLength(MAX_STEPS, `at most ${MAX_STEPS} steps`))),
      notAfter: z.optional(NotAfter),
    })
    .check(
      z.superRefine((p, ctx) => {
        if (p.steps && (p.sendAt || p.content))
          ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give either sendAt/content (a task of one step) or steps, not both' });
        if (!p.steps && !p.sendAt && !p.content && !p.notAfter)
          ctx.addIssue({ code: 'custom', path: [], message: 'changes nothing: give sendAt, content, steps or notAfter' });
        const seen = new Set<number>();
        p.steps?.forEach((s, i) => {
          if (seen.has(s.index)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'index'], message: 'names a step twice' });
          seen.add(s.index);
          if (!s.sendAt && !s.content) ctx.addIssue({ code: 'custom', path: ['steps', i], message: 'changes nothing: give sendAt or content' });
        });
      }),
    );

  const ListQuery = z.strictObject({
    status: z.optional(StepState),
    vendor: z.optional(VendorId),
    limit: z._default(z.coerce.number().check(z.refine(Number.isInteger, 'must be a whole number'), z.minimum(1), z.maximum(100)), 20),
    cursor: z.optional(z.string().check(z.maxLength(1024))),
  });

  const HistoryEntry = z.object({
    at: z.string(),
    step: z.optional(z.int()),
    from: z.nullable(StepState),
    to: StepState,
    cause: z.string(),
  });

  const VendorError = z.object({ code: z.string(), message: z.string() });

  /** Delivery figures, where the vendor gives them (WeCom's per-recipient results underneath). */
  const DeliveryStats = z.object({
    planned: z.optional(z.int()),
    sent: z.optional(z.int()),
    failed: z.optional(z.int()),
    notFriend: z.optional(z.int()),
    overQuota: z.optional(z.int()),
    unconfirmedStaff: z.optional(z.int()),
  });

  /** One vendor call of a step whose audience is over the vendor's per-call limit. */
  const Batch = z.object({
    index: z.int(),
    /** Recipient ids in this batch. */
    size: z.int(),
    /** Senders in this batch, when the step's senders are split across batches. */
    senders: z.optional(z.int()),
    status: z.enum(['PENDING', 'SENDING', 'SUBMITTED', 'FAILED', 'UNKNOWN']),
    vendorTaskId: z.optional(z.string()),
    error: z.optional(VendorError),
  });

  const Step = z.object({
    index: z.int(),
    sendAt: z.string(),
    content: Content,
    status: StepState,
    vendorTaskId: z.optional(z.string()),
    vendorResponse: z.optional(z.unknown()),
    error: z.optional(VendorError),
    attempts: z.optional(z.int()),
    claimedAt: z.optional(z.string()),
    submittedAt: z.optional(z.string()),
    stats: z.optional(DeliveryStats),
    /** Present when the step went out as several vendor calls; each is sent at most once. */
    batches: z.optional(z.array(Batch)),
    /** How many times qunfa has asked the vendor about this step. */
    polls: z.optional(z.int()),
    /** The latest moment this step may reach the vendor; past it, it ends FAILED qunfa.expired. */
    notAfter: z.optional(z.string()),
    /** Set while the step waits for room at the vendor: when it will be tried next. */
    nextAttemptAt: z.optional(z.string()),
    /** How many times the step was deferred (no room, or the vendor throttled). */
    deferrals: z.optional(z.int()),
    /** Bumped when the step's schedule is replaced (moved by PATCH, or deferred): names the schedule. */
    rev: z.optional(z.int()),
    updatedAt: z.string(),
  });

  const Task = z.object({
    id: z.string(),
    vendor: VendorId,
    name: z.string(),
    status: StepState,
    audience: Audience,
    /** For audiences too large to echo (over 64 KB of ids): how many ids were given; they are kept and sent. */
    audienceSize: z.optional(z.record(z.string(), z.int())),
    steps: z.array(Step),
    callbackUrl: z.optional(z.string()),
    vendorOptions: z.optional(z.record(z.string(), z.unknown())),
    /** As given at create or by PATCH; each step's effective deadline is in steps[].notAfter. */
    notAfter: z.optional(z.string()),
    /** The steps' figures added up. */
    stats: z.optional(DeliveryStats),
    /** Delivery of this task's callbacks to callbackUrl: every attempt, newest last. */
    callbacks: z.optional(
      z.object({
        delivered: z.int(),
        pending: z.int(),
        abandoned: z.array(z.string()),
        attempts: z.array(z.object({ eventId: z.string(), at: z.string(), status: z.optional(z.int()), error: z.optional(z.string()) })),
      }),
    ),
    createdAt: z.string(),
    updatedAt: z.string(),
    history: z.array(HistoryEntry),
  });

  const TaskList = z.object({ items: z.array(Task), nextCursor: z.nullable(z.string()) });

  const Problem = z.object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.optional(z.string()),
    errors: z.optional(z.array(z.object({ path: z.string(), message: z.string() }))),
  });

  return {
    VendorId,
    StepState,
    Attachment,
    Content,
    SendAt,
    Audience,
    StepInput,
    NotAfter,
    CreateTaskInput,
    PatchStepInput,
    PatchTaskInput,
    ListQuery,
    HistoryEntry,
    VendorError,
    DeliveryStats,
    Batch,
    Step,
    Task,
    TaskList,
    Problem,
  };
}

export type TaskSchemas = ReturnType<typeof buildTaskSchemas>;
let built: TaskSchemas | undefined;
/** The canonical task's schemas (built once, on first use). */
export const taskSchemas = (): TaskSchemas => (built ??= buildTaskSchemas());

export type VendorId = z.infer<TaskSchemas['VendorId']>;

export type StepState = z.infer<TaskSchemas['StepState']>;

export type Attachment = z.infer<TaskSchemas['Attachment']>;
export type AttachmentType = Attachment['type'];

export type Content = z.infer<TaskSchemas['Content']>;

export type Audience = z.infer<TaskSchemas['Audience']>;

export type CreateTaskInput = z.infer<TaskSchemas['CreateTaskInput']>;

export type PatchTaskInput = z.infer<TaskSchemas['PatchTaskInput']>;

export type ListQuery = z.infer<TaskSchemas['ListQuery']>;

export type HistoryEntry = z.infer<TaskSchemas['HistoryEntry']>;

export type DeliveryStats = z.infer<TaskSchemas['DeliveryStats']>;

export type Batch = z.infer<TaskSchemas['Batch']>;

export type Step = z.infer<TaskSchemas['Step']>;

export type Task = z.infer<TaskSchemas['Task']>;

export type Problem = z.infer<TaskSchemas['Problem']>;
