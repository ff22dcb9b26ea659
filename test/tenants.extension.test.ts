/**
 * Issue 10 item 10: API-key hashes and vendor credentials live in two secrets, and a revoked key
 * stops working within TENANT_KEYS_CACHE_SECONDS (30 s; at most 60) of the function's own cache.
 * The secrets are read as in AWS, through the Parameters and Secrets extension's local endpoint:
 * here a stand-in written from its contract (test/helpers/secretsExtension.ts), with the handlers
 * called as Lambda calls them. Which role may read which secret, and which functions have the
 * extension's layer, are asserted on the deployed template (test/template.cfn.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadSettings } from '../lib/infra/settings';
import { createTenantDirectory, splitTenants } from '../lib/infra/tenantDirectory';
import { VALID } from './helpers/bodies';
import { call, inSeconds, KEY_A, KEY_B, lambdaContext, resetModules, startTestEnv, type TestEnv } from './helpers/env';
import { startSecretsExtension, type SecretsExtensionMimic } from './helpers/secretsExtension';
import { fns } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listTasks = fns.listTasks;

const KEYS_ID = 'qunfa-test-tenant-keys';
const CREDENTIALS_ID = 'qunfa-test-vendor-credentials';

describe('tenant keys and vendor credentials in two secrets, through the Parameters and Secrets extension', () => {
  let extension: SecretsExtensionMimic;
  let env: TestEnv;
  let parts: ReturnType<typeof splitTenants>;

  beforeAll(async () => {
    extension = await startSecretsExtension();
    // No tenants file: the directory is the two secrets, as in AWS.
    env = await startTestEnv({
      QUNFA_TENANTS_FILE: '',
      TENANT_KEYS_SECRET_ID: KEYS_ID,
      VENDOR_CREDENTIALS_SECRET_ID: CREDENTIALS_ID,
      SECRETS_EXTENSION_URL: extension.url,
      AWS_SESSION_TOKEN: extension.token,
    });
    parts = splitTenants(env.tenants);
    // Only the keys secret exists at first.
    extension.put(KEYS_ID, JSON.stringify(parts.keys));
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await env?.close();
    await extension?.close();
  });

  it('the keys part holds no vendor credential; the credentials part no key hash or webhook secret', () => {
    const keysText = JSON.stringify(parts.keys);
    const credentialsText = JSON.stringify(parts.credentials);
    for (const t of Object.values(env.tenants)) {
      for (const creds of Object.values(t.vendors)) for (const v of Object.values(creds)) expect(keysText).not.toContain(v);
      expect(credentialsText).not.toContain(t.apiKeySha256);
      expect(credentialsText).not.toContain(t.webhookSecret);
    }
    expect(parts.keys.a?.vendors).toEqual(['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom']);
  });

  it('create, get and list work with no vendor credentials secret at all; dispatch reads it', async () => {
    const created = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: { vendor: 'wshoto', name: 'split', sendAt: inSeconds(4), ...VALID.wshoto },
    });
    expect(created.status).toBe(201);
    expect((await call(getTask as never, { path: `/v1/tasks/${created.body.id}`, params: { taskId: created.body.id } })).status).toBe(200);
    expect((await call(listTasks as never, { path: '/v1/tasks', query: { limit: '5' } })).body.items.map((t: any) => t.id)).toContain(created.body.id);
    // A vendor the tenant has not configured is still refused at create, from the names alone.
    extension.put(KEYS_ID, JSON.stringify({ ...parts.keys, a: { ...parts.keys.a, vendors: ['youmi'] } }));
    resetModules(); // a new cold start reads the changed secret
    const refused = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: { vendor: 'wshoto', name: 'split', sendAt: inSeconds(60), ...VALID.wshoto },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([{ path: 'vendor', message: 'wshoto is not configured for this tenant' }]);
    extension.put(KEYS_ID, JSON.stringify(parts.keys));

    extension.put(CREDENTIALS_ID, JSON.stringify(parts.credentials));
    resetModules();
    const out = await (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId: created.body.id, step: 0 }, lambdaContext('dispatchStep'));
    expect(out).toMatchObject({ outcome: 'SUBMITTED' });
  });

  it('a revoked key is refused within TENANT_KEYS_CACHE_SECONDS (30 s) of the secret changing', async () => {
    resetModules();
    expect(loadSettings(process.env).TENANT_KEYS_CACHE_SECONDS).toBe(30);
    const list = (key: string) => call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' }, key });
    expect((await list(KEY_B)).status).toBe(200); // read and cached now
    const { b: _revoked, ...rest } = parts.keys;
    extension.put(KEYS_ID, JSON.stringify(rest));
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 29_000);
    expect((await list(KEY_B)).status).toBe(200); // the documented window: the cache, not longer
    vi.setSystemTime(Date.now() + 2_000);
    expect((await list(KEY_B)).status).toBe(401);
    expect((await list(KEY_A)).status).toBe(200);
  });

  it('the key cache cannot be configured past 60 s', () => {
    expect(() => loadSettings({ ...process.env, TENANT_KEYS_CACHE_SECONDS: '300' })).toThrow(/TENANT_KEYS_CACHE_SECONDS/);
    expect(loadSettings({ ...process.env, TENANT_KEYS_CACHE_SECONDS: undefined }).TENANT_KEYS_CACHE_SECONDS).toBe(30);
  });

  it("every read is a GET of one secret carrying the function's session token", async () => {
    extension.requests.length = 0;
    resetModules();
    expect((await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' } })).status).toBe(200);
    expect(extension.requests.map((r) => r.secretId)).toEqual([KEYS_ID]);
    for (const r of extension.requests) {
      expect(r.method).toBe('GET');
      expect([KEYS_ID, CREDENTIALS_ID]).toContain(r.secretId);
      expect(r.token).toBe(extension.token);
    }
  });

  it('a wrong or missing token, or a failing extension, is an error naming the secret and the status, never the token or a secret', async () => {
    const secretText = [extension.token, ...Object.values(env.tenants).flatMap((t) => [t.apiKeySha256, t.webhookSecret])];
    const keysWith = (overrides: Record<string, string | undefined>) => createTenantDirectory(loadSettings({ ...process.env, ...overrides })).keys();
    const refusal = async (p: Promise<unknown>) => {
      const err = (await p.then(
        () => undefined,
        (e: unknown) => e,
      )) as Error;
      expect(err).toBeInstanceOf(Error);
      for (const s of secretText) expect(err.message).not.toContain(s);
      return err.message;
    };

    const wrong = await refusal(keysWith({ AWS_SESSION_TOKEN: 'not-the-session-token-0123' }));
    expect(wrong).toContain(KEYS_ID);
    expect(wrong).toContain('403');
    expect(wrong).not.toContain('not-the-session-token-0123');
    // Without the token the extension refuses; the error says which variable is missing.
    expect(await refusal(keysWith({ AWS_SESSION_TOKEN: undefined }))).toMatch(new RegExp(`${KEYS_ID}.*answered \\d{3}.* \\(AWS_SESSION_TOKEN is not set\\)$`));

    extension.fail(500);
    const failed = await refusal(keysWith({}));
    expect(failed).toContain(KEYS_ID);
    expect(failed).toContain('500');
    // The extension unreachable (nothing listens there): an error too, as plain.
    const unreachable = await refusal(keysWith({ SECRETS_EXTENSION_URL: 'http://127.0.0.1:9' }));
    expect(unreachable).toContain(KEYS_ID);

    // Through the API: the caller gets a 500 without detail, and nothing logged carries the token.
    resetModules();
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    extension.fail(500);
    const res = await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' } });
    vi.restoreAllMocks();
    expect(res.status).toBe(500);
    for (const s of secretText) expect(JSON.stringify(res.body) + written.join('')).not.toContain(s);
    // A failed read is not kept: the next request reads again and is served.
    expect((await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' } })).status).toBe(200);
  });

  it('Secrets Manager throttling behind the extension is a 503 with Retry-After, as a throttled DynamoDB is', async () => {
    for (const [status, type] of [
      [429, 'ThrottlingException'],
      [400, 'com.amazonaws.secretsmanager#ThrottlingException'],
      [503, 'ServiceUnavailableException'],
    ] as const) {
      resetModules();
      extension.fail(status, 1, type);
      const res = await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' } });
      expect(res.status, `${status} ${type}`).toBe(503);
      expect(res.headers['retry-after'], `${status} ${type}`).toBe('2');
    }
    // Another refusal (the role may not read the secret) stays a 500.
    resetModules();
    extension.fail(400, 1, 'AccessDeniedException');
    expect((await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' } })).status).toBe(500);
  });

  it('the extension is on localhost at its own port unless SECRETS_EXTENSION_URL names another', () => {
    const base = { ...process.env, SECRETS_EXTENSION_URL: undefined, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: undefined };
    expect(loadSettings(base).SECRETS_EXTENSION_URL).toBe('http://localhost:2773');
    expect(loadSettings({ ...base, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2999' }).SECRETS_EXTENSION_URL).toBe('http://localhost:2999');
    expect(() => loadSettings({ ...base, SECRETS_EXTENSION_URL: 'localhost:2773' })).toThrow(/SECRETS_EXTENSION_URL/);
    // Loopback only: the session token goes with every read.
    for (const far of ['http://169.254.169.254:2773', 'https://localhost:2773', 'http://localhost.example.com:2773', 'http://10.0.0.5:2773'])
      expect(() => loadSettings({ ...base, SECRETS_EXTENSION_URL: far }), far).toThrow(/SECRETS_EXTENSION_URL/);
    expect(loadSettings({ ...base, SECRETS_EXTENSION_URL: 'http://127.0.0.1:2999' }).SECRETS_EXTENSION_URL).toBe('http://127.0.0.1:2999');
  });
});
