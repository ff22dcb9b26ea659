/**
 * Tenant directory, in two parts that are read by different functions:
 *
 * - keys: who a Bearer key belongs to (SHA-256 hashes only, compared in constant time), the
 *   tenant's webhookSecret (signs callbacks to the caller) and the *names* of the vendors it has
 *   configured. Read by the API functions and deliverCallback.
 * - credentials: each tenant's vendor credentials. Read only by the functions that call vendors or
 *   verify their callbacks (dispatchStep, pollStatus, vendorWebhook, deleteTask).
 *
 * Locally both come from one JSON file (SPEC §3; re-read when it changes, so `npm run add-tenant`
 * needs no restart and a removed key stops working at once). In AWS they are two Secrets Manager
 * secrets, so IAM can give each function only the one it needs (`npm run split-tenants` makes
 * them from the file), read through the AWS Parameters and Secrets Lambda Extension: a layer on the
 * functions that read one (serverless.yml), answering on localhost with the function's own role, so
 * no Secrets Manager client is bundled. Keys are cached here TENANT_KEYS_CACHE_SECONDS (default 30,
 * at most 60), the only cache (the extension's own is off: PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED,
 * serverless.yml): how long a revoked key may still be accepted by a warm function.
 */
import { readFile, stat } from 'node:fs/promises';
import * as z from 'zod/mini';
import { answerError, fetchFailure } from './awsErrors';
import type { Settings } from './settings';

const TenantId = z.string().check(z.regex(/^[a-zA-Z0-9_-]{1,64}$/));
const ApiKeySha256 = z.string().check(z.regex(/^[0-9a-f]{64}$/));
const WebhookSecret = z.string().check(z.minLength(16));
const VendorCredentialSets = z.record(z.string(), z.record(z.string(), z.string()));
/** Per-vendor overrides of the flow-control defaults (SPEC §3 `limits`), e.g. a quota the vendor raised. */
const VendorLimits = z.record(
  z.string(),
  z.strictObject({
    inFlight: z.optional(z.int().check(z.positive(), z.maximum(1000))),
    perMinute: z.optional(z.int().check(z.positive())),
    perHour: z.optional(z.int().check(z.positive())),
  }),
);
export type VendorLimits = z.infer<typeof VendorLimits>;

/** One tenant in the local tenants file (SPEC §3): keys and credentials together. */
export const TenantRecord = z.object({
  apiKeySha256: ApiKeySha256,
  webhookSecret: WebhookSecret,
  vendors: z._default(VendorCredentialSets, {}),
  limits: z.optional(VendorLimits),
});
export type TenantRecord = z.infer<typeof TenantRecord>;
export const TenantsFile = z.record(TenantId, TenantRecord);
export type TenantsFile = z.infer<typeof TenantsFile>;

/** The keys part: no vendor credential, only which vendors are configured. */
export const TenantKeys = z.object({
  apiKeySha256: ApiKeySha256,
  webhookSecret: WebhookSecret,
  vendors: z._default(z.array(z.string()), []),
});
export type TenantKeys = z.infer<typeof TenantKeys>;
export const TenantKeysFile = z.record(TenantId, TenantKeys);
export type TenantKeysFile = z.infer<typeof TenantKeysFile>;

/** The credentials part: what only vendor-calling functions read (with the tenant's flow-control limits, which they apply). */
export const TenantCredentials = z.object({ vendors: z._default(VendorCredentialSets, {}), limits: z.optional(VendorLimits) });
export type TenantCredentials = z.infer<typeof TenantCredentials>;
export const TenantCredentialsFile = z.record(TenantId, TenantCredentials);
export type TenantCredentialsFile = z.infer<typeof TenantCredentialsFile>;

/** An authenticated tenant, as the API sees it: no key hash, no vendor credential. */
export interface Tenant {
  id: string;
  webhookSecret: string;
  vendors: readonly string[];
}

export interface TenantDirectory {
  keys(): Promise<TenantKeysFile>;
  credentials(): Promise<TenantCredentialsFile>;
}

