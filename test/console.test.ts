/**
 * The activity page's build and the function that serves it (no browser: that is
 * test/console.browser.test.ts): the bundle built as `osls package` builds it, its headers, its
 * caching, its size; the page's time helpers and dictionaries; its colours' contrast.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as esbuild from 'esbuild';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consoleHandler, type ConsoleAssets } from '../lib/api/console';
import { dictionaries } from '../console/i18n';
import { formatTime, isoToLocalInput, localInputToIso } from '../console/time';

const root = join(__dirname, '..');
import { buildConsoleAssets } from '../scripts/esbuild-plugins.cjs';

let assets: ConsoleAssets;
let serve: ReturnType<typeof consoleHandler>;
const get = async (asset?: string, headers: Record<string, string> = {}) =>
  (await serve({
    rawPath: asset ? `/console/${asset}` : '/console',
    pathParameters: asset ? { asset } : undefined,
    headers,
  } as unknown as APIGatewayProxyEventV2)) as Required<Pick<APIGatewayProxyStructuredResultV2, 'statusCode' | 'body'>> & {
    headers: Record<string, string>;
    isBase64Encoded?: boolean;
  };

describe('the console function', () => {
  beforeAll(async () => {
    ({ assets } = await buildConsoleAssets(esbuild));
    serve = consoleHandler(assets);
  });

  it('serves the page at /console naming its hashed script and stylesheet, with no inline script or style', async () => {
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = res.body;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0]![2]).toBe('');
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:/i);
    // Relative to /console, so a path prefix in front of it (a custom domain's mapping) still works.
    const refs = [...html.matchAll(/(?:src|href)="console\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(Object.keys(assets.files).sort());
    for (const name of refs) expect(name).toMatch(/^app\.[A-Za-z0-9_-]{16}\.(js|css)$/);
  });

  it('sends a strict Content-Security-Policy and the other security headers with every answer', async () => {
    for (const res of [await get(), await get(Object.keys(assets.files)[0]), await get('nope.js')]) {
      const csp = res.headers['content-security-policy'];
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('caches hashed files for ever and revalidates the page by ETag (304 when unchanged)', async () => {
    const page = await get();
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers.etag).toMatch(/^"[A-Za-z0-9_-]{16}"$/);
    const again = await get(undefined, { 'If-None-Match': page.headers.etag! });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await get(undefined, { 'if-none-match': '"other"' })).statusCode).toBe(200);
    for (const name of Object.keys(assets.files)) {
      const res = await get(name);
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-type']).toMatch(name.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    }
  });

  it('gzips for a browser that accepts it (its own ETag), and answers 404 for any other name', async () => {
    const [name] = Object.keys(assets.files).filter((n) => n.endsWith('.js'));
    const plain = await get(name);
    const zipped = await get(name, { 'accept-encoding': 'gzip, deflate, br' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.isBase64Encoded).toBe(true);
    expect(gunzipSync(Buffer.from(zipped.body, 'base64')).toString('utf8')).toBe(plain.body);
    expect(zipped.headers.etag).not.toBe(plain.headers.etag);
    expect(zipped.headers.vary).toBe('accept-encoding');
    expect((await get(name, { 'accept-encoding': 'gzip;q=0, br' })).headers['content-encoding']).toBeUndefined();
    for (const other of ['index.html', 'app.js', '..%2Fserverless.yml', 'constructor', '__proto__']) expect((await get(other)).statusCode, other).toBe(404);
  });

  it('the whole page (HTML, JS, CSS) is at most 30 KB gzipped', () => {
    const all = [assets.index, ...Object.values(assets.files)];
    const gz = all.reduce((n, a) => n + Buffer.from(a.gzip, 'base64').length, 0);
    expect(gz).toBeLessThanOrEqual(30 * 1024);
    // Nothing from the server's code is in it: lib/ is imported for types only.
    const js = Object.entries(assets.files).find(([n]) => n.endsWith('.js'))![1].body;
    expect(js).not.toMatch(/zod|@aws-sdk|node:/);
  });
});

describe("the page's times and words", () => {
  const tz = process.env.TZ;
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it("shows a time in the viewer's zone with the offset, and reads a datetime-local value back with it", () => {
    process.env.TZ = 'Asia/Shanghai';
    expect(formatTime('2026-12-01T02:00:00Z')).toBe('2026-12-01 10:00:00 (UTC+08:00)');
    expect(localInputToIso('2026-12-01T10:00')).toBe('2026-12-01T10:00:00+08:00');
    expect(isoToLocalInput('2026-12-01T02:00:00Z')).toBe('2026-12-01T10:00');
    process.env.TZ = 'Europe/Berlin';
    expect(formatTime('2026-07-01T10:00:00Z')).toBe('2026-07-01 12:00:00 (UTC+02:00)'); // summer time
    expect(formatTime('2026-12-01T10:00:00Z')).toBe('2026-12-01 11:00:00 (UTC+01:00)');
    expect(localInputToIso('2026-12-01T10:00')).toBe('2026-12-01T10:00:00+01:00');
    process.env.TZ = 'America/St_Johns';
    expect(formatTime('2026-12-01T10:00:00Z')).toBe('2026-12-01 06:30:00 (UTC-03:30)');
    expect(localInputToIso('')).toBeNull();
    expect(formatTime('not a time')).toBe('not a time');
  });

  it('has every label in both languages, each with the same placeholders', () => {
    const { en, 'zh-CN': zh } = dictionaries;
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    const holes = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(holes(zh[key]), key).toEqual(holes(en[key]));
      expect(zh[key].trim(), key).not.toBe('');
    }
  });
});

describe("the page's colours", () => {
  const css = readFileSync(join(root, 'console/app.css'), 'utf8');
  const vars = Object.fromEntries([...css.matchAll(/(--[\w-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1], m[2]]));
  const value = (v: string) => (v.startsWith('var(') ? vars[v.slice(4, -1)] : v);
  const luminance = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a: string, b: string) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p) as [number, number];
    return (x + 0.05) / (y + 0.05);
  };

  it('every rule that sets both a text colour and a background has a contrast of at least 4.5:1, and so do the page-wide pairs', () => {
    const pairs: [string, string, string][] = [];
    for (const [, selector, body] of css.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
      const color = /(?:^|[;\s])color:\s*([^;]+);/.exec(body!)?.[1]?.trim();
      const background = /background:\s*([^;]+);/.exec(body!)?.[1]?.trim();
      if (color && background) pairs.push([selector!.trim(), value(color)!, value(background)!]);
    }
    expect(pairs.length).toBeGreaterThanOrEqual(8);
    for (const [fg, bg] of [
      ['--text', '--bg'],
      ['--text', '--card'],
      ['--muted', '--bg'],
      ['--muted', '--card'],
      ['--link', '--card'],
      ['--link', '--bg'],
      ['--danger', '--card'],
    ])
      pairs.push([`${fg} on ${bg}`, vars[fg!]!, vars[bg!]!]);
    for (const [what, fg, bg] of pairs) {
      expect(fg, what).toMatch(/^#[0-9a-f]{6}$/i);
      expect(bg, what).toMatch(/^#[0-9a-f]{6}$/i);
      expect(contrast(fg, bg), `${what}: ${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    }
  });
});
