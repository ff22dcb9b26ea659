/**
 * Tenant directory: who a Bearer key belongs to, and that tenant's vendor credentials.
 * Keys are stored only as SHA-256 hashes and compared in constant time. Locally the directory is
 * a JSON file (re-read when it changes, so `npm run add-tenant` needs no restart); in AWS it is
 * one Secrets Manager secret holding the same JSON, cached across invocations.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import * as z from 'zod/mini';
import { config } from './config';
import { sha256 } from './json';
import { unauthorized } from './errors';

export const TenantRecord = z.object({
  apiKeySha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  webhookSecret: z.string().check(z.minLength(16)),
  vendors: z._default(z.record(z.string(), z.record(z.string(), z.string())), {}),
  /** Per-vendor overrides of the flow-control defaults (SPEC §3), e.g. a quota the vendor raised. */
  limits: z.optional(z.record(z.string(), z.strictObject({
    inFlight: z.optional(z.int().check(z.positive(), z.maximum(1000))),
    perMinute: z.optional(z.int().check(z.positive())),
    perHour: z.optional(z.int().check(z.positive())),
  }))),
});
export type TenantRecord = z.infer<typeof TenantRecord>;
export const TenantsFile = z.record(z.string().check(z.regex(/^[a-zA-Z0-9_-]{1,64}$/)), TenantRecord);
export type TenantsFile = z.infer<typeof TenantsFile>;

export interface Tenant extends TenantRecord { id: string }

export interface TenantDirectory {
  all(): Promise<TenantsFile>;
}


export class FileTenantDirectory implements TenantDirectory {
  private cache?: { mtimeMs: number; tenants: TenantsFile };
  constructor(private readonly path: string) {}
  async all(): Promise<TenantsFile> {
    const { mtimeMs } = await stat(this.path);
    if (this.cache?.mtimeMs !== mtimeMs) {
      this.cache = { mtimeMs, tenants: TenantsFile.parse(JSON.parse(await readFile(this.path, 'utf8'))) };
    }
    return this.cache.tenants;
  }
}

export class SecretsManagerTenantDirectory implements TenantDirectory {
  private cache?: { at: number; tenants: TenantsFile };
  constructor(private readonly secretId: string, private readonly ttlMs = 300_000) {}
  async all(): Promise<TenantsFile> {
    if (!this.cache || Date.now() - this.cache.at > this.ttlMs) {
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
      const endpoint = config().SECRETS_ENDPOINT;
      const client = new SecretsManagerClient(endpoint ? { endpoint } : {});
      const out = await client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
      this.cache = { at: Date.now(), tenants: TenantsFile.parse(JSON.parse(out.SecretString ?? '{}')) };
    }
    return this.cache.tenants;
  }
}

let directory: TenantDirectory | undefined;
export function tenantDirectory(): TenantDirectory {
  if (!directory) {
    const c = config();
    // A tenants file, when named, wins: the local stack names one; AWS deployments do not.
    directory = c.QUNFA_TENANTS_FILE || !c.TENANTS_SECRET_ID
      ? new FileTenantDirectory(c.QUNFA_TENANTS_FILE ?? '.data/tenants.json')
      : new SecretsManagerTenantDirectory(c.TENANTS_SECRET_ID);
  }
  return directory;
}
export function setTenantDirectory(d: TenantDirectory | undefined): void {
  directory = d;
}

/** Every tenant is compared (no early exit), each comparison constant-time. */
export async function authenticate(dir: TenantDirectory, authorization: string | undefined): Promise<Tenant> {
  const match = /^Bearer ([\x21-\x7e]{16,512})$/.exec(authorization ?? '');
  if (!match) throw unauthorized();
  const presented = Buffer.from(sha256(match[1] as string), 'hex');
  let found: Tenant | undefined;
  for (const [id, record] of Object.entries(await dir.all())) {
    if (timingSafeEqual(presented, Buffer.from(record.apiKeySha256, 'hex')) && !found) found = { id, ...record };
  }
  if (!found) throw unauthorized();
  return found;
}

export async function findTenant(dir: TenantDirectory, tenantId: string): Promise<Tenant | undefined> {
  const all = await dir.all();
  const record = Object.hasOwn(all, tenantId) ? all[tenantId] : undefined;
  return record ? { id: tenantId, ...record } : undefined;
}
