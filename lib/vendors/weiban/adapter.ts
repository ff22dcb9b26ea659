/**
 * Weiban 微伴助手 (seed 002). JSON over HTTPS, `?access_token=` on every call, the
 * `{errcode, errmsg}` envelope. Groups go to `customer_group_msg/add` exactly as the seed shows;
 * customers to `group_msg/add`. Attachments travel by URL.
 */
import * as z from 'zod/mini';
import type { FieldError } from '../../core/errors';
import { sha256 } from '../../core/canonicalJson';
import type { Attachment, DeliveryStats } from '../../core/task';
import { decrypt, signature, signatureMatches } from './callbackCrypto';
import { vendorFetch, withQuery } from '../kit/vendorFetch';
import { keepResponse } from '../kit/keepResponse';
import { fetchForToken, TokenCache, tokenKey, type Token } from '../kit/tokenCache';
import {
  VendorCallError,
  WebhookRejected,
  type StepRequestInput,
  type VendorAdapter,
  type VendorContext,
  type VendorRequest,
  type VendorStatus,
} from '../adapter';
import { weibanSettings, type WeibanSettings } from './settings';

export const WeibanCredentials = z.object({
  corpId: z.string().check(z.minLength(1)),
  secret: z.string().check(z.minLength(1)),
  callbackToken: z.optional(z.string()),
  callbackAesKey: z.optional(z.string().check(z.length(43))),
});
export type WeibanCredentials = z.infer<typeof WeibanCredentials>;

const WeibanOptions = z.strictObject({
  /** The staff member shown as the task's creator; defaults to the first sender. */
  create_staff_ext_id: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  /** Customers only: let staff change the recipients before confirming. */
  allow_select: z.optional(z.boolean()),
});

/** Weiban's documented global codes. */
export const WEIBAN_TOKEN_INVALID = 10001;
/**
 * Throttle codes and how long Weiban wants us away: 10052 (over 5 in flight) passes as soon as a
 * call ends; 10053 (over the minute or hour quota) bans the corp's calls for 60 s.
 */
const WEIBAN_THROTTLE: ReadonlyMap<number, number> = new Map([
  [10052, 1_000],
  [10053, 60_000],
]);

interface Envelope {
  errcode?: number;
  errmsg?: string;
  [k: string]: unknown;
}

function attachment(a: Attachment): Record<string, unknown> {
  switch (a.type) {
    case 'image':
      return { msgtype: 'image', image: { ...(a.title !== undefined ? { title: a.title } : {}), url: a.url } };
    case 'link':
      return { msgtype: 'link', link: { title: a.title, url: a.url, ...(a.description !== undefined ? { desc: a.description } : {}) } };
    case 'miniprogram':
      return { msgtype: 'miniprogram', miniprogram: { appid: a.appId, title: a.title, page: a.page, cover: a.coverUrl } };
    case 'video':
      return { msgtype: 'video', video: { ...(a.title !== undefined ? { title: a.title } : {}), url: a.url } };
    default:
      // The capability matrix refuses the others at create time.
      throw new Error(`weiban cannot carry ${a.type}`);
  }
}

const creator = (i: StepRequestInput) => (i.vendorOptions.create_staff_ext_id as string | undefined) ?? i.audience.senders?.[0];

const tokens = new TokenCache();
/** Weiban documents no token expiry; qunfa assumes WeCom's 7,200 s and refreshes 5 min early. */
const WEIBAN_TOKEN_LIFE_MS = 7200_000 - 300_000;

async function fetchToken(ctx: VendorContext<WeibanCredentials>): Promise<Token> {
  const res = await fetchForToken(
    withQuery(ctx.baseUrl, '/open-api/access_token/get'),
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ corp_id: ctx.credentials.corpId, secret: ctx.credentials.secret }),
    },
    ctx.timeoutMs,
  );
  const body = res.json as Envelope;
  if (body.errcode !== 0 || typeof body.access_token !== 'string') {
    const code = Number(body.errcode);
    if (WEIBAN_THROTTLE.has(code)) throw new VendorCallError('throttled', String(code), String(body.errmsg ?? 'throttled'), WEIBAN_THROTTLE.get(code));
    throw new VendorCallError('refused', String(body.errcode ?? 'no_token'), `access_token/get: ${body.errmsg ?? 'no access_token in the answer'}`);
  }
  // Weiban documents no expiry: the token is kept WEIBAN_TOKEN_LIFE_MS (WeCom's 2 h less a
  // margin), or until Weiban refuses it (errcode 10001), whichever comes first.
  return { token: body.access_token, expiresAt: Date.now() + WEIBAN_TOKEN_LIFE_MS };
}

