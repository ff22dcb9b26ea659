/**
 * WShoto 微盛 企微管家 (seed 003). Token from `GET /openapi/access_token` (7,200 s, cached),
 * `?access_token=` on every call, the `{code, msg, data}` envelope (0 = ok). Customers become a
 * follow-up task (`task/follow_up/async_create`), groups a super mass send. Content is WShoto
 * library materials referenced by id — not URLs. Status is asked with `query_task_detail_info`.
 * Template and material ids are 64-bit: they stay exact digits both ways.
 */
import * as z from 'zod/mini';
import type { FieldError } from '../../core/errors';
import { vendorFetch, withQuery } from '../kit/vendorFetch';
import { keepResponse } from '../kit/keepResponse';
import { fetchForToken, TokenCache, tokenKey, type Token } from '../kit/tokenCache';
import { Int64, isInt64Text, stringifyExact } from '../kit/exactJson';
import { VendorCallError, type StepRequestInput, type VendorAdapter, type VendorContext, type VendorStatus, CONSERVATIVE_LIMITS } from '../adapter';
import { wshotoSettings, type WshotoSettings } from './settings';

export const WshotoCredentials = z.object({ appId: z.string().check(z.minLength(1)), appSecret: z.string().check(z.minLength(1)) });
export type WshotoCredentials = z.infer<typeof WshotoCredentials>;

const WshotoOptions = z.strictObject({
  /** The task's creator (user_id); defaults to the first sender. */
  user_id: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  /** 1 low, 2 medium, 3 high, 4–7 one to four stars. */
  priority: z._default(z.int().check(z.minimum(1), z.maximum(7)), 1),
  /** When the task stops, as unix seconds; default seven days after the step's time. */
  end_time: z.optional(z.int().check(z.positive())),
  /** Material send form: 1 trajectory (tracked), 2 plain. */
  send_type: z._default(z.union([z.literal(1), z.literal(2)]), 2),
});
type WshotoOptions = z.infer<typeof WshotoOptions>;

/** query_task_detail_info `status` → qunfa state (seed 003). */
export function wshotoState(status: number): VendorStatus['state'] {
  switch (status) {
    case 0: // not started
    case 1: // creating
      return 'SUBMITTED';
    case 2:
      return 'RUNNING';
    case 3:
      return 'COMPLETED';
    case 4: // invalid
    case -1: // create failed
      return 'FAILED';
    default:
      return 'SUBMITTED'; // an unknown status is not an end: keep asking
  }
}

const DEFAULT_RUN_SECONDS = 7 * 24 * 3600;
const TOKEN_TTL_FALLBACK_S = 7200;
const EARLY_REFRESH_MS = 300_000;
const WSHOTO_TOKEN_ERRORS = new Set([40001, 40014, 42001]); // WeCom-style invalid/expired token codes
const WSHOTO_THROTTLE = new Set([45009, 45033]);

const tokens = new TokenCache();

async function fetchToken(ctx: VendorContext<WshotoCredentials>): Promise<Token> {
  const res = await fetchForToken(
    withQuery(ctx.baseUrl, '/openapi/access_token', { appid: ctx.credentials.appId, app_secret: ctx.credentials.appSecret }),
    { method: 'GET' },
    ctx.timeoutMs,
  );
  const body = res.json as { code?: number; msg?: string; data?: { access_token?: string; expires_in?: number } };
  if (body.code !== 0 || !body.data?.access_token)
    throw new VendorCallError('refused', String(body.code ?? 'no_token'), `access_token: ${body.msg ?? 'no token'}`);
  return { token: body.data.access_token, expiresAt: Date.now() + (body.data.expires_in ?? TOKEN_TTL_FALLBACK_S) * 1000 - EARLY_REFRESH_MS };
}

const token = (ctx: VendorContext<WshotoCredentials>, refresh = false) =>
  tokens.get(tokenKey(ctx.tenantId, ctx.baseUrl, ctx.credentials), () => fetchToken(ctx), refresh);

async function call(
  ctx: VendorContext<WshotoCredentials>,
  path: string,
  body: unknown,
): Promise<{ code: number; msg?: string; data?: Record<string, unknown> }> {
  for (let attempt = 0; ; attempt++) {
    const res = await vendorFetch(
      withQuery(ctx.baseUrl, path, { access_token: await token(ctx, attempt > 0) }),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: stringifyExact(body),
      },
      ctx.timeoutMs,
    );
    const env = (res.json ?? {}) as { code?: number; msg?: string; data?: Record<string, unknown> };
    if (env.code === 0) return env as { code: number };
    if (WSHOTO_TOKEN_ERRORS.has(Number(env.code)) && attempt === 0) continue;
    // WeCom's frequency (45009) and concurrency (45033) codes, passed through: nothing was created.
    if (WSHOTO_THROTTLE.has(Number(env.code))) throw new VendorCallError('throttled', String(env.code), String(env.msg ?? 'throttled'), 60_000);
    throw new VendorCallError('refused', String(env.code ?? `http_${res.status}`), String(env.msg ?? `HTTP ${res.status}`));
  }
}

