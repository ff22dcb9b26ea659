/**
 * Tanmarket sandbox: checks the four headers (known appId and appKey, a timestamp within five
 * minutes, the sign by the configured algorithm), then the SOP bodies as seed 000 shapes them —
 * staff ids must be JSON integers on the wire (checked on the raw bytes, so a quoted or rounded
 * id is caught), China-time dates in the seed's formats, type 4 for the 群发助手 SOP.
 */
import { randomBytes } from 'node:crypto';
import { parseExact } from '../kit/exactJson';
import { signer, tanmarketAdapter } from './adapter';
import { demoSecret, type SandboxSpec, type VendorReply, type VendorSandbox } from '../kit/sandboxServer';

export interface TanmarketSandboxOptions {
  credentials: () => { appId: string; appKey: string; appSecret: string }[];
  signer?: string;
}

const SOP_TYPES = new Set([1, 2, 3, 4, 5, 99]);

export function tanmarketSandbox(opts: TanmarketSandboxOptions): SandboxSpec {
  let nextId = 5000;
  const fail = (code: number, message: string): VendorReply => ({ body: { code, message, data: null } });

  const checkSopDatas = (list: unknown, at: string): string | undefined => {
    if (!Array.isArray(list) || list.length === 0) return `${at}.sopDatas`;
    for (const [k, d] of list.entries()) {
      if (!SOP_TYPES.has(d?.type)) return `${at}.sopDatas[${k}].type`;
      if (d.type === 1 && typeof d.content !== 'string') return `${at}.sopDatas[${k}].content`;
      if (d.type === 2 && (typeof d.fileUrl !== 'string' || typeof d.fileName !== 'string')) return `${at}.sopDatas[${k}].fileUrl`;
      if (d.type === 99 && typeof d.mcId !== 'string') return `${at}.sopDatas[${k}].mcId`;
    }
    return undefined;
  };
  const integersOnWire = (raw: string, field: string) => {
    const m = new RegExp(`"${field}":\\[([^\\]]*)\\]`).exec(raw);
    return !!m && (m[1] as string).split(',').every((x) => /^\d{1,19}$/.test(x.trim()));
  };

  return {
    name: 'tanmarket',
    errorBody: (code, message) => ({ code: Number(code) || 500, message, data: null }),
    throttleReply: () => ({ status: 429, body: { code: 429, message: '请求过于频繁', data: null } }),
    reset: () => undefined,
    revokeTokens: () => undefined,
    // Tanmarket publishes no limits: the sandbox enforces what qunfa's adapter declares, per app.
    rateLimits: {
      limits: tanmarketAdapter.capabilities.rateLimits,
      isWrite: (req) => req.method === 'POST',
      caller: (req) => {
        const c = opts.credentials().find((x) => x.appId === req.headers.appid);
        return c && c.appKey === req.headers.appkey ? c.appId : undefined;
      },
    },

    async handle(req, state) {
      const h = req.headers;
      const cred = opts.credentials().find((c) => c.appId === h.appid);
      if (!cred || cred.appKey !== h.appkey) return fail(40101, 'appId or appKey invalid');
      const ts = Number(h.timestamp);
      if (!Number.isFinite(ts) || Math.abs(Date.now() - ts) > 300_000) return fail(40102, 'timestamp expired');
      const expected = signer(opts.signer ?? 'md5(appId+timestamp+appSecret)')({ ...cred, timestamp: String(h.timestamp) });
      if (h.sign !== expected) return fail(40103, 'sign invalid');
      const b = parseExact(req.rawBody || '{}') as any;

      if (req.method === 'POST' && req.path === '/api/v3/customer-sop/save') {
        if (typeof b.title !== 'string' || !b.title) return fail(40001, 'title required');
        if (!integersOnWire(req.rawBody, 'salesIds')) return fail(40001, 'salesIds must be integers');
        if (b.tagIds !== undefined && !Array.isArray(b.tagIds)) return fail(40001, 'tagIds must be an array');
        if (b.type !== 4) return fail(40001, 'type must be 4 for 群发助手SOP');
        if (!Array.isArray(b.sopContents) || b.sopContents.length === 0) return fail(40001, 'sopContents required');
        for (const [k, c] of (b.sopContents as any[]).entries()) {
          if (!Number.isInteger(c.sendType)) return fail(40001, `sopContents[${k}].sendType`);
          if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(c.sendDate)) return fail(40001, `sopContents[${k}].sendDate must be yyyy-MM-dd HH:mm:ss`);
          const bad = checkSopDatas(c.sopDatas, `sopContents[${k}]`);
          if (bad) return fail(40001, bad);
        }
        state.tasks.push({ id: String(nextId++), kind: 'customers', title: b.title, request: b, raw: req.rawBody });
        return { body: {} };
      }
      if (req.method === 'POST' && req.path === '/api/v3/groupSop/addGroupAssistant') {
        if (typeof b.title !== 'string' || !b.title) return fail(40001, 'title required');
        if (!Array.isArray(b.chatIds) || b.chatIds.length === 0 || b.chatIds.some((c: unknown) => typeof c !== 'string'))
          return fail(40001, 'chatIds required');
        if (!integersOnWire(req.rawBody, 'owners')) return fail(40001, 'owners must be integers');
        if (!Array.isArray(b.sopContents) || b.sopContents.length === 0) return fail(40001, 'sopContents required');
        for (const [k, c] of (b.sopContents as any[]).entries()) {
          if (!/^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(c.sendTime)) return fail(40001, `sopContents[${k}].sendTime must be yyyy-MM-dd HH:mm`);
          const bad = checkSopDatas(c.sopDatas, `sopContents[${k}]`);
          if (bad) return fail(40001, bad);
        }
        const id = String(nextId++);
        state.tasks.push({ id, kind: 'groups', title: b.title, request: b, raw: req.rawBody });
        return { body: { code: 0, message: 'success', data: { id } } };
      }
      return { status: 404, body: { code: 404, message: `no such endpoint ${req.method} ${req.path}` } };
    },
  };
}

/** The local stack's Tanmarket (scripts/lib/sandboxes.ts): it signs as TANMARKET_SIGNER says, as the adapter does. */
export const sandbox: VendorSandbox = {
  spec: (o) =>
    tanmarketSandbox({
      credentials: () => o.credentials().map((c) => ({ appId: c.appId ?? '', appKey: c.appKey ?? '', appSecret: c.appSecret ?? '' })),
      signer: o.env.TANMARKET_SIGNER || undefined,
    }),
  demoCredentials: () => ({ appId: `tm${randomBytes(6).toString('hex')}`, appKey: demoSecret(12), appSecret: demoSecret() }),
};