/** One token per tenant and credentials (all fields) and endpoint, shared by concurrent calls of that tenant. */
const token = (ctx: VendorContext<WeibanCredentials>, refresh = false) =>
  tokens.get(tokenKey(ctx.tenantId, ctx.baseUrl, ctx.credentials), () => fetchToken(ctx), refresh);

/** Calls Weiban with the token; on errcode 10001 (token invalid) refreshes once and retries. */
async function call(ctx: VendorContext<WeibanCredentials>, req: VendorRequest): Promise<Envelope> {
  for (let attempt = 0; ; attempt++) {
    const accessToken = await token(ctx, attempt > 0);
    const res = await vendorFetch(
      withQuery(ctx.baseUrl, req.path, { ...req.query, access_token: accessToken }),
      {
        method: req.method,
        headers: { 'content-type': 'application/json' },
        ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      },
      ctx.timeoutMs,
    );
    const body = (res.json ?? {}) as Envelope;
    const code = Number(body.errcode ?? 0);
    if (code === 0) return body;
    // The token was refused before anything was created: a retry with a fresh one is safe.
    if (code === WEIBAN_TOKEN_INVALID && attempt === 0) continue;
    if (WEIBAN_THROTTLE.has(code)) throw new VendorCallError('throttled', String(code), String(body.errmsg ?? 'throttled'), WEIBAN_THROTTLE.get(code));
    throw new VendorCallError('refused', String(code), String(body.errmsg ?? 'refused'));
  }
}

/**
 * Result statuses. Groups (customer_group_msg/result): waiting, creating, sended, completed,
 * create_failed, failed, canceled. Customers (group_msg/result): waiting_send, waiting_confirm
 * (WeCom holds it; staff must confirm), sended.
 */
