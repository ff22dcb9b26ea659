/**
 * Credentials wiring, apart from vendor I/O: the adapter, the tenant's credentials for it (checked
 * against the adapter's own schema) and where the vendor is. Used by dispatch and by cancel.
 */
import { config } from '../infra/settings';
import type { RateLimits } from '../infra/flowLimiter';
import { vendorCredentials, vendorLimits, type TenantDirectory } from '../infra/tenantDirectory';
import { adapterFor, baseUrlFor } from './registry';
import { VendorCallError, type VendorAdapter, type VendorContext } from './adapter';

export interface Wired { adapter: VendorAdapter<unknown>; ctx: VendorContext<unknown>; limits: RateLimits }

/** The adapter's published limits with the tenant's overrides (SPEC §3 `limits`) on top. */
export function limitsFor(adapter: VendorAdapter<unknown>, own: Partial<RateLimits> | undefined): RateLimits {
  return { ...adapter.capabilities.rateLimits, ...own };
}

export async function vendorContext(tenants: TenantDirectory, tenantId: string, vendor: string): Promise<Wired> {
  const adapter = adapterFor(vendor);
  const raw = adapter ? await vendorCredentials(tenants, tenantId, vendor) : undefined;
  const creds = adapter && raw ? adapter.credentials.safeParse(raw) : undefined;
  if (!adapter || !creds?.success) {
    throw new VendorCallError('refused', 'qunfa.no_credentials', `the tenant has no usable ${vendor} credentials`);
  }
  const c = config();
  return { adapter, ctx: { tenantId, credentials: creds.data, baseUrl: baseUrlFor(vendor), timeoutMs: c.VENDOR_TIMEOUT_MS, config: c }, limits: limitsFor(adapter, await vendorLimits(tenants, tenantId, vendor)) };
}
