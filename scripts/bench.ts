/**
 * npm run bench — one table, every figure measured in this run (so ratios hold on a noisy machine):
 *   1. per function, built as deployed (`osls package`), under Node 22 (Lambda's) and the running
 *      Node: a cold request (a fresh process until the handler has answered one real event over
 *      local endpoints) against an empty handler, module load against `node -e 0`, the zip's size;
 *      the AWS SDK's DynamoDB floor beside them (`_floor`), and the levers that are settings (1c).
 *      `npm run bench -- cold` runs this section alone. 1b: the console page a browser downloads;
 *   2. per request, in process: handler overhead of createTask, getTask and vendorWebhook with the
 *      store's I/O excluded (an in-memory store) and with dynalite, p50 and p99;
 *   3. per task lifecycle: DynamoDB requests and consumed capacity (the SDK's ConsumedCapacity),
 *      scheduler calls;
 *   4. a 100,000-customer task: accepted, stored, fanned out, time and peak memory;
 *   5. through the local stack over HTTP: creates/s, dispatches/s through the scheduler, callbacks/s;
 *   6. a campaign: 1,000 tasks of one tenant due the same second against Weiban's limits (time to
 *      drain, throttles, the flow limiter's reads and writes per send, another tenant's latency).
 * Budgets are checked at the end: met, or reported with the reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const out: string[] = [];
const say = (line = '') => {
  out.push(line);
  console.log(line);
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] as number;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const budgets: { what: string; budget: string; measured: string; ok: boolean; why?: string }[] = [];

function buildAsDeployed() {
  const pkg = join(root, '.bench', 'pkg');
  rmSync(pkg, { recursive: true, force: true });
  // A fresh build folder: serverless-esbuild zips whatever it holds (an earlier run's files would be in every zip).
  rmSync(join(root, '.esbuild-bench'), { recursive: true, force: true });
  const res = spawnSync(process.execPath, [join(root, 'node_modules/osls/bin/serverless.js'), 'package', '--stage', 'bench', '--package', pkg], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, QUNFA_ESBUILD_DIR: '.esbuild-bench', QUNFA_KEEP_BUILD: 'true', SLS_TELEMETRY_DISABLED: '1' },
  });
  if (res.status !== 0) throw new Error(`package failed: ${res.stdout}${res.stderr}`);
  return pkg;
}

/** Builds the package as deployed: each function's zipped size, and where its bundle is. */
function bundles(): { built: string; zips: Record<string, number>; functions: string[] } {
  const pkg = buildAsDeployed();
  // QUNFA_BENCH_BUILT: other bundles of the same names (e.g. unminified, to read a profile).
  const built = process.env.QUNFA_BENCH_BUILT ?? join(root, '.esbuild-bench', '.build', 'functions');
  const zips: Record<string, number> = {};
  for (const zip of readdirSync(pkg).filter((f) => f.endsWith('.zip'))) zips[zip.replace(/\.zip$/, '')] = statSync(join(pkg, zip)).size;
  // A function that runs another's handler (dispatchNow runs dispatchStep's) has no bundle of its own name.
  const functions = Object.keys(zips)
    .filter((fn) => existsSync(join(built, `${fn}.js`)))
    .sort();
  return { built, zips, functions };
}

/** The console's page (issue 14) as a browser downloads it: built as the console function embeds it, raw and gzipped. */
async function consolePage() {
  const esbuild = await import('esbuild');
  const { buildConsoleAssets } = await import('./esbuild-plugins.cjs');
  const { assets } = await buildConsoleAssets(esbuild);
  const files = [['index.html', assets.index] as const, ...Object.entries(assets.files)];
  say('1b. The console page as served (GET /console and its two files; gzip level 9, as the function sends it)');
  say(`${'file'.padEnd(28)}${'raw'.padStart(11)}${'gzipped'.padStart(11)}`);
  let raw = 0;
  let gz = 0;
  for (const [name, f] of files) {
    const r = Buffer.byteLength(f.body, 'utf8');
    const g = Buffer.from(f.gzip, 'base64').length;
    raw += r;
    gz += g;
    say(`${name.padEnd(28)}${kb(r).padStart(11)}${kb(g).padStart(11)}`);
  }
  say(`${'total'.padEnd(28)}${kb(raw).padStart(11)}${kb(gz).padStart(11)}`);
  say();
  budgets.push({ what: 'console page: HTML + JS + CSS gzipped', budget: '≤ 30 KB', measured: `${kb(gz)} (${kb(raw)} raw)`, ok: gz <= 30 * 1024 });
}

