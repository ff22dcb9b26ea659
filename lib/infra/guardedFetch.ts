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

/** The most of an answer's body read (it is drained, never used): past it the status alone counts. */
export const MAX_ANSWER_BYTES = 64 * 1024;

const timedOut = () => Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });

interface Exchange {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  allowPrivate: boolean;
  timeoutMs: number;
  /** The most of the answer read; past it `overflow` says what happens. */
  maxBytes: number;
  /** 'stop': the exchange ends with what was read (the status counts); 'fail': it fails with ETOOLARGE. */
  overflow: 'stop' | 'fail';
  /** Keep the answer's bytes (a download) or only drain them (a callback's answer). */
  keepBody: boolean;
}

/**
 * One guarded HTTP exchange: outside local mode no connection to a private address, whether the
 * URL names it or its name resolves to it (the check is on the address connected to); no redirect
 * followed; `timeoutMs` bounds the whole exchange — lookup, connect, request, and the answer to its
 * end — so an answer that trickles a byte at a time cannot hold it open.
 */
function guardedExchange(u: URL, x: Exchange): Promise<FetchedBytes> {
  if (privateLiteral(u, x.allowPrivate)) return Promise.reject(Object.assign(new Error('private address'), { code: 'EPRIVATE' }));
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // From the start, whatever trickles in meanwhile.
    const deadline = setTimeout(() => settle(timedOut()), x.timeoutMs);
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
    const req = send(u, { method: x.method, headers: x.headers, lookup: guardedLookup(x.allowPrivate), timeout: x.timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let read = 0;
      const done = () =>
        settle(undefined, { status, bytes: Buffer.concat(chunks), ...(res.headers['content-type'] ? { contentType: res.headers['content-type'] } : {}) });
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > x.maxBytes) {
          if (x.overflow === 'fail') settle(Object.assign(new Error(`larger than ${x.maxBytes} bytes`), { code: 'ETOOLARGE' }));
          else done();
          res.destroy();
          return;
        }
        if (x.keepBody) chunks.push(chunk);
      });
      res.on('end', done);
      res.on('error', (err) => settle(err));
      res.on('close', () => settle(Object.assign(new Error('the answer was cut short'), { code: 'ECONNRESET' })));
    });
    req.on('timeout', () => settle(timedOut()));
    req.on('error', (err) => settle(err));
    req.end(x.body);
  });
}

/**
 * GETs `url` for its body (an attachment to upload to a vendor), under the same guard as postJson:
 * http(s) only, and at most `maxBytes` read (past it: an error with code ETOOLARGE).
 */
export function getBytes(url: string, opts: { allowPrivate: boolean; timeoutMs: number; maxBytes: number }): Promise<FetchedBytes> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return Promise.reject(Object.assign(new Error('not an http(s) URL'), { code: 'EPROTO' }));
  return guardedExchange(u, { method: 'GET', headers: { 'user-agent': 'qunfa-media/1' }, ...opts, overflow: 'fail', keepBody: true });
}

export interface PostResult {
  status: number;
}

/** POSTs `body` to a caller's callbackUrl (guarded as above); the answer's body is drained, up to MAX_ANSWER_BYTES. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: { allowPrivate: boolean; timeoutMs: number },
): Promise<PostResult> {
  const { status } = await guardedExchange(new URL(url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'qunfa-callbacks/1', ...headers },
    body,
    ...opts,
    maxBytes: MAX_ANSWER_BYTES,
    overflow: 'stop',
    keepBody: false,
  });
  return { status };
}
