/**
 * What every vendor sandbox shares: a real HTTP server that records what it received and can be
 * told to fail, throttle, delay or drop the connection, through a small control API:
 *
 *   GET  /__sandbox/requests        what the vendor endpoints received (token calls included)
 *   GET  /__sandbox/tasks           the tasks the vendor "created"
 *   GET  /__sandbox/limits          the vendor's limits and what each caller met (in flight, writes, throttles)
 *   POST /__sandbox/tasks/<id>      merge fields into one of them (e.g. {"status": 3})
 *   POST /__sandbox/faults          {match?, mode, count?, status?, delayMs?, code?}
 *   POST /__sandbox/revoke-tokens   every issued token becomes invalid
 *   POST /__sandbox/reset           forget requests, tasks and faults (issued tokens stay valid)
 *   …                               anything else under /__sandbox: the vendor's own `control` routes, if any
 *
 * A vendor handler gets the body parsed (JSON, or a form as an object) and also as it came: `rawBody`
 * (UTF-8 text) and `rawBytes` (the bytes, for multipart uploads; a multipart body is never parsed
 * here and is recorded as `{__multipart: {bytes}}`). Bodies over 25 MB drop the connection.
 *
 * Fault modes: `vendor-error` (the vendor's own error envelope with `code`), `throttle` (the
 * vendor's rate-limit answer), `http` (a bare HTTP `status`), `delay` (answer after `delayMs`),
 * `reset` (drop the connection before handling), `accept-then-reset` (handle the request, then
 * drop the connection: the vendor has the task and the caller never hears so), `accept-then-delay`
 * (handle the request, answer only after `delayMs`: a timeout after the vendor stored the task).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What each lib/vendors/<vendor>/sandbox.ts exports as `sandbox`: scripts/lib/sandboxes.ts finds it
 * by the vendor's id (a dynamic import, so no production module ever imports sandbox code).
 */
export interface VendorSandbox {
  /** The vendor's sandbox, knowing every tenant's credentials for it. */
  spec(o: VendorSandboxOptions): SandboxSpec;
  /** Fresh credentials for a new (demo or test) tenant, in the shape the vendor's adapter checks. */
  demoCredentials(): Record<string, string>;
}

export interface VendorSandboxOptions {
  /**
   * This vendor's credentials of every tenant, each with `qunfaTenant` (the qunfa tenant it
   * belongs to); read again on every request, so a tenant added while it runs is known.
   */
  credentials: () => Record<string, string>[];
  /** Where qunfa's API listens, for vendors that push callbacks; none = no callbacks pushed. */
  callbackBase?: () => string | undefined;
  /** How long each stage of a task's life takes at the vendor. */
  progressMs: number;
  /** The environment, for vendor settings the sandbox must agree on with the adapter (e.g. a sign algorithm). */
  env: Record<string, string | undefined>;
}

/** A random secret for demo credentials. */
export const demoSecret = (bytes = 24): string => randomBytes(bytes).toString('base64url');

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
  /** Set when the sandbox's rate limits refused the call: 'in-flight', 'per-minute', 'per-hour' or 'banned'. */
  throttled?: string;
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
  /** The body's bytes as received (multipart uploads). */
  rawBytes: Buffer;
}

export interface VendorReply {
  status?: number;
  /** JSON unless a string or a Buffer (sent as is: set its content-type in `headers`). */
  body: unknown;
  headers?: Record<string, string>;
}

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
  rateLimits?: SandboxRateLimits;
  /**
   * The vendor's own control routes under /__sandbox (req.path is the full path), tried after the
   * shared ones; undefined = not one of its routes (404).
   */
  control?(req: VendorRequest, sandbox: SandboxState): VendorReply | undefined | Promise<VendorReply | undefined>;
}

export interface SandboxState {
  tasks: Record<string, unknown>[];
}

/**
 * A vendor's published limits, enforced per caller (the corp or app a token belongs to) the way
 * the vendor does: requests in flight over every API; writes per minute and per hour over its
 * bulk-write APIs, with a ban after a window is exceeded where the vendor has one.
 */
export interface SandboxRateLimits {
  limits: { inFlight: number; perMinute: number; perHour: number };
  /** Calls that count against the windows (the vendor's bulk-write APIs). */
  isWrite(req: VendorRequest): boolean;
  /** Whose quota a call uses; undefined for calls the vendor does not count (token requests, bad tokens). */
  caller(req: VendorRequest): string | undefined;
  /** The vendor's answer over the in-flight limit (default: its throttle answer). */
  inFlightReply?: () => VendorReply;
  /** How long the vendor refuses a caller's writes after a window was exceeded. */
  banMs?: number;
}

/** What the limits saw, per caller (GET /__sandbox/limits). */
export interface CallerLimitState {
  inFlight: number;
  maxInFlight: number;
  /** Accepted writes (epoch ms), the last hour. */
  writes: number[];
  bannedUntil: number;
  throttled: Record<string, number>;
}

export interface RunningSandbox {
  url: string;
  port: number;
  server: Server;
  state: SandboxState & { requests: RecordedRequest[]; faults: Fault[]; limits: Record<string, CallerLimitState> };
  close(): Promise<void>;
}

export interface SandboxOptions {
  /** How long the vendor takes to answer each call (so calls overlap, as they do at a real vendor). */
  latencyMs?: number;
}