async function main() {
  say(
    `qunfa bench — ${new Date().toISOString()} — ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  say();
  // `npm run bench -- cold`: section 1 alone (the build and the cold starts).
  const only = process.argv[2];
  const deployed = bundles();
  if (only !== 'cold') await consolePage();

  // Metrics and info logs off in process, set before the logger and metrics are loaded: their lines
  // would go to this table's stdout (writing them is I/O, which section 2 excludes; the local stack writes them).
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.LOG_LEVEL = 'ERROR';
  // In-process sections share one environment: dynalite, the sandboxes, a Lambda-invoke endpoint.
  const { startTestEnv, call, apiEvent, lambdaContext, youmiWebhookEvent } = await import('../test/helpers/env');
  const env = await startTestEnv({ LOG_LEVEL: 'ERROR', QUNFA_SANDBOX_PROGRESS_MS: '600000', STATUS_POLL_INTERVALS: '3600', SWEEP_GRACE_SECONDS: '1' });
  // The functions' handlers over the bench's own App (test/helpers/testApp.ts): parts swapped by rebuilding it.
  const { fns, rebuildTestApp, taskStore, dynamo, testApp } = await import('../test/helpers/testApp');
  const { createTask, getTask, vendorWebhook, dispatchStep, pollStatus } = fns;
  const { LocalScheduler } = await import('../lib/infra/scheduler/localScheduler');
  const { memoryTenantDirectory } = await import('../lib/infra/tenantDirectory');
  type Scheduler = import('../lib/infra/scheduler/scheduler').Scheduler;
  const { MemoryTaskStore } = await import('./lib/memory-store');
  const { VALID } = await import('../test/helpers/bodies');

  let schedulerCalls = 0;
  const real = new LocalScheduler(dynamo(), 'qunfa-test-schedules');
  const counting: Scheduler = {
    schedule: async (...a) => {
      schedulerCalls++;
      return real.schedule(...a);
    },
    cancel: async (n) => {
      schedulerCalls++;
      return real.cancel(n);
    },
  };
  rebuildTestApp({ scheduler: counting });

  await coldStarts(deployed, env);
  if (only === 'cold') {
    await env.close();
    printBudgets();
    return;
  }

  const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  const taskBody = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    vendor: 'weiban',
    name: `bench-${randomUUID().slice(0, 6)}`,
    sendAt: inSeconds(3600),
    ...VALID.weiban,
    ...over,
  });
  const youmiCreds = env.tenants.a!.vendors.youmi as { clientId: string; clientSecret: string };

  async function measure(label: string, n: number, once: (i: number) => Promise<unknown>) {
    for (let i = 0; i < Math.min(300, n); i++) await once(i); // warm-up: JIT, caches
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await once(i);
      xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return { label, p50: pct(xs, 50), p99: pct(xs, 99) };
  }

  async function handlerOverheads(mode: 'memory' | 'dynalite') {
    const n = mode === 'memory' ? 3000 : 800;
    // The webhook needs a submitted YouMi task to move.
    const yt = (
      await call(createTask as never, {
        method: 'POST',
        path: '/v1/tasks',
        body: { vendor: 'youmi', name: 'bench-hook', sendAt: inSeconds(4), ...VALID.youmi },
      })
    ).body;
    await (dispatchStep as any)({ kind: 'dispatch', tenantId: 'a', taskId: yt.id, step: 0 }, lambdaContext('dispatchStep'));
    const vid = (await call(getTask as never, { path: `/v1/tasks/${yt.id}`, params: { taskId: yt.id } })).body.steps[0].vendorTaskId;
    const created = (await call(createTask as never, { method: 'POST', path: '/v1/tasks', body: taskBody() })).body;
    const createEvent = apiEvent({ method: 'POST', path: '/v1/tasks', body: taskBody() });
    const getEvent = apiEvent({ path: `/v1/tasks/${created.id}`, params: { taskId: created.id } });
    const hookEvent = (i: number) =>
      youmiWebhookEvent(youmiCreds, {
        eventId: `bench-${mode}-${i}-${randomUUID()}`,
        messageType: 'rpaTaskResult',
        data: { taskId: Number(vid), status: 'running', total: 2, success: i % 2, fail: 0 },
      });
    const ctx = lambdaContext('api');
    return [
      await measure('createTask', n, () => (createTask as any)(createEvent, ctx)),
      await measure('getTask', n, () => (getTask as any)(getEvent, ctx)),
      await measure('vendorWebhook', n, (i) => (vendorWebhook as any)(hookEvent(i), ctx)),
    ];
  }

  say('2. Handler overhead per request, in process (ms)');
  // I/O excluded: an in-memory store, tenants in memory, a scheduler that only counts.
  const tenants = JSON.parse(JSON.stringify(env.tenants));
  const noIoScheduler = { schedule: async () => undefined, cancel: async () => undefined };
  rebuildTestApp({ tenants: memoryTenantDirectory(tenants), store: new MemoryTaskStore(), scheduler: noIoScheduler });
  const memory = await handlerOverheads('memory');
  rebuildTestApp({ tenants: memoryTenantDirectory(tenants), scheduler: counting });
  const withDb = await handlerOverheads('dynalite');
  say(`${'handler'.padEnd(18)}${'no I/O p50'.padStart(12)}${'p99'.padStart(9)}${'dynalite p50'.padStart(15)}${'p99'.padStart(9)}`);
  memory.forEach((m, i) =>
    say(
      `${m.label.padEnd(18)}${m.p50.toFixed(3).padStart(12)}${m.p99.toFixed(3).padStart(9)}${withDb[i]!.p50.toFixed(3).padStart(15)}${withDb[i]!.p99.toFixed(3).padStart(9)}`,
    ),
  );
  budgets.push({ what: 'createTask overhead without I/O, p99', budget: '≤ 1 ms', measured: `${memory[0]!.p99.toFixed(3)} ms`, ok: memory[0]!.p99 <= 1 });
  say();

  say("3. One task's lifecycle over dynalite (DynamoDB requests, consumed capacity, scheduler calls)");
  const store = taskStore();
  const phase = async (label: string, fn: () => Promise<unknown>) => {
    const before = { ...store.stats };
    const sched = schedulerCalls;
    await fn();
    const d = {
      reads: store.stats.reads - before.reads,
      writes: store.stats.writes - before.writes,
      rcu: store.stats.rcu - before.rcu,
      wcu: store.stats.wcu - before.wcu,
      sched: schedulerCalls - sched,
    };
    say(
      `${label.padEnd(44)}${String(d.reads).padStart(6)}${String(d.writes).padStart(7)}${d.rcu.toFixed(1).padStart(7)}${d.wcu.toFixed(1).padStart(7)}${String(d.sched).padStart(10)}`,
    );
    return d;
  };
  say(`${'phase'.padEnd(44)}${'reads'.padStart(6)}${'writes'.padStart(7)}${'RCU'.padStart(7)}${'WCU'.padStart(7)}${'scheduler'.padStart(10)}`);
  let lifeId = '';
  const c1 = await phase('create (timed, 1 step)', async () => {
    lifeId = (await call(createTask as never, { method: 'POST', path: '/v1/tasks', body: taskBody({ sendAt: inSeconds(4) }) })).body.id;
  });
  const c2 = await phase('create with Idempotency-Key', () =>
    call(createTask as never, { method: 'POST', path: '/v1/tasks', body: taskBody(), headers: { 'idempotency-key': randomUUID() } }),
  );
  const { sendAt: _s, content, ...sop } = taskBody();
  const c3 = await phase('create, 3-step SOP', () =>
    call(createTask as never, { method: 'POST', path: '/v1/tasks', body: { ...sop, steps: [1, 2, 3].map((h) => ({ sendAt: inSeconds(h * 3600), content })) } }),
  );
  const d1 = await phase('dispatch (claim, vendor, SUBMITTED, first poll)', () =>
    (dispatchStep as any)({ kind: 'dispatch', tenantId: 'a', taskId: lifeId, step: 0 }, lambdaContext('dispatchStep')),
  );
  const vid = (await store.get('a', lifeId))!.steps[0]!.vendorTaskId;
  await fetch(`${env.weiban.url}/__sandbox/tasks/${vid}`, { method: 'POST', body: JSON.stringify({ status: 'sended' }) });
  const p1 = await phase('poll → RUNNING', () =>
    (pollStatus as any)({ kind: 'poll', tenantId: 'a', taskId: lifeId, step: 0, n: 0 }, lambdaContext('pollStatus')),
  );
  await fetch(`${env.weiban.url}/__sandbox/tasks/${vid}`, { method: 'POST', body: JSON.stringify({ status: 'completed' }) });
  const p2 = await phase('poll → COMPLETED (with figures)', () =>
    (pollStatus as any)({ kind: 'poll', tenantId: 'a', taskId: lifeId, step: 0, n: 1 }, lambdaContext('pollStatus')),
  );
  budgets.push({ what: 'create: DynamoDB writes', budget: '≤ 2', measured: `${c1.writes} (${c2.writes} with a key)`, ok: c1.writes <= 2 && c2.writes <= 2 });
  budgets.push({
    what: 'create: scheduler calls per step',
    budget: '≤ 1',
    measured: `${c1.sched} for 1 step, ${c3.sched} for 3`,
    ok: c1.sched <= 1 && c3.sched <= 3,
  });
  budgets.push({
    what: 'a status change: DynamoDB writes',
    budget: '≤ 1',
    measured: `${p1.writes} (poll), ${p2.writes} (poll), ${d1.writes} for claim + outcome`,
    ok: p1.writes <= 1 && p2.writes <= 1 && d1.writes <= 2,
  });
  say();

  /** The sweeper's cost: what one sweep reads when a few tasks are overdue among many waiting ones. */
  async function sweeperCost() {
    say("4b. The sweeper's cost: a few overdue tasks among many waiting ones (dynalite, the byWatch index)");
    const { sweep } = await import('../lib/delivery/sweeper');
    const { scheduleName } = await import('../lib/infra/scheduler/scheduler');
    const { ScanCommand } = await import('@aws-sdk/lib-dynamodb');
    const { WATCH_SHARDS } = await import('../lib/infra/taskStore');
    rebuildTestApp({ scheduler: counting });
    const waiting = 2_000;
    const lost = 10;
    for (let i = 0; i < waiting; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, waiting - i) }, () => call(createTask as never, { method: 'POST', path: '/v1/tasks', body: taskBody() })),
      );
    const lostAt = inSeconds(3);
    for (let i = 0; i < lost; i++) {
      const id = (await call(createTask as never, { method: 'POST', path: '/v1/tasks', body: taskBody({ sendAt: lostAt }) })).body.id as string;
      await real.cancel(scheduleName(id, 0)); // its schedule is lost
    }
    await new Promise((r) => setTimeout(r, Date.parse(lostAt) - Date.now() + 1_300)); // past its time and the grace
    // The sweep alone is measured: the work it invokes is only counted here (it would run in other functions).
    const invoked: string[] = [];
    rebuildTestApp({
      scheduler: counting,
      invoke: async (e) => {
        invoked.push(e.kind);
      },
    });
    const store = taskStore();
    const before = { ...store.stats };
    const t0 = process.hrtime.bigint();
    const report = await sweep(testApp().deps(lambdaContext('sweeper')));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // What reading the table instead would cost: a scan of every item, page by page.
    const scan = { Count: 0, rcu: 0 };
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo().send(
        new ScanCommand({ TableName: 'qunfa-test-tasks', Select: 'COUNT', ReturnConsumedCapacity: 'TOTAL', ExclusiveStartKey: start }),
      );
      scan.Count += page.Count ?? 0;
      scan.rcu += page.ConsumedCapacity?.CapacityUnits ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    rebuildTestApp({ scheduler: counting });
    say(`table: ${scan.Count} items (${waiting + lost} tasks waiting, more from the sections before); ${lost} of them overdue, their schedules gone`);
    say(
      `one sweep: ${report.read} index entries read in ${WATCH_SHARDS} shard queries, ${store.stats.reads - before.reads} DynamoDB reads (${(store.stats.rcu - before.rcu).toFixed(1)} RCU), ${store.stats.writes - before.writes} writes, ${ms.toFixed(0)} ms; ${invoked.length} repairs invoked`,
    );
    say(`reading the table instead (a scan): ${scan.Count} items, ${scan.rcu.toFixed(1)} RCU, every sweep`);
    budgets.push({
      what: 'sweep: index entries read',
      budget: '= overdue',
      measured: `${report.read} for ${lost} overdue among ${scan.Count} items`,
      ok: report.read === lost,
    });
  }

  say('4. A 100,000-customer Weiban task (in a child process, for its own peak memory)');
  const child = await new Promise<string>((done, fail) => {
    const p = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'scripts/lib/bench-large.ts')], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let s = '';
    p.stdout.on('data', (d: Buffer) => {
      s += d.toString();
    });
    p.on('exit', (code) => (code === 0 ? done(s) : fail(new Error(`bench-large exited ${code}: ${s}`))));
  });
  const large = JSON.parse(child.trim().split('\n').at(-1) as string) as Record<string, number | string>;
  say(
    `create: ${large.createStatus} in ${large.createMs} ms (body ${kb(Number(large.bodyBytes))}); stored as 1 task item of ${kb(Number(large.taskItemBytes))} + ${large.chunks} audience chunks (largest ${kb(Number(large.largestChunkBytes))})`,
  );
  say(
    `dispatch: ${large.batches} batches of ≤ 10,000 in ${large.dispatchMs} ms; each batch sent ${large.sendsPerBatch}; resumed after a death half-way: ${large.resumeCheck}`,
  );
  say(`peak memory: RSS ${large.peakRssMb} MB (the same child doing nothing: ${large.idleRssMb} MB), heap ${large.peakHeapMb} MB`);
  budgets.push({ what: '100,000-customer task: peak memory', budget: '< 256 MB', measured: `${large.peakRssMb} MB RSS`, ok: Number(large.peakRssMb) < 256 });
  say();

  await sweeperCost();
  say();

  await env.close();

  say('5. Through the local stack, over HTTP (serverless-offline, dynalite on disk, local scheduler)');
  await throughput(say);
  say();

  await campaign(say);
  say();

  printBudgets();
}

function printBudgets() {
  say('Budgets');
  for (const b of budgets) say(`${b.ok ? 'met ' : 'OVER'}  ${b.what.padEnd(57)}${b.budget.padEnd(11)}${b.measured}${b.ok ? '' : `  ${b.why ?? ''}`}`);
}

/**
 * Section 1: each function's cold request and module load, under Node 22 (Lambda's nodejs22.x)
 * and under the Node running the bench, beside its zipped size (scripts/lib/coldStart.ts says how).
 */
async function coldStarts(deployed: ReturnType<typeof bundles>, env: import('../test/helpers/env').TestEnv) {
  const cold = await import('./lib/coldStart');
  const { apiEvent, lambdaContext, youmiWebhookEvent } = await import('../test/helpers/env');
  const { fns, taskStore } = await import('../test/helpers/testApp');
  const { VALID } = await import('../test/helpers/bodies');
  const { splitTenants } = await import('../lib/infra/tenantDirectory');
  const { baseUrlVariable } = await import('../lib/vendors/registry');
  const parts = splitTenants(env.tenants);
  const endpoints = await cold.coldEndpoints(
    { 'qunfa-bench-tenant-keys': JSON.stringify(parts.keys), 'qunfa-bench-vendor-credentials': JSON.stringify(parts.credentials) },
    env.dynamo.url,
    env.sandboxes,
    baseUrlVariable,
  );
  say('1. Cold starts: each function as deployed (osls package), in a fresh process, as Lambda runs it (AWS mode, local endpoints)');
  say("   zip KB: the function's zip; load: require() of the bundle, ms; node: `node -e 0`, ms; ×: load / node");
  say('   cold: process start until the handler answered one real request (over TLS as in AWS: dynalite, Scheduler, Lambda,');
  say('   the vendor sandboxes; the secrets extension on localhost), ms; empty: an empty handler run the same way; ×: cold / empty;');
  say('   in fn: the request alone, ms');
  say("   _floor: only the AWS SDK's DynamoDB document client sending one GetItem (scripts/lib/cold-floor.ts), the floor of a");
  say('   function that reads DynamoDB; its size is the bundle gzipped');
  if ('why' in endpoints) {
    say(`   not measured: ${endpoints.why}`);
    return;
  }
  const runs = Number(process.env.QUNFA_BENCH_COLD_RUNS ?? 7);
  const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  const create = async (body: Record<string, unknown>) => {
    const out = (await fns.createTask(apiEvent({ method: 'POST', path: '/v1/tasks', body }), lambdaContext('createTask'))) as {
      statusCode: number;
      body: string;
    };
    if (out.statusCode !== 201) throw new Error(`seeding: ${out.statusCode} ${out.body}`);
    return (JSON.parse(out.body) as { id: string }).id;
  };
  const weiban = (over: Record<string, unknown> = {}) => ({
    vendor: 'weiban',
    name: `cold-${randomUUID().slice(0, 6)}`,
    sendAt: inSeconds(3600),
    ...VALID.weiban,
    ...over,
  });
  // Enough of each for two Node versions, a discarded first run each, and the lever runs.
  const per = runs + 1;
  const waiting = await create(weiban());
  const toCancel: string[] = [];
  const toDispatch: string[] = [];
  for (let i = 0; i < 3 * per; i++) toCancel.push(await create(weiban()));
  for (let i = 0; i < 10 * per; i++) toDispatch.push(await create(weiban({ sendAt: inSeconds(5), callbackUrl: 'https://127.0.0.1:9/hooks' })));
  // Sent WeCom tasks, so remind and recipients do what a user asks of them (WeCom allows 3 reminds a
  // task a day: one task per remind).
  const toRemind: string[] = [];
  for (let i = 0; i < 2 * per + 1; i++) toRemind.push(await create({ vendor: 'wecom', name: `cold-remind-${i}`, sendAt: inSeconds(5), ...VALID.wecom }));
  const youmiTask = await create({ vendor: 'youmi', name: 'cold-hook', sendAt: inSeconds(5), ...VALID.youmi });
  await new Promise((r) => setTimeout(r, 5500));
  for (const taskId of [youmiTask, ...toRemind]) await fns.dispatchStep({ kind: 'dispatch', tenantId: 'a', taskId, step: 0 }, lambdaContext('dispatchStep'));
  const sentWecom = toRemind.pop() as string;
  const youmiVendorId = (await taskStore().get('a', youmiTask))?.steps[0]?.vendorTaskId;
  const youmiCreds = env.tenants.a!.vendors.youmi as { clientId: string; clientSecret: string };
  const dispatched: string[] = [];
  let n = 0;
  const next = <T>(xs: T[], what: string) => {
    const x = xs.shift();
    if (x === undefined) throw new Error(`bench: no ${what} left`);
    return x;
  };
  const event = async (fn: string): Promise<Record<string, unknown>> => {
    n++;
    const api = (r: Parameters<typeof apiEvent>[0]) => apiEvent(r) as unknown as Record<string, unknown>;
    switch (fn) {
      case '_floor':
        return {};
      case 'createTask':
        return api({ method: 'POST', path: '/v1/tasks', body: weiban() });
      case 'getTask':
        return api({ path: `/v1/tasks/${waiting}`, params: { taskId: waiting } });
      case 'listTasks':
        return api({ path: '/v1/tasks' });
      case 'patchTask':
        return api({ method: 'PATCH', path: `/v1/tasks/${waiting}`, params: { taskId: waiting }, body: { sendAt: inSeconds(7200 + n) } });
      case 'deleteTask': {
        const id = next(toCancel, 'task to cancel');
        return api({ method: 'DELETE', path: `/v1/tasks/${id}`, params: { taskId: id } });
      }
      case 'remindStaff': {
        const id = next(toRemind, 'sent WeCom task');
        return api({ method: 'POST', path: `/v1/tasks/${id}/remind`, params: { taskId: id } });
      }
      case 'listRecipients':
        return api({ path: `/v1/tasks/${sentWecom}/recipients`, params: { taskId: sentWecom } });
      case 'dispatchStep': {
        const id = next(toDispatch, 'due task');
        dispatched.push(id);
        return { kind: 'dispatch', tenantId: 'a', taskId: id, step: 0 };
      }
      case 'pollStatus': {
        const id = next(dispatched, 'submitted task');
        const task = await taskStore().get('a', id);
        return { kind: 'poll', tenantId: 'a', taskId: id, step: 0, n: task?.nextPolls?.['0']?.n ?? 1 };
      }
      case 'deliverCallback':
        return { kind: 'callback', tenantId: 'a', taskId: dispatched.at(-1) ?? waiting };
      case 'vendorWebhook':
        return youmiWebhookEvent(youmiCreds, {
          eventId: `cold-${n}-${randomUUID()}`,
          messageType: 'rpaTaskResult',
          data: { taskId: Number(youmiVendorId), status: 'running', total: 2, success: 1, fail: 0 },
        }) as unknown as Record<string, unknown>;
      case 'sweeper':
        return {
          version: '0',
          id: randomUUID(),
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: '123456789012',
          time: new Date().toISOString(),
          region: 'ap-east-1',
          resources: [],
          detail: {},
        };
      case 'redriveDeadLetters':
        return {
          Records: [
            {
              messageId: randomUUID(),
              receiptHandle: 'r',
              body: JSON.stringify({ kind: 'dispatch', tenantId: 'a', taskId: waiting, step: 0 }),
              attributes: {
                ApproximateReceiveCount: '1',
                SentTimestamp: String(Date.now()),
                SenderId: 'scheduler',
                ApproximateFirstReceiveTimestamp: String(Date.now()),
              },
              messageAttributes: {},
              md5OfBody: '',
              eventSource: 'aws:sqs',
              eventSourceARN: 'arn:aws:sqs:ap-east-1:123456789012:qunfa-bench-schedule-dlq',
              awsRegion: 'ap-east-1',
            },
          ],
        };
      case 'openapi':
        return api({ path: '/v1/openapi.json', key: null });
      case 'listVendors':
        return api({ path: '/v1/vendors', key: null });
      case 'console':
        return api({ path: '/console', key: null, headers: { 'accept-encoding': 'gzip' } });
      default:
        throw new Error(`bench: no cold event for ${fn}`);
    }
  };
  // Ordered so each function finds what the ones before it left: polls follow dispatches.
  const order = [
    'createTask',
    'getTask',
    'listTasks',
    'patchTask',
    'deleteTask',
    'remindStaff',
    'listRecipients',
    'dispatchStep',
    'pollStatus',
    'deliverCallback',
    'vendorWebhook',
    'sweeper',
    'redriveDeadLetters',
    'openapi',
    'listVendors',
    'console',
  ];
  const pick = process.env.QUNFA_BENCH_FUNCTIONS?.split(',');
  const functions = order.filter((f) => deployed.functions.includes(f) && (!pick || pick.includes(f)));
  // The SDK's floor (scripts/lib/cold-floor.ts), built with the functions' esbuild options; its size gzipped, not zipped.
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [join(root, 'scripts/lib/cold-floor.ts')],
    outfile: join(deployed.built, '_floor.js'),
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    mainFields: ['module', 'main'],
    logLevel: 'error',
  });
  const { gzipSync } = await import('node:zlib');
  deployed.zips._floor = gzipSync(readFileSync(join(deployed.built, '_floor.js')), { level: 9 }).length;
  functions.unshift('_floor');
  const missing = deployed.functions.filter((f) => !order.includes(f));
  if (missing.length) throw new Error(`bench: no cold event for ${missing.join(', ')}`);
  const fnEnv = (fn: string) => ({ ...cold.lambdaEnvironment(fn, deployed.built), ...templateEnv, ...endpoints.env });
  const templateEnv = cold.templateEnvironment();
  const n22 = cold.node22();
  const nodes = [
    ...(n22.path ? [{ path: n22.path, version: n22.version as string }] : []),
    ...(process.version.startsWith('v22.') ? [] : [{ path: process.execPath, version: process.version }]),
  ];
  if (!n22.path) say(`   Node 22 not measured: ${n22.why}`);
  try {
    for (const node of nodes) {
      say();
      say(`Node ${node.version}${node.version.startsWith('v22.') ? " (Lambda's nodejs22.x; the budgets)" : ''}, medians of ${runs}`);
      const rows = await cold.measureCold({ node: node.path, built: deployed.built, zips: deployed.zips, functions, runs, env: fnEnv, event });
      cold.printCold(say, rows);
      if (node.version.startsWith('v22.')) cold.coldBudgets(rows, budgets);
    }
    say(`   (calls answered by the local endpoints: ${JSON.stringify(endpoints.calls())})`);
    if (n22.path) {
      say();
      say('1c. Levers that are settings, tried here (Node 22, medians of the same runs; scripts/lib/coldStart.ts settingLevers)');
      const other = nodes.find((x) => !x.version.startsWith('v22.'));
      const leverFns = (process.env.QUNFA_BENCH_LEVERS ?? 'createTask,dispatchStep').split(',').filter((f) => functions.includes(f));
      await cold.settingLevers({ say, node22: n22.path, otherNode: other, built: deployed.built, functions: leverFns, runs, env: fnEnv, event });
    }
  } finally {
    await endpoints.close();
  }
  say();
}

/** Section 6: the flow-control scenario of test/flow-control.integration.test.ts, with its figures printed. */
async function campaign(say: (l?: string) => void) {
  const n = Number(process.env.QUNFA_BENCH_CAMPAIGN ?? 1000);
  say(
    `6. A campaign: ${n} tasks of one tenant due the same second, Weiban sandbox enforcing 5 in flight / 300 a minute (60 s ban) / 15,000 an hour, 20 ms a call`,
  );
  const { runCampaign } = await import('../test/helpers/campaign');
  const f = await runCampaign(n);
  const duplicates = [...f.createdPerTask.values()].filter((c) => c > 1).length;
  say(`reached Weiban: ${f.createdPerTask.size} of ${n} (sent twice: ${duplicates}); final states ${JSON.stringify(f.finalStates)}`);
  say(`time to drain: ${f.drainSeconds.toFixed(1)} s from the first send to the last (ideal ${f.idealSeconds} s = (⌈N/300⌉ − 1) min)`);
  say(
    `vendor's view: at most ${f.maxInFlight} in flight, at most ${f.maxPerMinute} in any 60 s, ${f.throttled} throttle answers (${((100 * f.throttled) / n).toFixed(1)}% of sends)`,
  );
  say(`deferrals: ${f.deferrals} (${(f.deferrals / n).toFixed(2)} per task)`);
  say(
    `flow limiter per send: ${(f.limiter.reads / n).toFixed(2)} reads, ${(f.limiter.writes / n).toFixed(2)} writes (${(f.limiter.conflicts / n).toFixed(2)} of them lost races and were retried)`,
  );
  say(`another tenant's send-now task reached Weiban ${f.otherTenantMs} ms after its create, during the burst`);
  budgets.push({
    what: 'campaign: last send after the first',
    budget: `≤ ${f.idealSeconds + 15} s`,
    measured: `${f.drainSeconds.toFixed(1)} s`,
    ok: f.drainSeconds <= f.idealSeconds + 15,
    why: 'see README "Flow control"',
  });
  budgets.push({
    what: 'campaign: vendor throttle answers',
    budget: '≤ 2%',
    measured: `${((100 * f.throttled) / n).toFixed(1)}%`,
    ok: f.throttled <= n * 0.02,
  });
  budgets.push({ what: "campaign: another tenant's send-now", budget: '≤ 5 s', measured: `${f.otherTenantMs} ms`, ok: f.otherTenantMs <= 5000 });
}