const opts = (i: StepRequestInput) => i.vendorOptions as unknown as WshotoOptions;

function explain(i: StepRequestInput) {
  const o = opts(i);
  return {
    content: i.content.text ?? '',
    materials: (i.content.attachments ?? []).map((a) => {
      if (a.type !== 'material') throw new Error(`wshoto cannot carry ${a.type}`);
      return { id: new Int64(a.materialId), type: Number(a.kind), send_type: o.send_type };
    }),
  };
}

export const wshotoAdapter: VendorAdapter<WshotoCredentials, WshotoSettings> = {
  id: 'wshoto',
  displayName: 'WShoto 微盛',
  settings: wshotoSettings,
  productionBaseUrl: 'https://open.wshoto.com',
  responseFields: ['code', 'msg', 'data.template_id', 'data.id'],
  capabilities: {
    attachmentTypes: ['material'],
    audienceKinds: ['customers', 'groups'],
    tagFilters: false,
    cancelAfterSubmit: false,
    status: 'poll',
    batches: true,
    remind: false,
    recipientResults: false,
    limits: { customerIdsPerCall: 10_000, groupIdsPerCall: 2_000 },
    // user_customers_list and user_targets_info_list repeat the send_ids for every user_id.
    recipientsPerSender: ['customers', 'groups'],
    rateLimits: CONSERVATIVE_LIMITS,
  },
  credentials: WshotoCredentials,
  options: WshotoOptions,

  check(i) {
    const errors: FieldError[] = [];
    if (!i.audience.senders?.length) errors.push({ path: 'audience.senders', message: 'wshoto needs the staff who send (user_id)' });
    const targets = i.audience.kind === 'groups' ? i.audience.groupIds : i.audience.customerIds;
    if (!targets?.length) {
      errors.push({
        path: i.audience.kind === 'groups' ? 'audience.groupIds' : 'audience.customerIds',
        message: 'wshoto needs explicit recipients (send_ids)',
      });
    }
    i.content.attachments?.forEach((a, k) => {
      if (a.type !== 'material') return;
      if (!isInt64Text(a.materialId)) errors.push({ path: `content.attachments.${k}.materialId`, message: 'wshoto material ids are integers' });
      if (!a.kind || !/^(?:[1-9]|1[0-2])$/.test(a.kind))
        errors.push({ path: `content.attachments.${k}.kind`, message: 'wshoto material kind is 1–12 (1 poster, 2 text, 3 image, … 12 activity)' });
    });
    return errors;
  },

  buildRequest(i) {
    const o = opts(i);
    const creator = o.user_id ?? i.audience.senders?.[0] ?? '';
    const endTime = o.end_time ?? Math.floor(Date.parse(i.sendAt) / 1000) + DEFAULT_RUN_SECONDS;
    const senders = i.audience.senders ?? [];
    if (i.audience.kind === 'groups') {
      return {
        method: 'POST',
        path: '/openapi/mass_send/corp/async_create_super_mass_info',
        body: {
          template_name: i.name,
          user_id: creator,
          user_targets_info_list: senders.map((s) => ({ user_id: s, send_ids: i.audience.groupIds ?? [] })),
          explain: explain(i),
          end_time: endTime,
        },
      };
    }
    return {
      method: 'POST',
      path: '/openapi/task/follow_up/async_create',
      body: {
        template_name: i.name,
        template_type: 1,
        user_id: creator,
        user_customers_list: senders.map((s) => ({ user_id: s, send_ids: i.audience.customerIds ?? [] })),
        priority: o.priority,
        explain: explain(i),
        end_time: endTime,
      },
    };
  },

  async submit(ctx, i) {
    const req = this.buildRequest(i);
    const env = await call(ctx, req.path, req.body);
    const id = env.data?.template_id ?? env.data?.id;
    return { vendorTaskId: id === undefined || id === null ? undefined : String(id), raw: keepResponse(env, this.responseFields) };
  },

  async status(ctx, vendorTaskId) {
    const env = await call(ctx, '/openapi/task/follow_up/query_task_detail_info', { template_id: new Int64(vendorTaskId) });
    return parseWshotoStatus(env);
  },
};

/** query_task_detail_info's answer → qunfa's view (exported for the seed 003 test). */
export function parseWshotoStatus(env: { data?: Record<string, unknown> }): VendorStatus {
  const status = Number(env.data?.status);
  const state = wshotoState(status);
  return {
    state,
    ...(state === 'FAILED'
      ? {
          error: {
            code: `wshoto.status_${status}`,
            message: String(env.data?.error_info || (status === 4 ? 'the task is no longer valid' : 'WShoto could not create the task')),
          },
        }
      : {}),
    raw: env,
  };
}
