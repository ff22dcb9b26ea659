/**
 * Tanmarket 探马 (seed 000). Every call carries four headers: appId, timestamp, sign, appKey.
 * No public page gives the sign algorithm, so it is one replaceable function chosen by
 * TANMARKET_SIGNER (default below, documented in the README). Customers go to the 群发助手 SOP
 * (`/api/v3/customer-sop/save`, type 4), groups to `/api/v3/groupSop/addGroupAssistant`.
 * Staff ids are 15-digit integers: they travel from canonical strings to JSON integers as exact
 * digits (Int64), never through a JavaScript number. Times are China time, as the seed writes them.
 */
import { createHash, createHmac } from 'node:crypto';
import * as z from 'zod/mini';
import type { FieldError } from '../../core/errors';
import type { Attachment } from '../../core/task';
import { vendorFetch, withQuery } from '../kit/vendorFetch';
import { keepResponse } from '../kit/keepResponse';
import { Int64, isInt64Text, stringifyExact } from '../kit/exactJson';
import { VendorCallError, type StepRequestInput, type VendorAdapter, CONSERVATIVE_LIMITS } from '../adapter';
import { tanmarketSettings, type TanmarketSettings } from './settings';

export const TanmarketCredentials = z.object({
  appId: z.string().check(z.minLength(1)),
  appKey: z.string().check(z.minLength(1)),
  appSecret: z.string().check(z.minLength(1)),
});
export type TanmarketCredentials = z.infer<typeof TanmarketCredentials>;

export interface SignInput {
  appId: string;
  appKey: string;
  appSecret: string;
  timestamp: string;
}

/** The candidate algorithms. The default is the common Chinese open-API convention; swap by config. */
export const SIGNERS: Record<string, (s: SignInput) => string> = {
  'md5(appId+timestamp+appSecret)': (s) => createHash('md5').update(`${s.appId}${s.timestamp}${s.appSecret}`, 'utf8').digest('hex'),
  'md5(appId+appKey+timestamp+appSecret)': (s) => createHash('md5').update(`${s.appId}${s.appKey}${s.timestamp}${s.appSecret}`, 'utf8').digest('hex'),
  'hmac-sha256(appSecret, appId+timestamp)': (s) => createHmac('sha256', s.appSecret).update(`${s.appId}${s.timestamp}`, 'utf8').digest('hex'),
};

export function signer(name: string): (s: SignInput) => string {
  const fn = SIGNERS[name];
  if (!fn) throw new Error(`TANMARKET_SIGNER must be one of: ${Object.keys(SIGNERS).join(' | ')}`);
  return fn;
}

/** The four headers, with the timestamp in milliseconds. */
export function tanmarketHeaders(c: TanmarketCredentials, signerName: string, now = Date.now()): Record<string, string> {
  const timestamp = String(now);
  return { appId: c.appId, timestamp, sign: signer(signerName)({ ...c, timestamp }), appKey: c.appKey };
}

const TanmarketOptions = z.strictObject({
  /** Tanmarket's sendType; the seed's 2 sends at sendDate. */
  sendType: z._default(z.int(), 2),
  /** Group SOP: the instruction staff see; defaults to the task name. */
  instruction: z.optional(z.string().check(z.maxLength(500))),
  /** Customer SOP: Tanmarket's own audience conditions, passed through as they are. */
  customerConditions: z.optional(z.record(z.string(), z.unknown())),
});
type TanmarketOptions = z.infer<typeof TanmarketOptions>;

/** "YYYY-MM-DD HH:mm:ss" in China time (UTC+8, no daylight saving). */
export function chinaTime(iso: string, withSeconds = true): string {
  const d = new Date(Date.parse(iso) + 8 * 3600_000).toISOString(); // shift, then read the UTC fields
  return `${d.slice(0, 10)} ${d.slice(11, withSeconds ? 19 : 16)}`;
}

function sopData(a: Attachment): Record<string, unknown> {
  switch (a.type) {
    case 'image':
      return { type: 2, fileName: a.title ?? decodeURIComponent(new URL(a.url).pathname.split('/').pop() ?? 'image'), fileUrl: a.url };
    case 'material':
      return {
        type: 99,
        mcId: a.materialId,
        ...(a.title !== undefined ? { title: a.title } : {}),
        ...(a.description !== undefined ? { content: a.description } : {}),
        ...(a.url !== undefined ? { fileUrl: a.url } : {}),
        ...(a.kind !== undefined ? { mcType: Number(a.kind) } : {}),
      };
    default:
      throw new Error(`tanmarket cannot carry ${a.type}`);
  }
}

function sopDatas(i: StepRequestInput): Record<string, unknown>[] {
  return [...(i.content.text ? [{ type: 1, content: i.content.text }] : []), ...(i.content.attachments ?? []).map(sopData)];
}

const opts = (i: StepRequestInput) => i.vendorOptions as unknown as TanmarketOptions;