/** The one-file form split into its two parts; a vendor counts as configured when it has any credential field. */
export function splitTenants(file: TenantsFile): { keys: TenantKeysFile; credentials: TenantCredentialsFile } {
  const keys: TenantKeysFile = {};
  const credentials: TenantCredentialsFile = {};
  for (const [id, t] of Object.entries(file)) {
    const configured = Object.entries(t.vendors).filter(([, c]) => Object.keys(c).length > 0);
    keys[id] = { apiKeySha256: t.apiKeySha256, webhookSecret: t.webhookSecret, vendors: configured.map(([v]) => v) };
    credentials[id] = { vendors: Object.fromEntries(configured), ...(t.limits ? { limits: t.limits } : {}) };
  }
  return { keys, credentials };
}

/** A directory over tenants already in memory (the bench; tests). */
export function memoryTenantDirectory(file: TenantsFile): TenantDirectory {
  const parts = splitTenants(TenantsFile.parse(file));
  return { keys: async () => parts.keys, credentials: async () => parts.credentials };
}

export class FileTenantDirectory implements TenantDirectory {
  private cache?: { mtimeMs: number; parts: ReturnType<typeof splitTenants> };
  constructor(private readonly path: string) {}
  private async parts() {
    const { mtimeMs } = await stat(this.path);
    if (this.cache?.mtimeMs !== mtimeMs) {
      this.cache = { mtimeMs, parts: splitTenants(TenantsFile.parse(JSON.parse(await readFile(this.path, 'utf8')))) };
    }
    return this.cache.parts;
  }
  async keys() {
    return (await this.parts()).keys;
  }
  async credentials() {
    return (await this.parts()).credentials;
  }
}

/** Where the extension answers, and what it requires of its callers (the function's AWS_SESSION_TOKEN). */
export interface SecretsExtension {
  url: string;
  token: string | undefined;
}

/** How long one read may take, the extension's own call to Secrets Manager included. */
const EXTENSION_TIMEOUT_MS = 5_000;

/**
 * The two secrets through the Parameters and Secrets extension's local HTTP endpoint
 * (GET /secretsmanager/get?secretId=…, answered with GetSecretValue's JSON).
 */
export class SecretsExtensionTenantDirectory implements TenantDirectory {
  private readonly cache = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly keysSecretId: string,
    private readonly credentialsSecretId: string | undefined,
    private readonly ttl: { keysMs: number; credentialsMs: number },
    private readonly extension: SecretsExtension,
  ) {}

  keys(): Promise<TenantKeysFile> {
    return this.cached('keys', this.keysSecretId, this.ttl.keysMs, (v) => TenantKeysFile.parse(v));
  }

  async credentials(): Promise<TenantCredentialsFile> {
    if (!this.credentialsSecretId) throw new Error('VENDOR_CREDENTIALS_SECRET_ID is not set');
    return this.cached('credentials', this.credentialsSecretId, this.ttl.credentialsMs, (v) => TenantCredentialsFile.parse(v));
  }

  /** One read in flight per secret however many requests arrive at once; a failed read is not kept. */
  private cached<T>(part: string, secretId: string, ttlMs: number, parse: (v: unknown) => T): Promise<T> {
    const hit = this.cache.get(part);
    if (hit && Date.now() - hit.at <= ttlMs) return hit.value as Promise<T>;
    const entry = { at: Date.now(), value: this.read(secretId).then((s) => parse(json(s, `secret ${secretId} is not JSON`))) };
    this.cache.set(part, entry);
    entry.value.catch(() => {
      if (this.cache.get(part) === entry) this.cache.delete(part);
    });
    return entry.value;
  }

  /** The secret's string. Errors name the secret and what went wrong, never the token or the secret's value. */
  private async read(secretId: string): Promise<string> {
    const { url, token } = this.extension;
    let res: Response;
    try {
      res = await fetch(`${url.replace(/\/+$/, '')}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`, {
        headers: token ? { 'X-Aws-Parameters-Secrets-Token': token } : {},
        signal: AbortSignal.timeout(EXTENSION_TIMEOUT_MS),
      });
    } catch (err) {
      throw new Error(`secret ${secretId}: the Parameters and Secrets extension at ${url} could not be reached (${fetchFailure(err, EXTENSION_TIMEOUT_MS)})`);
    }
    if (res.status !== 200) {
      // The error's type only (an error answer holds no secret, but nothing else of it is kept).
      const inBody = await errorType(res); // read either way, so the connection is released
      const type = res.headers.get('x-amzn-errortype') ?? inBody;
      const err = answerError(`secret ${secretId}: the Parameters and Secrets extension answered`, res.status, type);
      if (!token) err.message += ' (AWS_SESSION_TOKEN is not set)';
      throw err;
    }
    const answer = json(await res.text(), `secret ${secretId}: the extension's answer is not JSON`) as { SecretString?: unknown };
    return typeof answer.SecretString === 'string' ? answer.SecretString : '{}';
  }
}

