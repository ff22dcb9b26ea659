/**
 * A real HTTP server in front of a vendor sandbox, for vendor misbehaviour the sandboxes do not
 * model (redirects, oversized answers): each request is offered to `intercept`; what it does not
 * answer is forwarded to the sandbox as it came, and the sandbox's answer may be rewritten.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
export interface ProxyOptions {
  intercept?: (req: { method: string; path: string; rawBody: string }) => ProxyReply | undefined;
  /** Rewrites a forwarded answer's body (text in, text out). */
  rewrite?: (path: string, body: string) => string;
}

export interface RunningProxy {
  url: string;
  requests: { method: string; path: string; rawBody: string }[];
  close(): Promise<void>;
}

export async function startProxy(target: string | undefined, o: ProxyOptions = {}): Promise<RunningProxy> {
  const requests: RunningProxy['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const seen = { method: req.method ?? 'GET', path: req.url ?? '/', rawBody };
        requests.push(seen);
        const own = o.intercept?.(seen) ?? (target ? undefined : { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' });
        if (own) {
          res.writeHead(own.status, own.headers).end(own.body ?? '');
          return;
        }
        const headers = Object.fromEntries(
          Object.entries(req.headers)
            .filter(([k]) => !['host', 'content-length', 'connection'].includes(k))
            .map(([k, v]) => [k, String(v)]),
        );
        const up = await fetch(`${target}${seen.path}`, { method: seen.method, headers, ...(rawBody ? { body: rawBody } : {}), redirect: 'manual' });
        const text = await up.text();
        const body = o.rewrite ? o.rewrite(seen.path, text) : text;
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(body);
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
