/**
 * The canonical task (SPEC §1) as zod schemas. These same schemas validate requests, type the
 * code (z.infer) and generate GET /v1/openapi.json, so the three can never disagree.
 */
import { z } from 'zod';

export const VENDORS = ['weiban', 'youmi', 'tanmarket', 'wshoto'] as const;
export const Vendor = z.enum(VENDORS, { error: `must be one of ${VENDORS.join(', ')}` });
export type Vendor = z.infer<typeof Vendor>;

export const STEP_STATES = [
  'SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'UNKNOWN',
] as const;
export const StepState = z.enum(STEP_STATES);
export type StepState = z.infer<typeof StepState>;

/** WeCom's limit on text.content is in bytes, not characters. */
export const MAX_TEXT_BYTES = 4000;
export const MAX_ATTACHMENTS = 9;
export const MAX_STEPS = 20;
/** A sendAt this far in the past is refused; within it, the step is sent now (clock skew). */
export const PAST_TOLERANCE_MS = 60_000;
const MAX_HORIZON_MS = 366 * 24 * 3600 * 1000;

const utf8 = new TextEncoder();

const HttpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .max(2048, 'must be at most 2048 characters');

/** Ids are opaque vendor strings; control characters are never legitimate in them. */
const Id = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters');

const Title = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const Attachment = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('image'), url: HttpUrl, title: Title(128).optional() }),
    z.strictObject({ type: z.literal('video'), url: HttpUrl, title: Title(128).optional() }),
    z.strictObject({
      type: z.literal('link'),
      url: HttpUrl,
      title: Title(128),
      description: z.string().max(512).optional(),
      thumbUrl: HttpUrl.optional(),
    }),
    z.strictObject({ type: z.literal('file'), url: HttpUrl, name: Title(255) }),
    z.strictObject({
      type: z.literal('miniprogram'),
      appId: Id,
      title: Title(64),
      page: z.string().min(1).max(1024),
      coverUrl: HttpUrl,
    }),
    z.strictObject({
      type: z.literal('material'),
      materialId: Id,
      /** The vendor's material type (e.g. WShoto 1 poster … 12 activity; Tanmarket mcType). */
      kind: z.string().min(1).max(32).optional(),
      /** How the material shows, where the vendor wants it repeated (Tanmarket type 99). */
      title: Title(128).optional(),
      description: z.string().max(512).optional(),
      url: HttpUrl.optional(),
    }),
  ],
  { error: 'must be one of image, video, link, file, miniprogram, material' },
);
export type Attachment = z.infer<typeof Attachment>;
export type AttachmentType = Attachment['type'];

export const Content = z
  .strictObject({
    text: z
      .string({ error: 'must be a string' })
      .refine((t) => utf8.encode(t).length <= MAX_TEXT_BYTES, `must be at most ${MAX_TEXT_BYTES} bytes in UTF-8`)
      .optional(),
    attachments: z.array(Attachment).max(MAX_ATTACHMENTS, `at most ${MAX_ATTACHMENTS} attachments`).optional(),
  })
  .refine((c) => (c.text !== undefined && c.text.trim() !== '') || (c.attachments?.length ?? 0) > 0, {
    message: 'a step needs text or at least one attachment',
  });
export type Content = z.infer<typeof Content>;

/** An instant with an explicit offset (Z or ±hh:mm): a bare local time is ambiguous across zones. */
export const SendAt = z
  .iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with an offset, e.g. 2026-12-01T10:00:00+08:00' })
  .refine((v) => Date.parse(v) >= Date.now() - PAST_TOLERANCE_MS, 'must not be in the past')
  .refine((v) => Date.parse(v) <= Date.now() + MAX_HORIZON_MS, 'must be within one year');

const TagFilter = z.strictObject({
  match: z.enum(['any', 'all']),
  ids: z.array(Id).min(1).max(100),
});

