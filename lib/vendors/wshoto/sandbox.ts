/**
 * WShoto sandbox: the token endpoint (7,200 s), `?access_token=` checks (42001 when expired or
 * revoked), follow-up task and super mass send creation checked as vendors.md describes them
 * (materials by integer id, ≤ 10,000 send_ids per staff), and query_task_detail_info answering
 * in seed 003's shape. Template ids are past 2^53, written as exact digits, as WShoto's are.
 */
import { wshotoAdapter } from './adapter';
import { randomBytes } from 'node:crypto';
import { Int64, parseExact, stringifyExact } from '../kit/exactJson';
import { demoSecret, type SandboxSpec, type VendorReply, type VendorSandbox } from '../kit/sandboxServer';

export interface WshotoSandboxOptions {
  credentials: () => { appId: string; appSecret: string }[];
  /** How long each status lasts as a task moves 0 → 1 → 2 → 3 by itself. */
  progressMs?: number;
}

export function wshotoSandbox(opts: WshotoSandboxOptions): SandboxSpec {
  const tokens = new Map<string, string>(); // token → app
  let next = 1254676189925432389n;
  const ok = (data: unknown): VendorReply => ({ body: stringifyExact({ code: 0, msg: '请求成功', data }) });
  const fail = (code: number, msg: string): VendorReply => ({ body: { code, msg, data: null } });

  const checkExplain = (raw: string, e: any): string | undefined => {
    if (!e || typeof e.content !== 'string' || !Array.isArray(e.materials)) return 'explain';
    for (const [k, m] of (e.materials as any[]).entries()) {
      if (!Number.isInteger(m.type) || m.type < 1 || m.type > 12) return `explain.materials[${k}].type`;
      if (!(typeof m.id === 'number' || /^\d+$/.test(String(m.id)))) return `explain.materials[${k}].id`;
    }
    if (/"id":"/.test(raw)) return 'explain.materials.id must be a number';
    if (e.materials.length === 0 && !e.content) return 'explain is empty';
    return undefined;
  };
  const checkTargets = (list: unknown, name: string): string | undefined => {
    if (!Array.isArray(list) || list.length === 0) return name;
    for (const [k, t] of list.entries()) {
      if (typeof t?.user_id !== 'string' || !Array.isArray(t.send_ids)) return `${name}[${k}]`;
      if (t.send_ids.length > 10_000) return `${name}[${k}].send_ids over 10000`;
    }
    return undefined;
  };

  return {
    name: 'wshoto',
    errorBody: (code, message) => ({ code: Number(code) || 50000, msg: message, data: null }),
    throttleReply: () => fail(45009, 'api freq out of limit'),
    reset: () => undefined,
    revokeTokens: () => tokens.clear(),
    // WShoto publishes no limits: the sandbox enforces what qunfa's adapter declares.
    rateLimits: {
      limits: wshotoAdapter.capabilities.rateLimits,
      isWrite: (req) => req.method === 'POST' && /async_create/.test(req.path),
      caller: (req) => tokens.get(req.query.get('access_token') ?? ''),
    },

    async handle(req, state) {
      if (req.method === 'GET' && req.path === '/openapi/access_token') {
        const c = opts.credentials().find((x) => x.appId === req.query.get('appid'));
        if (!c || c.appSecret !== req.query.get('app_secret')) return fail(40013, 'invalid appid or app_secret');
        const token = randomBytes(24).toString('hex');
        tokens.set(token, c.appId);
        return ok({ access_token: token, expires_in: 7200 });
      }
      if (!tokens.has(req.query.get('access_token') ?? '')) return fail(42001, 'access_token expired');
      const b = parseExact(req.rawBody || '{}') as any;

      if (req.method === 'POST' && req.path === '/openapi/task/follow_up/async_create') {
        const bad =
          typeof b.template_name !== 'string' || !b.template_name
            ? 'template_name'
            : ![1, 2].includes(b.template_type)
              ? 'template_type'
              : typeof b.user_id !== 'string'
                ? 'user_id'
                : (checkTargets(b.user_customers_list, 'user_customers_list') ??
                  checkExplain(req.rawBody, b.explain) ??
                  (!Number.isInteger(b.priority) ? 'priority' : !Number.isInteger(b.end_time) ? 'end_time' : undefined));
        if (bad) return fail(40001, `参数错误: ${bad}`);
        const id = String(next++);
        state.tasks.push({ id, kind: 'customers', status: 0, createdAt: Date.now(), request: b, template_type: b.template_type });
        return ok({ template_id: new Int64(id) });
      }
      if (req.method === 'POST' && req.path === '/openapi/mass_send/corp/async_create_super_mass_info') {
        const bad =
          typeof b.template_name !== 'string' || !b.template_name
            ? 'template_name'
            : typeof b.user_id !== 'string'
              ? 'user_id'
              : (checkTargets(b.user_targets_info_list, 'user_targets_info_list') ??
                checkExplain(req.rawBody, b.explain) ??
                (!Number.isInteger(b.end_time) ? 'end_time' : undefined));
        if (bad) return fail(40001, `参数错误: ${bad}`);
        const id = String(next++);
        state.tasks.push({ id, kind: 'groups', status: 0, createdAt: Date.now(), request: b, template_type: 3 });
        return ok({ template_id: new Int64(id) });
      }
      if (req.method === 'POST' && req.path === '/openapi/task/follow_up/query_task_detail_info') {
        if (!/"template_id":\d+/.test(req.rawBody)) return fail(40001, '参数错误: template_id must be a number');
        const t = state.tasks.find((x) => x.id === String(b.template_id));
        if (!t) return fail(40004, 'task not found');
        const r = t.request as any;
        // By itself a task moves 0 → 1 → 2 → 3; a test may pin a status (POST /__sandbox/tasks/<id>).
        if (!t.manual) t.status = Math.min(Math.floor((Date.now() - (t.createdAt as number)) / (opts.progressMs ?? 2000)), 3);
        return ok({
          template_id: new Int64(t.id as string),
          template_name: r.template_name,
          template_type: t.template_type,
          priority: r.priority ?? 1,
          create_user_id: r.user_id,
          delay_type: 1,
          status: t.status,
          task_mode: 1,
          source: 2,
          error_info: t.error_info ?? '',
          explain: r.explain,
          filter_type: t.kind === 'groups' ? 2 : 4,
          end_time: r.end_time,
          send_time: Math.floor(Date.now() / 1000),
        });
      }
      return { status: 404, body: { code: 404, msg: `no such endpoint ${req.method} ${req.path}` } };
    },
  };
}

/** The local stack's WShoto (scripts/lib/sandboxes.ts), and a new tenant's WShoto credentials. */
export const sandbox: VendorSandbox = {
  spec: (o) =>
    wshotoSandbox({ credentials: () => o.credentials().map((c) => ({ appId: c.appId ?? '', appSecret: c.appSecret ?? '' })), progressMs: o.progressMs }),
  demoCredentials: () => ({ appId: `ws${randomBytes(6).toString('hex')}`, appSecret: demoSecret() }),
};
