/**
 * What every vendor sandbox shares: a real HTTP server that records what it received and can be
 * told to fail, throttle, delay or drop the connection, through a small control API:
 *
 *   GET  /__sandbox/requests        what the vendor endpoints received (token calls included)
 *   GET  /__sandbox/tasks           the tasks the vendor "created"
 *   POST /__sandbox/tasks/<id>      merge fields into one of them (e.g. {"status": 3})
 *   POST /__sandbox/faults          {match?, mode, count?, status?, delayMs?, code?}
 *   POST /__sandbox/revoke-tokens   every issued token becomes invalid
 *   POST /__sandbox/reset           forget requests, tasks and faults (issued tokens stay valid)
 *
 * Fault modes: `vendor-error` (the vendor's own error envelope with `code`), `throttle` (the
 * vendor's rate-limit answer), `http` (a bare HTTP `status`), `delay` (answer after `delayMs`),
 * `reset` (drop the connection before handling), `accept-then-reset` (handle the request, then
 * drop the connection: the vendor has the task and the caller never hears so), `accept-then-delay`
 * (handle the request, answer only after `delayMs`: a timeout after the vendor stored the task).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fault {
  match?: string;
  mode: 'vendor-error' | 'throttle' | 'http' | 'delay' | 'reset' | 'accept-then-reset' | 'accept-then-delay';
  count?: number;
  status?: number;
  delayMs?: number;
  code?: string | number;
  message?: string;
}

export interface RecordedRequest {
  at: string;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

export interface VendorRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  rawBody: string;
}

export interface VendorReply { status?: number; body: unknown; headers?: Record<string, string> }

export interface SandboxSpec {
  name: string;
  /** The vendor's own envelope for an error code and message. */
  errorBody(code: string | number, message: string): unknown;
  /** The vendor's rate-limit answer. */
  throttleReply(): VendorReply;
  handle(req: VendorRequest, sandbox: SandboxState): Promise<VendorReply>;
  /** Forget vendor-specific state other than issued tokens. */
  reset(): void;
  revokeTokens(): void;
}

export interface SandboxState {
  tasks: Record<string, unknown>[];
}

export interface RunningSandbox {
  url: string;
  port: number;
  server: Server;
  state: SandboxState & { requests: RecordedRequest[]; faults: Fault[] };
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024 * 1024;

export async function startSandbox(spec: SandboxSpec, port = 0, host = '127.0.0.1'): Promise<RunningSandbox> {
  const state = { tasks: [] as Record<string, unknown>[], requests: [] as RecordedRequest[], faults: [] as Fault[] };

  const send = (res: ServerResponse, reply: VendorReply) => {
    if (res.destroyed) return;
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
  };

  const takeFault = (path: string): Fault | undefined => {
    const i = state.faults.findIndex((f) => !f.match || path.includes(f.match));
    if (i < 0) return undefined;
    const f = state.faults[i] as Fault;
    if (f.count !== undefined && f.count !== -1) {
      f.count -= 1;
      if (f.count <= 0) state.faults.splice(i, 1);
    }
    return f;
  };

  const control = async (req: VendorRequest, res: ServerResponse) => {
    const path = req.path.slice('/__sandbox'.length);
    if (req.method === 'GET' && path === '/requests') return send(res, { body: state.requests });
    if (req.method === 'GET' && path === '/tasks') return send(res, { body: state.tasks });
    if (req.method === 'POST' && path === '/faults') {
      const list = Array.isArray(req.body) ? req.body : [req.body];
      for (const f of list as Fault[]) state.faults.push({ count: 1, ...f });
      return send(res, { body: { faults: state.faults } });
    }
    const taskPatch = /^\/tasks\/([^/]+)$/.exec(path);
    if (req.method === 'POST' && taskPatch) {
      const task = state.tasks.find((t) => t.id === decodeURIComponent(taskPatch[1] as string));
      if (!task) return send(res, { status: 404, body: { error: 'no such task' } });
      Object.assign(task, req.body, { manual: true });
      return send(res, { body: task });
    }
    if (req.method === 'POST' && path === '/revoke-tokens') { spec.revokeTokens(); return send(res, { body: { ok: true } }); }
    if (req.method === 'POST' && path === '/reset') {
      state.tasks.length = 0; state.requests.length = 0; state.faults.length = 0; spec.reset();
      return send(res, { body: { ok: true } });
    }
    return send(res, { status: 404, body: { error: 'no such control endpoint' } });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://sandbox');
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let body: unknown = undefined;
        const isForm = /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '');
        if (rawBody) {
          if (isForm) body = Object.fromEntries(new URLSearchParams(rawBody));
          else {
            try { body = JSON.parse(rawBody); } catch { body = { __unparseable: rawBody }; }
          }
        }
        const vreq: VendorRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, rawBody };
        if (url.pathname.startsWith('/__sandbox')) return control(vreq, res);

        state.requests.push({
          at: new Date().toISOString(),
          method: vreq.method,
          path: vreq.path,
          query: Object.fromEntries(url.searchParams),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
          body,
        });
        const fault = takeFault(url.pathname);
        if (fault?.mode === 'reset') { req.socket.destroy(); return; }
        if (fault?.mode === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
        if (fault?.mode === 'http') return send(res, { status: fault.status ?? 500, body: { error: 'injected' } });
        if (fault?.mode === 'throttle') return send(res, spec.throttleReply());
        if (fault?.mode === 'vendor-error') return send(res, { body: spec.errorBody(fault.code ?? 'injected', fault.message ?? 'injected failure') });
        try {
          const reply = await spec.handle(vreq, state);
          if (fault?.mode === 'accept-then-reset') { req.socket.destroy(); return; }
          if (fault?.mode === 'accept-then-delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
          send(res, reply);
        } catch (err) {
          send(res, { status: 500, body: { error: (err as Error).message } });
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${actual}`,
    port: actual,
    server,
    state,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Field checks in the vendor's manner: the first problem, named. */
export function missing(body: unknown, fields: Record<string, 'string' | 'array' | 'number' | 'boolean' | 'object'>): string | undefined {
  if (body === null || typeof body !== 'object') return 'body';
  const b = body as Record<string, unknown>;
  for (const [name, type] of Object.entries(fields)) {
    const v = b[name];
    const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v) : typeof v === type;
    if (!ok || (type === 'string' && v === '' && name !== 'text')) return name;
  }
  return undefined;
}