/** Uploads (WeCom takes files up to 20 MB) and their multipart framing fit. */
const MAX_BODY = 25 * 1024 * 1024;

export async function startSandbox(spec: SandboxSpec, port = 0, host = '127.0.0.1', o: SandboxOptions = {}): Promise<RunningSandbox> {
  const state = {
    tasks: [] as Record<string, unknown>[],
    requests: [] as RecordedRequest[],
    faults: [] as Fault[],
    limits: {} as Record<string, CallerLimitState>,
  };
  const latencyMs = o.latencyMs ?? 0;

  /** The vendor's limits: why the call is refused, or what to call when it ends (it counts in flight until then). */
  const overLimit = (req: VendorRequest, recorded: RecordedRequest): { why: string } | { end: () => void } => {
    const rl = spec.rateLimits;
    const who = rl?.caller(req);
    if (!rl || who === undefined) return { end: () => undefined };
    const st = (state.limits[who] ??= { inFlight: 0, maxInFlight: 0, writes: [], bannedUntil: 0, throttled: {} });
    const now = Date.now();
    let why: string | undefined;
    if (st.inFlight >= rl.limits.inFlight) why = 'in-flight';
    else if (rl.isWrite(req)) {
      while (st.writes.length && (st.writes[0] as number) <= now - 3_600_000) st.writes.shift();
      const lastMinute = st.writes.filter((t) => t > now - 60_000).length;
      if (st.bannedUntil > now) why = 'banned';
      else if (lastMinute >= rl.limits.perMinute) why = 'per-minute';
      else if (st.writes.length >= rl.limits.perHour) why = 'per-hour';
      if (why === 'per-minute' || why === 'per-hour') st.bannedUntil = now + (rl.banMs ?? 0);
      if (!why) st.writes.push(now);
    }
    if (why) {
      st.throttled[why] = (st.throttled[why] ?? 0) + 1;
      recorded.throttled = why;
      return { why };
    }
    st.inFlight++;
    st.maxInFlight = Math.max(st.maxInFlight, st.inFlight);
    return {
      end: () => {
        st.inFlight--;
      },
    };
  };

  const send = (res: ServerResponse, reply: VendorReply) => {
    if (res.destroyed) return;
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(typeof reply.body === 'string' || Buffer.isBuffer(reply.body) ? reply.body : JSON.stringify(reply.body));
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
    if (req.method === 'GET' && path === '/limits') return send(res, { body: { limits: spec.rateLimits?.limits ?? null, callers: state.limits } });
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
    if (req.method === 'POST' && path === '/revoke-tokens') {
      spec.revokeTokens();
      return send(res, { body: { ok: true } });
    }
    if (req.method === 'POST' && path === '/reset') {
      state.tasks.length = 0;
      state.requests.length = 0;
      state.faults.length = 0;
      spec.reset();
      for (const k of Object.keys(state.limits)) delete state.limits[k];
      return send(res, { body: { ok: true } });
    }
    let own: VendorReply | undefined;
    try {
      own = await spec.control?.(req, state);
    } catch (err) {
      return send(res, { status: 500, body: { error: (err as Error).message } });
    }
    if (own) return send(res, own);
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
        const rawBytes = Buffer.concat(chunks);
        const rawBody = rawBytes.toString('utf8');
        let body: unknown = undefined;
        const isForm = /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '');
        const isMultipart = /multipart\/form-data/i.test(req.headers['content-type'] ?? '');
        if (rawBody) {
          if (isMultipart) body = { __multipart: { bytes: rawBytes.length } };
          else if (isForm) body = Object.fromEntries(new URLSearchParams(rawBody));
          else {
            try {
              body = JSON.parse(rawBody);
            } catch {
              body = { __unparseable: rawBody };
            }
          }
        }
        const vreq: VendorRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, rawBody, rawBytes };
        if (url.pathname.startsWith('/__sandbox')) return control(vreq, res);

        const recorded: RecordedRequest = {
          at: new Date().toISOString(),
          method: vreq.method,
          path: vreq.path,
          query: Object.fromEntries(url.searchParams),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
          body,
        };
        state.requests.push(recorded);
        const admitted = overLimit(vreq, recorded);
        if ('why' in admitted)
          return send(res, admitted.why === 'in-flight' && spec.rateLimits?.inFlightReply ? spec.rateLimits.inFlightReply() : spec.throttleReply());
        try {
          await handleCall(vreq, res, req);
        } finally {
          admitted.end();
        }
      })();
    });
  });

  /** One vendor call, once the limits let it in: latency, injected faults, then the vendor's own handling. */
  const handleCall = async (vreq: VendorRequest, res: ServerResponse, req: IncomingMessage) => {
    if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs));
    const fault = takeFault(vreq.path);
    if (fault?.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.mode === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
    if (fault?.mode === 'http') return send(res, { status: fault.status ?? 500, body: { error: 'injected' } });
    if (fault?.mode === 'throttle') return send(res, spec.throttleReply());
    if (fault?.mode === 'vendor-error') return send(res, { body: spec.errorBody(fault.code ?? 'injected', fault.message ?? 'injected failure') });
    try {
      const reply = await spec.handle(vreq, state);
      if (fault?.mode === 'accept-then-reset') {
        req.socket.destroy();
        return;
      }
      if (fault?.mode === 'accept-then-delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
      send(res, reply);
    } catch (err) {
      send(res, { status: 500, body: { error: (err as Error).message } });
    }
  };
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
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
