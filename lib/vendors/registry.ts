/**
 * The one list of vendor adapters, and where each one's endpoint is: the environment variable;
 * locally, if unset, that vendor's sandbox. In AWS mode config() has already refused an unset or
 * non-https endpoint at cold start: there is no fallback to the loopback sandbox.
 */
import { config, VENDOR_DISABLED } from '../infra/settings';
import { publishedLimits } from './batches';
import { tanmarketAdapter } from './tanmarket/adapter';
import { VendorCallError, type VendorAdapter } from './adapter';
import { weibanAdapter } from './weiban/adapter';
import { wshotoAdapter } from './wshoto/adapter';
import { youmiAdapter } from './youmi/adapter';

export const ADAPTERS: Record<string, VendorAdapter<any>> = {
  weiban: weibanAdapter,
  youmi: youmiAdapter,
  tanmarket: tanmarketAdapter,
  wshoto: wshotoAdapter,
};

/** The ids tasks may name in `vendor`, in registry order. */
export function vendorIds(): string[] {
  return Object.values(ADAPTERS).map((a) => a.id);
}

/** What GET /v1/vendors publishes: each adapter's capability matrix. */
export function vendorCatalogue() {
  return Object.values(ADAPTERS).map((a) => {
    // `batches` shapes what create accepts (its refusals say so); the published matrix is as it was.
    const { batches: _notPublished, ...capabilities } = a.capabilities;
    return { id: a.id, name: a.displayName, productionBaseUrl: a.productionBaseUrl, capabilities: { ...capabilities, limits: publishedLimits(a.capabilities) } };
  });
}

/** Local sandbox ports, one per vendor (see lib/vendors/<vendor>/sandbox.ts). */
export const SANDBOX_PORTS: Record<string, number> = { weiban: 4601, youmi: 4602, tanmarket: 4603, wshoto: 4604 };

export function adapterFor(vendor: string): VendorAdapter<any> | undefined {
  return Object.hasOwn(ADAPTERS, vendor) ? ADAPTERS[vendor] : undefined;
}

export function baseUrlFor(vendor: string): string {
  const c = config();
  const fromEnv = ({ weiban: c.WEIBAN_BASE_URL, youmi: c.YOUMI_BASE_URL, tanmarket: c.TANMARKET_BASE_URL, wshoto: c.WSHOTO_BASE_URL } as Record<string, string | undefined>)[vendor];
  const name = `${vendor.toUpperCase()}_BASE_URL`;
  if (fromEnv === VENDOR_DISABLED) throw new VendorCallError('refused', 'qunfa.vendor_disabled', `${vendor} is not used by this deployment (${name}=${VENDOR_DISABLED})`);
  if (fromEnv !== undefined) return fromEnv;
  if (c.QUNFA_MODE === 'local') return `http://127.0.0.1:${SANDBOX_PORTS[vendor]}`;
  // config() refuses this at cold start; kept so no path can ever fall back to loopback in AWS.
  throw new Error(`${name} is not set`);
}
