/**
 * `npm start`: the whole stack on one machine, no cloud account, no vendor account.
 *   - dynalite (a real DynamoDB implementation) persisted under .data/, tables created if missing
 *   - the vendor sandboxes
 *   - serverless-offline serving the functions on http://localhost:$PORT (3000)
 *   - the local scheduler, firing due steps by invoking dispatchStep the way Lambda would
 *   - the sweeper, invoked every QUNFA_SWEEP_SECONDS (60) as its EventBridge rule invokes it in AWS
 * Restarting it loses no task: tasks and pending schedules live in .data/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureTables, startDynalite } from './lib/dynalite';
import { newTenant } from './lib/tenant';
import { baseUrlVariable, SANDBOX_PORT_BASE } from '../lib/vendors/registry';

const root = resolve(__dirname, '..');
const dataDir = resolve(root, process.env.QUNFA_DATA_DIR || '.data');
const port = Number(process.env.PORT ?? 3000);
const lambdaPort = Number(process.env.LAMBDA_PORT ?? 3002);
/** serverless-offline's own Lambda API, behind the async-invoke queue on lambdaPort. */
const offlineLambdaPort = lambdaPort + 1;
const dynamoPort = Number(process.env.QUNFA_DYNAMO_PORT ?? 4569);
const sandboxBase = Number(process.env.QUNFA_SANDBOX_PORT_BASE ?? SANDBOX_PORT_BASE);
const receiverPort = Number(process.env.QUNFA_RECEIVER_PORT ?? 4700);
const stage = 'dev';
const tenantsFile = resolve(root, process.env.QUNFA_TENANTS_FILE || `${dataDir}/tenants.json`);
const demoKeyFile = `${dataDir}/demo-api-key`;

async function ensureTenants(): Promise<string | undefined> {
  mkdirSync(dataDir, { recursive: true });
  if (!existsSync(tenantsFile)) {
    const key = process.env.QUNFA_DEMO_API_KEY ?? `qf_demo_${randomBytes(18).toString('base64url')}`;
    writeFileSync(tenantsFile, `${JSON.stringify({ demo: await newTenant(key) }, null, 2)}\n`, { mode: 0o600 });
    // Kept beside the data (git-ignored) only so a restart can print it again; AWS never sees it.
    writeFileSync(demoKeyFile, key, { mode: 0o600 });
    return key;
  }
  if (process.env.QUNFA_DEMO_API_KEY) return process.env.QUNFA_DEMO_API_KEY;
  return existsSync(demoKeyFile) ? readFileSync(demoKeyFile, 'utf8').trim() : undefined;
}

