/**
 * YouMi sandbox: OAuth2 client-credentials token endpoint, Bearer checks (401 on a bad token),
 * SaveBulkSendTask checked as seed 001 shapes it (task_content a JSON string of typed items,
 * start_time unix seconds in a string, listMass rows, chooseLabel a JSON string or ""), and the
 * delete endpoint. Answers in YouMi's envelope {requestId, errmsg, succeed, msgTime, values, errdesc}.
 */
import { youmiAdapter } from './adapter';
import { randomBytes, randomUUID } from 'node:crypto';
import { youmiEventSignature } from './adapter';
import { demoSecret, type SandboxSpec, type VendorReply, type VendorSandbox } from '../kit/sandboxServer';

export interface YoumiSandboxOptions {
  /** Each client, and the qunfa tenant whose callback URL it registered (`tenantId` here is qunfa's, not YouMi's). */
  credentials: () => { clientId: string; clientSecret: string; tenantId: string }[];
  deletePath?: string;
  /** Where qunfa listens (events go to <base>/v1/webhooks/youmi/<tenant>); none = no events pushed. */
  callbackBase?: () => string | undefined;
  progressMs?: number;
}

/**
 * Signs and POSTs one event the way YouMi's subscription would (lib/vendors/youmi/adapter.ts
 * youmiEventSignature). `tenantId` is the YouMi sub-tenant the event is for, if the client has one.
 */
export async function pushYoumiEvent(url: string, creds: { clientId: string; clientSecret: string; tenantId?: string }, event: unknown): Promise<number> {
  const body = JSON.stringify(event);
  const nonce = randomBytes(8).toString('hex');
  const ts = String(Math.floor(Date.now() / 1000));
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-youmi-appid': creds.clientId,
      'x-youmi-nonce': nonce,
      'x-youmi-timestamp': ts,
      ...(creds.tenantId ? { 'x-youmi-tenantid': creds.tenantId } : {}),
      'x-youmi-signature': youmiEventSignature(creds.clientSecret, creds.clientId, nonce, ts, body, creds.tenantId ?? ''),
    },
    body,
  }).catch(() => undefined);
  return res?.status ?? 0;
}

const ITEM_FIELDS: Record<string, string[]> = {
  '0': ['content'],
  '1': ['imgName', 'imgFormat', 'imgMediaUrl'],
  '2': ['videoName', 'videoFormat', 'videoMediaUrl'],
  '3': ['title', 'linkUrl', 'description', 'thumbMediaUrl'],
  '4': ['fileName', 'fileFormat', 'fileMediaUrl'],
  '30': ['roomId'],
};
const MASS_FIELDS: Record<string, 'number' | 'string'> = {
  ad_wechat_id: 'number',
  machine_key: 'string',
  machine_name: 'string',
  qv_company_id: 'string',
  object_id: 'string',
  object_nickname: 'string',
  belong_staff_code: 'string',
};

