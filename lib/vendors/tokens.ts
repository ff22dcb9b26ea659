/**
 * Vendor access tokens, shared by the adapters that need them: one in-flight fetch per key
 * (concurrent calls share it), cached until shortly before it expires, dropped on failure.
 */
import { vendorFetch, type HttpResult } from './http';
import { VendorCallError } from './types';

export interface Token { token: string; expiresAt: number }

export class TokenCache {
  private readonly entries = new Map<string, Promise<Token>>();

  /** A valid token for `key`; `refresh` forces a new one (after the vendor refused the old). */
  async get(key: string, fetchToken: () => Promise<Token>, refresh = false): Promise<string> {
    let entry = this.entries.get(key);
    if (entry && !refresh) {
      const cached = await entry.catch(() => undefined);
      if (!cached || cached.expiresAt <= Date.now()) entry = undefined;
    }
    if (!entry || refresh) {
      entry = fetchToken();
      this.entries.set(key, entry);
      entry.catch(() => this.entries.delete(key));
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
