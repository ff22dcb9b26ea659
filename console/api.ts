/**
 * The public API, as any caller uses it: `Authorization: Bearer <key>`, JSON in and out, errors as
 * problem+json. The key lives in sessionStorage only (this tab; gone when it closes or on sign-out),
 * is sent only in that header, and never goes into a URL.
 */
import type { Problem } from '../lib/core/task';

const KEY = 'qunfa.console.apiKey';

export const session = {
  key(): string | null {
    try {
      return sessionStorage.getItem(KEY);
    } catch {
      return null;
    }
  },
  set(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  clear(): void {
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // nothing stored
    }
  },
};

/** A failed call: `status` 0 when the API could not be reached; `problem` as the API gave it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    readonly retryAfter: string | null,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

/** The API's root: the page is served at `<root>/console`, so a stage or a custom-domain path prefix is kept. */
export const apiRoot = () => location.pathname.replace(/\/console\/?$/, '');

const isProblem = (x: unknown): x is Problem => typeof x === 'object' && x !== null && typeof (x as Problem).title === 'string';

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, opts: { body?: unknown; key?: string } = {}): Promise<T> {
  const key = opts.key ?? session.key();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(apiRoot() + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, null, null);
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: a proxy's page; the status says enough
  }
  if (!res.ok) throw new ApiError(res.status, isProblem(data) ? data : null, res.headers.get('retry-after'));
  return data as T;
}