export function youmiSandbox(opts: YoumiSandboxOptions): SandboxSpec {
  const tokens = new Set<string>();
  const tokenOwners = new Map<string, string>();
  let nextId = 880;
  const envelope = (succeed: boolean, values: unknown, errmsg: number, errdesc: string | null): VendorReply => ({
    body: { requestId: randomUUID(), errmsg, succeed, msgTime: new Date().toISOString(), values, errdesc },
  });
  const refuse = (why: string) => envelope(false, null, 40000, why);

  function checkSave(b: any): string | undefined {
    const bs = b?.bulksend;
    if (!bs || typeof bs !== 'object') return 'bulksend';
    if (typeof bs.task_theme !== 'string' || !bs.task_theme) return 'bulksend.task_theme';
    for (const f of ['task_type', 'choose_type', 'task_source']) if (!Number.isInteger(bs[f])) return `bulksend.${f}`;
    if (typeof bs.start_time !== 'string' || !/^\d{10}$/.test(bs.start_time)) return 'bulksend.start_time (unix seconds as a string)';
    if (typeof bs.task_content !== 'string') return 'bulksend.task_content (a JSON string)';
    let items: unknown;
    try {
      items = JSON.parse(bs.task_content);
    } catch {
      return 'bulksend.task_content (not JSON)';
    }
    if (!Array.isArray(items) || items.length === 0) return 'bulksend.task_content (an array of items)';
    for (const [k, it] of items.entries()) {
      const fields = ITEM_FIELDS[it?.type];
      if (!fields || typeof it.type !== 'string') return `task_content[${k}].type`;
      for (const f of fields) if (typeof it.data?.[f] !== 'string') return `task_content[${k}].data.${f}`;
    }
    if (!Array.isArray(b.listMass)) return 'listMass';
    for (const [k, row] of (b.listMass as any[]).entries()) {
      for (const [f, t] of Object.entries(MASS_FIELDS)) if (typeof row?.[f] !== t) return `listMass[${k}].${f}`;
    }
    if (typeof b.chooseLabel !== 'string') return 'chooseLabel (a JSON string or "")';
    if (b.chooseLabel) {
      try {
        const labels = JSON.parse(b.chooseLabel);
        if (!Array.isArray(labels) || labels.some((l: any) => !Number.isInteger(l.ad_label_id) || !Number.isInteger(l.ad_label_info_id))) return 'chooseLabel';
      } catch {
        return 'chooseLabel (not JSON)';
      }
    }
    if (bs.choose_type === 0 && b.listMass.length === 0) return 'listMass (empty for choose_type 0)';
    if (bs.choose_type === 1 && !b.chooseLabel) return 'chooseLabel (empty for choose_type 1)';
    return undefined;
  }

  return {
    name: 'youmi',
    errorBody: (code, message) => ({
      requestId: randomUUID(),
      errmsg: Number(code) || 40000,
      succeed: false,
      msgTime: new Date().toISOString(),
      values: null,
      errdesc: message,
    }),
    throttleReply: () => ({ status: 429, body: { error: 'too_many_requests' }, headers: { 'retry-after': '1' } }),
    reset: () => undefined,
    revokeTokens: () => tokens.clear(),
    // YouMi publishes no limits: the sandbox enforces what qunfa's adapter declares.
    rateLimits: {
      limits: youmiAdapter.capabilities.rateLimits,
      isWrite: (req) => req.method === 'POST' && req.path.startsWith('/v2/BulkSend/'),
      caller: (req) => {
        const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
        return bearer && tokens.has(bearer) ? tokenOwners.get(bearer) : undefined;
      },
    },

    async handle(req, state) {
      if (req.method === 'POST' && req.path === '/connect/token') {
        const f = req.body as Record<string, string> | undefined;
        const known = opts.credentials().find((c) => c.clientId === f?.client_id);
        if (f?.grant_type !== 'client_credentials') return { status: 400, body: { error: 'unsupported_grant_type' } };
        if (!known || known.clientSecret !== f.client_secret)
          return { status: 400, body: { error: 'invalid_client', error_description: 'client_id or client_secret is wrong' } };
        if (f.scope !== 'Ls.Qkl.PublicApi') return { status: 400, body: { error: 'invalid_scope' } };
        const token = randomBytes(24).toString('base64url');
        tokens.add(token);
        tokenOwners.set(token, known.clientId);
        return { body: { access_token: token, expires_in: 3600, token_type: 'Bearer', scope: f.scope } };
      }
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (!bearer || !tokens.has(bearer)) return { status: 401, body: '' };

      if (req.method === 'POST' && req.path === '/v2/BulkSend/SaveBulkSendTask') {
        const bad = checkSave(req.body);
        if (bad) return refuse(`参数错误: ${bad}`);
        const id = nextId++;
        const task: Record<string, unknown> = { id: String(id), kind: 'customers', status: 'waiting', request: req.body, tenantId: req.headers.tenantid };
        state.tasks.push(task);
        const client = opts.credentials().find((c) => tokenOwners.get(bearer) === c.clientId);
        const base = opts.callbackBase?.();
        if (client && base) {
          // RPA runs, then reports: rpaTaskResult "running", then "finished" with figures.
          const total = (req.body as { listMass: unknown[] }).listMass.length;
          const url = `${base}/v1/webhooks/youmi/${client.tenantId}`;
          // Events name the YouMi sub-tenant the task was made in (the TenantId header), if any.
          const youmiTenant = typeof req.headers.tenantid === 'string' ? req.headers.tenantid : undefined;
          const push = (status: string, success: number) => {
            if (task.status === 'deleted') return;
            task.status = status;
            void pushYoumiEvent(
              url,
              { clientId: client.clientId, clientSecret: client.clientSecret, tenantId: youmiTenant },
              {
                eventId: randomUUID(),
                messageType: 'rpaTaskResult',
                occurredAt: new Date().toISOString(),
                data: { taskId: id, status, total, success, fail: status === 'finished' ? total - success : 0 },
              },
            );
          };
          const step = opts.progressMs ?? 2000;
          setTimeout(() => push('running', 0), step).unref();
          setTimeout(() => push('finished', total), 2 * step).unref();
        }
        return envelope(true, id, 20000, null);
      }
      if (req.method === 'POST' && req.path === (opts.deletePath ?? '/v2/BulkSend/DeleteBulkSendTask')) {
        const id = String((req.body as { id?: unknown })?.id ?? '');
        const task = state.tasks.find((t) => t.id === id);
        if (!task) return refuse(`任务不存在: ${id}`);
        if (task.status === 'done' || task.status === 'finished') return refuse('任务已完成, 不能删除');
        task.status = 'deleted';
        return envelope(true, true, 20000, null);
      }
      return { status: 404, body: { error: `no such endpoint ${req.method} ${req.path}` } };
    },
  };
}

/**
 * The local stack's YouMi (scripts/lib/sandboxes.ts): it knows each client with the qunfa tenant
 * whose callback URL it registered, and deletes at YOUMI_DELETE_PATH as the adapter does.
 */
export const sandbox: VendorSandbox = {
  spec: (o) =>
    youmiSandbox({
      credentials: () => o.credentials().map((c) => ({ clientId: c.clientId ?? '', clientSecret: c.clientSecret ?? '', tenantId: c.qunfaTenant ?? '' })),
      deletePath: o.env.YOUMI_DELETE_PATH || undefined,
      callbackBase: o.callbackBase,
      progressMs: o.progressMs,
    }),
  demoCredentials: () => ({ clientId: `ym-${randomBytes(6).toString('hex')}`, clientSecret: demoSecret() }),
};