async function throughput(say: (l?: string) => void) {
  const { startLocalStack } = await import('../test/helpers/localStack');
  const key = `qf_bench_${randomUUID().replace(/-/g, '')}`;
  const stack = await startLocalStack(key, {
    QUNFA_ESBUILD_DIR: '.esbuild-bench-stack',
    QUNFA_SANDBOX_PROGRESS_MS: '600000',
    STATUS_POLL_INTERVALS: '3600',
  });
  const { base, dataDir } = stack;
  try {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const { VALID } = await import('../test/helpers/bodies');
    const pool = async <T>(n: number, conc: number, fn: (i: number) => Promise<T>) => {
      const results: T[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: conc }, async () => {
          for (let i = next++; i < n; i = next++) results[i] = await fn(i);
        }),
      );
      return results;
    };
    // Creates per second (timed tasks), 16 in flight.
    const nCreate = 400;
    let t0 = Date.now();
    await pool(nCreate, 16, () =>
      fetch(`${base}/v1/tasks`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ vendor: 'weiban', name: 'tput', sendAt: new Date(Date.now() + 3600_000).toISOString(), ...VALID.weiban }),
      }),
    );
    const createRate = nCreate / ((Date.now() - t0) / 1000);
    say(`tasks created over HTTP: ${createRate.toFixed(0)}/s (${nCreate}, 16 in flight)`);

    // Steps dispatched per second: N tasks due at the same second, fired by the local scheduler.
    const nDispatch = 150;
    const at = new Date(Date.now() + 8000);
    const ids = await pool(
      nDispatch,
      16,
      async () =>
        (
          (await (
            await fetch(`${base}/v1/tasks`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ vendor: 'weiban', name: 'tput-due', sendAt: at.toISOString(), ...VALID.weiban }),
            })
          ).json()) as { id: string }
        ).id,
    );
    const submittedAt: number[] = [];
    for (const deadline = Date.now() + 120_000; submittedAt.length < nDispatch && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 1000));
      submittedAt.length = 0;
      for (const id of ids) {
        const t = (await (await fetch(`${base}/v1/tasks/${id}`, { headers })).json()) as { steps: { submittedAt?: string }[] };
        if (t.steps[0]?.submittedAt) submittedAt.push(Date.parse(t.steps[0].submittedAt));
      }
    }
    const span = (Math.max(...submittedAt) - at.getTime()) / 1000;
    say(
      `steps dispatched through the scheduler to the sandbox: ${(submittedAt.length / span).toFixed(0)}/s (${submittedAt.length} due at one second, last SUBMITTED ${span.toFixed(1)} s after)`,
    );

    // Callbacks ingested per second: signed YouMi events for one submitted task.
    const tenants = JSON.parse(readFileSync(join(dataDir, 'tenants.json'), 'utf8'));
    const creds = tenants.demo.vendors.youmi;
    const yt = (await (
      await fetch(`${base}/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ vendor: 'youmi', name: 'tput-hook', ...VALID.youmi }) })
    ).json()) as { id: string };
    let vid: string | undefined;
    for (let i = 0; i < 50 && !vid; i++) {
      await new Promise((r) => setTimeout(r, 200));
      vid = ((await (await fetch(`${base}/v1/tasks/${yt.id}`, { headers })).json()) as { steps: { vendorTaskId?: string }[] }).steps[0]?.vendorTaskId;
    }
    const { pushYoumiEvent } = await import('../lib/vendors/youmi/sandbox');
    const nEvents = 400;
    t0 = Date.now();
    const codes = await pool(nEvents, 16, (i) =>
      pushYoumiEvent(`${base}/v1/webhooks/youmi/demo`, creds, {
        eventId: `tput-${i}`,
        messageType: 'rpaTaskResult',
        data: { taskId: Number(vid), status: 'running', total: 2, success: i % 3, fail: 0 },
      }),
    );
    const hookRate = nEvents / ((Date.now() - t0) / 1000);
    say(`vendor callbacks ingested: ${hookRate.toFixed(0)}/s (${nEvents} signed events, ${codes.filter((c) => c === 200).length} answered 200, 16 in flight)`);
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
