/**
 * Outbound HTTP to callers' callbackUrls, which qunfa never aims at private, loopback,
 * link-local or metadata addresses outside local mode. The check is on the address actually
 * connected to (the lookup is pinned), so DNS rebinding cannot slip past it.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['fd00:ec2::', 32],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

export function isPrivateAddress(ip: string): boolean {
  // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const addr = mapped ?? ip;
  const v = isIP(addr);
  if (v === 0) return true;
  return blocked.check(addr, v === 4 ? 'ipv4' : 'ipv6');
}

const PRIVATE_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/i;

/** Create-time check: https only (http too in local mode), no private literal or name outside local mode. */
export function callbackUrlProblem(url: string, localMode: boolean): string | undefined {
  const u = new URL(url);
  if (u.protocol !== 'https:' && !(localMode && u.protocol === 'http:')) return 'must be https';
  if (u.username || u.password) return 'must not carry credentials';
  if (localMode) return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) ? isPrivateAddress(host) : PRIVATE_NAMES.test(host) || !host.includes('.')) return 'must not point at a private, loopback or metadata address';
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A DNS lookup that refuses, outside local mode, any name resolving to a private address: the check is on what is connected to. */
function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, cb: LookupCallback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, '');
      const list = addresses;
      const bad = !allowPrivate && list.some((a) => isPrivateAddress(a.address));
      if (bad) return cb(Object.assign(new Error(`${hostname} resolves to a private address`), { code: 'EPRIVATE' }), '');
      const { all } = options as { all?: boolean };
      if (all) return cb(null, list);
      const first = list[0] as LookupAddress;
      return cb(null, first.address, first.family);
    });
  };
}

/** A URL naming a private address literally (no lookup happens for it). */
function privateLiteral(u: URL, allowPrivate: boolean): boolean {
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return !allowPrivate && isIP(host) !== 0 && isPrivateAddress(host);
}

export interface FetchedBytes {
  status: number;
  bytes: Buffer;
  contentType?: string;
}

/**
 * GETs `url` for its body (an attachment to upload to a vendor), under the same guard as postJson:
 * http(s) only, no private address outside local mode, no redirect followed, `timeoutMs` for the
 * whole exchange, and at most `maxBytes` read (past it: an error with code ETOOLARGE).
 */
export function getBytes(url: string, opts: { allowPrivate: boolean; timeoutMs: number; maxBytes: number }): Promise<FetchedBytes> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return Promise.reject(Object.assign(new Error('not an http(s) URL'), { code: 'EPROTO' }));
  if (privateLiteral(u, opts.allowPrivate)) return Promise.reject(Object.assign(new Error('private address'), { code: 'EPRIVATE' }));
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => settle(timedOut()), opts.timeoutMs);
    let settled = false;
    const settle = (err: Error | undefined, out?: FetchedBytes) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(out as FetchedBytes);
    };
    const req = send(
      u,
      { method: 'GET', headers: { 'user-agent': 'qunfa-media/1' }, lookup: guardedLookup(opts.allowPrivate), timeout: opts.timeoutMs },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > opts.maxBytes) {
            settle(Object.assign(new Error(`larger than ${opts.maxBytes} bytes`), { code: 'ETOOLARGE' }));
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          settle(undefined, { status, bytes: Buffer.concat(chunks), ...(res.headers['content-type'] ? { contentType: res.headers['content-type'] } : {}) }),
        );
        res.on('error', (err) => settle(err));
        res.on('close', () => settle(Object.assign(new Error('the answer was cut short'), { code: 'ECONNRESET' })));
      },
    );
    req.on('timeout', () => settle(timedOut()));
    req.on('error', (err) => settle(err));
    req.end();
  });
}

export interface PostResult {
  status: number;
}

/** The most of an answer's body read (it is drained, never used): past it the status alone counts. */
export const MAX_ANSWER_BYTES = 64 * 1024;

const timedOut = () => Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });

/**
 * POSTs `body`; outside local mode, refuses to connect to any private address the name resolves to.
 * `timeoutMs` bounds the whole exchange — lookup, connect, request, and the answer to its end (or
 * to MAX_ANSWER_BYTES of it): the socket's idle timeout alone never ends an answer that trickles
 * a byte at a time.
 */
export function postJson(url: string, body: string, headers: Record<string, string>, opts: { allowPrivate: boolean; timeoutMs: number }): Promise<PostResult> {
  const u = new URL(url);
  const lookup = guardedLookup(opts.allowPrivate);
  if (privateLiteral(u, opts.allowPrivate)) return Promise.reject(Object.assign(new Error('private address'), { code: 'EPRIVATE' }));
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // From the start, whatever trickles in meanwhile.
    const deadline = setTimeout(() => settle(timedOut()), opts.timeoutMs);
    let settled = false;
    const settle = (err: Error | undefined, status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve({ status: status ?? 0 });
    };
    const req = send(
      u,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'qunfa-callbacks/1', ...headers },
        lookup: lookup,
        timeout: opts.timeoutMs,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read <= MAX_ANSWER_BYTES) return;
          settle(undefined, status);
          res.destroy();
        });
        res.on('end', () => settle(undefined, status));
        res.on('error', (err) => settle(err));
        res.on('close', () => settle(Object.assign(new Error('the answer was cut short'), { code: 'ECONNRESET' })));
      },
    );
    req.on('timeout', () => settle(timedOut()));
    req.on('error', (err) => settle(err));
    req.end(body);
  });
}