export const Audience = z
  .strictObject({
    kind: z.enum(['customers', 'groups'], { error: 'must be customers or groups' }),
    senders: z.array(Id).max(100, 'at most 100 senders').optional(),
    customerIds: z.array(Id).max(100_000, 'at most 100000 customers').optional(),
    groupIds: z.array(Id).max(10_000, 'at most 10000 groups').optional(),
    tags: z.strictObject({ include: TagFilter.optional(), exclude: TagFilter.optional() }).optional(),
  })
  .superRefine((a, ctx) => {
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
  });
export type Audience = z.infer<typeof Audience>;

export const StepInput = z.strictObject({ sendAt: SendAt, content: Content });

export const CreateTaskInput = z
  .strictObject({
    vendor: Vendor,
    name: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
    audience: Audience,
    content: Content.optional(),
    sendAt: SendAt.optional(),
    steps: z.array(StepInput).min(1, 'at least one step').max(MAX_STEPS, `at most ${MAX_STEPS} steps`).optional(),
    callbackUrl: HttpUrl.optional(),
    vendorOptions: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((t, ctx) => {
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
  });
export type CreateTaskInput = z.infer<typeof CreateTaskInput>;

export const ListQuery = z.strictObject({
  status: StepState.optional(),
  vendor: Vendor.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(1024).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

// ---- what the API returns ----

export const HistoryEntry = z.object({
  at: z.string(),
  step: z.number().int().optional(),
  from: StepState.nullable(),
  to: StepState,
  cause: z.string(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const VendorError = z.object({ code: z.string(), message: z.string() });

/** Delivery figures, where the vendor gives them (WeCom's per-recipient results underneath). */
export const DeliveryStats = z.object({
  planned: z.number().int().optional(),
  sent: z.number().int().optional(),
  failed: z.number().int().optional(),
  notFriend: z.number().int().optional(),
  overQuota: z.number().int().optional(),
  unconfirmedStaff: z.number().int().optional(),
});
export type DeliveryStats = z.infer<typeof DeliveryStats>;

/** One vendor call of a step whose audience is over the vendor's per-call limit. */
export const Batch = z.object({
  index: z.number().int(),
  size: z.number().int(),
  status: z.enum(['PENDING', 'SENDING', 'SUBMITTED', 'FAILED', 'UNKNOWN']),
  vendorTaskId: z.string().optional(),
  error: VendorError.optional(),
});
export type Batch = z.infer<typeof Batch>;

export const Step = z.object({
  index: z.number().int(),
  sendAt: z.string(),
  content: Content,
  status: StepState,
  vendorTaskId: z.string().optional(),
  vendorResponse: z.unknown().optional(),
  error: VendorError.optional(),
  attempts: z.number().int().optional(),
  claimedAt: z.string().optional(),
  submittedAt: z.string().optional(),
  stats: DeliveryStats.optional(),
  /** Present when the step went out as several vendor calls; each is sent at most once. */
  batches: z.array(Batch).optional(),
  /** How many times qunfa has asked the vendor about this step. */
  polls: z.number().int().optional(),
  updatedAt: z.string(),
});
export type Step = z.infer<typeof Step>;

export const Task = z.object({
  id: z.string(),
  vendor: Vendor,
  name: z.string(),
  status: StepState,
  audience: Audience,
  /** For audiences too large to echo (over 64 KB of ids): how many ids were given; they are kept and sent. */
  audienceSize: z.record(z.string(), z.number().int()).optional(),
  steps: z.array(Step),
  callbackUrl: z.string().optional(),
  vendorOptions: z.record(z.string(), z.unknown()).optional(),
  /** The steps' figures added up. */
  stats: DeliveryStats.optional(),
  /** Delivery of this task's callbacks to callbackUrl: every attempt, newest last. */
  callbacks: z.object({
    delivered: z.number().int(),
    pending: z.number().int(),
    abandoned: z.array(z.string()),
    attempts: z.array(z.object({ eventId: z.string(), at: z.string(), status: z.number().int().optional(), error: z.string().optional() })),
  }).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  history: z.array(HistoryEntry),
});
export type Task = z.infer<typeof Task>;

export const TaskList = z.object({ items: z.array(Task), nextCursor: z.string().nullable() });

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type Problem = z.infer<typeof Problem>;
