/**
 * Credentials wiring, apart from vendor I/O: the adapter, the tenant's credentials for it (checked
 * against the adapter's own schema), where the vendor is and its own settings. Used by dispatch,
 * poll and cancel.
 */
import type { RateLimits } from '../core/rateLimits';
import { vendorCredentials, vendorLimits, type TenantDirectory } from '../infra/tenantDirectory';
import { adapterFor, baseUrlVariable, VENDOR_DISABLED, type VendorSettingsMap } from '../vendors/registry';
import { VendorCallError, type VendorAdapter, type VendorContext } from '../vendors/adapter';

export interface Wired {
  adapter: VendorAdapter<unknown>;
  ctx: VendorContext<unknown>;
  limits: RateLimits;
}

/** The adapter's published limits with the tenant's overrides (SPEC §3 `limits`) on top. */
export function limitsFor(adapter: VendorAdapter<unknown>, own: Partial<RateLimits> | undefined): RateLimits {
  return { ...adapter.capabilities.rateLimits, ...own };
}

/** `vendors`: every vendor's place and settings (the composition root loads them once). */
export async function vendorContext(tenants: TenantDirectory, tenantId: string, vendor: string, vendors: VendorSettingsMap, timeoutMs: number): Promise<Wired> {
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
  const ctx: VendorContext<unknown> = { tenantId, credentials: creds.data, baseUrl: where.baseUrl, timeoutMs, settings: where.settings };
  return { adapter, ctx, limits: limitsFor(adapter, await vendorLimits(tenants, tenantId, vendor)) };
}