/** The `__type` of an AWS JSON error answer, if it has one (the body is read and dropped). */
async function errorType(res: Response): Promise<string | undefined> {
  const text = await res.text().catch(() => '');
  try {
    const t = (JSON.parse(text) as { __type?: unknown }).__type;
    return typeof t === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}

/** JSON.parse whose error says `what` (a SyntaxError would quote the text: part of a secret). */
function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(what);
  }
}

/** A tenants file when one is named (the local stack names one; AWS deployments do not), else the two secrets through the extension. */
export function createTenantDirectory(
  c: Pick<
    Settings,
    | 'QUNFA_TENANTS_FILE'
    | 'TENANT_KEYS_SECRET_ID'
    | 'VENDOR_CREDENTIALS_SECRET_ID'
    | 'TENANT_KEYS_CACHE_SECONDS'
    | 'VENDOR_CREDENTIALS_CACHE_SECONDS'
    | 'SECRETS_EXTENSION_URL'
    | 'AWS_SESSION_TOKEN'
  >,
): TenantDirectory {
  return c.QUNFA_TENANTS_FILE || !c.TENANT_KEYS_SECRET_ID
    ? new FileTenantDirectory(c.QUNFA_TENANTS_FILE ?? '.data/tenants.json')
    : new SecretsExtensionTenantDirectory(
        c.TENANT_KEYS_SECRET_ID,
        c.VENDOR_CREDENTIALS_SECRET_ID,
        {
          keysMs: c.TENANT_KEYS_CACHE_SECONDS * 1000,
          credentialsMs: c.VENDOR_CREDENTIALS_CACHE_SECONDS * 1000,
        },
        { url: c.SECRETS_EXTENSION_URL, token: c.AWS_SESSION_TOKEN },
      );
}

/** A tenant by id, from the keys part (no vendor credential). */
export async function findTenant(dir: TenantDirectory, tenantId: string): Promise<Tenant | undefined> {
  const all = await dir.keys();
  const record = Object.hasOwn(all, tenantId) ? all[tenantId] : undefined;
  return record ? { id: tenantId, webhookSecret: record.webhookSecret, vendors: record.vendors } : undefined;
}

/** One tenant's credentials for one vendor, from the credentials part; undefined if none. */
export async function vendorCredentials(dir: TenantDirectory, tenantId: string, vendor: string): Promise<Record<string, string> | undefined> {
  const all = await dir.credentials();
  const record = Object.hasOwn(all, tenantId) ? all[tenantId] : undefined;
  return record && Object.hasOwn(record.vendors, vendor) ? record.vendors[vendor] : undefined;
}

/** One tenant's flow-control overrides for one vendor (SPEC §3 `limits`), from the credentials part. */
export async function vendorLimits(dir: TenantDirectory, tenantId: string, vendor: string): Promise<VendorLimits[string] | undefined> {
  const all = await dir.credentials();
  const limits = Object.hasOwn(all, tenantId) ? all[tenantId]?.limits : undefined;
  return limits && Object.hasOwn(limits, vendor) ? limits[vendor] : undefined;
}