const RESULT_STATE: Record<string, VendorStatus['state']> = {
  waiting: 'SUBMITTED',
  creating: 'SUBMITTED',
  waiting_send: 'SUBMITTED',
  sended: 'RUNNING',
  waiting_confirm: 'RUNNING',
  completed: 'COMPLETED',
  create_failed: 'FAILED',
  failed: 'FAILED',
  canceled: 'CANCELLED',
};

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * Reads a result answer. Weiban publishes the statuses, not the count fields' names; qunfa reads
 * these (WeCom's per-recipient 0 unsent, 1 sent, 2 not a friend, 3 over quota, summed).
 */
export function parseWeibanResult(kind: 'customers' | 'groups', body: Record<string, unknown>): VendorStatus {
  const raw = String(body.status ?? '');
  let state = RESULT_STATE[raw] ?? 'SUBMITTED';
  // A customer send has no "completed": sended with every staff member confirmed is the end.
  if (kind === 'customers' && raw === 'sended' && (num(body.unconfirmed_staff_count) ?? 0) === 0) state = 'COMPLETED';
  const stats: DeliveryStats = {
    planned: num(body.total_count),
    sent: num(body.send_count),
    failed: num(body.fail_count),
    notFriend: num(body.not_friend_count),
    overQuota: num(body.limit_count),
    unconfirmedStaff: num(body.unconfirmed_staff_count),
  };
  const clean = Object.fromEntries(Object.entries(stats).filter(([, v]) => v !== undefined)) as DeliveryStats;
  return {
    state,
    ...(Object.keys(clean).length ? { stats: clean } : {}),
    ...(state === 'FAILED' ? { error: { code: `weiban.${raw}`, message: String(body.fail_reason ?? body.errmsg ?? raw) } } : {}),
    raw: body,
  };
}

export const weibanAdapter: VendorAdapter<WeibanCredentials, WeibanSettings> = {
  id: 'weiban',
  displayName: 'Weiban 微伴助手',
  settings: weibanSettings,
  productionBaseUrl: 'https://open.weibanzhushou.com',
  responseFields: ['errcode', 'errmsg', 'id', 'msg_id', 'data.id'],
  capabilities: {
    attachmentTypes: ['image', 'link', 'miniprogram', 'video'],
    audienceKinds: ['customers', 'groups'],
    // external_user_filter's fields are not documented: refuse rather than guess.
    tagFilters: false,
    cancelAfterSubmit: false,
    status: 'poll',
    batches: true,
    remind: false,
    recipientResults: false,
    limits: { customerIdsPerCall: 10_000, groupIdsPerCall: 2_000, sendersPerCall: 100 },
    // staff_eu_list repeats the customers for every staff member; the group lists are separate.
    recipientsPerSender: ['customers'],
    rateLimits: { inFlight: 5, perMinute: 300, perHour: 15_000 },
    resultHorizonDays: 15,
  },
  credentials: WeibanCredentials,
  options: WeibanOptions,

  check(i) {
    const errors: FieldError[] = [];
    if (i.audience.kind === 'groups') {
      if (!i.audience.senders?.length)
        errors.push({ path: 'audience.senders', message: 'weiban needs at least one sender for group sends (staff_ext_id_list)' });
      if (!i.audience.groupIds?.length) errors.push({ path: 'audience.groupIds', message: 'weiban needs the groups to send to (group_ext_id_list)' });
    } else if (!i.audience.customerIds?.length && !i.audience.senders?.length) {
      errors.push({ path: 'audience.customerIds', message: 'weiban needs customerIds or senders for customer sends' });
    }
    if (!creator(i))
      errors.push({
        path: 'vendorOptions.create_staff_ext_id',
        message: 'weiban needs a creating staff member: give senders or vendorOptions.create_staff_ext_id',
      });
    return errors;
  },

  buildRequest(i) {
    const common = {
      name: i.name,
      text: i.content.text ?? '',
      attachments: (i.content.attachments ?? []).map(attachment),
      create_staff_ext_id: creator(i),
    };
    if (i.audience.kind === 'groups') {
      return {
        method: 'POST',
        path: '/open-api/customer_group_msg/add',
        body: {
          name: common.name,
          staff_ext_id_list: i.audience.senders ?? [],
          group_ext_id_list: i.audience.groupIds ?? [],
          create_staff_ext_id: common.create_staff_ext_id,
          text: common.text,
          attachments: common.attachments,
        },
      };
    }
    const senders = i.audience.senders ?? [];
    const customers = i.audience.customerIds;
    return {
      method: 'POST',
      path: '/open-api/group_msg/add',
      body: {
        name: common.name,
        allow_select: (i.vendorOptions.allow_select as boolean | undefined) ?? false,
        // With senders, each sends to the given customers (or to all of theirs); without, Weiban picks the staff.
        ...(senders.length
          ? { staff_eu_list: senders.map((s) => ({ staff_ext_id: s, ...(customers?.length ? { eu_ext_ids: customers } : {}) })) }
          : { eu_ext_ids: customers ?? [] }),
        text: common.text,
        attachments: common.attachments,
        create_staff_ext_id: common.create_staff_ext_id,
      },
    };
  },

  async submit(ctx, i) {
    const body = await call(ctx, this.buildRequest(i));
    const id = body.id ?? body.msg_id ?? (body.data as Envelope | undefined)?.id;
    return { vendorTaskId: id === undefined || id === null ? undefined : String(id), raw: keepResponse(body, this.responseFields) };
  },

  async status(ctx, vendorTaskId, i) {
    const path = i.audience.kind === 'groups' ? '/open-api/customer_group_msg/result' : '/open-api/group_msg/result';
    return parseWeibanResult(i.audience.kind, await call(ctx, { method: 'GET', path, query: { id: vendorTaskId } }));
  },

  /**
   * Subscriptions are WeCom-style: GET ?msg_signature&timestamp&nonce&echostr verifies the URL
   * (answer the decrypted echostr); POST carries {"encrypt": …} with the same query. The events
   * Weiban documents are not bulk-send results (those are polled); they are verified, deduplicated
   * and acknowledged.
   */
  webhook(req, creds, maxSkewSeconds) {
    if (!creds.callbackToken || !creds.callbackAesKey) throw new WebhookRejected('no callback token or key configured');
    const { msg_signature: sig, timestamp = '', nonce = '' } = req.query;
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > maxSkewSeconds)
      throw new WebhookRejected('stale or missing timestamp');
    const open = (encrypted: string) => {
      if (!signatureMatches(signature(creds.callbackToken as string, timestamp, nonce, encrypted), sig)) throw new WebhookRejected('bad msg_signature');
      try {
        return decrypt(creds.callbackAesKey as string, encrypted, creds.corpId);
      } catch {
        throw new WebhookRejected('cannot decrypt');
      }
    };
    if (req.method === 'GET') return { kind: 'echo', body: open(req.query.echostr ?? '') };
    let envelope: { encrypt?: unknown; Encrypt?: unknown };
    try {
      envelope = JSON.parse(req.rawBody) as typeof envelope;
    } catch {
      throw new WebhookRejected('not JSON');
    }
    if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) throw new WebhookRejected('not a JSON object');
    const encrypted = envelope.encrypt ?? envelope.Encrypt;
    if (typeof encrypted !== 'string') throw new WebhookRejected('no encrypt field');
    const message = open(encrypted);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(message) as Record<string, unknown>;
    } catch {
      throw new WebhookRejected('decrypted message is not JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new WebhookRejected('decrypted message is not a JSON object');
    const id = parsed.event_id ?? parsed.msg_id;
    return {
      kind: 'events',
      events: [
        {
          eventId: typeof id === 'string' || typeof id === 'number' ? String(id) : sha256(message),
          type: String(parsed.event ?? parsed.type ?? 'unknown'),
          raw: parsed,
        },
      ],
      reply: { status: 200, contentType: 'text/plain', body: 'success' },
    };
  },
};
