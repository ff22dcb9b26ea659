/**
 * GET /console and GET /console/{asset}: the activity page (console/), built at package time and
 * embedded in the function (scripts/esbuild-plugins.cjs). Public: the page holds no data, and it
 * reads everything through the public API with the key the person types. It is served with a
 * Content-Security-Policy that lets it load only its own script and stylesheet and talk only to
 * its own origin; the hashed files are cached for ever, the page itself revalidated by ETag.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export interface ConsoleAsset {
  type: string;
  body: string;
  gzip: string;
  etag: string;
  immutable: boolean;
}

export interface ConsoleAssets {
  index: ConsoleAsset;
  files: Record<string, ConsoleAsset>;
}

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  // The page's icon is an empty data: URL (no request for /favicon.ico).
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  'strict-transport-security': 'max-age=31536000',
};

/** If-None-Match names this representation's ETag (weak or strong, in a list, or `*`). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === etag;
  });
}

/** Accept-Encoding lists gzip with a non-zero weight. */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((part) => {
    const [coding, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return coding === 'gzip' && (q === undefined || Number(q.slice(2)) > 0);
  });
}

export function consoleHandler(assets: ConsoleAssets) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const name = event.pathParameters?.asset;
    const file = name === undefined ? assets.index : Object.hasOwn(assets.files, name) ? assets.files[name] : undefined;
    if (!file) {
      return { statusCode: 404, headers: { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, body: 'not found' };
    }
    const headerOf = (n: string) => Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === n)?.[1];
    const gzip = acceptsGzip(headerOf('accept-encoding'));
    // Each encoding is its own representation, with its own ETag.
    const etag = gzip ? `${file.etag.slice(0, -1)}-gz"` : file.etag;
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'content-type': file.type,
      etag,
      vary: 'accept-encoding',
      'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (matches(headerOf('if-none-match'), etag)) return { statusCode: 304, headers, body: '' };
    return gzip
      ? { statusCode: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body: file.gzip, isBase64Encoded: true }
      : { statusCode: 200, headers, body: file.body };
  };
}
