/**
 * An integration environment in this process: dynalite (in memory), the tables, the vendor
 * sandboxes on free ports, a tenants file with two tenants, and a Lambda-invoke endpoint that
 * runs dispatchStep the way serverless-offline does. Handlers are then called with API Gateway
 * v2 events, exactly as Lambda would call them.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { App } from '../../lib/app';
import { baseUrlVariable } from '../../lib/vendors/registry';
import { youmiEventSignature } from '../../lib/vendors/youmi/adapter';
import { ensureTables, startDynalite, startDynaliteProcess, type RunningDynamo } from '../../scripts/lib/dynalite';
import { AsyncInvokeQueue, reservedConcurrency } from '../../scripts/lib/lambda-queue';
import { startSandboxes, type NamedSandbox } from '../../scripts/lib/sandboxes';
import { newTenant } from '../../scripts/lib/tenant';
import { fns, rebuildTestApp, startTestApp, testApp } from './testApp';
import type { TenantRecord } from '../../lib/infra/tenantDirectory';
import type { Vendor } from './bodies';

export const KEY_A = 'qf_test_tenant_a_key_0123456789';
export const KEY_B = 'qf_test_tenant_b_key_9876543210';

export interface TestEnv {
  dynamo: RunningDynamo;
  sandboxes: NamedSandbox[];
  weiban: NamedSandbox;
  sandbox: (vendor: string) => NamedSandbox;
  tenants: Record<string, TestTenant>;
  tenantsFile: string;
  lambda: Server;
  /** API Gateway in front of vendorWebhook, so sandboxes can call back over real HTTP. */
  apiUrl: string;
  /** The App the handlers run on (rebuilt by rebuildTestApp / setScheduler in ./testApp). */
  app: () => App;
  /** Runs `fn` with the tenants file edited by `edit` (re-read on change), then puts it back. */
  withTenants<T>(edit: (tenants: any) => void, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A tenant of the test environment: credentials for every vendor (its sandbox's demo credentials). */
export type TestTenant = TenantRecord & { vendors: Record<Vendor, Record<string, string>> };

export async function startTestEnv(extraEnv: Record<string, string> = {}, o: { dynamoProcess?: boolean } = {}): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'qunfa-test-'));
  const dynamo = o.dynamoProcess ? await startDynaliteProcess() : await startDynalite(undefined, 0);
  const tenants = { a: await newTenant(KEY_A), b: await newTenant(KEY_B) } as Record<'a' | 'b', TestTenant>;
  const tenantsFile = join(dir, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify(tenants));
  let apiUrl = '';
  const sandboxes = await startSandboxes(0, () => tenants, {
    callbackBase: () => apiUrl,
    progressMs: Number(extraEnv.QUNFA_SANDBOX_PROGRESS_MS ?? 1000),
    latencyMs: Number(extraEnv.QUNFA_SANDBOX_LATENCY_MS ?? 0),
  });
  const weiban = sandboxes.find((s) => s.vendor === 'weiban') as NamedSandbox;

  // Lambda's Invoke API, as serverless-offline serves it: run the named worker with the payload.
  const workers: Record<string, (e: any, c: Context) => Promise<unknown>> = {
    dispatchStep: fns.dispatchStep,
    dispatchNow: fns.dispatchStep, // the send-now lane: same code, its own queue
    pollStatus: fns.pollStatus,
    deliverCallback: fns.deliverCallback,
  };
  // Async invokes queue per function within its reservedConcurrency, as Lambda runs them.
  const queue = new AsyncInvokeQueue(
    async (fn, event) => {
      await (workers[fn] as (e: any, c: Context) => Promise<unknown>)(event, lambdaContext(fn));
    },
    reservedConcurrency(),
    (fn, err) => console.error(`worker ${fn} failed`, err),
  );
  const lambda = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      const fn = /functions\/qunfa-test-(\w+)\/invocations/.exec(req.url ?? '')?.[1] ?? '';
      if (!workers[fn]) {
        res.writeHead(404).end();
        return;
      }
      queue.enqueue(fn, event);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', () => r()));

  const api = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://api');
      const m = /^\/v1\/webhooks\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      const event = apiEvent({
        method: req.method,
        path: url.pathname,
        key: null,
        rawBody: Buffer.concat(chunks).toString('utf8'),
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        params: { vendor: m[1] as string, tenantId: m[2] as string },
        query: Object.fromEntries(url.searchParams),
      });
      void fns
        .vendorWebhook(event, lambdaContext('vendorWebhook'))
        .then((out: any) => {
          res.writeHead(out.statusCode, out.headers).end(out.body);
        })
        .catch(() => res.writeHead(500).end());
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  Object.assign(process.env, {
    QUNFA_MODE: 'local',
    TABLE_NAME: 'qunfa-test-tasks',
    LOCAL_SCHEDULES_TABLE: 'qunfa-test-schedules',
    DISPATCH_FUNCTION_NAME: 'qunfa-test-dispatchStep',
    DISPATCH_NOW_FUNCTION_NAME: 'qunfa-test-dispatchNow',
    POLL_FUNCTION_NAME: 'qunfa-test-pollStatus',
    CALLBACK_FUNCTION_NAME: 'qunfa-test-deliverCallback',
    DYNAMODB_ENDPOINT: dynamo.url,
    LAMBDA_ENDPOINT: `http://127.0.0.1:${(lambda.address() as AddressInfo).port}`,
    QUNFA_TENANTS_FILE: tenantsFile,
    ...Object.fromEntries(sandboxes.map((s) => [baseUrlVariable(s.vendor), s.url])),
    YOUMI_TOKEN_URL: (sandboxes.find((s) => s.vendor === 'youmi') as NamedSandbox).url,
    AWS_REGION: 'ap-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    DISPATCH_BACKOFF_MS: '20',
    LOG_LEVEL: 'WARN',
    ...extraEnv,
  });
  await ensureTables(dynamo.url, 'qunfa-test-tasks', 'qunfa-test-schedules');
  startTestApp();
  return {
    app: testApp,
    async withTenants(edit, fn) {
      const original = readFileSync(tenantsFile, 'utf8');
      const edited = JSON.parse(original);
      edit(edited);
      writeFileSync(tenantsFile, JSON.stringify(edited));
      try {
        return await fn();
      } finally {
        writeFileSync(tenantsFile, original);
      }
    },
    dynamo,
    sandboxes,
    weiban,
    tenants,
    tenantsFile,
    lambda,
    apiUrl,
    sandbox: (vendor) => sandboxes.find((s) => s.vendor === vendor) as NamedSandbox,
    async close() {
      await Promise.all(sandboxes.map((s) => s.close()));
      for (const server of [lambda, api]) {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
      await dynamo.close();
    },
  };
}

