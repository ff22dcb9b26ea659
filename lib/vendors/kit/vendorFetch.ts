/**
 * The one HTTP client vendors are spoken through. It classifies failures for at-most-once
 * delivery: an error before the connection was made means the vendor never saw the request
 * (retry is safe); anything after it may have been received (ambiguous).
 *
 * Redirects are never followed (a 307 would re-post a token request's client_secret, or a task,
 * to wherever it points): any 3xx is a refusal (`http_3xx`) naming only the Location's host.
 *
 * A body is text (JSON, as the caller encoded it) or a FormData (a multipart upload, e.g. WeCom's
 * media/upload): fetch writes the multipart Content-Type with its boundary itself, so a caller's
 * own content-type header is dropped for a FormData body. Either goes through the same guarantees.
 */
import { parseExact } from './exactJson';
import { VendorCallError } from '../adapter';

/** Codes that mean no byte of the request reached the vendor. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface HttpResult {
  status: number;
  json: unknown;
  headers: Headers;
}

export async function vendorFetch(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string | FormData },
  timeoutMs: number,
): Promise<HttpResult> {
  let res: Response;
  const headers =
    init.body instanceof FormData && init.headers
      ? Object.fromEntries(Object.entries(init.headers).filter(([k]) => k.toLowerCase() !== 'content-type'))
      : init.headers;
  try {
    res = await fetch(url, { ...init, ...(headers ? { headers } : {}), redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const code = errorCode(err);
    if (NOT_CONNECTED.has(code)) throw new VendorCallError('not_sent', code, `could not connect to the vendor (${code})`);
    throw new VendorCallError('ambiguous', code || 'network', `the vendor call broke off after sending (${code || 'network error'})`);
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new VendorCallError(
      'refused',
      `http_${res.status}`,
      `the vendor answered HTTP ${res.status}, a redirect to ${locationHost(res.headers, url)}; vendor redirects are not followed`,
    );
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new VendorCallError('ambiguous', errorCode(err) || 'network', 'the vendor response broke off');
  }
  if (res.status === 429) {
    throw new VendorCallError('throttled', 'http_429', 'the vendor answered 429 Too Many Requests', retryAfterMs(res.headers));
  }
  if (res.status >= 500) {
    // A 5xx may come after the vendor stored the task: never assume it did not.
    throw new VendorCallError('ambiguous', `http_${res.status}`, `the vendor answered HTTP ${res.status}`);
  }
  let json: unknown;
  try {
    json = text === '' ? {} : parseExact(text);
  } catch {
    if (res.status >= 400) throw new VendorCallError('refused', `http_${res.status}`, `the vendor answered HTTP ${res.status}`);
    throw new VendorCallError('ambiguous', 'bad_json', 'the vendor answered with something that is not JSON');
  }
  return { status: res.status, json, headers: res.headers };
}

/** Only the host of a redirect's target: its path and query may carry what is not ours to log. */
function locationHost(h: Headers, base: string): string {
  const loc = h.get('location');
  if (!loc) return 'nowhere (no Location)';
  try {
    return new URL(loc, base).host || 'an unnamed host';
  } catch {
    return 'an unreadable Location';
  }
}

function errorCode(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timeout';
  const cause = (err as { cause?: { code?: string; name?: string } })?.cause;
  return cause?.code ?? (cause?.name === 'ConnectTimeoutError' ? 'UND_ERR_CONNECT_TIMEOUT' : '');
}

function retryAfterMs(h: Headers): number | undefined {
  const v = h.get('retry-after');
  if (!v) return undefined;
  const s = Number(v);
  return Number.isFinite(s) ? s * 1000 : undefined;
}

export function withQuery(base: string, path: string, query?: Record<string, string>): string {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  // Paths in the seeds are absolute; keep any base path prefix (e.g. a proxy) in front of them.
  const prefix = new URL(base).pathname.replace(/\/$/, '');
  url.pathname = `${prefix}${path}`;
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url.toString();
}
