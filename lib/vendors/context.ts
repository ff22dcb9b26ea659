/**
 * Credentials wiring, apart from vendor I/O: the adapter, the tenant's credentials for it (checked
 * against the adapter's own schema) and where the vendor is. Used by dispatch and by cancel.
 */
import { config } from '../config';
import type { Vendor } from '../schema';
import type { RateLimits } from '../limiter';
import { findTenant, type Tenant, type TenantDirectory } from '../tenants';
import { adapterFor, baseUrlFor } from './registry';
import { VendorCallError, type VendorAdapter, type VendorContext } from './types';

export interface Wired { adapter: VendorAdapter<unknown>; ctx: VendorContext<unknown>; limits: RateLimits }

/** The adapter's published limits with the tenant's overrides (SPEC §3 `limits`) on top. */
export function limitsFor(adapter: VendorAdapter<unknown>, tenant: Pick<Tenant, 'limits'> | undefined): RateLimits {
  const own = tenant?.limits && Object.hasOwn(tenant.limits, adapter.id) ? tenant.limits[adapter.id] : undefined;
  return { ...adapter.capabilities.rateLimits, ...own };
}

export async function vendorContext(tenants: TenantDirectory, tenantId: string, vendor: Vendor): Promise<Wired> {
  const adapter = adapterFor(vendor);
  const tenant = await findTenant(tenants, tenantId);
  const creds = adapter && tenant && Object.hasOwn(tenant.vendors, vendor) ? adapter.credentials.safeParse(tenant.vendors[vendor]) : undefined;
  if (!adapter || !creds?.success) {
    throw new VendorCallError('refused', 'qunfa.no_credentials', `the tenant has no usable ${vendor} credentials`);
  }
  const c = config();
  return { adapter, ctx: { tenantId, credentials: creds.data, baseUrl: baseUrlFor(vendor), timeoutMs: c.VENDOR_TIMEOUT_MS, config: c }, limits: limitsFor(adapter, tenant) };
}