/** A cold start: a new App from the environment as it is now (the tenants' secrets read again). */
export function resetModules(): void {
  rebuildTestApp();
}

export function lambdaContext(name: string): Context {
  const started = Date.now();
  return {
    functionName: `qunfa-test-${name}`,
    invokedFunctionArn: `arn:aws:lambda:ap-east-1:123456789012:function:qunfa-test-${name}`,
    awsRequestId: 'test',
    getRemainingTimeInMillis: () => 60_000 - (Date.now() - started),
  } as unknown as Context;
}

interface Req {
  method?: string;
  path?: string;
  key?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  query?: Record<string, string>;
}

export function apiEvent(r: Req): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...r.headers };
  if (r.key !== null) headers.authorization = `Bearer ${r.key ?? KEY_A}`;
  const body = r.rawBody ?? (r.body === undefined ? undefined : JSON.stringify(r.body));
  if (r.key === null && r.headers?.authorization === undefined) delete headers.authorization;
  return {
    version: '2.0',
    routeKey: `${r.method ?? 'GET'} ${r.path ?? '/'}`,
    rawPath: r.path ?? '/',
    rawQueryString: new URLSearchParams(r.query ?? {}).toString(),
    headers,
    queryStringParameters: r.query,
    pathParameters: r.params,
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: r.method ?? 'GET', path: r.path ?? '/' } },
  } as unknown as APIGatewayProxyEventV2;
}

/** A YouMi event to tenant `a`'s webhook, signed as YouMi's subscription signs it. */
export function youmiWebhookEvent(creds: { clientId: string; clientSecret: string }, event: unknown): APIGatewayProxyEventV2 {
  const rawBody = JSON.stringify(event);
  const ts = String(Math.floor(Date.now() / 1000));
  return apiEvent({
    method: 'POST',
    path: '/v1/webhooks/youmi/a',
    key: null,
    rawBody,
    params: { vendor: 'youmi', tenantId: 'a' },
    headers: {
      'x-youmi-appid': creds.clientId,
      'x-youmi-nonce': 'n',
      'x-youmi-timestamp': ts,
      'x-youmi-signature': youmiEventSignature(creds.clientSecret, creds.clientId, 'n', ts, rawBody),
    },
  });
}

export interface Res {
  status: number;
  headers: Record<string, string>;
  body: any;
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

export async function call(handler: Handler, r: Req, name = 'api'): Promise<Res> {
  const out = (await handler(apiEvent(r), lambdaContext(name))) as { statusCode: number; headers: Record<string, string>; body: string };
  const json = /json/.test(out.headers?.['content-type'] ?? '');
  return { status: out.statusCode, headers: out.headers ?? {}, body: out.body ? (json ? JSON.parse(out.body) : out.body) : undefined };
}

export const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Forgets qunfa's flow-limiter items (what it knows of each vendor's windows and bans), for tests
 * that also reset the sandbox's own counters: each test starts with a vendor that owes nothing.
 */
export async function clearLimits(table = 'qunfa-test-tasks'): Promise<void> {
  const dynamo = () => testApp().dynamo;
  const { ScanCommand, DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
  const out = await dynamo().send(
    new ScanCommand({ TableName: table, FilterExpression: 'begins_with(sk, :p)', ExpressionAttributeValues: { ':p': 'LIMIT#' } }),
  );
  for (const item of out.Items ?? []) await dynamo().send(new DeleteCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk } }));
}
