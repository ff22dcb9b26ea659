/**
 * Weiban sandbox: the endpoints of seed 002 and vendors.md, checked the way Weiban would
 * (token, required fields and their types), with the same envelope, and its published limits per
 * corp: ≤ 5 requests in flight (10052); bulk-write APIs ≤ 300 a minute and 15,000 an hour (10053,
 * then a 60 s ban).
 * Codes Weiban documents are used as documented (10001 token invalid, 10052 concurrency,
 * 10053 quota); for a bad parameter or secret, which it does not list publicly, the sandbox
 * answers 40001/40003 (its own choice, named here so nobody mistakes it for Weiban's).
 */
import { randomBytes } from 'node:crypto';
import { demoSecret, missing, type SandboxSpec, type VendorReply, type VendorSandbox } from '../kit/sandboxServer';

/** Weiban's bulk-write APIs: the ones its 300/min and 15,000/h quota counts. */
const BULK_WRITE = new Set(['/open-api/customer_group_msg/add', '/open-api/group_msg/add']);

export interface WeibanSandboxOptions {
  /** The corps it knows and their secrets; read on every token request. */
  credentials: () => Promise<{ corpId: string; secret: string }[]> | { corpId: string; secret: string }[];
  /** How long each stage of a task's life takes (waiting → sending → done). */
  progressMs?: number;
}

/** Stages a task moves through by itself, unless a test set its `status` by hand. */
const STAGES = { groups: ['waiting', 'sended', 'completed'], customers: ['waiting_send', 'waiting_confirm', 'sended'] } as const;

function resultOf(task: Record<string, unknown>, progressMs: number): Record<string, unknown> {
  const kind = task.kind as 'groups' | 'customers';
  const stages = STAGES[kind];
  const stage = Math.min(Math.floor((Date.now() - (task.createdAt as number)) / progressMs), stages.length - 1);
  const status = (task.status as string | undefined) && task.manual ? (task.status as string) : stages[stage];
  const req = task.request as { group_ext_id_list?: unknown[]; eu_ext_ids?: unknown[]; staff_eu_list?: { eu_ext_ids?: unknown[] }[] };
  const total =
    kind === 'groups'
      ? (req.group_ext_id_list?.length ?? 0)
      : (req.eu_ext_ids?.length ?? 0) + (req.staff_eu_list ?? []).reduce((n, s) => n + (s.eu_ext_ids?.length ?? 0), 0);
  const done = status === 'completed' || (kind === 'customers' && status === 'sended');
  const notFriend = done && total > 1 ? 1 : 0; // one recipient is always "not a friend", so the figures show it
  return {
    errcode: 0,
    errmsg: 'ok',
    id: task.id,
    status,
    total_count: total,
    send_count: done ? total - notFriend : stage >= 1 ? Math.floor(total / 2) : 0,
    fail_count: 0,
    not_friend_count: notFriend,
    limit_count: 0,
    unconfirmed_staff_count: done ? 0 : 1,
  };
}

const ATTACHMENT_FIELDS: Record<string, Record<string, 'string'>> = {
  image: { url: 'string' },
  link: { title: 'string', url: 'string' },
  miniprogram: { appid: 'string', title: 'string', page: 'string', cover: 'string' },
  video: { url: 'string' },
};

