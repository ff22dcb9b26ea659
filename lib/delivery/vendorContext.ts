/**
 * Credentials wiring, apart from vendor I/O: the adapter, the tenant's credentials for it (checked
 * against the adapter's own schema), where the vendor is and its own settings. Used by dispatch,
 * poll and cancel.
 */
import type { RateLimits } from '../core/rateLimits';
import { vendorCredentials, vendorLimits, type TenantDirectory } from '../infra/tenantDirectory';
import { adapterFor, baseUrlVariable, VENDOR_DISABLED, type VendorSettingsMap } from '../vendors/registry';
import { MediaUnavailable, VendorCallError, type MediaFetcher, type VendorAdapter, type VendorContext } from '../vendors/adapter';
import { getBytes } from '../infra/guardedFetch';
import type { Settings } from '../infra/settings';

export interface Wired {
  adapter: VendorAdapter<unknown>;
  ctx: VendorContext<unknown>;
  limits: RateLimits;
}

/** The adapter's published limits with the tenant's overrides (SPEC §3 `limits`) on top. */
export function limitsFor(adapter: VendorAdapter<unknown>, own: Partial<RateLimits> | undefined): RateLimits {
  return { ...adapter.capabilities.rateLimits, ...own };
}

/**
 * Attachments fetched for upload go through the guard callbacks use (lib/infra/guardedFetch.ts):
 * no private address outside local mode, no redirect, a timeout, a size bound.
 */
export function mediaFetcher(c: Pick<Settings, 'QUNFA_MODE' | 'VENDOR_TIMEOUT_MS'>): MediaFetcher {
  return async (url, maxBytes) => {
    const where = `${new URL(url).host}${new URL(url).pathname}`;
    let got;
    try {
      got = await getBytes(url, { allowPrivate: c.QUNFA_MODE === 'local', timeoutMs: c.VENDOR_TIMEOUT_MS, maxBytes });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new MediaUnavailable(url, `could not fetch ${where}: ${e.code === 'ETOOLARGE' ? e.message : (e.code ?? e.message)}`);
    }
    if (got.status < 200 || got.status > 299) throw new MediaUnavailable(url, `${where} answered ${got.status}`);
    const last = new URL(url).pathname.split('/').pop() || 'attachment';
    let fileName = last;
    try {
      fileName = decodeURIComponent(last);
    } catch {
      // a lone % in the path: the name as written
    }
    return { bytes: got.bytes, fileName, ...(got.contentType ? { contentType: got.contentType } : {}) };
  };
}

/** `vendors`: every vendor's place and settings (the composition root loads them once). */
export async function vendorContext(
  tenants: TenantDirectory,
  tenantId: string,
  vendor: string,
  vendors: VendorSettingsMap,
  settings: Pick<Settings, 'QUNFA_MODE' | 'VENDOR_TIMEOUT_MS'>,
): Promise<Wired> {
  const timeoutMs = settings.VENDOR_TIMEOUT_MS;
  const adapter = adapterFor(vendor);
  const raw = adapter ? await vendorCredentials(tenants, tenantId, vendor) : undefined;
  const creds = adapter && raw ? adapter.credentials.safeParse(raw) : undefined;
  if (!adapter || !creds?.success) {
    throw new VendorCallError('refused', 'qunfa.no_credentials', `the tenant has no usable ${vendor} credentials`);
  }
  const where = vendors[vendor];
  // loadVendorSettings has one entry for every registered vendor; kept so no path can ever fall back to loopback.
  if (!where) throw new Error(`${baseUrlVariable(vendor)} is not set`);
  if (where.disabled) {
    throw new VendorCallError('refused', 'qunfa.vendor_disabled', `${vendor} is not used by this deployment (${baseUrlVariable(vendor)}=${VENDOR_DISABLED})`);
  }
  const ctx: VendorContext<unknown> = {
    tenantId,
    credentials: creds.data,
    baseUrl: where.baseUrl,
    timeoutMs,
    settings: where.settings,
    fetchMedia: mediaFetcher(settings),
  };
  return { adapter, ctx, limits: limitsFor(adapter, await vendorLimits(tenants, tenantId, vendor)) };
}
