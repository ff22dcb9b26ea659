/**
 * Issue 10 item 10: API-key hashes and vendor credentials live in two secrets, and a revoked key
 * stops working within TENANT_KEYS_CACHE_SECONDS (30 s; at most 60). Against moto_server's
 * Secrets Manager, with the handlers called as Lambda calls them. Which role may read which
 * secret is asserted on the deployed template (test/template.cfn.test.ts).
 */
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadSettings } from '../lib/infra/settings';
import { splitTenants } from '../lib/infra/tenantDirectory';
import { VALID } from './helpers/bodies';
import { call, inSeconds, KEY_A, KEY_B, lambdaContext, resetModules, startTestEnv, type TestEnv } from './helpers/env';
import { requireTool, startMoto } from './helpers/external';
import { fns } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listTasks = fns.listTasks;

const run = requireTool('moto_server', 'the Secrets Manager tenant directory tests');
const KEYS_ID = 'qunfa-test-tenant-keys';
const CREDENTIALS_ID = 'qunfa-test-vendor-credentials';

describe.runIf(run)('tenant keys and vendor credentials in two secrets (moto_server)', () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let env: TestEnv;
  let sm: SecretsManagerClient;
  let parts: ReturnType<typeof splitTenants>;

  beforeAll(async () => {
    moto = await startMoto();
    // No tenants file: the directory is the two secrets, as in AWS.
    env = await startTestEnv({
      QUNFA_TENANTS_FILE: '',
      TENANT_KEYS_SECRET_ID: KEYS_ID,
      VENDOR_CREDENTIALS_SECRET_ID: CREDENTIALS_ID,
      SECRETS_ENDPOINT: moto.url,
    });
    sm = new SecretsManagerClient({ endpoint: moto.url, region: 'ap-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    parts = splitTenants(env.tenants);
    // Only the keys secret exists at first.
    await sm.send(new CreateSecretCommand({ Name: KEYS_ID, SecretString: JSON.stringify(parts.keys) }));
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await env?.close();
    moto?.stop();
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
    await sm.send(
      new PutSecretValueCommand({ SecretId: KEYS_ID, SecretString: JSON.stringify({ ...parts.keys, a: { ...parts.keys.a, vendors: ['youmi'] } }) }),
    );
    resetModules(); // a new cold start reads the changed secret
    const refused = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: { vendor: 'wshoto', name: 'split', sendAt: inSeconds(60), ...VALID.wshoto },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([{ path: 'vendor', message: 'wshoto is not configured for this tenant' }]);
    await sm.send(new PutSecretValueCommand({ SecretId: KEYS_ID, SecretString: JSON.stringify(parts.keys) }));

    await sm.send(new CreateSecretCommand({ Name: CREDENTIALS_ID, SecretString: JSON.stringify(parts.credentials) }));
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
    await sm.send(new PutSecretValueCommand({ SecretId: KEYS_ID, SecretString: JSON.stringify(rest) }));
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
});
