/**
 * Vendor access tokens, shared by the adapters that need them: one in-flight fetch per key
 * (concurrent calls share it), cached until shortly before it expires, dropped on failure.
 *
 * A token belongs to one tenant and one set of credentials: the key is the qunfa tenant id and a
 * SHA-256 of the endpoint and *every* credential field, so a tenant configured with another's
 * corp id and a wrong secret never gets the other's token, and a rotated secret takes effect at
 * the next call. Every token has a finite life: at most MAX_TOKEN_LIFE_MS, whatever the vendor says.
 */
import { canonicalJson, sha256 } from '../../core/canonicalJson';
import { vendorFetch, type HttpResult } from './vendorFetch';
import { VendorCallError } from '../adapter';

export interface Token {
  token: string;
  expiresAt: number;
}

/** No token outlives this (WeCom's 7,200 s less a margin), even one the vendor gives no expiry. */
export const MAX_TOKEN_LIFE_MS = 7200_000 - 300_000;

/** The cache key: the tenant in clear (for eviction), the endpoint and credentials only as a hash. */
export function tokenKey(tenantId: string, endpoint: string, credentials: unknown): string {
  return `${tenantId}|${sha256(canonicalJson({ endpoint, credentials }))}`;
}

export class TokenCache {
  private readonly entries = new Map<string, Promise<Token>>();

  /** A valid token for `key` (see tokenKey); `refresh` forces a new one (after the vendor refused the old). */
  async get(key: string, fetchToken: () => Promise<Token>, refresh = false): Promise<string> {
    let entry = this.entries.get(key);
    if (entry && !refresh) {
      const cached = await entry.catch(() => undefined);
      if (!cached || cached.expiresAt <= Date.now()) entry = undefined;
    }
    if (!entry || refresh) {
      // A new token for this tenant replaces any it had under other credentials (rotated, edited).
      const tenant = key.slice(0, key.indexOf('|') + 1);
      for (const k of this.entries.keys()) if (k !== key && k.startsWith(tenant)) this.entries.delete(k);
      const issuedAt = Date.now();
      entry = fetchToken().then((t) => ({ token: t.token, expiresAt: Math.min(t.expiresAt, issuedAt + MAX_TOKEN_LIFE_MS) }));
      this.entries.set(key, entry);
      const mine = entry;
      entry.catch(() => {
        if (this.entries.get(key) === mine) this.entries.delete(key);
      });
    }
    return (await entry).token;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** A token request sends nothing to anyone: whatever broke mid-call, retrying it is safe. */
export async function fetchForToken(url: string, init: Parameters<typeof vendorFetch>[1], timeoutMs: number): Promise<HttpResult> {
  try {
    return await vendorFetch(url, init, timeoutMs);
  } catch (err) {
    if (err instanceof VendorCallError && err.kind === 'ambiguous') throw new VendorCallError('not_sent', err.code, err.message);
    throw err;
  }
}
