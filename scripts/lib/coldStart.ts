/**
 * The bench's cold requests (issue 15): each function's bundle, as `osls package` built it, loaded
 * by a fresh Node process that answers one real request, timed from spawn to the answer, against
 * an empty handler run the same way in the same run. The process runs as it would in Lambda (AWS
 * mode, the template's variables, Lambda's own variables, credentials in the environment), with
 * every AWS and vendor endpoint on this machine:
 *
 * - DynamoDB: the bench's dynalite; tenants: the two secrets, served as the Parameters and Secrets
 *   extension serves them;
 * - EventBridge Scheduler and Lambda's Invoke API: local endpoints that accept (and count) the calls;
 * - vendors: the sandboxes behind TLS with a certificate made here (AWS mode takes https only),
 *   trusted through NODE_EXTRA_CA_CERTS, which the empty handler's process gets too.
 *
 * QUNFA_COLD_SHOW_LOGS=1 prints the functions' own output; QUNFA_COLD_NODE_ARGS adds Node options
 * to each probe (e.g. --cpu-prof, to see where a cold start goes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startSecretsExtension } from '../../test/helpers/secretsExtension';

const probe = resolve(__dirname, 'cold-probe.cjs');

/** A function's bundle in a build folder (CommonJS, as deployed: serverless.yml custom.esbuild.format). */
export function bundleOf(built: string, fn: string): string {
  return join(built, `${fn}.js`);
}

export interface ProbeResult {
  /** Spawn to the answer, as the parent saw it. */
  wallMs: number;
  loadMs: number;
  requestMs: number;
  statusCode?: number;
  outcome?: string;
}

/** Node 22 (Lambda's nodejs22.x) from the npm registry, or why there is none. */
export function node22(): { path?: string; version?: string; why?: string } {
  if (process.version.startsWith('v22.')) return { path: process.execPath, version: process.version };
  const r = spawnSync('npm', ['exec', '--yes', '--package=node@22', '-c', 'node -p "process.execPath + \' \' + process.version"'], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  const line = r.stdout?.trim().split('\n').at(-1) ?? '';
  const [path, version] = line.split(' ');
  if (r.status !== 0 || !path || !version?.startsWith('v22.'))
    return { why: `npm exec -p node@22 failed: ${(r.stderr || r.stdout || '').trim().slice(0, 200)}` };
  return { path, version };
}

/** One cold request: a new process loads `bundle` and answers `event`. */
export function coldRequest(node: string, bundle: string, event: unknown, env: Record<string, string>, eventDir: string): Promise<ProbeResult> {
  const eventFile = join(eventDir, `${randomUUID()}.json`);
  writeFileSync(eventFile, JSON.stringify(event));
  return new Promise((done, fail) => {
    const t0 = process.hrtime.bigint();
    const extra = process.env.QUNFA_COLD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const p = spawn(node, [...extra, probe, bundle, eventFile], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let report = '';
    let logs = '';
    p.stdout?.on('data', (d: Buffer) => {
      if (process.env.QUNFA_COLD_SHOW_LOGS) process.stderr.write(d);
    });
    p.stderr?.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    const fd3 = p.stdio[3] as NodeJS.ReadableStream;
    let wallMs = 0;
    fd3.on('data', (d: Buffer) => {
      if (!wallMs && (report + d.toString()).includes('\n')) wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      report += d.toString();
    });
    // Timed at the answer, settled at the exit: whatever the process does after answering (a
    // compile cache written at exit) never overlaps the next run.
    p.on('close', (code) => {
      rmSync(eventFile, { force: true });
      if (!report.includes('\n')) return fail(new Error(`${bundle}: exited ${code} without answering. ${logs.slice(-600)}`));
      const r = JSON.parse(report) as { ok: boolean; error?: string } & Omit<ProbeResult, 'wallMs'>;
      if (!r.ok) fail(new Error(`${bundle}: ${r.error}`));
      else done({ wallMs, loadMs: r.loadMs, requestMs: r.requestMs, statusCode: r.statusCode, outcome: r.outcome });
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (openssl), or why there is none. */
function certificate(dir: string): { key: string; cert: string; certFile: string } | { why: string } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return { why: `openssl could not make a certificate: ${(r.stderr || String(r.error)).trim().slice(0, 200)}` };
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`127.0.0.1:${(s.address() as AddressInfo).port}`)));

/** A server over an async handler (a failure answers 500), over TLS as the AWS endpoints are. */
const served = (tls: { key: string; cert: string }, handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>) =>
  createTlsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  }) as unknown as Server;

const body = (req: IncomingMessage) =>
  new Promise<string>((r) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => r(Buffer.concat(chunks).toString('utf8')));
  });

