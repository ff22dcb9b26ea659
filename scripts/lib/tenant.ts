/**
 * A new tenant record: only the API key's hash is kept; vendor credentials point at the sandboxes,
 * one per registered vendor (each sandbox's demoCredentials(), in registry order).
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../lib/core/canonicalJson';
import { demoSecret } from '../../lib/vendors/kit/sandboxServer';
import type { TenantRecord } from '../../lib/infra/tenantDirectory';
import { vendorSandboxes } from './sandboxes';

export async function newTenant(apiKey: string): Promise<TenantRecord> {
  const vendors = Object.fromEntries((await vendorSandboxes()).map(({ vendor, sandbox }) => [vendor, sandbox.demoCredentials()]));
  return { apiKeySha256: sha256(apiKey), webhookSecret: demoSecret(32), vendors };
}

export const newApiKey = () => `qf_${randomBytes(24).toString('base64url')}`;
