/**
 * YouMi 友米聚合 (seed 001). OAuth2 client credentials (`POST <token url>/connect/token`,
 * form-encoded), `Authorization: Bearer`, an optional `TenantId` header for resellers.
 * `SaveBulkSendTask` takes `task_content` as a JSON *string* of typed items and `start_time` as
 * unix seconds in a string; success is `succeed === true` and `values` is the task id.
 * YouMi's bulk send is RPA on the staff member's own WeChat "machine": which machine sends is
 * vendor data with no canonical meaning, given in vendorOptions.machine.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import type { FieldError } from '../../core/errors';
import type { Attachment } from '../../core/task';
import { vendorFetch, withQuery } from '../kit/vendorFetch';
import { keepResponse } from '../kit/keepResponse';
import { fetchForToken, TokenCache, tokenKey, type Token } from '../kit/tokenCache';
import {
  VendorCallError,
  WebhookRejected,
  type StepRequestInput,
  type VendorAdapter,
  type VendorContext,
  type VendorStatus,
  CONSERVATIVE_LIMITS,
} from '../adapter';
import { youmiSettings, type YoumiSettings } from './settings';

/**
 * Event signature. YouMi's v2 event format is not public; its v1 API signs with
 * base64(HMAC-SHA1(key, appid + nonce + timestamp)). qunfa keeps that MAC with the client secret
 * as the key, but the fields are not simply concatenated (where "ab"+"c" and "a"+"bc" sign
 * alike): each is written as its UTF-8 byte length, a colon, the field and a newline, in the order
 * client id, YouMi tenant id ("" for a client with none), nonce, timestamp, raw body. The tenant
 * travels in `x-youmi-tenantid`, so an event is bound to the YouMi sub-tenant it is for.
 */
export function youmiEventSignature(clientSecret: string, clientId: string, nonce: string, timestamp: string, rawBody: string, youmiTenantId = ''): string {
  const mac = createHmac('sha1', clientSecret);
  for (const field of [clientId, youmiTenantId, nonce, timestamp, rawBody]) mac.update(`${Buffer.byteLength(field, 'utf8')}:${field}\n`, 'utf8');
  return mac.digest('base64');
}

const EVENT_STATE: Record<string, VendorStatus['state']> = {
  accepted: 'SUBMITTED',
  running: 'RUNNING',
  finished: 'COMPLETED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
};

export const YoumiCredentials = z.object({
  clientId: z.string().check(z.minLength(1)),
  clientSecret: z.string().check(z.minLength(1)),
  tenantId: z.optional(z.string()),
});
export type YoumiCredentials = z.infer<typeof YoumiCredentials>;

/** A label is addressed as "<ad_label_id>:<ad_label_info_id>" (group and value), as chooseLabel needs both. */
const LABEL_ID = /^(\d{1,12}):(\d{1,12})$/;

const YoumiOptions = z.strictObject({
  /** The WeChat account ("machine") that sends: listMass machine data. */
  machine: z.strictObject({
    ad_wechat_id: z.int().check(z.nonnegative()),
    machine_key: z.string().check(z.minLength(1), z.maxLength(64)),
    machine_name: z._default(z.string().check(z.maxLength(64)), ''),
    qv_company_id: z._default(z.string().check(z.maxLength(64)), ''),
  }),
  /** Display names of recipients (object_nickname), by customer id. */
  nicknames: z.optional(z.record(z.string(), z.string().check(z.maxLength(64)))),
  /** Display names of labels (ad_label_info_name), by "<group>:<label>" id. */
  labelNames: z.optional(z.record(z.string(), z.string().check(z.maxLength(64)))),
  /** YouMi's own enums, as the seed sends them; their other values are undocumented. */
  task_type: z._default(z.int(), 1),
  task_source: z._default(z.int(), 0),
});
type YoumiOptions = z.infer<typeof YoumiOptions>;

const TYPE = { text: '0', image: '1', video: '2', link: '3', file: '4' } as const;

function fileParts(url: string, explicitName?: string): { name: string; format: string } {
  const last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '') || 'file';
  const name = explicitName ?? last;
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(name)?.[1] ?? /\.([A-Za-z0-9]{1,8})$/.exec(last)?.[1] ?? '';
  return { name, format: ext.toLowerCase() };
}

/** One task_content item: `data` first, then `type`, exactly as the seed orders them. */
function contentItem(a: Attachment): { data: Record<string, string>; type: string } {
  switch (a.type) {
    case 'image': {
      const f = fileParts(a.url, a.title);
      return { data: { imgName: f.name, imgFormat: f.format, imgMediaUrl: a.url }, type: TYPE.image };
    }
    case 'video': {
      const f = fileParts(a.url, a.title);
      return { data: { videoName: f.name, videoFormat: f.format, videoMediaUrl: a.url }, type: TYPE.video };
    }
    case 'link':
      return { data: { title: a.title, linkUrl: a.url, description: a.description ?? '', thumbMediaUrl: a.thumbUrl ?? '' }, type: TYPE.link };
    case 'file': {
      const f = fileParts(a.url, a.name);
      return { data: { fileName: f.name, fileFormat: f.format, fileMediaUrl: a.url }, type: TYPE.file };
    }
    default:
      throw new Error(`youmi cannot carry ${a.type}`);
  }
}

