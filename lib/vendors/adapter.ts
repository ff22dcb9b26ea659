/**
 * The vendor adapter interface (after Novu's providers): each vendor is one adapter that says
 * what it can carry, turns a canonical step into the vendor's own request, submits it and
 * classifies every outcome. Credentials come in from the tenant directory; adapters never read
 * the environment or the store: their own settings (lib/vendors/<vendor>/settings.ts) are parsed
 * by the registry and handed in with each call.
 */
import type * as z from 'zod/mini';
import type { RateLimits } from '../core/rateLimits';
import type { FieldError } from '../core/errors';
import type { AttachmentType, Audience, Content, DeliveryStats } from '../core/task';
import type { RecipientOutcome } from '../core/recipients';
import { boundMessage } from './kit/keepResponse';

export interface Capabilities {
  attachmentTypes: readonly AttachmentType[];
  audienceKinds: readonly Audience['kind'][];
  /** Can the vendor filter the audience by tags (include/exclude)? */
  tagFilters: boolean;
  /** Can a step the vendor has accepted still be cancelled there? */
  cancelAfterSubmit: boolean;
  /** How qunfa learns what happened after submit. */
  status: 'poll' | 'callback' | 'none';
  /**
   * May an audience over the per-call limits be sent as several vendor calls (batches)? `false`:
   * the vendor takes the whole audience in one call (e.g. its events name one vendor task), and a
   * task that would need more is refused at create (422).
   */
  batches: boolean;
  /** Can qunfa ask the vendor to remind the staff who have not confirmed a send (POST /v1/tasks/{id}/remind)? */
  remind: boolean;
  /** Does the vendor report each recipient's outcome (GET /v1/tasks/{id}/recipients)? */
  recipientResults: boolean;
  /** Per-call limits of the vendor (audiences larger than these are split into batches). */
  limits: { customerIdsPerCall?: number; groupIdsPerCall?: number; sendersPerCall?: number };
  /**
   * Audience kinds whose request lists the recipient ids once per sender, so it carries
   * senders × ids entries: bounded per call and per task (lib/vendors/batches.ts).
   */
  recipientsPerSender?: readonly Audience['kind'][];
  /** How long after submit the vendor keeps results changing (polling stops there). */
  resultHorizonDays?: number;
  /**
   * Flow control defaults (SPEC §1): requests in flight, vendor writes per minute and per hour;
   * what the vendor publishes, else qunfa's conservative default. A tenant may override them.
   */
  rateLimits: RateLimits;
}

/** qunfa's default where a vendor publishes no limits (named in the README). */
export const CONSERVATIVE_LIMITS: RateLimits = { inFlight: 5, perMinute: 120, perHour: 6_000 };

/** What the adapter needs to build a request: the canonical task, one of its steps. */
export interface StepRequestInput {
  taskId: string;
  name: string;
  audience: Audience;
  content: Content;
  sendAt: string;
  stepIndex: number;
  vendorOptions: Record<string, unknown>;
}

export interface VendorRequest {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface SubmitResult {
  /** The vendor's task id, or the reference it gave us; absent if it returned none. */
  vendorTaskId?: string;
  /** What is kept of the answer (step.vendorResponse): keepResponse(answer, adapter.responseFields). */
  raw: Record<string, unknown>;
}

/**
 * How a vendor call ended, as far as at-most-once delivery cares:
 * - refused: the vendor answered and said no (FAILED, with its code and message);
 * - throttled / not_sent: provably not accepted, safe to retry after a pause;
 * - ambiguous: the request may have reached the vendor (UNKNOWN, never re-sent);
 * - limited: this one request is over a limit of its own (e.g. WeCom's 3 reminders a day per
 *   send), possible again after retryAfterMs. Not a rate limit: flow control is not told, and the
 *   tenant's other calls go on.
 */
export type VendorErrorKind = 'refused' | 'throttled' | 'not_sent' | 'ambiguous' | 'limited';

export class VendorCallError extends Error {
  constructor(
    readonly kind: VendorErrorKind,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(boundMessage(message)); // vendors' own texts land in steps and history: bounded
    this.name = 'VendorCallError';
  }
}

export interface VendorContext<Cred, S = unknown> {
  /** The qunfa tenant the call is made for (token caches are keyed by it). */
  tenantId: string;
  credentials: Cred;
  /** The vendor's API base: its base URL variable, or its local sandbox. */
  baseUrl: string;
  timeoutMs: number;
  /** This vendor's own settings, as its settings.ts parsed them from the environment. */
  settings: S;
  /**
   * Fetches a caller-supplied URL (an attachment the vendor wants uploaded, not linked) through the
   * same guard as callbacks to callers: no private or metadata address outside local mode, a
   * timeout, at most `maxBytes`. Throws MediaUnavailable saying why.
   */
  fetchMedia: MediaFetcher;
}

export interface FetchedMedia {
  bytes: Buffer;
  /** The Content-Type the server gave, if any. */
  contentType?: string;
  /** The last segment of the URL's path (a name for the upload). */
  fileName: string;
}
export type MediaFetcher = (url: string, maxBytes: number) => Promise<FetchedMedia>;

/** An attachment that could not be fetched or is too large: the step cannot be sent as asked. */
export class MediaUnavailable extends Error {
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(boundMessage(message));
    this.name = 'MediaUnavailable';
  }
}