export function weibanSandbox(opts: WeibanSandboxOptions): SandboxSpec {
  const tokens = new Map<string, string>(); // token → corp
  let nextId = 1000;
  const err = (errcode: number, errmsg: string): VendorReply => ({ body: { errcode, errmsg } });

  const checkAttachments = (list: unknown): string | undefined => {
    if (!Array.isArray(list)) return 'attachments';
    if (list.length > 9) return 'attachments (at most 9)';
    for (const [i, a] of list.entries()) {
      const type = (a as { msgtype?: unknown })?.msgtype;
      const fields = typeof type === 'string' ? ATTACHMENT_FIELDS[type] : undefined;
      if (!fields) return `attachments[${i}].msgtype`;
      const bad = missing((a as Record<string, unknown>)[type as string], fields);
      if (bad) return `attachments[${i}].${type as string}.${bad}`;
    }
    return undefined;
  };

  return {
    name: 'weiban',
    errorBody: (code, message) => ({ errcode: Number(code) || 40001, errmsg: message }),
    throttleReply: () => err(10053, 'api freq out of limit'),
    // Issued tokens stay valid across a reset, as a vendor's would; revoke-tokens ends them.
    reset: () => {
      nextId = 1000 + Math.floor(Math.random() * 1e6);
    },
    revokeTokens: () => {
      tokens.clear();
    },
    rateLimits: {
      limits: { inFlight: 5, perMinute: 300, perHour: 15_000 },
      isWrite: (req) => req.method === 'POST' && BULK_WRITE.has(req.path),
      caller: (req) => tokens.get(req.query.get('access_token') ?? ''),
      inFlightReply: () => err(10052, 'too many concurrent requests'),
      banMs: 60_000,
    },

    async handle(req, state) {
      if (req.method === 'POST' && req.path === '/open-api/access_token/get') {
        const b = req.body as { corp_id?: unknown; secret?: unknown } | undefined;
        const known = await opts.credentials();
        const corp = known.find((c) => c.corpId === b?.corp_id);
        if (!corp || corp.secret !== b?.secret) return err(40003, 'invalid corp_id or secret');
        const token = randomBytes(24).toString('hex');
        tokens.set(token, corp.corpId);
        return { body: { errcode: 0, errmsg: 'ok', access_token: token, expires_in: 7200 } };
      }

      const corp = tokens.get(req.query.get('access_token') ?? '');
      if (!corp) return err(10001, 'access_token invalid or expired');

      {
        if (req.method === 'POST' && req.path === '/open-api/customer_group_msg/add') {
          const bad =
            missing(req.body, {
              name: 'string',
              staff_ext_id_list: 'array',
              group_ext_id_list: 'array',
              create_staff_ext_id: 'string',
              text: 'string',
              attachments: 'array',
            }) ?? checkAttachments((req.body as { attachments?: unknown }).attachments);
          if (bad) return err(40001, `invalid parameter: ${bad}`);
          const b = req.body as { staff_ext_id_list: unknown[]; group_ext_id_list: unknown[] };
          if (b.staff_ext_id_list.length === 0 || b.group_ext_id_list.length === 0) return err(40001, 'invalid parameter: empty staff or group list');
          if (b.group_ext_id_list.length > 2000) return err(40001, 'invalid parameter: group_ext_id_list over 2000');
          const id = String(nextId++);
          state.tasks.push({ id, corp, kind: 'groups', status: 'waiting', createdAt: Date.now(), request: req.body });
          return { body: { errcode: 0, errmsg: 'ok', id } };
        }

        if (req.method === 'POST' && req.path === '/open-api/group_msg/add') {
          const bad =
            missing(req.body, { name: 'string', create_staff_ext_id: 'string', text: 'string', attachments: 'array' }) ??
            checkAttachments((req.body as { attachments?: unknown }).attachments);
          if (bad) return err(40001, `invalid parameter: ${bad}`);
          const b = req.body as { staff_eu_list?: { staff_ext_id?: unknown; eu_ext_ids?: unknown[] }[]; eu_ext_ids?: unknown[] };
          if (!Array.isArray(b.staff_eu_list) && !Array.isArray(b.eu_ext_ids)) return err(40001, 'invalid parameter: staff_eu_list or eu_ext_ids');
          if ((b.staff_eu_list?.length ?? 0) > 100) return err(40001, 'invalid parameter: staff_eu_list over 100');
          for (const s of b.staff_eu_list ?? []) {
            if (typeof s.staff_ext_id !== 'string') return err(40001, 'invalid parameter: staff_eu_list.staff_ext_id');
            if ((s.eu_ext_ids?.length ?? 0) > 10_000) return err(40001, 'invalid parameter: eu_ext_ids over 10000 for one staff');
          }
          const id = String(nextId++);
          state.tasks.push({ id, corp, kind: 'customers', status: 'waiting_send', createdAt: Date.now(), request: req.body });
          return { body: { errcode: 0, errmsg: 'ok', id } };
        }

        const resultKind = req.path === '/open-api/customer_group_msg/result' ? 'groups' : req.path === '/open-api/group_msg/result' ? 'customers' : undefined;
        if (req.method === 'GET' && resultKind) {
          const task = state.tasks.find((t) => t.id === req.query.get('id') && t.kind === resultKind && t.corp === corp);
          if (!task) return err(40004, 'no such task');
          return { body: resultOf(task, opts.progressMs ?? 2000) };
        }
        return { status: 404, body: { errcode: 404, errmsg: `no such endpoint ${req.method} ${req.path}` } };
      }
    },
  };
}

/** The local stack's Weiban (scripts/lib/sandboxes.ts), and a new tenant's Weiban credentials. */
export const sandbox: VendorSandbox = {
  spec: (o) => weibanSandbox({ credentials: () => o.credentials().map((c) => ({ corpId: c.corpId ?? '', secret: c.secret ?? '' })), progressMs: o.progressMs }),
  demoCredentials: () => ({
    corpId: `ww${randomBytes(8).toString('hex')}`,
    secret: demoSecret(),
    callbackToken: demoSecret(16),
    callbackAesKey: randomBytes(32).toString('base64').slice(0, 43),
  }),
};
