/**
 * WeCom 企业微信 itself, the platform beneath the four SCRM vendors (shared/vendors.md, copied as
 * seed-004.txt). JSON over HTTPS, `?access_token=` on every call, the `{errcode, errmsg}` envelope.
 *
 * - Customers: `add_msg_template` with chat_type "single" (external_userid ≤ 10,000, or tag_filter,
 *   or only the sender: all of that member's customers); groups: chat_type "group", chat_id_list
 *   ≤ 2,000 and the sender. One sender per call (each call its own msgid): the batch planner makes
 *   one call per sender (capabilities.limits.sendersPerCall 1).
 * - Attachments other than links are WeCom media ids: fetched from the caller's URLs and uploaded
 *   (`media/upload`, multipart) inside submit(), at dispatch time — a media id lives 3 days.
 * - Nothing is sent until each staff member confirms it in the WeCom client: results are polled
 *   (`get_groupmsg_task`, then `get_groupmsg_send_result` per member), staff can be reminded
 *   (`remind_groupmsg_send`) and what is not yet sent cancelled (`cancel_groupmsg_send`).
 */
import * as z from 'zod/mini';
import type { FieldError } from '../../core/errors';
import type { Attachment, DeliveryStats } from '../../core/task';
import { vendorFetch, withQuery } from '../kit/vendorFetch';
import { keepResponse } from '../kit/keepResponse';
import { fetchForToken, TokenCache, tokenKey, type Token } from '../kit/tokenCache';
import {
  MediaUnavailable,
  VendorCallError,
  type FetchedMedia,
  type RecipientOutcome,
  type RecipientStatus,
  type StepRequestInput,
  type VendorAdapter,
  type VendorContext,
  type VendorRequest,
  type VendorStatus,
} from '../adapter';
import { wecomSettings, type WecomSettings } from './settings';

/** The corp and the secret of its app with customer-contact permission (客户联系). */
export const WecomCredentials = z.object({
  corpId: z.string().check(z.minLength(1)),
  secret: z.string().check(z.minLength(1)),
});
export type WecomCredentials = z.infer<typeof WecomCredentials>;

const WecomOptions = z.strictObject({
  /** Let staff change the recipients before confirming (passed through as WeCom's allow_select). */
  allow_select: z.optional(z.boolean()),
});

export const WECOM_PATHS = {
  token: '/cgi-bin/gettoken',
  create: '/cgi-bin/externalcontact/add_msg_template',
  upload: '/cgi-bin/media/upload',
  task: '/cgi-bin/externalcontact/get_groupmsg_task',
  sendResult: '/cgi-bin/externalcontact/get_groupmsg_send_result',
  cancel: '/cgi-bin/externalcontact/cancel_groupmsg_send',
  remind: '/cgi-bin/externalcontact/remind_groupmsg_send',
} as const;

/** WeCom's codes that qunfa acts on (vendors.md). */
export const WECOM_CODES = {
  /** The access token is invalid (40014) or expired (42001): fetch another, retry once. */
  tokenInvalid: 40014,
  tokenExpired: 42001,
  /** Right after create the send is still being dispatched: not yet, ask again later. */
  notYet: 41063,
  /** cancel_groupmsg_send: it was cancelled already (the cancel has what it wants). */
  alreadyCancelled: 41093,
  /** remind_groupmsg_send: over 3 reminders for this message in 24 h. */
  remindLimit: 41094,
} as const;

/**
 * Throttling, and how long WeCom wants us away: 45009 (frequency) bans for the window that was
 * exceeded — the minute window is the one qunfa can hit, so 60 s; 45033 (concurrent calls) passes
 * as soon as a call ends; -1 (system busy) is to be retried after a pause. Nothing was created.
 */
export const WECOM_THROTTLE: ReadonlyMap<number, number> = new Map([
  [45009, 60_000],
  [45033, 1_000],
  [-1, 1_000],
]);
/** 41094: at most 3 reminders per message in 24 h; the next is possible within a day. */
export const REMIND_RETRY_MS = 24 * 3600 * 1000;