const tokens = new TokenCache();
/** Refresh this long before the token's stated expiry, so no call carries a token about to die. */
const EARLY_REFRESH_MS = 60_000;

type Ctx = VendorContext<YoumiCredentials, YoumiSettings>;

/**
 * The token endpoint. YOUMI_TOKEN_URL names the identity server's base (`POST <it>/connect/token`),
 * but a full `…/connect/token` URL is what a user naturally pastes: both are accepted.
 */
export function youmiTokenEndpoint(tokenUrl: string | undefined, baseUrl: string): string {
  const base = (tokenUrl ?? baseUrl).replace(/\/+$/, '').replace(/\/connect\/token$/i, '');
  return withQuery(base, '/connect/token');
}

async function fetchToken(ctx: Ctx): Promise<Token> {
  const form = new URLSearchParams({
    client_id: ctx.credentials.clientId,
    client_secret: ctx.credentials.clientSecret,
    scope: ctx.settings.scope,
    grant_type: 'client_credentials',
  });
  const res = await fetchForToken(
    youmiTokenEndpoint(ctx.settings.tokenUrl, ctx.baseUrl),
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    },
    ctx.timeoutMs,
  );
  const body = res.json as { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown };
  if (res.status !== 200 || typeof body.access_token !== 'string') {
    throw new VendorCallError(
      'refused',
      String(body.error ?? `http_${res.status}`),
      `connect/token: ${String(body.error_description ?? body.error ?? 'no access_token')}`,
    );
  }
  const ttl = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 3600_000;
  return { token: body.access_token, expiresAt: Date.now() + ttl - EARLY_REFRESH_MS };
}

const token = (ctx: Ctx, refresh = false) =>
  tokens.get(
    tokenKey(ctx.tenantId, `${youmiTokenEndpoint(ctx.settings.tokenUrl, ctx.baseUrl)}|${ctx.settings.scope}`, ctx.credentials),
    () => fetchToken(ctx),
    refresh,
  );

interface YoumiEnvelope {
  requestId?: string;
  errmsg?: unknown;
  succeed?: boolean;
  msgTime?: string;
  values?: unknown;
  errdesc?: unknown;
}