async function main() {
  const demoKey = await ensureTenants();
  const tenants = () => JSON.parse(readFileSync(tenantsFile, 'utf8')) as Record<string, { vendors: Record<string, Record<string, string>> }>;

  const dynamo = await startDynalite(`${dataDir}/dynamodb`, dynamoPort);
  const env: Record<string, string> = {
    QUNFA_MODE: 'local',
    TABLE_NAME: `qunfa-${stage}-tasks`,
    LOCAL_SCHEDULES_TABLE: `qunfa-${stage}-local-schedules`,
    DISPATCH_FUNCTION_NAME: `qunfa-${stage}-dispatchStep`,
    DISPATCH_NOW_FUNCTION_NAME: `qunfa-${stage}-dispatchNow`,
    DYNAMODB_ENDPOINT: dynamo.url,
    LAMBDA_ENDPOINT: `http://127.0.0.1:${lambdaPort}`,
    QUNFA_TENANTS_FILE: tenantsFile,
    AWS_REGION: process.env.AWS_REGION ?? 'ap-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    PORT: String(port),
    LAMBDA_PORT: String(offlineLambdaPort),
    // Each vendor sandbox takes this long to answer, so calls overlap as at a real vendor.
    QUNFA_SANDBOX_LATENCY_MS: process.env.QUNFA_SANDBOX_LATENCY_MS || '20',
    // A demo wants to see a task finish in seconds, not hours (both can be overridden).
    STATUS_POLL_INTERVALS: process.env.STATUS_POLL_INTERVALS || '2,3,5,10,30',
    CALLBACK_RETRY_SECONDS: process.env.CALLBACK_RETRY_SECONDS || '1,2,5,10,30',
    // Nothing is traced locally (there is no X-Ray daemon): the Tracer is not even loaded.
    QUNFA_TRACING: 'false',
  };
  Object.assign(process.env, env);
  const { indexed } = await ensureTables(dynamo.url, env.TABLE_NAME as string, env.LOCAL_SCHEDULES_TABLE);

  const { startSandboxes } = await import('./lib/sandboxes');
  const sandboxes = await startSandboxes(sandboxBase, tenants, { callbackBase: () => `http://127.0.0.1:${port}` });
  const { startReceiver } = await import('./lib/receiver');
  const receiver = await startReceiver(
    receiverPort,
    () => (tenants() as Record<string, { webhookSecret?: string }>).demo?.webhookSecret,
    process.env.QUNFA_QUIET === '1',
  );
  for (const s of sandboxes) {
    const name = baseUrlVariable(s.vendor);
    if (!process.env[name]) process.env[name] = s.url;
  }

  const invokeQueue = await startInvokeQueue(lambdaPort, offlineLambdaPort, stage);

  const offline = spawn(process.execPath, [resolve(root, 'node_modules/osls/bin/serverless.js'), 'offline', 'start', '--stage', stage], {
    cwd: root,
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeOutput(offline);

  await waitForHttp(`http://127.0.0.1:${port}/v1/openapi.json`, 120_000, offline);

  const { LocalScheduler, startLocalRunner } = await import('../lib/infra/scheduler/localScheduler');
  // The runner fires schedules the way EventBridge would: a Lambda invoke of the worker (serverless-offline's).
  const { buildApp } = await import('../lib/app');
  const local = buildApp(env);
  const runner = startLocalRunner({
    scheduler: new LocalScheduler(local.dynamo, local.settings.LOCAL_SCHEDULES_TABLE),
    invoke: local.invoke,
    onDeadLetter: (s, err) => console.error(`[scheduler] gave up on ${s.name}: ${(err as Error).message}`),
  });

  const sweeper = indexed ? startSweeper(lambdaPort, stage, Number(process.env.QUNFA_SWEEP_SECONDS || 60)) : undefined;
  if (!indexed)
    console.warn(`[sweeper] off: the tasks table in ${dataDir} predates the sweeper's index (dynalite cannot add one); remove ${dataDir} to start afresh`);

  const base = `http://localhost:${port}`;
  const keyLine = demoKey ?? '(the demo key is stored only as a hash; set QUNFA_DEMO_API_KEY or run `npm run add-tenant -- demo2`)';
  console.log(`
qunfa is running on ${base}
  DynamoDB (dynalite)  ${dynamo.url}  data in ${dataDir}
  sandboxes            ${sandboxes.map((s) => `${s.vendor} ${s.url}`).join(', ')}
  demo receiver        ${receiver.url}/hooks  (checks each callback's signature; GET ${receiver.url}/received)
  demo API key         ${keyLine}

Create a task (sent now; add "sendAt":"2026-12-01T10:00:00+08:00" to schedule it), then GET it:
  curl -s -X POST ${base}/v1/tasks -H "Authorization: Bearer ${demoKey ?? '<key>'}" -H 'Content-Type: application/json' \\
    -d '{"vendor":"weiban","name":"双十一提醒","audience":{"kind":"groups","senders":["zhangsan"],"groupIds":["wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA","wrOgQhDgAAMYQiS5ol9G7gK9JVBBBB"]},"content":{"text":"今晚8点开抢"},"callbackUrl":"${receiver.url}/hooks"}'
  curl -s ${base}/v1/tasks -H "Authorization: Bearer ${demoKey ?? '<key>'}"
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await runner.stop();
    sweeper?.stop();
    invokeQueue.close();
    offline.kill('SIGTERM');
    await Promise.all(sandboxes.map((s) => s.close()));
    await receiver.close();
    await dynamo.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  offline.on('exit', (code) => {
    if (!stopping) {
      console.error(`serverless-offline exited (${code}); stopping`);
      void stop();
    }
  });
}

/**
 * Lambda's Invoke API in front of serverless-offline's: asynchronous invokes (what the scheduler
 * and the functions make) are answered 202 and run through AsyncInvokeQueue within each function's
 * reservedConcurrency, as Lambda would; anything else passes straight through.
 */
async function startInvokeQueue(listenPort: number, offlinePort: number, stageName: string) {
  const { createServer } = await import('node:http');
  const { AsyncInvokeQueue, reservedConcurrency } = await import('./lib/lambda-queue');
  const prefix = `qunfa-${stageName}-`;
  const forward = async (path: string, body: Buffer, type: string) =>
    fetch(`http://127.0.0.1:${offlinePort}${path}`, {
      method: 'POST',
      body: new Uint8Array(body),
      headers: { 'content-type': 'application/json', 'x-amz-invocation-type': type },
    });
  const queue = new AsyncInvokeQueue(
    async (fn, payload) => {
      const res = await forward(`/2015-03-31/functions/${prefix}${fn}/invocations`, payload as Buffer, 'RequestResponse');
      await res.arrayBuffer();
    },
    reservedConcurrency(),
    (fn, err) => console.error(`[lambda] ${fn} invocation failed: ${(err as Error).message}`),
  );
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const name = /\/functions\/([^/]+)\/invocations/.exec(req.url ?? '')?.[1] ?? '';
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      if (type === 'Event' && name.startsWith(prefix)) {
        queue.enqueue(name.slice(prefix.length), body);
        res.writeHead(202, { 'content-type': 'application/json' }).end('');
        return;
      }
      void forward(req.url ?? '/', body, type)
        .then(async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
        })
        .catch((err: unknown) => res.writeHead(502).end(String((err as Error).message)));
    });
  });
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', () => r()));
  return {
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The sweeper's schedule: an asynchronous invoke of the sweeper function every `seconds`, as the EventBridge rule makes. */
function startSweeper(listenPort: number, stageName: string, seconds: number) {
  const timer = setInterval(() => {
    void fetch(`http://127.0.0.1:${listenPort}/2015-03-31/functions/qunfa-${stageName}-sweeper/invocations`, {
      method: 'POST',
      body: JSON.stringify({ source: 'aws.events', 'detail-type': 'Scheduled Event' }),
      headers: { 'x-amz-invocation-type': 'Event' },
    }).catch(() => undefined);
  }, seconds * 1000);
  return { stop: () => clearInterval(timer) };
}

function pipeOutput(child: ChildProcess) {
  const quiet = process.env.QUNFA_QUIET === '1';
  child.stdout?.on('data', (d: Buffer) => {
    if (!quiet) process.stdout.write(d);
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (!quiet) process.stderr.write(d);
  });
}

async function waitForHttp(url: string, timeoutMs: number, child: ChildProcess) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error('serverless-offline exited before it was ready');
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} was not ready within ${timeoutMs} ms`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