/** WeCom's media limits (vendors.md): bytes, and what each type takes. */
export const WECOM_MEDIA = {
  image: { maxBytes: 10 * 1024 * 1024, formats: 'jpg/png' },
  video: { maxBytes: 10 * 1024 * 1024, formats: 'mp4' },
  file: { maxBytes: 20 * 1024 * 1024, formats: 'any' },
  /** Every upload must be larger than this. */
  minBytes: 5,
} as const;

const MAX_TEXT_BYTES = 4000;
const MAX_ATTACHMENTS = 9;
const MAX_LINK_TITLE_BYTES = 128;
const MAX_LINK_DESC_BYTES = 512;
const MAX_MINIPROGRAM_TITLE_BYTES = 64;
/** Result pages are read ≤ 1,000 rows at a time; a list longer than this many pages is not read on (a loop guard). */
const PAGE_LIMIT = 1000;
const MAX_PAGES = 200;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

interface Envelope {
  errcode?: number;
  errmsg?: string;
  [k: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// The request (pure)
// ---------------------------------------------------------------------------------------------

/** Does this attachment travel as a WeCom media id (uploaded at dispatch)? Links travel by URL. */
export const needsUpload = (a: Attachment): a is Extract<Attachment, { type: 'image' | 'video' | 'file' | 'miniprogram' }> =>
  a.type === 'image' || a.type === 'video' || a.type === 'file' || a.type === 'miniprogram';

/** What buildRequest puts where attachment k's uploaded media id goes (submit puts the real one). */
export const placeholderMediaId = (k: number) => `qunfa-media-placeholder-${k}`;

function attachment(a: Attachment, k: number, mediaIds: readonly (string | undefined)[]): Record<string, unknown> {
  const media = () => {
    const id = mediaIds[k];
    if (!id) throw new Error(`wecom: attachment ${k} (${a.type}) has no media id`);
    return id;
  };
  switch (a.type) {
    case 'image':
      return { msgtype: 'image', image: { media_id: media() } };
    case 'link':
      return {
        msgtype: 'link',
        link: {
          title: a.title,
          ...(a.thumbUrl !== undefined ? { picurl: a.thumbUrl } : {}),
          ...(a.description !== undefined ? { desc: a.description } : {}),
          url: a.url,
        },
      };
    case 'miniprogram':
      return { msgtype: 'miniprogram', miniprogram: { title: a.title, pic_media_id: media(), appid: a.appId, page: a.page } };
    case 'video':
      return { msgtype: 'video', video: { media_id: media() } };
    case 'file':
      return { msgtype: 'file', file: { media_id: media() } };
    default:
      // The capability matrix refuses the others at create time.
      throw new Error(`wecom cannot carry ${a.type}`);
  }
}

/** tags.include → tag_filter: OR within a group, AND across groups. */
function tagFilter(include: { match: 'any' | 'all'; ids: string[] }) {
  return { group_list: include.match === 'any' ? [{ tag_list: include.ids }] : include.ids.map((id) => ({ tag_list: [id] })) };
}

/**
 * Pure: the add_msg_template request for one call (one batch: at most one sender), with
 * `mediaIds[k]` as attachment k's media id (image, video, file; a mini-program's pic_media_id).
 * submit() uploads the media and then sends exactly this; buildRequest is this with
 * placeholderMediaId(k) in their places, so the mapping is tested without uploading anything.
 */
export function wecomRequest(i: StepRequestInput, mediaIds: readonly (string | undefined)[]): VendorRequest {
  const a = i.audience;
  const sender = a.senders?.[0];
  const allowSelect = i.vendorOptions.allow_select as boolean | undefined;
  const text = i.content.text;
  const attachments = (i.content.attachments ?? []).map((x, k) => attachment(x, k, mediaIds));
  const common = {
    ...(sender !== undefined ? { sender } : {}),
    ...(allowSelect !== undefined ? { allow_select: allowSelect } : {}),
    ...(text !== undefined && text.trim() !== '' ? { text: { content: text } } : {}),
    ...(attachments.length ? { attachments } : {}),
  };
  const body =
    a.kind === 'groups'
      ? { chat_type: 'group', ...(a.groupIds?.length ? { chat_id_list: a.groupIds } : {}), ...common }
      : {
          chat_type: 'single',
          ...(a.customerIds?.length ? { external_userid: a.customerIds } : {}),
          ...(a.tags?.include ? { tag_filter: tagFilter(a.tags.include) } : {}),
          ...common,
        };
  return { method: 'POST', path: WECOM_PATHS.create, body };
}

// ---------------------------------------------------------------------------------------------
// Create-time checks (pure)
// ---------------------------------------------------------------------------------------------

/** The extension a file name ends in (lower case, without the dot), if it has one. */
const extensionOf = (name: string) => /\.([A-Za-z0-9]{1,8})$/.exec(name)?.[1]?.toLowerCase();

/** The extension a URL's path ends in (lower case, without the dot), if its last segment has one. */
export function urlExtension(url: string): string | undefined {
  try {
    return extensionOf(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    return undefined;
  }
}

/**
 * Image and video formats WeCom refuses, by the extension a URL ends in. Only these are refused at
 * create: any other ending (none, `.php`, `/v2.0`) says nothing of the bytes, which are checked at
 * dispatch.
 */
const NOT_WECOM_IMAGES = new Set(['gif', 'webp', 'bmp', 'tif', 'tiff', 'svg', 'heic', 'heif', 'avif', 'ico']);
const NOT_WECOM_VIDEOS = new Set(['mov', 'avi', 'wmv', 'flv', 'mkv', 'webm', 'm4v', '3gp', 'mpg', 'mpeg', 'ts']);

function mediaUrlErrors(url: string, path: string, kind: 'image' | 'video'): FieldError[] {
  const ext = urlExtension(url);
  if (ext === undefined) return []; // not knowable from the URL: checked on the bytes at dispatch
  if (kind === 'image' && NOT_WECOM_IMAGES.has(ext)) return [{ path, message: `wecom takes jpg or png images; this URL ends in .${ext}` }];
  if (kind === 'video' && NOT_WECOM_VIDEOS.has(ext)) return [{ path, message: `wecom takes mp4 videos; this URL ends in .${ext}` }];
  return [];
}

function wecomCheck(i: StepRequestInput): FieldError[] {
  const errors: FieldError[] = [];
  const a = i.audience;
  if (a.tags?.exclude) errors.push({ path: 'audience.tags.exclude', message: 'wecom cannot exclude tags (tag_filter only includes)' });
  if (a.kind === 'groups') {
    if (!a.senders?.length) errors.push({ path: 'audience.senders', message: 'wecom needs the group owner who sends (sender) for group sends' });
    if (a.tags?.include) errors.push({ path: 'audience.tags.include', message: "wecom's tag_filter selects customers by their tags; it cannot select groups" });
  } else if (a.customerIds?.length && a.tags?.include) {
    errors.push({
      path: 'audience.tags.include',
      message:
        'wecom ignores tag_filter when external_userid is given: it would send to every listed customer unfiltered; give either customerIds or tags.include',
    });
  }
  const text = i.content.text;
  if (text !== undefined && bytes(text) > MAX_TEXT_BYTES) errors.push({ path: 'content.text', message: `wecom takes at most ${MAX_TEXT_BYTES} bytes of text` });
  const atts = i.content.attachments ?? [];
  if (atts.length > MAX_ATTACHMENTS) errors.push({ path: 'content.attachments', message: `wecom takes at most ${MAX_ATTACHMENTS} attachments` });
  atts.forEach((x, k) => {
    const at = `content.attachments.${k}`;
    if (x.type === 'image') errors.push(...mediaUrlErrors(x.url, `${at}.url`, 'image'));
    if (x.type === 'video') errors.push(...mediaUrlErrors(x.url, `${at}.url`, 'video'));
    if (x.type === 'miniprogram') {
      errors.push(...mediaUrlErrors(x.coverUrl, `${at}.coverUrl`, 'image'));
      if (bytes(x.title) > MAX_MINIPROGRAM_TITLE_BYTES)
        errors.push({ path: `${at}.title`, message: `wecom takes a mini-program title of at most ${MAX_MINIPROGRAM_TITLE_BYTES} bytes in UTF-8` });
    }
    if (x.type === 'link') {
      if (bytes(x.title) > MAX_LINK_TITLE_BYTES)
        errors.push({ path: `${at}.title`, message: `wecom takes a link title of at most ${MAX_LINK_TITLE_BYTES} bytes in UTF-8` });
      if (x.description !== undefined && bytes(x.description) > MAX_LINK_DESC_BYTES)
        errors.push({ path: `${at}.description`, message: `wecom takes a link description of at most ${MAX_LINK_DESC_BYTES} bytes in UTF-8` });
    }
  });
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

const tokens = new TokenCache();
/** Refresh this long before WeCom's expires_in runs out. */
const TOKEN_MARGIN_MS = 300_000;
const TOKEN_LIFE_FALLBACK_S = 7200;

function throttled(code: number, errmsg: unknown): VendorCallError | undefined {
  const pause = WECOM_THROTTLE.get(code);
  return pause === undefined ? undefined : new VendorCallError('throttled', String(code), String(errmsg ?? 'throttled'), pause);
}

async function fetchToken(ctx: VendorContext<WecomCredentials>): Promise<Token> {
  const res = await fetchForToken(
    withQuery(ctx.baseUrl, WECOM_PATHS.token, { corpid: ctx.credentials.corpId, corpsecret: ctx.credentials.secret }),
    { method: 'GET' },
    ctx.timeoutMs,
  );
  const body = (res.json ?? {}) as Envelope;
  if (Number(body.errcode ?? 0) !== 0 || typeof body.access_token !== 'string' || body.access_token === '') {
    const code = Number(body.errcode ?? 0);
    throw (
      throttled(code, body.errmsg) ??
      (code === 0
        ? new VendorCallError('refused', 'wecom.no_token', 'gettoken: no access_token in the answer')
        : new VendorCallError('refused', String(body.errcode), `gettoken: ${body.errmsg ?? `errcode ${code}`}`))
    );
  }
  const life = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : TOKEN_LIFE_FALLBACK_S;
  return { token: body.access_token, expiresAt: Date.now() + Math.max(life * 1000 - TOKEN_MARGIN_MS, 0) };
}

/** One token per tenant and app secret (and endpoint), shared by the tenant's concurrent calls. */
const token = (ctx: VendorContext<WecomCredentials>, refresh = false) =>
  tokens.get(tokenKey(ctx.tenantId, ctx.baseUrl, ctx.credentials), () => fetchToken(ctx), refresh);

interface Call {
  path: string;
  query?: Record<string, string>;
  /** A JSON body; or */
  json?: unknown;
  /** a multipart body (media/upload). */
  form?: FormData;
}

/**
 * Calls WeCom with the token. 40014/42001 (the token was refused before anything happened): a
 * fresh token and one retry. Throttle codes → 'throttled'; other codes → 'refused' with WeCom's
 * code and message, except those in `accept`, which are returned for the caller to read.
 */
async function call(ctx: VendorContext<WecomCredentials>, req: Call, accept: readonly number[] = []): Promise<Envelope> {
  for (let attempt = 0; ; attempt++) {
    const accessToken = await token(ctx, attempt > 0);
    const res = await vendorFetch(
      withQuery(ctx.baseUrl, req.path, { ...req.query, access_token: accessToken }),
      req.form ? { method: 'POST', body: req.form } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req.json ?? {}) },
      ctx.timeoutMs,
    );
    const body = (res.json ?? {}) as Envelope;
    // WeCom answers 200 with its envelope; an HTTP error without one is no answer of WeCom's.
    if (res.status >= 400 && body.errcode === undefined) throw new VendorCallError('refused', `http_${res.status}`, `the vendor answered HTTP ${res.status}`);
    const code = Number(body.errcode ?? 0);
    if (code === 0 || accept.includes(code)) return body;
    if ((code === WECOM_CODES.tokenInvalid || code === WECOM_CODES.tokenExpired) && attempt === 0) continue;
    throw throttled(code, body.errmsg) ?? new VendorCallError('refused', String(body.errcode), String(body.errmsg ?? `errcode ${String(body.errcode)}`));
  }
}

// ---------------------------------------------------------------------------------------------
// Media (at dispatch, inside submit)
// ---------------------------------------------------------------------------------------------

type Uploadable = 'image' | 'video' | 'file';

/** The image format the bytes are (WeCom takes jpg and png), by their signature. */
export function imageFormat(b: Uint8Array): 'jpg' | 'png' | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpg';
  if (b.length >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, k) => b[k] === v)) return 'png';
  return undefined;
}