/** Calls YouMi; a 401 (token refused before anything was done) refreshes the token once. */
async function call(ctx: Ctx, path: string, body: unknown): Promise<YoumiEnvelope> {
  for (let attempt = 0; ; attempt++) {
    const bearer = await token(ctx, attempt > 0);
    const res = await vendorFetch(
      withQuery(ctx.baseUrl, path),
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${bearer}`,
          ...(ctx.credentials.tenantId ? { tenantid: ctx.credentials.tenantId } : {}),
        },
        body: JSON.stringify(body),
      },
      ctx.timeoutMs,
    );
    if (res.status === 401 && attempt === 0) continue;
    const env = (res.json ?? {}) as YoumiEnvelope;
    if (res.status === 401) throw new VendorCallError('refused', 'http_401', 'YouMi refused the access token twice');
    if (env.succeed === true) return env;
    throw new VendorCallError('refused', String(env.errmsg ?? `http_${res.status}`), String(env.errdesc ?? 'YouMi did not succeed'));
  }
}

const opts = (i: StepRequestInput) => i.vendorOptions as unknown as YoumiOptions;

export const youmiAdapter: VendorAdapter<YoumiCredentials, YoumiSettings> = {
  id: 'youmi',
  displayName: 'YouMi 友米聚合',
  settings: youmiSettings,
  productionBaseUrl: '(per contract with YouMi; set YOUMI_BASE_URL and YOUMI_TOKEN_URL)',
  responseFields: ['requestId', 'succeed', 'errmsg', 'errdesc', 'values', 'msgTime'],
  capabilities: {
    attachmentTypes: ['image', 'video', 'link', 'file'],
    audienceKinds: ['customers'],
    tagFilters: true,
    cancelAfterSubmit: true,
    status: 'callback',
    // Its events name one YouMi task: the whole audience goes in one call.
    batches: false,
    remind: false,
    recipientResults: false,
    limits: { customerIdsPerCall: 10_000, sendersPerCall: 1 },
    rateLimits: CONSERVATIVE_LIMITS,
  },
  credentials: YoumiCredentials,
  options: YoumiOptions,

  check(i) {
    const errors: FieldError[] = [];
    if ((i.audience.senders?.length ?? 0) !== 1) {
      errors.push({ path: 'audience.senders', message: 'youmi sends from one staff member (belong_staff_code): give exactly one sender' });
    }
    if (!i.audience.customerIds?.length && !i.audience.tags?.include) {
      errors.push({ path: 'audience.customerIds', message: 'youmi needs customerIds (listMass) or tags.include (chooseLabel)' });
    }
    if (i.audience.tags?.exclude) errors.push({ path: 'audience.tags.exclude', message: 'youmi: the exclude-label field is not documented; not supported' });
    if (i.audience.tags?.include?.match === 'all') errors.push({ path: 'audience.tags.include.match', message: 'youmi label sends match any label' });
    i.audience.tags?.include?.ids.forEach((id, k) => {
      if (!LABEL_ID.test(id))
        errors.push({ path: `audience.tags.include.ids.${k}`, message: 'youmi labels are "<ad_label_id>:<ad_label_info_id>", e.g. "262:1317"' });
    });
    return errors;
  },

  buildRequest(i) {
    const o = opts(i);
    const items = [...(i.content.text ? [{ data: { content: i.content.text }, type: TYPE.text }] : []), ...(i.content.attachments ?? []).map(contentItem)];
    const labels = (i.audience.tags?.include?.ids ?? []).map((id) => {
      const [, group, value] = LABEL_ID.exec(id) as RegExpExecArray;
      return { ad_label_id: Number(group), ad_label_info_id: Number(value), ad_label_info_name: o.labelNames?.[id] ?? '' };
    });
    const sender = i.audience.senders?.[0] ?? '';
    return {
      method: 'POST',
      path: '/v2/BulkSend/SaveBulkSendTask',
      body: {
        bulksend: {
          task_theme: i.name,
          task_type: o.task_type,
          choose_type: labels.length ? 1 : 0,
          start_time: String(Math.floor(Date.parse(i.sendAt) / 1000)),
          task_source: o.task_source,
          task_content: JSON.stringify(items),
        },
        listMass: (i.audience.customerIds ?? []).map((id) => ({
          ad_wechat_id: o.machine.ad_wechat_id,
          machine_key: o.machine.machine_key,
          machine_name: o.machine.machine_name,
          qv_company_id: o.machine.qv_company_id,
          object_id: id,
          object_nickname: o.nicknames?.[id] ?? '',
          belong_staff_code: sender,
        })),
        chooseLabel: labels.length ? JSON.stringify(labels) : '',
      },
    };
  },

  async submit(ctx, i) {
    const req = this.buildRequest(i);
    const env = await call(ctx, req.path, req.body);
    return { vendorTaskId: env.values === undefined || env.values === null ? undefined : String(env.values), raw: keepResponse(env, this.responseFields) };
  },

  async cancel(ctx, vendorTaskId) {
    await call(ctx, ctx.settings.deletePath, { id: Number(vendorTaskId) });
  },

  /** rpaTaskResult events (POST with x-youmi-appid, -tenantid (if any), -nonce, -timestamp, -signature headers). */
  webhook(req, creds, maxSkewSeconds) {
    if (req.method !== 'POST') throw new WebhookRejected('youmi only POSTs events');
    const h = req.headers;
    const ts = h['x-youmi-timestamp'] ?? '';
    if (h['x-youmi-appid'] !== creds.clientId) throw new WebhookRejected('wrong appid');
    // Bound to the YouMi sub-tenant configured for this qunfa tenant (none: the event names none).
    const youmiTenant = h['x-youmi-tenantid'] ?? '';
    if (youmiTenant !== (creds.tenantId ?? '')) throw new WebhookRejected('event for another YouMi tenant');
    if (!/^\d{1,12}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > maxSkewSeconds) throw new WebhookRejected('stale or missing timestamp');
    const expected = Buffer.from(youmiEventSignature(creds.clientSecret, creds.clientId, h['x-youmi-nonce'] ?? '', ts, req.rawBody, youmiTenant));
    const given = Buffer.from(h['x-youmi-signature'] ?? '');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new WebhookRejected('bad signature');
    let e: { eventId?: unknown; messageType?: unknown; data?: Record<string, unknown> };
    try {
      e = JSON.parse(req.rawBody) as typeof e;
    } catch {
      throw new WebhookRejected('not JSON');
    }
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new WebhookRejected('not a JSON object');
    if (typeof e.eventId !== 'string' || typeof e.messageType !== 'string') throw new WebhookRejected('not a YouMi event');
    const d = e.data !== null && typeof e.data === 'object' ? e.data : {};
    const state = EVENT_STATE[String(d.status)];
    const n = (v: unknown) => (typeof v === 'number' ? v : undefined);
    return {
      kind: 'events',
      events: [
        {
          eventId: e.eventId,
          type: e.messageType,
          ...(e.messageType === 'rpaTaskResult' && d.taskId !== undefined ? { vendorTaskId: String(d.taskId) } : {}),
          ...(e.messageType === 'rpaTaskResult' && state
            ? {
                status: {
                  state,
                  stats: Object.fromEntries(Object.entries({ planned: n(d.total), sent: n(d.success), failed: n(d.fail) }).filter(([, v]) => v !== undefined)),
                  ...(state === 'FAILED' ? { error: { code: 'youmi.failed', message: String(d.errorMessage ?? 'YouMi reports the task failed') } } : {}),
                },
              }
            : {}),
          raw: e,
        },
      ],
      reply: { status: 200, contentType: 'application/json', body: '{"succeed":true}' },
    };
  },
};
