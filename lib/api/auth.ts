/** The API's Bearer keys: a caller is the tenant whose key hash matches the key it presents. */
import { timingSafeEqual } from 'node:crypto';
import { sha256 } from '../core/canonicalJson';
import { unauthorized } from '../core/errors';
import type { Tenant, TenantDirectory } from '../infra/tenantDirectory';

/** Every tenant is compared (no early exit), each comparison constant-time. */
export async function authenticate(dir: TenantDirectory, authorization: string | undefined): Promise<Tenant> {
  const match = /^Bearer ([\x21-\x7e]{16,512})$/.exec(authorization ?? '');
  if (!match) throw unauthorized();
  const presented = Buffer.from(sha256(match[1] as string), 'hex');
  let found: Tenant | undefined;
  for (const [id, record] of Object.entries(await dir.keys())) {
    if (timingSafeEqual(presented, Buffer.from(record.apiKeySha256, 'hex')) && !found)
      found = { id, webhookSecret: record.webhookSecret, vendors: record.vendors };
  }
  if (!found) throw unauthorized();
  return found;
}