/** Is it an MP4 (an ISO base media file: `ftyp` box first), and not a QuickTime .mov (brand `qt  `)? */
export function isMp4(b: Uint8Array): boolean {
  if (b.length < 12) return false;
  const ascii = (from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('latin1');
  return ascii(4, 8) === 'ftyp' && ascii(8, 12) !== 'qt  ';
}

const refusal = (code: string, k: number, what: string, why: string) => new VendorCallError('refused', `wecom.${code}`, `attachment ${k} (${what}): ${why}`);

/** Fetches one attachment's media and checks it against WeCom's limits; refusals name the attachment. */
async function fetchChecked(ctx: VendorContext<WecomCredentials>, url: string, type: Uploadable, k: number, what: string) {
  const limit = WECOM_MEDIA[type];
  let got: FetchedMedia;
  try {
    got = await ctx.fetchMedia(url, limit.maxBytes);
  } catch (err) {
    if (err instanceof MediaUnavailable)
      throw refusal('media_unavailable', k, what, `${err.message} (wecom takes ${type}s of at most ${limit.maxBytes / 1024 / 1024} MB)`);
    // Nothing has been created at WeCom yet: whatever broke here, the step was not sent.
    throw new VendorCallError('not_sent', 'wecom.media_fetch', `attachment ${k} (${what}): could not fetch it`);
  }
  if (got.bytes.length <= WECOM_MEDIA.minBytes)
    throw refusal('media_too_small', k, what, `${got.bytes.length} bytes; wecom takes more than ${WECOM_MEDIA.minBytes}`);
  if (got.bytes.length > limit.maxBytes) throw refusal('media_too_large', k, what, `larger than wecom's ${limit.maxBytes / 1024 / 1024} MB for ${type}s`);
  let contentType = got.contentType ?? 'application/octet-stream';
  let ext: string | undefined;
  if (type === 'image') {
    const format = imageFormat(got.bytes);
    if (!format) throw refusal('media_format', k, what, `not a jpg or png image (${got.contentType ?? 'no content type'}); wecom takes jpg and png`);
    [ext, contentType] = format === 'png' ? ['png', 'image/png'] : ['jpg', 'image/jpeg'];
  } else if (type === 'video') {
    if (!isMp4(got.bytes)) throw refusal('media_format', k, what, `not an mp4 video (${got.contentType ?? 'no content type'}); wecom takes mp4`);
    [ext, contentType] = ['mp4', 'video/mp4'];
  }
  return { got, ext, contentType };
}

/**
 * A name for the upload: a file's own name (recipients see it); else the URL's last segment, with
 * the extension of what the bytes are (WeCom reads the type from it).
 */
export function uploadName(name: string, ext: string | undefined, k: number): string {
  // eslint-disable-next-line no-control-regex -- control characters and quotes have no place in a multipart filename
  const base = name.replace(/[\u0000-\u001f\u007f"\\/]/g, '_') || `attachment-${k}`;
  if (!ext) return base;
  const own = extensionOf(base);
  return own === ext || (ext === 'jpg' && own === 'jpeg') ? base : `${base}.${ext}`;
}

/**
 * Uploads one medium. Only add_msg_template can create anything at WeCom: an upload that timed
 * out or broke off is 'not_sent' (safe to retry), never 'ambiguous'; throttling stays 'throttled'.
 */
async function upload(ctx: VendorContext<WecomCredentials>, type: Uploadable, bytesOf: Buffer, name: string, contentType: string, k: number, what: string) {
  const form = new FormData();
  form.append('media', new Blob([new Uint8Array(bytesOf)], { type: contentType }), name);
  let body: Envelope;
  try {
    body = await call(ctx, { path: WECOM_PATHS.upload, query: { type }, form });
  } catch (err) {
    if (!(err instanceof VendorCallError)) throw new VendorCallError('not_sent', 'wecom.media_upload', `attachment ${k} (${what}): media/upload failed`);
    if (err.kind === 'ambiguous') throw new VendorCallError('not_sent', err.code, `attachment ${k} (${what}): media/upload: ${err.message}`);
    throw new VendorCallError(err.kind, err.code, `attachment ${k} (${what}): media/upload: ${err.message}`, err.retryAfterMs);
  }
  if (typeof body.media_id !== 'string' || body.media_id === '') throw refusal('media_no_id', k, what, 'media/upload answered without a media_id');
  return body.media_id;
}

/** Every attachment's media id (undefined for links), uploaded now: fresh ids for this one call. */
async function uploadAll(ctx: VendorContext<WecomCredentials>, i: StepRequestInput): Promise<(string | undefined)[]> {
  const ids: (string | undefined)[] = [];
  for (const [k, a] of (i.content.attachments ?? []).entries()) {
    if (!needsUpload(a)) {
      ids.push(undefined);
      continue;
    }
    const [type, url, what]: [Uploadable, string, string] = a.type === 'miniprogram' ? ['image', a.coverUrl, 'miniprogram cover'] : [a.type, a.url, a.type];
    const { got, ext, contentType } = await fetchChecked(ctx, url, type, k, what);
    const name = uploadName(a.type === 'file' ? a.name : got.fileName, ext, k);
    ids.push(await upload(ctx, type, got.bytes, name, contentType, k, what));
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Results (pure parsers, and the polling that feeds them)
// ---------------------------------------------------------------------------------------------

/** get_groupmsg_task's task_list row: a member's status 0 not sent, 1 confirmed, 2 sent. */
export interface StaffRow {
  userid: string;
  status: number;
  sendTime?: number;
}
/** get_groupmsg_send_result's send_list row: 0 not sent, 1 sent, 2 not a friend, 3 over quota. */
export interface SendRow {
  userid?: string;
  externalUserid?: string;
  chatId?: string;
  status: number;
  sendTime?: number;
}
export interface Page<R> {
  rows: R[];
  nextCursor?: string;
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const int = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : undefined);
const list = (v: unknown) => (Array.isArray(v) ? (v as unknown[]).filter((r): r is Record<string, unknown> => r !== null && typeof r === 'object') : []);

/** One get_groupmsg_task answer: its members (rows without a userid are skipped) and the next cursor. */
export function parseTaskPage(body: Envelope): Page<StaffRow> {
  const rows = list(body.task_list).flatMap((r) => {
    const userid = str(r.userid);
    if (!userid) return [];
    const sendTime = int(r.send_time);
    return [{ userid, status: int(r.status) ?? 0, ...(sendTime ? { sendTime } : {}) }];
  });
  const nextCursor = str(body.next_cursor);
  return { rows, ...(nextCursor ? { nextCursor } : {}) };
}

/** One get_groupmsg_send_result answer: its recipient rows (those naming no recipient skipped) and the next cursor. */
export function parseSendPage(body: Envelope): Page<SendRow> {
  const rows = list(body.send_list).flatMap((r) => {
    const externalUserid = str(r.external_userid);
    const chatId = str(r.chat_id);
    if (!externalUserid && !chatId) return [];
    const userid = str(r.userid);
    const sendTime = int(r.send_time);
    return [
      {
        ...(userid ? { userid } : {}),
        ...(externalUserid ? { externalUserid } : chatId ? { chatId } : {}),
        status: int(r.status) ?? 0,
        ...(sendTime ? { sendTime } : {}),
      },
    ];
  });
  const nextCursor = str(body.next_cursor);
  return { rows, ...(nextCursor ? { nextCursor } : {}) };
}

const STAFF_SENT = 2;
const STAFF_NOT_SENT = 0;
const RECIPIENT_STATUS: Record<number, RecipientStatus> = { 0: 'unsent', 1: 'sent', 2: 'notFriend', 3: 'overQuota' };

/** What a 41063 ("still being dispatched") means: accepted, nothing to report yet. */
export function notYetStatus(body: Envelope = { errcode: WECOM_CODES.notYet }): VendorStatus {
  return { state: 'SUBMITTED', raw: { errcode: body.errcode, errmsg: body.errmsg } };
}

/**
 * One vendor task's state from its members and their recipients (all pages read).
 *
 * Members (task_list): 0 not sent, 1 confirmed, 2 sent. Only 2 is done. A member at 0 has not
 * confirmed: WeCom waits for them (waitingFor, unconfirmedStaff, a reminder reaches them); a
 * member at 1 has confirmed and WeCom is sending, so nobody waits for that member, but the step
 * is not complete until WeCom says sent. No members listed yet: SUBMITTED; some not at 2:
 * RUNNING; every member at 2: COMPLETED.
 *
 * Figures: sent, notFriend, overQuota from the recipients' rows; planned is every customer row
 * (group sends list only what was sent, so it is not known for them); fail_list comes only with
 * create's answer (kept in the step's vendorResponse), so `failed` is not known here.
 */
export function wecomStatus(kind: 'customers' | 'groups', staff: readonly StaffRow[], sends: readonly SendRow[]): VendorStatus {
  const raw = { staff: staff.length, rows: sends.length };
  if (!staff.length) return { state: 'SUBMITTED', raw };
  const waitingFor = staff.filter((s) => s.status === STAFF_NOT_SENT).map((s) => s.userid);
  const state: VendorStatus['state'] = staff.every((s) => s.status === STAFF_SENT) ? 'COMPLETED' : 'RUNNING';
  const recipients: RecipientOutcome[] = sends.map((r) => {
    const status = RECIPIENT_STATUS[r.status] ?? 'unsent';
    return {
      ...(r.userid ? { sender: r.userid } : {}),
      recipient: (r.externalUserid ?? r.chatId) as string,
      kind: r.chatId && !r.externalUserid ? 'group' : 'customer',
      status,
      ...(status === 'sent' && r.sendTime ? { sentAt: new Date(r.sendTime * 1000).toISOString() } : {}),
    };
  });
  const count = (s: RecipientStatus) => recipients.filter((r) => r.status === s).length;
  const stats: DeliveryStats = {
    ...(kind === 'customers' ? { planned: recipients.length } : {}),
    sent: count('sent'),
    notFriend: count('notFriend'),
    overQuota: count('overQuota'),
    unconfirmedStaff: waitingFor.length,
  };
  return { state, stats, recipients, waitingFor, raw };
}

/** Reads every page of a cursor-paged list (a repeated cursor or MAX_PAGES ends it). */
async function allPages<R>(
  fetchPage: (cursor: string | undefined) => Promise<Envelope>,
  parse: (b: Envelope) => Page<R>,
): Promise<{ rows: R[]; notYet?: Envelope }> {
  const rows: R[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const body = await fetchPage(cursor);
    if (Number(body.errcode ?? 0) === WECOM_CODES.notYet) return { rows, notYet: body };
    const page = parse(body);
    rows.push(...page.rows);
    if (!page.nextCursor || page.nextCursor === cursor) return { rows };
    cursor = page.nextCursor;
  }
  throw new VendorCallError('refused', 'wecom.too_many_pages', `more than ${MAX_PAGES * PAGE_LIMIT} rows: not read on`);
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

export const wecomAdapter: VendorAdapter<WecomCredentials, WecomSettings> = {
  id: 'wecom',
  displayName: 'WeCom 企业微信',
  settings: wecomSettings,
  productionBaseUrl: 'https://qyapi.weixin.qq.com',
  // fail_list: the customers WeCom could not take (not friends, or over their limit), bounded by keepResponse.
  responseFields: ['errcode', 'errmsg', 'msgid', 'fail_list'],
  capabilities: {
    attachmentTypes: ['image', 'link', 'miniprogram', 'video', 'file'],
    audienceKinds: ['customers', 'groups'],
    tagFilters: true,
    cancelAfterSubmit: true,
    status: 'poll',
    batches: true,
    remind: true,
    recipientResults: true,
    // One sender per call: each sender's call is its own msgid (its own confirmation in WeCom).
    limits: { customerIdsPerCall: 10_000, groupIdsPerCall: 2_000, sendersPerCall: 1 },
    // Each sender's call repeats the customer or group list, so the calls together carry
    // senders × ids entries: bounded per task like the vendors that list them per sender (which
    // also bounds a task's calls, and so its batches, to what the store holds).
    recipientsPerSender: ['customers', 'groups'],
    // WeCom documents no end to results. Its media ids live 3 days, so a member confirming later
    // would send attachments WeCom no longer has: 3 days is as long as a send can still go out as
    // asked. Members still unconfirmed then are named when qunfa stops following the step.
    resultHorizonDays: 3,
    // WeCom's published limits: 10,000 calls a minute and 150,000 an hour per API per corp. It
    // publishes no number of concurrent calls (only that there is one: 45033): qunfa's choice, 20.
    // (A submit also uploads up to 9 media, another API with its own budget; a 45009 there defers.)
    rateLimits: { inFlight: 20, perMinute: 10_000, perHour: 150_000 },
  },
  credentials: WecomCredentials,
  options: WecomOptions,

  check: wecomCheck,

  /** wecomRequest with placeholderMediaId(k) where submit() puts the uploaded media ids (pure). */
  buildRequest(i) {
    return wecomRequest(
      i,
      (i.content.attachments ?? []).map((a, k) => (needsUpload(a) ? placeholderMediaId(k) : undefined)),
    );
  },

  async submit(ctx, i) {
    const mediaIds = await uploadAll(ctx, i);
    const body = await call(ctx, { path: WECOM_PATHS.create, json: wecomRequest(i, mediaIds).body });
    const msgid = str(body.msgid);
    return { ...(msgid ? { vendorTaskId: msgid } : {}), raw: keepResponse(body, this.responseFields) };
  },

  async status(ctx, msgid, i) {
    const staff = await allPages(
      (cursor) => call(ctx, { path: WECOM_PATHS.task, json: { msgid, limit: PAGE_LIMIT, ...(cursor ? { cursor } : {}) } }, [WECOM_CODES.notYet]),
      parseTaskPage,
    );
    if (staff.notYet) return notYetStatus(staff.notYet);
    const members = [...new Map(staff.rows.map((s) => [s.userid, s])).values()];
    const sends: SendRow[] = [];
    for (const member of members) {
      // Group sends list only what was sent: a member who has not confirmed has nothing to list.
      if (i.audience.kind === 'groups' && member.status === STAFF_NOT_SENT) continue;
      const got = await allPages(
        (cursor) =>
          call(ctx, { path: WECOM_PATHS.sendResult, json: { msgid, userid: member.userid, limit: PAGE_LIMIT, ...(cursor ? { cursor } : {}) } }, [
            WECOM_CODES.notYet,
          ]),
        parseSendPage,
      );
      if (got.notYet) return notYetStatus(got.notYet);
      sends.push(...got.rows.map((r) => ({ ...r, userid: r.userid ?? member.userid })));
    }
    return wecomStatus(i.audience.kind, members, sends);
  },

  /** Stops what is not yet sent (delivered messages stay delivered); 41093 "already cancelled" is done. */
  async cancel(ctx, msgid) {
    await call(ctx, { path: WECOM_PATHS.cancel, json: { msgid } }, [WECOM_CODES.alreadyCancelled]);
  },

  /** Re-notifies the members who have not confirmed; WeCom allows 3 a message in 24 h (41094 beyond). */
  async remind(ctx, msgid) {
    const body = await call(ctx, { path: WECOM_PATHS.remind, json: { msgid } }, [WECOM_CODES.remindLimit]);
    if (Number(body.errcode) === WECOM_CODES.remindLimit)
      throw new VendorCallError(
        'limited',
        String(WECOM_CODES.remindLimit),
        String(body.errmsg ?? 'wecom allows 3 reminders per message in 24 h'),
        REMIND_RETRY_MS,
      );
  },
};