/** One environment variable a vendor reads. */
export interface VendorVariable {
  name: string;
  /**
   * A URL the vendor is called at. In AWS mode it must be an https URL without credentials, or
   * "disabled"; checked by the registry for every vendor alike, naming the variable, never the value.
   */
  endpoint?: boolean;
  /**
   * The vendor's API base (exactly one variable of each vendor; an endpoint). Unset: locally the
   * vendor's sandbox, in AWS mode a configuration error. "disabled": the deployment does not use it.
   */
  baseUrl?: boolean;
  /** Its value in serverless.yml when the deployer's shell does not set it ('' when absent). */
  deployDefault?: string;
}

/**
 * A vendor's settings (lib/vendors/<vendor>/settings.ts): the variables it reads, and their parse
 * into what its adapter gets as ctx.settings. `parse` sees the environment with '' read as unset
 * and throws VendorSettingsError naming each bad variable.
 */
export interface VendorSettingsSpec<S> {
  variables: readonly VendorVariable[];
  parse(env: Record<string, string | undefined>): S;
}

/** A vendor's settings that do not parse: one `NAME: what is wrong` per problem, never a value. */
export class VendorSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid environment: ${problems.join('; ')}`);
    this.name = 'VendorSettingsError';
  }
}

/** What a vendor says of a task it accepted, in qunfa's terms. */
export interface VendorStatus {
  state: 'SUBMITTED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
  error?: { code: string; message: string };
  stats?: DeliveryStats;
  /** Each recipient's outcome so far, where the vendor reports it (capabilities.recipientResults): the whole list for this vendor task. */
  recipients?: RecipientOutcome[];
  /** Staff the vendor still waits for (they have not confirmed the send), where it says: named when qunfa stops following the step. */
  waitingFor?: string[];
  raw: unknown;
}

export { RECIPIENT_STATUSES, type RecipientOutcome, type RecipientStatus } from '../core/recipients';

/** A vendor callback as it arrived (the raw body, for signatures). */
export interface WebhookRequest {
  method: 'GET' | 'POST';
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  rawBody: string;
}

/** One verified vendor event. `eventId` dedupes (the vendor's id, or a hash of the event). */
export interface VendorEvent {
  eventId: string;
  type: string;
  /** The vendor's task it is about, if it is about one. */
  vendorTaskId?: string;
  status?: Omit<VendorStatus, 'raw'>;
  raw: unknown;
}

export type WebhookOutcome =
  { kind: 'echo'; body: string } | { kind: 'events'; events: VendorEvent[]; reply: { status: number; contentType: string; body: string } };

/** Thrown for anything that does not verify: answered 401, nothing changed. */
export class WebhookRejected extends Error {}

export interface VendorAdapter<Cred = unknown, S = unknown> {
  /** The vendor's id: its folder's name under lib/vendors/, and what tasks name in `vendor`. */
  readonly id: string;
  readonly displayName: string;
  /** Its environment variables and their validation (lib/vendors/<vendor>/settings.ts). */
  readonly settings: VendorSettingsSpec<S>;
  readonly capabilities: Capabilities;
  /** The shape of this vendor's credentials in the tenant directory. */
  readonly credentials: z.ZodMiniType<Cred>;
  /** `vendorOptions` this vendor accepts (fields with no canonical meaning). */
  readonly options: z.ZodMiniType<Record<string, unknown>>;
  /**
   * The fields of its create answer kept as step.vendorResponse (dotted paths; most important
   * first), bounded by lib/vendors/kit/keepResponse.ts. Nothing else of a vendor's answer is stored.
   */
  readonly responseFields: readonly string[];
  /** The local sandbox's default base URL is supplied by the registry; this is production's. */
  readonly productionBaseUrl: string;
  /** Vendor rules beyond the capability matrix, as field errors (→ 422). */
  check(input: StepRequestInput): FieldError[];
  /** Pure: the vendor request for one step (what the seed tests compare byte for byte). */
  buildRequest(input: StepRequestInput): VendorRequest;
  submit(ctx: VendorContext<Cred, S>, input: StepRequestInput): Promise<SubmitResult>;
  /** Cancel a task the vendor accepted (only where capabilities.cancelAfterSubmit). */
  cancel?(ctx: VendorContext<Cred, S>, vendorTaskId: string): Promise<void>;
  /**
   * Remind the staff who have not confirmed this vendor task (only where capabilities.remind). At
   * the vendor's own remind limit it throws VendorCallError('limited', …, retryAfterMs): a limit of that
   * send, not a rate limit (a 'throttled' would stop all the tenant's calls to the vendor).
   */
  remind?(ctx: VendorContext<Cred, S>, vendorTaskId: string): Promise<void>;
  /** Ask the vendor how a task it accepted is doing (only where capabilities.status is 'poll'). */
  status?(ctx: VendorContext<Cred, S>, vendorTaskId: string, input: StepRequestInput): Promise<VendorStatus>;
  /** Verify and read a callback with the tenant's own secrets (throws WebhookRejected). */
  webhook?(req: WebhookRequest, credentials: Cred, maxSkewSeconds: number): WebhookOutcome;
}