export interface ColdEndpoints {
  /** The variables every probe gets: endpoints, credentials, the certificate. */
  env: Record<string, string>;
  /** The calls the stand-ins have answered so far. */
  calls(): { scheduler: number; invoke: number; secrets: number };
  close(): Promise<void>;
}

/**
 * The endpoints a cold function talks to, each over TLS as in AWS (but the secrets extension,
 * plain HTTP on localhost there too): DynamoDB (a TLS front for dynalite), the secrets extension
 * (test/helpers/secretsExtension.ts), Scheduler, Lambda's Invoke API, and each vendor sandbox.
 */
export async function coldEndpoints(
  secrets: Record<string, string>,
  dynamoUrl: string,
  sandboxes: { vendor: string; url: string }[],
  baseUrlVariable: (vendor: string) => string,
): Promise<ColdEndpoints | { why: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'qunfa-cold-'));
  const tls = certificate(dir);
  if ('why' in tls) return tls;
  const counted = { scheduler: 0, invoke: 0 };
  const extension = await startSecretsExtension(`bench-session-${randomUUID()}`);
  for (const [id, value] of Object.entries(secrets)) extension.put(id, value);

  // EventBridge Scheduler (REST-JSON): CreateSchedule and DeleteSchedule accepted.
  const schedulerServer = served(tls, async (req, res) => {
    await body(req);
    counted.scheduler++;
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.split('/').at(-1) ?? '');
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(req.method === 'POST' ? JSON.stringify({ ScheduleArn: `arn:aws:scheduler:ap-east-1:123456789012:schedule/bench/${name}` }) : '{}');
  });
  // Lambda's Invoke API: an asynchronous invocation is accepted (202) and only counted.
  const lambdaServer = served(tls, async (req, res) => {
    await body(req);
    counted.invoke++;
    res.writeHead(202).end();
  });
  // A TLS front: the request passed on as it came.
  const front = (url: string) => {
    const target = new URL(url);
    return served(
      tls,
      (req, res) =>
        new Promise<void>((done) => {
          const up = httpRequest(
            { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
            (r) => {
              res.writeHead(r.statusCode ?? 502, r.headers);
              r.pipe(res).on('finish', done);
            },
          );
          up.on('error', () => {
            res.writeHead(502).end();
            done();
          });
          req.pipe(up);
        }),
    );
  };
  const fronts = sandboxes.map(({ vendor, url }) => ({ vendor, server: front(url) }));
  const dynamoFront = front(dynamoUrl);
  const [dynamoAt, schedulerAt, lambdaAt, ...frontAt] = await Promise.all([
    listen(dynamoFront),
    listen(schedulerServer),
    listen(lambdaServer),
    ...fronts.map((f) => listen(f.server)),
  ]);
  const vendorEnv = Object.fromEntries(fronts.map((f, i) => [baseUrlVariable(f.vendor), `https://${frontAt[i]}`]));
  const youmi = fronts.findIndex((f) => f.vendor === 'youmi');
  const env = {
    ...vendorEnv,
    ...(youmi >= 0 ? { YOUMI_TOKEN_URL: `https://${frontAt[youmi]}` } : {}),
    NODE_EXTRA_CA_CERTS: tls.certFile,
    AWS_SESSION_TOKEN: extension.token,
    SECRETS_EXTENSION_URL: extension.url,
    DYNAMODB_ENDPOINT: `https://${dynamoAt}`,
    SCHEDULER_ENDPOINT: `https://${schedulerAt}`,
    LAMBDA_ENDPOINT: `https://${lambdaAt}`,
  };
  return {
    env,
    calls: () => ({ ...counted, secrets: extension.requests.length }),
    async close() {
      for (const s of [dynamoFront, schedulerServer, lambdaServer, ...fronts.map((f) => f.server)]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
      await extension.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What Lambda itself puts in every function's environment (the parts the SDK and Powertools read). */
export function lambdaEnvironment(fn: string, taskRoot: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: 'ap-east-1',
    AWS_DEFAULT_REGION: 'ap-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: `qunfa-bench-${fn}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/qunfa-bench-${fn}`,
    AWS_LAMBDA_LOG_STREAM_NAME: 'bench',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    _X_AMZN_TRACE_ID: `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Parent=${randomUUID().replace(/-/g, '').slice(0, 16)};Sampled=1`,
    LAMBDA_TASK_ROOT: taskRoot,
    _HANDLER: `functions/${fn}.handler`,
  };
}

type Budget = { what: string; budget: string; measured: string; ok: boolean; why?: string };
type Event = Record<string, unknown>;
type Say = (line?: string) => void;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** The template's variables for every function (serverless.yml provider.environment), pointed at this bench's table and secrets. */
export function templateEnvironment(): Record<string, string> {
  return {
    SERVICE: 'qunfa',
    STAGE: 'bench',
    TABLE_NAME: 'qunfa-test-tasks',
    SCHEDULE_GROUP: 'qunfa-bench',
    DISPATCH_FUNCTION_NAME: 'qunfa-bench-dispatchStep',
    DISPATCH_NOW_FUNCTION_NAME: 'qunfa-bench-dispatchNow',
    POLL_FUNCTION_NAME: 'qunfa-bench-pollStatus',
    CALLBACK_FUNCTION_NAME: 'qunfa-bench-deliverCallback',
    SCHEDULER_ROLE_NAME: 'qunfa-bench-scheduler',
    SCHEDULE_DLQ_NAME: 'qunfa-bench-schedule-dlq',
    TENANT_KEYS_SECRET_ID: 'qunfa-bench-tenant-keys',
    VENDOR_CREDENTIALS_SECRET_ID: 'qunfa-bench-vendor-credentials',
    POWERTOOLS_TRACE_ENABLED: 'true',
  };
}

export interface ColdRow {
  fn: string;
  zipped: number;
  loadMs: number;
  emptyNodeMs: number;
  coldMs: number;
  emptyHandlerMs: number;
  requestMs: number;
  answer: string;
  /** The bundle holds the AWS SDK's DynamoDB client (its JSON protocol's target prefix is in it). */
  carriesDynamo: boolean;
}

/**
 * Section 1's measurements for one Node: per function, module load (require in a fresh process,
 * against `node -e 0`) and a cold request (against the empty handler), medians of `runs`, pairs
 * interleaved so a slow moment hits both sides.
 */
export async function measureCold(o: {
  node: string;
  built: string;
  zips: Record<string, number>;
  functions: string[];
  runs: number;
  env: (fn: string) => Record<string, string>;
  event: (fn: string) => Promise<Event>;
  nodeOptions?: string;
}): Promise<ColdRow[]> {
  const eventDir = mkdtempSync(join(tmpdir(), 'qunfa-cold-events-'));
  // The empty handler, required as the functions are.
  const emptyCjs = join(o.built, '_empty.js');
  writeFileSync(emptyCjs, "exports.handler = async () => ({ statusCode: 200, body: '' });\n");
  const time = (args: string[]) => {
    const t0 = process.hrtime.bigint();
    spawnSync(o.node, args, { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const rows: ColdRow[] = [];
  try {
    for (const fn of o.functions) {
      const bundle = bundleOf(o.built, fn);
      const env = { ...o.env(fn), ...(o.nodeOptions ? { NODE_OPTIONS: o.nodeOptions } : {}) };
      const load: number[] = [];
      const emptyNode: number[] = [];
      for (let i = 0; i < o.runs; i++) {
        emptyNode.push(time(['-e', '0']));
        // Running the bundle as the main module evaluates it as import/require would: its module load.
        load.push(time([bundle]));
      }
      const cold: ProbeResult[] = [];
      const emptyCold: number[] = [];
      // The first of each is not counted: it reads the files into the page cache.
      for (let i = 0; i <= o.runs; i++) {
        const e = (await coldRequest(o.node, emptyCjs, {}, env, eventDir)).wallMs;
        const r = await coldRequest(o.node, bundle, await o.event(fn), env, eventDir);
        if (i === 0) continue;
        emptyCold.push(e);
        cold.push(r);
      }
      const last = cold.at(-1) as ProbeResult;
      rows.push({
        fn,
        zipped: o.zips[fn] ?? 0,
        loadMs: median(load),
        emptyNodeMs: median(emptyNode),
        coldMs: median(cold.map((c) => c.wallMs)),
        emptyHandlerMs: median(emptyCold),
        requestMs: median(cold.map((c) => c.requestMs)),
        answer: String(last.statusCode ?? last.outcome ?? 'answered'),
        carriesDynamo: readFileSync(bundle, 'utf8').includes('DynamoDB_20120810'),
      });
    }
  } finally {
    rmSync(eventDir, { recursive: true, force: true });
    rmSync(emptyCjs, { force: true });
  }
  return rows;
}

export function printCold(say: Say, rows: ColdRow[]): void {
  const kb = (n: number) => `${(n / 1024).toFixed(1)}`;
  say(
    `${'function'.padEnd(19)}${'zip KB'.padStart(7)}${'load'.padStart(8)}${'node'.padStart(7)}${'×'.padStart(6)}${'cold'.padStart(8)}${'empty'.padStart(7)}${'×'.padStart(6)}${'in fn'.padStart(7)}  answer`,
  );
  for (const r of rows)
    say(
      `${r.fn.padEnd(19)}${kb(r.zipped).padStart(7)}${r.loadMs.toFixed(1).padStart(8)}${r.emptyNodeMs.toFixed(1).padStart(7)}${(r.loadMs / r.emptyNodeMs).toFixed(2).padStart(6)}${r.coldMs.toFixed(1).padStart(8)}${r.emptyHandlerMs.toFixed(1).padStart(7)}${(r.coldMs / r.emptyHandlerMs).toFixed(2).padStart(6)}${r.requestMs.toFixed(1).padStart(7)}  ${r.answer}`,
    );
}

export function coldBudgets(rows: ColdRow[], budgets: Budget[]): void {
  // The reasons, measured in the same run: what the AWS SDK's DynamoDB client alone costs (the _floor
  // row) for the functions that carry it; for the others, what their own load and request took.
  const floor = rows.find((x) => x.fn === '_floor');
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  for (const r of rows.filter((x) => !x.fn.startsWith('_'))) {
    const f = r.carriesDynamo ? floor : undefined;
    const overNode = `${(r.loadMs - r.emptyNodeMs).toFixed(0)} ms over an empty Node`;
    budgets.push({
      what: `${r.fn}: zipped bundle`,
      budget: '≤ 150 KB',
      measured: `${(r.zipped / 1024).toFixed(1)} KB`,
      ok: r.zipped <= 150 * 1024,
      why: f ? `the DynamoDB client alone is ${(f.zipped / 1024).toFixed(0)} KB gzipped (_floor)` : 'zod and the Powertools logger',
    });
    const load = r.loadMs / r.emptyNodeMs;
    budgets.push({
      what: `${r.fn}: module load vs empty Node (22)`,
      budget: '≤ 1.50×',
      measured: `${load.toFixed(2)}×`,
      ok: load <= 1.5,
      why: f
        ? `the DynamoDB client alone loads in ${ratio(f.loadMs, f.emptyNodeMs)} (_floor); the rest: zod, Powertools, docs/bench.md`
        : `parsing zod and the Powertools logger, ${overNode}: docs/bench.md`,
    });
    const cold = r.coldMs / r.emptyHandlerMs;
    budgets.push({
      what: `${r.fn}: cold request vs empty handler (22)`,
      budget: '≤ 1.50×',
      measured: `${cold.toFixed(2)}×`,
      ok: cold <= 1.5,
      why: f
        ? `the SDK's first DynamoDB request alone is ${ratio(f.coldMs, f.emptyHandlerMs)} (_floor)`
        : `its module load (${overNode}) and the request itself (${r.requestMs.toFixed(1)} ms)`,
    });
  }
}

/** Median cold request of `runs` (after one uncounted), `before` run ahead of each (e.g. restoring a cache). */
export async function timeCold(
  node: string,
  bundle: string,
  env: Record<string, string>,
  event: () => Promise<Event>,
  runs: number,
  before?: () => void,
): Promise<{ ms: number; answer: string }> {
  const eventDir = mkdtempSync(join(tmpdir(), 'qunfa-cold-events-'));
  try {
    const xs: number[] = [];
    let answer = '';
    for (let i = 0; i <= runs; i++) {
      before?.();
      const r = await coldRequest(node, bundle, await event(), env, eventDir);
      answer = String(r.statusCode ?? r.outcome ?? 'answered');
      if (i > 0) xs.push(r.wallMs);
    }
    return { ms: median(xs), answer };
  } finally {
    rmSync(eventDir, { recursive: true, force: true });
  }
}

/** Total gzipped size of a directory's files (what they would add to a zip, near enough). */
export function gzippedSize(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, f);
    if (statSync(p).isFile()) total += gzipSync(readFileSync(p), { level: 9 }).length;
  }
  return total;
}

/**
 * The levers that are settings, not code, tried on a few functions in this run (section 1c):
 * `--enable-source-maps` without source maps, and Node 22's compile cache built at package time
 * (a process that only loads the bundle, as a package step could) and shipped beside it. Node 22
 * keys the cache by the bundle's absolute path and by its own version, architecture and V8 flags
 * (the cache's folder is named so: `v22.23.3-x64-<flags hash>`), so it is also tried where it does
 * not match: the bundle at another path (Lambda runs it from /var/task), another Node (20), and a
 * damaged cache. Each case is still answered, or the table says it was not.
 */
export async function settingLevers(o: {
  say: Say;
  node22: string;
  otherNode?: { path: string; version: string };
  built: string;
  functions: string[];
  runs: number;
  env: (fn: string) => Record<string, string>;
  event: (fn: string) => Promise<Event>;
}): Promise<void> {
  const { say } = o;
  say(`${'function'.padEnd(16)}${'case'.padEnd(58)}${'cold ms'.padStart(9)}  answer`);
  const work = mkdtempSync(join(tmpdir(), 'qunfa-levers-'));
  try {
    for (const fn of o.functions) {
      const bundle = bundleOf(o.built, fn);
      const env = o.env(fn);
      const row = async (label: string, node: string, b: string, extra: Record<string, string>, before?: () => void) => {
        const r = await timeCold(node, b, { ...env, ...extra }, () => o.event(fn), o.runs, before);
        say(`${fn.padEnd(16)}${label.padEnd(58)}${r.ms.toFixed(1).padStart(9)}  ${r.answer}`);
        return r.ms;
      };
      await row('as built', o.node22, bundle, {});
      await row('NODE_OPTIONS=--enable-source-maps (no source map shipped)', o.node22, bundle, { NODE_OPTIONS: '--enable-source-maps' });

      // The cache made at "package time": one process that loads the bundle, nothing more.
      const pristine = join(work, `${fn}-cache`);
      spawnSync(o.node22, [bundle], { env: { PATH: process.env.PATH ?? '', NODE_COMPILE_CACHE: pristine }, stdio: 'ignore' });
      const entries = readdirSync(pristine, { recursive: true }) as string[];
      const folder = entries.find((e) => statSync(join(pristine, e)).isDirectory()) ?? '?';
      // Each run gets the cache as shipped: a run's own writes (Lambda's /var/task is read-only) are not kept.
      const live = join(work, `${fn}-live`);
      const restore = (from: string) => () => {
        rmSync(live, { recursive: true, force: true });
        cpSync(from, live, { recursive: true });
      };
      await row(
        `compile cache from package time (${folder}, ${(gzippedSize(pristine) / 1024).toFixed(0)} KB gz)`,
        o.node22,
        bundle,
        { NODE_COMPILE_CACHE: live },
        restore(pristine),
      );
      // The same files at another path: Node 22 keys each entry by the bundle's absolute path.
      const moved = join(work, `${fn}-elsewhere`);
      cpSync(o.built, moved, { recursive: true });
      await row('  … the bundle run from another folder (as /var/task)', o.node22, bundleOf(moved, fn), { NODE_COMPILE_CACHE: live }, restore(pristine));
      // A damaged cache: every entry's bytes overwritten.
      const damaged = join(work, `${fn}-damaged`);
      cpSync(pristine, damaged, { recursive: true });
      for (const e of readdirSync(damaged, { recursive: true }) as string[]) {
        const p = join(damaged, e);
        if (statSync(p).isFile()) writeFileSync(p, Buffer.alloc(statSync(p).size, 0x5a));
      }
      await row('  … the cache damaged (every byte overwritten)', o.node22, bundle, { NODE_COMPILE_CACHE: live }, restore(damaged));
      if (o.otherNode) await row(`  … run by Node ${o.otherNode.version}`, o.otherNode.path, bundle, { NODE_COMPILE_CACHE: live }, restore(pristine));
      rmSync(moved, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