export const tanmarketAdapter: VendorAdapter<TanmarketCredentials, TanmarketSettings> = {
  id: 'tanmarket',
  displayName: 'Tanmarket 探马',
  settings: tanmarketSettings,
  productionBaseUrl: '(per contract with Tanmarket; set TANMARKET_BASE_URL)',
  responseFields: ['code', 'message', 'data.id'],
  capabilities: {
    attachmentTypes: ['image', 'material'],
    audienceKinds: ['customers', 'groups'],
    tagFilters: true,
    cancelAfterSubmit: false,
    status: 'none',
    batches: true,
    remind: false,
    recipientResults: false,
    limits: { sendersPerCall: 100, groupIdsPerCall: 2_000 },
    rateLimits: CONSERVATIVE_LIMITS,
  },
  credentials: TanmarketCredentials,
  options: TanmarketOptions,

  check(i) {
    const errors: FieldError[] = [];
    const senders = i.audience.senders ?? [];
    if (!senders.length) errors.push({ path: 'audience.senders', message: 'tanmarket needs the staff who execute the SOP (salesIds / owners)' });
    senders.forEach((s, k) => {
      if (!isInt64Text(s)) errors.push({ path: `audience.senders.${k}`, message: 'tanmarket staff ids are integers (e.g. "464248809015488")' });
    });
    if (i.audience.kind === 'customers') {
      if (i.audience.customerIds?.length)
        errors.push({ path: 'audience.customerIds', message: 'tanmarket customer SOPs target staff and tags, not customer ids' });
      if (i.audience.tags?.exclude) errors.push({ path: 'audience.tags.exclude', message: 'tanmarket customer SOPs take included tags only' });
      if (i.audience.tags?.include?.match === 'all') errors.push({ path: 'audience.tags.include.match', message: 'tanmarket tag SOPs match any tag' });
      i.audience.tags?.include?.ids.forEach((t, k) => {
        if (!/^\d{1,9}$/.test(t)) errors.push({ path: `audience.tags.include.ids.${k}`, message: 'tanmarket tag ids are integers' });
      });
    } else {
      if (!i.audience.groupIds?.length) errors.push({ path: 'audience.groupIds', message: 'tanmarket group SOPs need chatIds' });
      if (i.audience.tags) errors.push({ path: 'audience.tags', message: 'tanmarket group SOPs do not filter by tags' });
    }
    i.content.attachments?.forEach((a, k) => {
      if (a.type === 'material' && a.kind !== undefined && !/^\d{1,4}$/.test(a.kind)) {
        errors.push({ path: `content.attachments.${k}.kind`, message: 'tanmarket material kinds (mcType) are integers' });
      }
    });
    return errors;
  },

  buildRequest(i) {
    const o = opts(i);
    const staff = (i.audience.senders ?? []).map((s) => new Int64(s));
    if (i.audience.kind === 'groups') {
      return {
        method: 'POST',
        path: '/api/v3/groupSop/addGroupAssistant',
        body: {
          title: i.name,
          chatIds: i.audience.groupIds ?? [],
          owners: staff,
          instruction: o.instruction ?? i.name,
          sopContents: [{ sendTime: chinaTime(i.sendAt, false), sopDatas: sopDatas(i) }],
        },
      };
    }
    const tagIds = (i.audience.tags?.include?.ids ?? []).map(Number);
    return {
      method: 'POST',
      path: '/api/v3/customer-sop/save',
      body: {
        title: i.name,
        salesIds: staff,
        ...(tagIds.length ? { tagIds } : {}),
        ...(o.customerConditions ? { customerConditions: o.customerConditions } : {}),
        sopContents: [{ sendType: o.sendType, sendDate: chinaTime(i.sendAt), sopDatas: sopDatas(i) }],
        type: 4,
      },
    };
  },

  async submit(ctx, i) {
    const req = this.buildRequest(i);
    const res = await vendorFetch(
      withQuery(ctx.baseUrl, req.path),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...tanmarketHeaders(ctx.credentials, ctx.settings.signer) },
        body: stringifyExact(req.body),
      },
      ctx.timeoutMs,
    );
    const body = (res.json ?? {}) as { code?: unknown; message?: unknown; data?: { id?: unknown } };
    // The save endpoints answer {} on success; the others wrap {code, message, data}.
    const ok = res.status === 200 && (body.code === undefined || body.code === 0 || body.code === 200);
    if (!ok) throw new VendorCallError('refused', String(body.code ?? `http_${res.status}`), String(body.message ?? `HTTP ${res.status}`));
    const id = body.data?.id;
    return { vendorTaskId: id === undefined || id === null ? undefined : String(id), raw: keepResponse(body, this.responseFields) };
  },
};

/** The serialised body, exactly as sent (for tests and the sandbox). */
export const tanmarketBody = (i: StepRequestInput) => stringifyExact(tanmarketAdapter.buildRequest(i).body);
