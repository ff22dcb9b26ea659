/**
 * Trying to break qunfa's promises: a step reaches a vendor at most once, no task is lost, bad
 * input never hurts it, one tenant never sees another, secrets never leak. Fast profile inside
 * `npm test`; `npm run test:reliability` is the full profile (≥ 10,000 generated cases) and ends
 * with a table of what it found.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '../lib/infra/logger';
import { LocalScheduler, startLocalRunner } from '../lib/infra/scheduler/localScheduler';
import { verifyCallbackSignature } from '../lib/delivery/callerCallbacks';
import { postJson } from '../lib/infra/guardedFetch';
import type { StepState } from '../lib/core/task';
import { moveStep } from '../lib/core/states';
import { TaskStore } from '../lib/infra/taskStore';
import { authenticate } from '../lib/api/auth';
import { sha256 } from '../lib/core/canonicalJson';
import { weibanAdapter } from '../lib/vendors/weiban/adapter';
import { stepInput } from '../lib/vendors/stepInput';
import { loadSettings } from '../lib/infra/settings';
import { loadVendorSettings } from '../lib/vendors/registry';
import { VALID } from './helpers/bodies';
import { call, clearLimits, inSeconds, KEY_A, KEY_B, lambdaContext, startTestEnv, waitFor, type Res, type TestEnv } from './helpers/env';
import { startProxy } from './helpers/proxy';
import { pushYoumiEvent } from '../lib/vendors/youmi/sandbox';
import { youmiEventSignature } from '../lib/vendors/youmi/adapter';
import { countCommands, dynamoFaults, FaultyScheduler, schedulerRefusal, schedulerThrottle, throttling } from './reliability/faults';
import { LIST_MAX_QUERIES } from '../lib/infra/taskStore';
import { appSettings, appVendors, dynamo, fns, rebuildTestApp, setScheduler, setTenantDirectory, tenantDirectory } from './helpers/testApp';
const createTask = fns.createTask;
const deleteTask = fns.deleteTask;
const deliverCallbackFn = fns.deliverCallback;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listTasks = fns.listTasks;
const patchTaskFn = fns.patchTask;
const vendorWebhook = fns.vendorWebhook;
const openapi = fns.openapi;
const listVendors = fns.listVendors;
const pollStatusFn = fns.pollStatus;

const FULL = process.env.QUNFA_PROFILE === 'full';
const N = {
  fuzzPerCategory: FULL ? 2_000 : 150,
  webhookFuzz: FULL ? 2_000 : 150,
  cancelRaces: FULL ? 100 : 15,
  creates: 200,
  dispatches: 50,
  isolation: FULL ? 50 : 10,
};

interface Row {
  tried: number;
  duplicates: number;
  lost: number;
  fiveXX: number;
  leaks: number;
}
const rows = new Map<string, Row>();
const row = (name: string) => {
  if (!rows.has(name)) rows.set(name, { tried: 0, duplicates: 0, lost: 0, fiveXX: 0, leaks: 0 });
  return rows.get(name) as Row;
};
interface FaultRow {
  boundary: string;
  fault: string;
  finalState: string;
  vendorSends: number;
  recoverable: string;
}
const faultRows: FaultRow[] = [];

let env: TestEnv;
const captured: string[] = [];
const restore: (() => void)[] = [];
let secrets: string[] = [];

/** Every task a create acknowledged (2xx), by tenant key: each must still exist at the end. */
const acknowledged = new Map<string, string>();
const remember = (res: Res, key = KEY_A) => {
  if (res.status >= 200 && res.status < 300 && res.body?.id) acknowledged.set(res.body.id, key);
  return res;
};
const create = async (b: unknown, headers: Record<string, string> = {}, key?: string) =>
  remember(await call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b, headers, key }), key);
const createRaw = async (rawBody: string, headers: Record<string, string> = {}) =>
  remember(await call(createTask as never, { method: 'POST', path: '/v1/tasks', rawBody, headers }));
const get = (id: string, key?: string) => call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id }, key });
const cancel = (id: string, key?: string) => call(deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${id}`, params: { taskId: id }, key });
const dispatch = (taskId: string) => (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId, step: 0 }, lambdaContext('dispatchStep'));
const sandbox = () => env.sandbox('weiban');
const vendorTasksNamedAt = async (vendor: string, name: string) =>
  ((await (await fetch(`${env.sandbox(vendor).url}/__sandbox/tasks`)).json()) as any[]).filter(
    (t) => (t.request?.name ?? t.request?.template_name ?? t.request?.bulksend?.task_theme ?? t.request?.title) === name,
  );
const vendorTasksNamed = async (name: string) =>
  ((await (await fetch(`${sandbox().url}/__sandbox/tasks`)).json()) as any[]).filter((t) => t.request?.name === name);
const fault = (f: unknown) => fetch(`${sandbox().url}/__sandbox/faults`, { method: 'POST', body: JSON.stringify(f) });
const itemCount = async () => {
  let n = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks', Select: 'COUNT', ExclusiveStartKey: start }));
    n += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return n;
};
const unique = () => `rel-${randomUUID().slice(0, 8)}`;
const task = (over: Record<string, unknown> = {}) => ({ vendor: 'weiban', name: unique(), sendAt: inSeconds(4), ...VALID.weiban, ...over });
const leakedIn = (text: string) => secrets.filter((s) => s.length >= 8 && text.includes(s));

/** A 4xx answer that is problem+json naming a field, leaking nothing. */
function checkRefusal(res: Res, r: Row): void {
  r.tried++;
  if (res.status >= 500) {
    r.fiveXX++;
    return;
  }
  const text = JSON.stringify(res.body ?? '');
  if (leakedIn(text).length) r.leaks++;
  if (res.status < 400) return;
  expect(res.headers['content-type']).toBe('application/problem+json');
  expect(res.body.status).toBe(res.status);
  expect(res.body.errors?.length ?? 0, text).toBeGreaterThan(0);
  for (const e of res.body.errors) expect(typeof e.path === 'string' && e.path.length > 0).toBe(true);
}

beforeAll(async () => {
  env = await startTestEnv({ VENDOR_TIMEOUT_MS: '500', DISPATCH_BACKOFF_MS: '5', DISPATCH_LEASE_SECONDS: '1', QUNFA_SANDBOX_PROGRESS_MS: '600000' });
  const all = Object.values(env.tenants).flatMap((t) => [t.webhookSecret, ...Object.values(t.vendors).flatMap((v) => Object.values(v))]);
  secrets = [KEY_A, KEY_B, ...all];
  // Every byte any logger or library writes during the suite is kept and searched for secrets.
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = (chunk: unknown, ...rest: unknown[]) => {
      captured.push(String(chunk));
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    };
    restore.push(() => {
      stream.write = original;
    });
  }
  logger.setLogLevel('DEBUG');
}, 60_000);

afterAll(async () => {
  logger.setLogLevel('ERROR');
  const durability = row('durability: acknowledged tasks still there');
  for (const [id, key] of acknowledged) {
    durability.tried++;
    if ((await get(id, key)).status !== 200) durability.lost++;
  }
  // Issued vendor tokens are secrets too: collect them from what the sandboxes saw.
  for (const s of env.sandboxes) {
    const reqs = (await (await fetch(`${s.url}/__sandbox/requests`)).json()) as any[];
    for (const r of reqs) {
      if (r.query?.access_token) secrets.push(r.query.access_token);
      const bearer = /^Bearer (.+)$/.exec(r.headers?.authorization ?? '')?.[1];
      if (bearer) secrets.push(bearer);
    }
  }
  for (const r of restore) r();
  const logText = captured.join('');
  const logLeaks = [...new Set(leakedIn(logText))];
  const logs = row('secrets: captured logs (bytes)');
  logs.tried = logText.length;
  logs.leaks = logLeaks.length;
  await env.close();

  const pad = (v: unknown, n: number) => String(v).padStart(n);
  const lines = [
    '',
    `qunfa reliability — profile ${FULL ? 'full' : 'fast'} (${FULL ? 'npm run test:reliability' : 'npm test'})`,
    `${'category'.padEnd(52)}${pad('tried', 8)}${pad('dup sends', 11)}${pad('lost', 6)}${pad('5xx bad input', 15)}${pad('leaks', 7)}`,
    ...[...rows.entries()].map(([k, r]) => `${k.padEnd(52)}${pad(r.tried, 8)}${pad(r.duplicates, 11)}${pad(r.lost, 6)}${pad(r.fiveXX, 15)}${pad(r.leaks, 7)}`),
    `${'TOTAL'.padEnd(52)}${pad(
      [...rows.values()].filter((_, i) => [...rows.keys()][i] !== 'secrets: captured logs (bytes)').reduce((a, r) => a + r.tried, 0),
      8,
    )}${pad(
      [...rows.values()].reduce((a, r) => a + r.duplicates, 0),
      11,
    )}${pad(
      [...rows.values()].reduce((a, r) => a + r.lost, 0),
      6,
    )}${pad(
      [...rows.values()].reduce((a, r) => a + r.fiveXX, 0),
      15,
    )}${pad(
      [...rows.values()].reduce((a, r) => a + r.leaks, 0),
      7,
    )}`,
    '',
    `${'boundary'.padEnd(12)}${'fault'.padEnd(46)}${'final state'.padEnd(34)}${pad('vendor sends', 13)}  recoverable with the same Idempotency-Key`,
    ...faultRows.map((f) => `${f.boundary.padEnd(12)}${f.fault.padEnd(46)}${f.finalState.padEnd(34)}${pad(f.vendorSends, 13)}  ${f.recoverable}`),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (logLeaks.length) throw new Error(`secrets found in logs: ${logLeaks.length}`);
  if (durability.lost) throw new Error(`${durability.lost} acknowledged tasks lost`);
});

describe('concurrency', () => {
  it(`${N.dispatches} simultaneous dispatches of one step → exactly one vendor create`, async () => {
    const r = row('concurrency: racing dispatches of one step');
    const t = (await create(task())).body;
    await Promise.all(Array.from({ length: N.dispatches }, () => dispatch(t.id)));
    r.tried += N.dispatches;
    const sends = (await vendorTasksNamed(t.name)).length;
    r.duplicates += Math.max(0, sends - 1);
    expect(sends).toBe(1);
  });

  it(`${N.creates} simultaneous creates with one Idempotency-Key → one task, every answer that task`, async () => {
    const r = row('concurrency: one Idempotency-Key, concurrent creates');
    const body = task();
    const before = await itemCount();
    const answers = await Promise.all(Array.from({ length: N.creates }, () => create(body, { 'idempotency-key': `burst-${body.name}` })));
    r.tried += N.creates;
    const ids = new Set(answers.map((a) => a.body.id));
    r.duplicates += ids.size - 1;
    r.fiveXX += answers.filter((a) => a.status >= 500).length;
    expect(ids.size).toBe(1);
    expect(await itemCount()).toBe(before + 2); // the key's record and the task
  });

  it(`cancel racing dispatch, ${N.cancelRaces} trials → CANCELLED with no send, or SUBMITTED with exactly one`, async () => {
    const r = row('concurrency: cancel racing dispatch');
    for (let i = 0; i < N.cancelRaces; i++) {
      const t = (await create(task())).body;
      const [c] = await Promise.all([cancel(t.id), dispatch(t.id)]);
      const final = (await get(t.id)).body;
      const sends = (await vendorTasksNamed(t.name)).length;
      r.tried++;
      if (final.status === 'CANCELLED') {
        expect(c.status).toBe(200);
        expect(sends).toBe(0);
      } else {
        expect(final.status).toBe('SUBMITTED');
        expect(c.status).toBe(409);
        expect(sends).toBe(1);
      }
      r.duplicates += Math.max(0, sends - 1);
    }
  });
});

describe('faults at every boundary', () => {
  /** Creates (with a key), injects, dispatches, then replays the same create. */
  async function vendorFault(label: string, inject: unknown, expected: string, deferrals = 0) {
    await clearLimits(); // no earlier test's throttle pause carries into this one
    const body = task();
    const key = `fault-${body.name}`;
    const created = await create(body, { 'idempotency-key': key });
    if (inject) await fault(inject);
    await dispatch(created.body.id);
    // A throttled step is deferred, not failed: fire it again when its history says, as the scheduler would.
    for (let i = 0; i < deferrals; i++) {
      const waiting = (await get(created.body.id)).body;
      expect(waiting.status).toBe('SCHEDULED');
      expect(waiting.history.at(-1).cause).toMatch(new RegExp(`^deferred \\(${i + 1}\\): .*throttled`));
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(waiting.steps[0].nextAttemptAt) - Date.now())));
      await dispatch(created.body.id);
    }
    const final = (await get(created.body.id)).body;
    const replay = await create(body, { 'idempotency-key': key });
    await dispatch(created.body.id); // the scheduler's at-least-once retry
    const sends = (await vendorTasksNamed(body.name)).length;
    faultRows.push({
      boundary: 'vendor',
      fault: label,
      finalState: final.status,
      vendorSends: sends,
      recoverable: replay.body.id === created.body.id ? `yes: the same task (${replay.status}), no second send` : 'NO',
    });
    row('faults: vendor').tried++;
    row('faults: vendor').duplicates += Math.max(0, sends - 1);
    expect(final.status).toBe(expected);
    expect(sends).toBeLessThanOrEqual(1);
    expect(replay.body.id).toBe(created.body.id);
  }

  it('vendor: HTTP 500 → UNKNOWN, never re-sent', () =>
    vendorFault('HTTP 500 (after it may have stored the task)', { match: 'customer_group_msg', mode: 'http', status: 500 }, 'UNKNOWN'));
  it('vendor: a timeout → UNKNOWN, never re-sent', () =>
    vendorFault('answer slower than the timeout', { match: 'customer_group_msg', mode: 'accept-then-delay', delayMs: 1500 }, 'UNKNOWN'));
  it('vendor: a reset connection → UNKNOWN', () => vendorFault('connection reset', { match: 'customer_group_msg', mode: 'reset' }, 'UNKNOWN'));
  it('vendor: its answer lost after it accepted → UNKNOWN, sent once', () =>
    vendorFault('accepted, then the connection dropped', { match: 'customer_group_msg', mode: 'accept-then-reset' }, 'UNKNOWN'));
  // 10052 (over 5 in flight) asks for a 1 s pause; 10053's 60 s ban is shown in flow-control tests.
  it('vendor: throttling codes → deferred twice, then SUBMITTED once', () =>
    vendorFault(
      'errcode 10052 twice (deferred)',
      { match: 'customer_group_msg', mode: 'vendor-error', code: 10052, message: 'too many concurrent requests', count: 2 },
      'SUBMITTED',
      2,
    ));
  it('vendor: HTTP 429 → deferred twice, then SUBMITTED once', () =>
    vendorFault('HTTP 429 twice (deferred)', { match: 'customer_group_msg', mode: 'http', status: 429, count: 2 }, 'SUBMITTED', 2));
  it('vendor: a refusal → FAILED with its code, not retried', () =>
    vendorFault('errcode 40001 (refused)', { match: 'customer_group_msg', mode: 'vendor-error', code: 40001, message: 'invalid parameter' }, 'FAILED'));
  it('vendor: a revoked token → refreshed once, SUBMITTED', async () => {
    await fetch(`${sandbox().url}/__sandbox/revoke-tokens`, { method: 'POST' });
    await vendorFault('token revoked', undefined, 'SUBMITTED');
  });

  it('DynamoDB: throttling on create → 503 Retry-After; the retry with the same key makes it, once', async () => {
    const faults = dynamoFaults(dynamo());
    const body = task();
    const key = `ddb-${body.name}`;
    const before = await itemCount();
    faults.push({ command: /PutItemCommand/, count: 1, error: throttling, after: 1 }); // the idempotency record lands, the task write throttles
    const first = await create(body, { 'idempotency-key': key });
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBeDefined();
    const retry = await create(body, { 'idempotency-key': key });
    expect(retry.status).toBe(201);
    expect(await itemCount()).toBe(before + 2);
    faultRows.push({
      boundary: 'DynamoDB',
      fault: 'throttled task write on create',
      finalState: `503, then ${retry.status} SCHEDULED`,
      vendorSends: 0,
      recoverable: 'yes: the retry completes the same task',
    });
    row('faults: DynamoDB').tried++;
  });

  it('DynamoDB: throttling on the dispatch claim → the invocation fails, its retry sends once', async () => {
    const faults = dynamoFaults(dynamo());
    const t = (await create(task())).body;
    faults.push({ command: /GetItemCommand/, count: 1, error: throttling });
    await expect(dispatch(t.id)).rejects.toThrow();
    await dispatch(t.id);
    const sends = (await vendorTasksNamed(t.name)).length;
    const final = (await get(t.id)).body.status;
    expect(final).toBe('SUBMITTED');
    expect(sends).toBe(1);
    faultRows.push({
      boundary: 'DynamoDB',
      fault: 'throttled read at the claim',
      finalState: final,
      vendorSends: sends,
      recoverable: 'n/a: Lambda retries the invocation',
    });
    row('faults: DynamoDB').tried++;
  });

  it('DynamoDB: the outcome write fails after the vendor accepted → UNKNOWN after the lease, never re-sent', async () => {
    const faults = dynamoFaults(dynamo());
    const t = (await create(task())).body;
    faults.push({ command: /PutItemCommand/, count: 1, error: throttling, after: 1 }); // the claim lands, the outcome does not
    await expect(dispatch(t.id)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 1100)); // DISPATCH_LEASE_SECONDS=1
    await dispatch(t.id);
    const final = (await get(t.id)).body.status;
    const sends = (await vendorTasksNamed(t.name)).length;
    expect(final).toBe('UNKNOWN');
    expect(sends).toBe(1);
    faultRows.push({
      boundary: 'DynamoDB',
      fault: 'outcome write failed after the accept',
      finalState: final,
      vendorSends: sends,
      recoverable: 'n/a: never re-sent; history says what to check',
    });
    row('faults: DynamoDB').tried++;
  });

  it("the dispatch process killed between the vendor's accept and the store's commit → UNKNOWN, sent once", async () => {
    const t = (await create(task())).body;
    await fault({ match: 'customer_group_msg', mode: 'accept-then-delay', delayMs: 20_000 });
    // node itself runs the dispatcher (`tsx` the binary is a wrapper process: killing it would leave the dispatcher running).
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'reliability/dispatch-child.ts'), t.id], {
      cwd: join(__dirname, '..'),
      env: process.env,
      stdio: 'ignore',
    });
    await waitFor(async () => (await vendorTasksNamed(t.name)).length === 1, 20_000, 50);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect((await get(t.id)).body.status).toBe('DISPATCHING');
    await new Promise((r) => setTimeout(r, 1100));
    await dispatch(t.id);
    const final = (await get(t.id)).body.status;
    const sends = (await vendorTasksNamed(t.name)).length;
    expect(final).toBe('UNKNOWN');
    expect(sends).toBe(1);
    faultRows.push({
      boundary: 'process',
      fault: 'SIGKILL between vendor accept and commit',
      finalState: final,
      vendorSends: sends,
      recoverable: 'n/a: never re-sent; history says what to check',
    });
    row('faults: process killed').tried++;
  }, 40_000);

  for (const [label, make, expectCreate] of [
    ['throttling CreateSchedule', schedulerThrottle, 503],
    ['refusing CreateSchedule (AccessDenied)', schedulerRefusal, 500],
  ] as const) {
    it(`scheduler: ${label} → ${expectCreate}, no task; the retry with the same key creates it once`, async () => {
      const faulty = new FaultyScheduler(new LocalScheduler(dynamo(), 'qunfa-test-schedules'));
      setScheduler(faulty);
      try {
        const body = task();
        faulty.createFaults.push(make);
        const first = await create(body, { 'idempotency-key': `sch-${body.name}` });
        expect(first.status).toBe(expectCreate);
        expect(JSON.stringify(first.body)).not.toMatch(/not authorized|scheduler:CreateSchedule/);
        const retry = await create(body, { 'idempotency-key': `sch-${body.name}` });
        expect(retry.status).toBe(201);
        await dispatch(retry.body.id);
        expect((await vendorTasksNamed(body.name)).length).toBe(1);
        faultRows.push({
          boundary: 'scheduler',
          fault: label,
          finalState: `${first.status}, then 201 → SUBMITTED`,
          vendorSends: 1,
          recoverable: 'yes: the retry creates it, once',
        });
        row('faults: scheduler').tried++;
      } finally {
        setScheduler(undefined);
      }
    });
  }

  for (const [label, make] of [
    ['throttling DeleteSchedule', schedulerThrottle],
    ['refusing DeleteSchedule', schedulerRefusal],
  ] as const) {
    it(`scheduler: ${label} on cancel → still CANCELLED; its firing sends nothing`, async () => {
      const faulty = new FaultyScheduler(new LocalScheduler(dynamo(), 'qunfa-test-schedules'));
      setScheduler(faulty);
      try {
        const t = (await create(task())).body;
        faulty.deleteFaults.push(make);
        const c = await cancel(t.id);
        expect(c.status).toBe(200);
        await dispatch(t.id); // the schedule that could not be deleted fires
        const final = (await get(t.id)).body.status;
        const sends = (await vendorTasksNamed(t.name)).length;
        expect(final).toBe('CANCELLED');
        expect(sends).toBe(0);
        faultRows.push({ boundary: 'scheduler', fault: label, finalState: final, vendorSends: sends, recoverable: 'n/a: the cancel held' });
        row('faults: scheduler').tried++;
      } finally {
        setScheduler(undefined);
      }
    });
  }
});

describe('hostile input', () => {
  const valid = () => ({
    vendor: 'weiban',
    name: 'x',
    audience: { kind: 'groups', senders: ['s'], groupIds: ['g'] },
    content: { text: 't' },
    sendAt: inSeconds(3600),
  });
  const keys = ['vendor', 'name', 'audience', 'content', 'sendAt', 'steps', 'callbackUrl', 'vendorOptions'];
  const weird = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.constantFrom('\u202e', '\u200b', '\ud800', '\udfff', '\u0000', 'A\u030a', '👩‍👩‍👧‍👦', '𠜎', '\ufeff', 'x'.repeat(5000)),
  );
  const protoKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty');

  async function fuzz(name: string, arb: fc.Arbitrary<string>, runs: number, headers: fc.Arbitrary<Record<string, string>> = fc.constant({})) {
    const r = row(`hostile input: ${name}`);
    const before = await itemCount();
    let created = 0;
    await fc.assert(
      fc.asyncProperty(arb, headers, async (raw, h) => {
        const res = await createRaw(raw, h);
        if (res.status === 201 || res.status === 200) created++;
        checkRefusal(res, r);
        return res.status < 500;
      }),
      { numRuns: runs },
    );
    // Never a write for a refusal: the only new items are the tasks that were valid by chance.
    expect(await itemCount()).toBeLessThanOrEqual(before + 2 * created);
  }

  it('arbitrary JSON values', () =>
    fuzz(
      'arbitrary JSON',
      fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)),
      N.fuzzPerCategory,
    ));
  it('a valid task with one field replaced by anything', () =>
    fuzz(
      'one field of a valid task replaced',
      fc
        .tuple(fc.constantFrom(...keys), fc.anything({ maxDepth: 4, withBigInt: false, withMap: false, withSet: false, withTypedArray: false }))
        .map(([k, v]) => JSON.stringify({ ...valid(), [k]: v }) ?? '{}'),
      N.fuzzPerCategory,
    ));
  it('unicode edge cases in every string', () =>
    fuzz(
      'unicode edge cases',
      fc
        .tuple(weird, weird, weird)
        .map(([a, b, c]) => JSON.stringify({ ...valid(), name: a, content: { text: b }, audience: { kind: 'groups', senders: [c], groupIds: [b] } })),
      N.fuzzPerCategory,
    ));
  it('__proto__, constructor and prototype keys at any depth', () =>
    fuzz(
      'prototype keys',
      fc.tuple(protoKeys, fc.constantFrom('', 'audience', 'content', 'vendorOptions', 'audience.tags'), fc.jsonValue({ maxDepth: 2 })).map(([k, at, v]) => {
        const base = JSON.stringify(valid());
        const inject = `"${k}":${JSON.stringify(v)},`;
        if (!at) return base.replace('{', `{${inject}`);
        const field = at.split('.').at(-1) as string;
        return base.includes(`"${field}":{`)
          ? base.replace(`"${field}":{`, `"${field}":{${inject}`)
          : base.replace('{', `{"${field}":{${inject.slice(0, -1)}},`);
      }),
      N.fuzzPerCategory,
    ));
  it('numbers past 2^53, ±Infinity-sized, -0 and tiny, in every place', () =>
    fuzz(
      'extreme numbers',
      fc
        .tuple(
          fc.constantFrom(...keys, 'audience.senders', 'content.text'),
          fc.constantFrom('9007199254740993', '1e309', '-1e309', '-0', '1e-400', '123456789012345678901234567890', '0.1e1', '-9223372036854775809'),
        )
        .map(([k, n]) => {
          const v = valid() as Record<string, any>;
          if (k === 'audience.senders') return JSON.stringify(v).replace('"senders":["s"]', `"senders":[${n}]`);
          if (k === 'content.text') return JSON.stringify(v).replace('"text":"t"', `"text":${n}`);
          return JSON.stringify({ ...v, [k]: '§' }).replace('"§"', n);
        }),
      N.fuzzPerCategory,
    ));
  it('huge and deeply nested bodies, with and without an Idempotency-Key', () =>
    fuzz(
      'huge and deeply nested',
      fc
        .tuple(fc.integer({ min: 1, max: FULL ? 100_000 : 20_000 }), fc.constantFrom('vendorOptions', 'audience', 'content', 'steps', 'name'))
        .map(([depth, k]) => JSON.stringify({ ...valid(), [k]: '§' }).replace('"§"', `${'['.repeat(depth)}${']'.repeat(depth)}`)),
      Math.max(50, N.fuzzPerCategory / 10),
      fc.constantFrom<Record<string, string>>({}, { 'idempotency-key': 'deep' }),
    ));
  it('bodies past the limit, and not JSON at all', async () => {
    const r = row('hostile input: oversized or not JSON');
    for (const raw of [
      'x'.repeat(5 * 1024 * 1024 + 1),
      `{"name":"${'字'.repeat(2_000_000)}"}`,
      '',
      '{',
      '{"a":1}{"b":2}',
      'null',
      '[]',
      '"str"',
      '\u0000',
      '<xml/>',
    ]) {
      const res = await createRaw(raw);
      checkRefusal(res, r);
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
  });

  it('forged webhook payloads → 401/404, never 5xx, nothing written', async () => {
    const r = row('hostile input: forged vendor callbacks');
    const before = await itemCount();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('weiban', 'youmi', 'tanmarket', 'wshoto', 'nope', '__proto__'),
        fc.constantFrom('a', 'b', 'ghost', '__proto__', '../a'),
        fc.constantFrom('GET', 'POST'),
        fc.dictionary(
          fc.constantFrom('msg_signature', 'timestamp', 'nonce', 'echostr'),
          fc.oneof(fc.string(), fc.constant(String(Math.floor(Date.now() / 1000)))),
        ),
        fc.dictionary(
          fc.constantFrom('x-youmi-appid', 'x-youmi-nonce', 'x-youmi-timestamp', 'x-youmi-signature'),
          fc.oneof(fc.string(), fc.constant(env.tenants.a!.vendors.youmi.clientId as string)),
        ),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string(),
          fc.constant('{"encrypt":"AAAA"}'),
          fc.constant('{"eventId":"x","messageType":"rpaTaskResult","data":{"taskId":1,"status":"finished"}}'),
        ),
        async (vendor, tenant, method, query, headers, rawBody) => {
          const res = await call(vendorWebhook as never, {
            method,
            path: `/v1/webhooks/${vendor}/${tenant}`,
            key: null,
            params: { vendor, tenantId: tenant },
            query,
            headers,
            rawBody,
          });
          r.tried++;
          if (res.status >= 500) r.fiveXX++;
          if (leakedIn(JSON.stringify(res.body ?? '')).length) r.leaks++;
          return [401, 404].includes(res.status);
        },
      ),
      { numRuns: N.webhookFuzz },
    );
    expect(await itemCount()).toBe(before);
  });

  it('vendor callbacks whose body is JSON but not an object (null, a number, an array) → 401, never 5xx', async () => {
    const r = row('hostile input: forged vendor callbacks');
    const ts = String(Math.floor(Date.now() / 1000));
    const creds = env.tenants.a!.vendors.youmi as { clientId: string; clientSecret: string };
    for (const rawBody of ['null', '1', '[]', '"x"', 'true']) {
      const weiban = await call(vendorWebhook as never, {
        method: 'POST',
        path: '/v1/webhooks/weiban/a',
        key: null,
        params: { vendor: 'weiban', tenantId: 'a' },
        query: { timestamp: ts, nonce: 'n' },
        rawBody,
      });
      // YouMi's is signed with the right secret: only the body's shape is wrong.
      const youmi = await call(vendorWebhook as never, {
        method: 'POST',
        path: '/v1/webhooks/youmi/a',
        key: null,
        params: { vendor: 'youmi', tenantId: 'a' },
        rawBody,
        headers: {
          'x-youmi-appid': creds.clientId,
          'x-youmi-nonce': 'n',
          'x-youmi-timestamp': ts,
          'x-youmi-signature': youmiEventSignature(creds.clientSecret, creds.clientId, 'n', ts, rawBody),
        },
      });
      for (const res of [weiban, youmi]) {
        r.tried++;
        if (res.status >= 500) r.fiveXX++;
        expect(res.status, rawBody).toBe(401);
      }
    }
  });

  it('list query parameters', async () => {
    const r = row('hostile input: list query parameters');
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('status', 'vendor', 'limit', 'cursor', 'x'), fc.string()), async (q) => {
        const res = await call(listTasks as never, { path: '/v1/tasks', query: q });
        checkRefusal(res, r);
        return res.status === 200 || res.status === 400;
      }),
      { numRuns: Math.max(50, N.fuzzPerCategory / 5) },
    );
  });
});

describe('isolation and secrets', () => {
  it("every endpoint with another tenant's ids → 404, and nothing of theirs changes", async () => {
    const r = row("isolation: other tenant's ids");
    for (let i = 0; i < N.isolation; i++) {
      const theirs = (await create(task(), {}, KEY_B)).body;
      for (const res of [await get(theirs.id), await cancel(theirs.id)]) {
        r.tried++;
        expect(res.status).toBe(404);
        if (JSON.stringify(res.body).includes(theirs.name)) r.leaks++;
      }
      expect((await get(theirs.id, KEY_B)).body.status).toBe('SCHEDULED');
    }
    // A cursor carries only a position: replaying B's cursor as A lists A's tasks only.
    const bPage = (await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1' }, key: KEY_B })).body;
    const aWithB = (await call(listTasks as never, { path: '/v1/tasks', query: { limit: '100', cursor: bPage.nextCursor } })).body;
    r.tried++;
    const bIds = new Set((await call(listTasks as never, { path: '/v1/tasks', query: { limit: '100' }, key: KEY_B })).body.items.map((t: any) => t.id));
    expect(aWithB.items.filter((t: any) => bIds.has(t.id))).toEqual([]);
  });

  it("an API key is compared with every tenant's key hash, whichever tenant it matches (no early exit)", async () => {
    // The presented key is hashed before any comparison, and each comparison is timingSafeEqual on
    // two SHA-256 digests: a wall clock cannot see an early exit behind the hash (an earlier test
    // timed it and could not fail). What can be observed, and fail, is whether every tenant is compared.
    const r = row('secrets: API key checked against every tenant');
    const ids = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const read = new Set<string>();
    const records = Object.fromEntries(
      ids.map((id, i) => {
        const rec = { webhookSecret: 'w'.repeat(16), vendors: [] } as Record<string, unknown>;
        Object.defineProperty(rec, 'apiKeySha256', {
          enumerable: true,
          get: () => {
            read.add(id);
            return sha256(`key-of-${i}-0123456789`);
          },
        });
        return [id, rec];
      }),
    );
    const dir = { keys: async () => records as never, credentials: async () => ({}) };
    for (const [presented, owner] of [
      ['key-of-0-0123456789', 't0'],
      ['key-of-49-0123456789', 't49'],
      ['key-of-nobody-0123456789', undefined],
    ] as const) {
      read.clear();
      const who = await authenticate(dir, `Bearer ${presented}`).then(
        (t) => t.id,
        () => undefined,
      );
      r.tried++;
      expect(who).toBe(owner);
      expect(read.size, presented).toBe(ids.length);
    }
  });

  it('no secret is in any answer: problem bodies, tasks, the list, the OpenAPI document, the vendor catalogue', async () => {
    const r = row('secrets: answers searched');
    const t = (await create(task())).body;
    const doc = await call(openapi as never, { path: '/v1/openapi.json', key: null });
    const vendors = await call(listVendors as never, { path: '/v1/vendors', key: null });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\.1/); // the document itself is what is searched
    expect(vendors.body.items.length).toBe(5);
    for (const res of [await get(t.id), await create({ vendor: 'weiban' }), await call(listTasks as never, { path: '/v1/tasks' }), doc, vendors]) {
      r.tried++;
      r.leaks += leakedIn(JSON.stringify(res.body)).length;
    }
    expect(r.leaks).toBe(0);
  });
});

describe('hardening (issue 10)', () => {
  const dispatchAs = (tenantId: string, taskId: string) =>
    (dispatchStepFn as any)({ kind: 'dispatch', tenantId, taskId, step: 0 }, lambdaContext('dispatchStep'));
  const vtask = (vendor: 'weiban' | 'youmi' | 'wshoto') => ({ vendor, name: unique(), sendAt: inSeconds(4), ...VALID[vendor] });
  /** Rewrites the tenants file for the length of `fn` (the directory re-reads it when it changes). */
  const tokenRequests = async (vendor: string) =>
    ((await (await fetch(`${env.sandbox(vendor).url}/__sandbox/requests`)).json()) as any[]).filter((q) => /access_token|connect\/token/.test(q.path)).length;

  it("1. a tenant configured with another tenant's vendor id and a wrong secret never gets the other's token", async () => {
    const r = row('isolation: vendor tokens across tenants');
    const ids = { weiban: ['corpId', 'secret'], youmi: ['clientId', 'clientSecret'], wshoto: ['appId', 'appSecret'] } as const;
    for (const vendor of ['weiban', 'youmi', 'wshoto'] as const) {
      const a = (await create(vtask(vendor))).body;
      await dispatchAs('a', a.id); // A's token is now in the warm function's cache
      expect((await get(a.id)).body.status).toBe('SUBMITTED');
      await env.withTenants(
        (t) => {
          const [id, secret] = ids[vendor];
          t.b.vendors[vendor] = { ...t.b.vendors[vendor], [id]: t.a.vendors[vendor][id], [secret]: 'not-the-secret' };
        },
        async () => {
          const b = (await create(vtask(vendor), {}, KEY_B)).body;
          await dispatchAs('b', b.id);
          const final = (await get(b.id, KEY_B)).body;
          r.tried++;
          if (final.status !== 'FAILED') r.leaks++;
          expect(final.status, `${vendor}: ${JSON.stringify(final.steps[0].error ?? final.steps[0].vendorResponse)}`).toBe('FAILED');
          expect((await vendorTasksNamedAt(vendor, b.name)).length).toBe(0);
        },
      );
    }
  });

  it('1. a rotated vendor secret takes effect at once (a new token is fetched with it)', async () => {
    const r = row('isolation: vendor tokens across tenants');
    const a = (await create(task())).body;
    await dispatchAs('a', a.id);
    const before = await tokenRequests('weiban');
    const rotated = `${env.tenants.a!.vendors.weiban.secret}-rotated`;
    const old = env.tenants.a!.vendors.weiban.secret as string;
    env.tenants.a!.vendors.weiban.secret = rotated; // Weiban knows the new secret only
    try {
      await env.withTenants(
        (t) => {
          t.a.vendors.weiban.secret = rotated;
        },
        async () => {
          const second = (await create(task())).body;
          await dispatchAs('a', second.id);
          r.tried++;
          expect((await get(second.id)).body.status).toBe('SUBMITTED');
          expect(await tokenRequests('weiban')).toBe(before + 1);
        },
      );
    } finally {
      env.tenants.a!.vendors.weiban.secret = old;
    }
  });

  it('1. a Weiban token (no documented expiry) is fetched again after its finite life', async () => {
    const r = row('isolation: vendor tokens across tenants');
    const t = (await create(task())).body;
    const stored = (await get(t.id)).body;
    const { vendorContext } = await import('../lib/delivery/vendorContext');
    const { ctx } = await vendorContext(tenantDirectory(), 'a', 'weiban', appVendors(), appSettings());
    const input = stepInput(stored, stored.steps[0]);
    await weibanAdapter.submit(ctx as never, input);
    const before = await tokenRequests('weiban');
    await weibanAdapter.submit(ctx as never, input);
    expect(await tokenRequests('weiban')).toBe(before); // cached
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 2 * 3600_000);
      await weibanAdapter.submit(ctx as never, input);
    } finally {
      vi.useRealTimers();
    }
    r.tried++;
    expect(await tokenRequests('weiban')).toBe(before + 1);
  });
  /** Runs `fn` with some environment variables changed (the configuration is read again). */
  async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void>) {
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    const set = (v: Record<string, string | undefined>) => {
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) delete process.env[k];
        else process.env[k] = x;
      }
    };
    set(vars);
    try {
      // A cold start with these variables; one the test expects refused leaves the App as it was.
      try {
        rebuildTestApp();
      } catch {
        /* checked by the test through loadSettings */
      }
      await fn();
    } finally {
      set(saved);
      rebuildTestApp();
    }
  }

  it('2. a task too large to store → 413 naming the field and the limit, nothing written or scheduled (create, with and without a key; PATCH)', async () => {
    const r = row('size: tasks too large to store');
    const schedules = async () => ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? []).map((x) => String(x.name));
    const url = (tag: string) => `https://cdn.example.com/${tag}/${'a'.repeat(2_000)}`;
    const content = (tag: string, big: boolean) => ({
      text: 'x',
      ...(big
        ? { attachments: Array.from({ length: 9 }, (_, k) => ({ type: 'link', title: 't', url: url(`${tag}/${k}`), thumbUrl: url(`${tag}/${k}/t`) })) }
        : {}),
    });
    const sop = (big: boolean) => ({
      vendor: 'weiban',
      name: unique(),
      audience: VALID.weiban.audience,
      steps: Array.from({ length: 20 }, (_, i) => ({ sendAt: inSeconds(3600 + i * 60), content: content(`s${i}`, big) })),
    });
    for (const headers of [{}, { 'idempotency-key': unique() }] as Record<string, string>[]) {
      const items = await itemCount();
      const before = await schedules();
      const res = await create(sop(true), headers);
      checkRefusal(res, r);
      expect(res.status).toBe(413);
      expect(res.body.errors[0].path).toBe('steps');
      r.leaks += (await itemCount()) - items + (await schedules()).filter((n) => !before.includes(n)).length;
    }
    const small = (await create(sop(false))).body;
    const before = (await get(small.id)).body;
    const scheduled = await schedules();
    const res = await call(patchTaskFn as never, {
      method: 'PATCH',
      path: `/v1/tasks/${small.id}`,
      params: { taskId: small.id },
      body: {
        steps: Array.from({ length: 20 }, (_, index) => ({ index, content: content(`p${index}`, true), ...(index === 0 ? { sendAt: inSeconds(1800) } : {}) })),
      },
    });
    checkRefusal(res, r);
    expect(res.status).toBe(413);
    r.leaks += (await schedules()).filter((n) => !scheduled.includes(n)).length;
    expect((await get(small.id)).body).toEqual(before);
  });
  it('3. a redirect from a vendor is a refusal naming its host, never followed: client_secret is not re-posted', async () => {
    const r = row('secrets: vendor redirects not followed');
    const thief = await startProxy(undefined, {
      intercept: () => ({
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: '{"access_token":"stolen","expires_in":3600,"errcode":0,"errmsg":"ok","id":"1"}',
      }),
    });
    const thiefHost = new URL(thief.url).host;
    const to = `${thief.url}/connect/token?sig=do-not-show`;
    // YouMi's token endpoint answers 307 (a redirect that keeps the method and body).
    const youmiIdp = await startProxy(env.sandbox('youmi').url, {
      intercept: (q) => (q.path.startsWith('/connect/token') ? { status: 307, headers: { location: to } } : undefined),
    });
    // Weiban answers the create itself with a 302.
    const weiban = await startProxy(env.sandbox('weiban').url, {
      intercept: (q) =>
        q.path.includes('customer_group_msg/add')
          ? { status: 302, headers: { location: `${thief.url}/open-api/customer_group_msg/add?token=do-not-show` } }
          : undefined,
    });
    try {
      await withEnv({ YOUMI_TOKEN_URL: youmiIdp.url, WEIBAN_BASE_URL: weiban.url }, async () => {
        for (const [vendor, code] of [
          ['youmi', 'http_307'],
          ['weiban', 'http_302'],
        ] as const) {
          const t = (await create({ vendor, name: unique(), sendAt: inSeconds(4), ...VALID[vendor] })).body;
          await dispatchAs('a', t.id);
          const final = (await get(t.id)).body;
          r.tried++;
          expect(final.status).toBe('FAILED');
          expect(final.steps[0].error.code).toBe(code);
          expect(final.steps[0].error.message).toContain(thiefHost);
          expect(JSON.stringify(final)).not.toContain('do-not-show');
        }
      });
      r.leaks += thief.requests.length;
      expect(thief.requests).toEqual([]);
    } finally {
      await Promise.all([thief.close(), youmiIdp.close(), weiban.close()]);
    }
  });
  it('4. configuration fails closed in AWS mode: unset or non-https vendor endpoints and local mode in a real Lambda are refused at cold start', async () => {
    const r = row('config: fails closed in AWS mode');
    const https = {
      WEIBAN_BASE_URL: 'https://open.weibanzhushou.com',
      YOUMI_BASE_URL: 'https://api.youmi.example',
      YOUMI_TOKEN_URL: undefined,
      TANMARKET_BASE_URL: 'https://api.tanmarket.example',
      WSHOTO_BASE_URL: 'https://open.wshoto.com',
      WECOM_BASE_URL: 'https://qyapi.weixin.qq.com',
    };
    // A Lambda in AWS: no local endpoint for the direct invokes (the test environment's is http).
    const aws = { ...https, QUNFA_MODE: undefined, AWS_LAMBDA_FUNCTION_NAME: 'qunfa-prod-dispatchStep', IS_OFFLINE: undefined, LAMBDA_ENDPOINT: undefined };
    const refused: [string, Record<string, string | undefined>, RegExp][] = [
      ['an unset vendor base URL', { ...aws, WEIBAN_BASE_URL: undefined }, /WEIBAN_BASE_URL/],
      ['an http vendor base URL', { ...aws, WSHOTO_BASE_URL: 'http://open.wshoto.com' }, /WSHOTO_BASE_URL/],
      ['an http WeCom base URL', { ...aws, WECOM_BASE_URL: 'http://qyapi.weixin.qq.com' }, /WECOM_BASE_URL/],
      ['a loopback sandbox as vendor base URL', { ...aws, TANMARKET_BASE_URL: 'http://127.0.0.1:4603' }, /TANMARKET_BASE_URL/],
      ['an http token URL', { ...aws, YOUMI_TOKEN_URL: 'http://idp.youmi.example' }, /YOUMI_TOKEN_URL/],
      ['QUNFA_MODE=local in a Lambda running in AWS', { ...aws, QUNFA_MODE: 'local' }, /QUNFA_MODE/],
      ['an http endpoint for the direct invokes', { ...aws, LAMBDA_ENDPOINT: 'http://lambda.internal.example' }, /LAMBDA_ENDPOINT/],
    ];
    for (const [what, vars, names] of refused) {
      await withEnv(vars, async () => {
        r.tried++;
        let message = '';
        try {
          loadVendorSettings(process.env, loadSettings(process.env).QUNFA_MODE);
          r.leaks++;
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message, what).toMatch(names);
        expect(message, what).not.toMatch(/https?:\/\//); // names the variable, never echoes values
      });
    }
    // What stays allowed: AWS mode with https endpoints, and local mode under serverless-offline.
    for (const [what, vars, weiban] of [
      ['AWS mode, https endpoints', aws, 'https://open.weibanzhushou.com'],
      [
        'serverless-offline (IS_OFFLINE) in local mode',
        { ...aws, QUNFA_MODE: 'local', IS_OFFLINE: 'true', WEIBAN_BASE_URL: undefined },
        'http://127.0.0.1:4601',
      ],
    ] as const) {
      await withEnv(vars, async () => {
        r.tried++;
        expect(loadVendorSettings(process.env, loadSettings(process.env).QUNFA_MODE).weiban?.baseUrl, what).toBe(weiban);
      });
    }
  });

  it('4. YOUMI_TOKEN_URL may be the identity server base or the full …/connect/token URL', async () => {
    const r = row('config: fails closed in AWS mode');
    const idp = env.sandbox('youmi').url;
    for (const url of [idp, `${idp}/`, `${idp}/connect/token`, `${idp}/connect/token/`]) {
      await withEnv({ YOUMI_TOKEN_URL: url }, async () => {
        const t = (await create({ vendor: 'youmi', name: unique(), sendAt: inSeconds(4), ...VALID.youmi })).body;
        await dispatchAs('a', t.id);
        r.tried++;
        const final = (await get(t.id)).body;
        expect(final.status, `${url}: ${JSON.stringify(final.steps[0].error)}`).toBe('SUBMITTED');
      });
    }
  });
  it('6. senders × recipients: over 1,000,000 a task → 422 naming audience; within it, Weiban calls of ≤ 100,000 entries, each pair once', async () => {
    const r = row('fan-out: senders × recipients bounded');
    const ids = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${String(i).padStart(8, '0')}`);
    const items = await itemCount();
    const over = await create({
      vendor: 'weiban',
      name: unique(),
      audience: { kind: 'customers', senders: ids(100, 'st'), customerIds: ids(10_001, 'wm') },
      content: { text: 'x' },
      sendAt: inSeconds(3600),
    });
    checkRefusal(over, r);
    expect(over.status).toBe(422);
    expect(over.body.errors[0].path).toBe('audience');
    r.leaks += (await itemCount()) - items;
    // 100 senders × 2,000 customers = 200,000 entries: within the task's bound, twice a call's.
    const senders = ids(100, 'st');
    const customers = ids(2_000, 'wm');
    const t = (
      await create({
        vendor: 'weiban',
        name: unique(),
        audience: { kind: 'customers', senders, customerIds: customers },
        content: { text: 'x' },
        sendAt: inSeconds(4),
      })
    ).body;
    expect(await dispatchAs('a', t.id)).toMatchObject({ outcome: 'SUBMITTED' });
    const calls = (await vendorTasksNamed(t.name)).map((x) => x.request.staff_eu_list as { staff_ext_id: string; eu_ext_ids: string[] }[]);
    const seen = new Map<string, number>();
    for (const staff of calls) {
      r.tried++;
      expect(staff.reduce((n, x) => n + x.eu_ext_ids.length, 0)).toBeLessThanOrEqual(100_000);
      for (const x of staff) for (const c of x.eu_ext_ids) seen.set(`${x.staff_ext_id}|${c}`, (seen.get(`${x.staff_ext_id}|${c}`) ?? 0) + 1);
    }
    r.duplicates += [...seen.values()].reduce((n, k) => n + k - 1, 0);
    r.lost += senders.length * customers.length - seen.size;
    expect(r.duplicates + r.lost).toBe(0);
  });
  // ---- 5. slow or killed callback deliveries ----
  type ReceiverMode = 'trickle' | 'hold' | 'ok' | 'slow-ok' | 'flood';
  /**
   * A caller's endpoint, over real HTTP, as slow as the test makes it: `trickle` answers 200 and
   * then its body a byte every 2 s (the idle timeout never fires), `hold` never answers, `slow-ok`
   * answers 200 after a second, `flood` sends a body that never ends. Records each callback.
   */
  async function slowReceiver(initial: ReceiverMode) {
    const secret = env.tenants.a!.webhookSecret;
    const seen: { id: string; verified: boolean; answered: number | 'none'; at: number }[] = [];
    const state = { mode: initial };
    const timers = new Set<NodeJS.Timeout>();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const id = (() => {
          try {
            return String(JSON.parse(raw).id);
          } catch {
            return '';
          }
        })();
        const verified = verifyCallbackSignature(secret, req.headers['qunfa-signature'] as string | undefined, raw);
        const mode = state.mode;
        const answered = mode === 'ok' || mode === 'slow-ok' ? 200 : 'none';
        seen.push({ id, verified, answered, at: Date.now() });
        if (mode === 'ok') {
          res.writeHead(200).end();
          return;
        }
        if (mode === 'hold') return;
        if (mode === 'slow-ok') {
          const t = setTimeout(() => res.writeHead(200).end(), 1000);
          timers.add(t);
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        if (mode === 'flood') {
          const chunk = Buffer.alloc(64 * 1024, 'x');
          const pump = () => {
            while (!res.destroyed && res.write(chunk));
            if (!res.destroyed) res.once('drain', pump);
          };
          pump();
          return;
        }
        let sent = 0;
        res.write('.');
        const t = setInterval(() => {
          if (res.destroyed || ++sent >= 6) {
            clearInterval(t);
            res.end();
            return;
          }
          res.write('.');
        }, 2000);
        timers.add(t);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      seen,
      state,
      close: () =>
        new Promise<void>((r) => {
          for (const t of timers) clearTimeout(t);
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  }
  const tasksStore = () => new TaskStore(dynamo(), 'qunfa-test-tasks');
  /** A task with a callbackUrl and changes its caller has not heard of (made in the store, so no delivery starts by itself). */
  async function withPendingCallbacks(callbackUrl: string, moves: StepState[] = ['CANCELLED']) {
    const t = (await create({ ...task(), sendAt: inSeconds(3600), callbackUrl })).body;
    await tasksStore().update('a', t.id, (x) => {
      for (const to of moves) moveStep(x, 0, to, 'test: a change to tell the caller about');
      return true;
    });
    return t as { id: string };
  }
  const deliver = (taskId: string) => (deliverCallbackFn as any)({ kind: 'callback', tenantId: 'a', taskId }, lambdaContext('deliverCallback'));
  /** The task's callback schedules in the local scheduler's table (due or not). */
  const callbackSchedules = async (taskId: string) =>
    (await new LocalScheduler(dynamo(), 'qunfa-test-schedules').due(Number.MAX_SAFE_INTEGER)).filter(
      (s) => s.name.startsWith(taskId) && s.event.kind === 'callback',
    );
  /** The local scheduler's runner, firing only this task's schedules (other tests' schedules stay put). */
  class TaskSchedules extends LocalScheduler {
    constructor(readonly taskId: string) {
      super(dynamo(), 'qunfa-test-schedules');
    }
    override async due(now?: number) {
      return (await super.due(now)).filter((s) => s.name.startsWith(this.taskId));
    }
  }
  async function fireSchedulesUntil(taskId: string, done: () => boolean, timeoutMs: number) {
    const runner = startLocalRunner({
      scheduler: new TaskSchedules(taskId),
      intervalMs: 100,
      invoke: async (e) => {
        await (deliverCallbackFn as any)(e, lambdaContext('deliverCallback'));
      },
    });
    try {
      await waitFor(async () => done(), timeoutMs, 50);
    } finally {
      await runner.stop();
    }
  }

  it('5. a receiver trickling its answer (a byte every 2 s) is cut off at the attempt deadline: ETIMEDOUT recorded within 3.5 s, a retry scheduled', async () => {
    const r = row('callbacks: slow or killed receivers');
    const receiver = await slowReceiver('trickle');
    try {
      await withEnv({ CALLBACK_TIMEOUT_MS: '3000' }, async () => {
        const t = await withPendingCallbacks(`${receiver.url}/hooks`);
        const started = Date.now();
        await deliver(t.id);
        const elapsed = Date.now() - started;
        r.tried++;
        expect(receiver.seen.map((s) => [s.id, s.verified])).toEqual([[`${t.id}.1`, true]]);
        const cb = (await get(t.id)).body.callbacks;
        expect(cb.attempts.map((a: any) => [a.eventId, a.error, a.status])).toEqual([[`${t.id}.1`, 'ETIMEDOUT', undefined]]);
        // The attempt: from the request's arrival to its recorded end, 3 s and not the 12 s of the answer.
        const attemptMs = Date.parse(cb.attempts[0].at) - receiver.seen[0]!.at;
        expect(attemptMs).toBeGreaterThanOrEqual(2_900);
        expect(attemptMs).toBeLessThan(3_500);
        expect(elapsed).toBeLessThan(5_000); // the whole invocation, its writes included
        expect(cb).toMatchObject({ delivered: 0, pending: 1 });
        // The retry with backoff, and no other callback schedule.
        expect((await callbackSchedules(t.id)).map((s) => s.name)).toEqual([`${t.id}-c1-1`]);
      });
    } finally {
      await receiver.close();
    }
  });

  it('5. an answer whose body never ends is read only up to a cap: its status counts', async () => {
    const r = row('callbacks: slow or killed receivers');
    const receiver = await slowReceiver('flood');
    try {
      const out = await Promise.race([
        postJson(`${receiver.url}/hooks`, '{}', {}, { allowPrivate: true, timeoutMs: 3000 }),
        new Promise((res) => setTimeout(() => res('still reading'), 2500)),
      ]);
      r.tried++;
      expect(out).toEqual({ status: 200 });
    } finally {
      await receiver.close();
    }
  });

  it("5. a delivery killed mid-request already has its retry scheduled at its lease's end; firing it delivers the event, once", async () => {
    const r = row('callbacks: slow or killed receivers');
    const receiver = await slowReceiver('hold');
    try {
      await withEnv({ CALLBACK_TIMEOUT_MS: '1500', CALLBACK_LEASE_SECONDS: '4' }, async () => {
        const t = await withPendingCallbacks(`${receiver.url}/hooks`);
        // node itself (not the tsx wrapper, which would leave its child running) so SIGKILL ends the delivery.
        const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'reliability/deliver-child.ts'), t.id], {
          cwd: join(__dirname, '..'),
          env: process.env,
          stdio: 'ignore',
        });
        await waitFor(async () => receiver.seen.length === 1, 20_000, 20);
        child.kill('SIGKILL');
        await new Promise((res) => child.once('exit', res));
        const leaseUntil = (await tasksStore().getCallbackState('a', t.id))?.leaseUntil ?? 0;
        const arranged = await callbackSchedules(t.id);
        r.tried++;
        if (arranged.length === 0) r.lost++;
        expect(arranged.map((s) => s.event)).toEqual([{ kind: 'callback', tenantId: 'a', taskId: t.id }]);
        expect(leaseUntil).toBeGreaterThan(Date.now()); // the dead invocation still holds the lease ...
        expect(arranged[0]!.at).toBeGreaterThanOrEqual(leaseUntil); // ... and its retry comes after it
        receiver.state.mode = 'ok';
        await fireSchedulesUntil(t.id, () => receiver.seen.some((s) => s.answered === 200), 15_000);
        const delivered = receiver.seen.filter((s) => s.answered === 200).map((s) => s.id);
        if (delivered.length > 1) r.duplicates++;
        expect(receiver.seen.map((s) => s.id)).toEqual([`${t.id}.1`, `${t.id}.1`]); // the killed attempt, then the retry
        expect(receiver.seen.every((s) => s.verified)).toBe(true);
        expect(delivered).toEqual([`${t.id}.1`]);
        expect((await get(t.id)).body.callbacks).toMatchObject({ delivered: 1, pending: 0 });
        expect(await callbackSchedules(t.id)).toEqual([]);
      });
    } finally {
      await receiver.close();
    }
  }, 40_000);

  it('5. one invocation stops starting attempts at half its lease and leaves the rest to a schedule: every change arrives, in order, once', async () => {
    const r = row('callbacks: slow or killed receivers');
    const receiver = await slowReceiver('slow-ok');
    try {
      await withEnv({ CALLBACK_TIMEOUT_MS: '1500', CALLBACK_LEASE_SECONDS: '4' }, async () => {
        const t = await withPendingCallbacks(`${receiver.url}/hooks`, ['DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED']);
        const ids = [1, 2, 3, 4].map((i) => `${t.id}.${i}`);
        const started = Date.now();
        await deliver(t.id);
        const elapsed = Date.now() - started;
        r.tried++;
        // Each answer takes 1 s: four would take 4 s, the whole lease; it stops within half of it (2 s).
        expect(elapsed).toBeLessThan(2_500);
        expect(receiver.seen.length).toBeLessThan(4);
        expect((await callbackSchedules(t.id)).length).toBe(1);
        await fireSchedulesUntil(t.id, () => receiver.seen.length >= 4, 20_000);
        const delivered = receiver.seen.map((s) => s.id);
        if (new Set(delivered).size !== delivered.length) r.duplicates++;
        if (delivered.length < 4) r.lost++;
        expect(delivered).toEqual(ids);
        expect((await get(t.id)).body.callbacks).toMatchObject({ delivered: 4, pending: 0 });
        expect(await callbackSchedules(t.id)).toEqual([]);
      });
    } finally {
      await receiver.close();
    }
  }, 40_000);

  it('9. a YouMi event is bound to the YouMi sub-tenant: one for another sub-tenant is refused (401) and changes nothing', async () => {
    const r = row('isolation: YouMi events of another sub-tenant');
    // A reseller's client serving two YouMi sub-tenants, each a qunfa tenant of its own.
    await env.withTenants(
      (t) => {
        t.a.vendors.youmi = { ...t.a.vendors.youmi, tenantId: 'sub-a' };
        t.b.vendors.youmi = { ...t.a.vendors.youmi, tenantId: 'sub-b' };
      },
      async () => {
        const b = (await create({ vendor: 'youmi', name: unique(), sendAt: inSeconds(4), ...VALID.youmi }, {}, KEY_B)).body;
        await dispatchAs('b', b.id);
        const vid = (await get(b.id, KEY_B)).body.steps[0].vendorTaskId as string;
        expect(vid).toMatch(/^\d+$/);
        const creds = env.tenants.a!.vendors.youmi as { clientId: string; clientSecret: string };
        const finished = () => ({
          eventId: randomUUID(),
          messageType: 'rpaTaskResult',
          data: { taskId: Number(vid), status: 'finished', total: 2, success: 2, fail: 0 },
        });
        for (const other of ['sub-a', undefined, 'sub-bb', 'SUB-B']) {
          const status = await pushYoumiEvent(`${env.apiUrl}/v1/webhooks/youmi/b`, { ...creds, tenantId: other }, finished());
          r.tried++;
          if (status !== 401) r.leaks++;
          expect(status, `event for ${other}`).toBe(401);
        }
        expect((await get(b.id, KEY_B)).body.status).toBe('SUBMITTED');
        // Its own sub-tenant's event is taken.
        expect(await pushYoumiEvent(`${env.apiUrl}/v1/webhooks/youmi/b`, { ...creds, tenantId: 'sub-b' }, finished())).toBe(200);
        expect((await get(b.id, KEY_B)).body.status).toBe('COMPLETED');
      },
    );
  });

  it('9. the YouMi event signature separates its fields: moving a boundary changes the signature', () => {
    const r = row('isolation: YouMi events of another sub-tenant');
    const ts = String(Math.floor(Date.now() / 1000));
    const pairs: [Parameters<typeof youmiEventSignature>, Parameters<typeof youmiEventSignature>][] = [
      [
        ['k', 'ym-1', 'n1', ts, '{}'],
        ['k', 'ym-1n', '1', ts, '{}'],
      ], // clientId | nonce
      [
        ['k', 'c', 'n1', ts, '{}'],
        ['k', 'c', 'n', `1${ts}`, '{}'],
      ], // nonce | timestamp
      [
        ['k', 'c', 'n', ts, '1{}'],
        ['k', 'c', 'n', `${ts}1`, '{}'],
      ], // timestamp | body
    ];
    for (const [x, y] of pairs) {
      r.tried++;
      expect(x.join('')).toBe(y.join('')); // the same bytes when simply concatenated …
      expect(youmiEventSignature(...x)).not.toBe(youmiEventSignature(...y)); // … but not the same signature
    }
  });
  it('12. what a vendor answers is kept as a bounded, allowlisted subset (what GET, and so every callback, returns), its messages bounded too', async () => {
    const r = row('hostile input: oversized vendor answers');
    const bloat = (body: string) => {
      const j = JSON.parse(body);
      return JSON.stringify({
        ...j,
        junk: 'x'.repeat(200_000),
        nested: { deep: Array.from({ length: 1000 }, (_, i) => i) },
        ...(typeof j.errmsg === 'string' ? { errmsg: `ok${'y'.repeat(5000)}` } : {}),
        ...(j.requestId ? { requestId: 'r'.repeat(5000) } : {}),
      });
    };
    const weiban = await startProxy(env.sandbox('weiban').url, { rewrite: (path, body) => (path.includes('customer_group_msg/add') ? bloat(body) : body) });
    const youmi = await startProxy(env.sandbox('youmi').url, { rewrite: (path, body) => (path.includes('SaveBulkSendTask') ? bloat(body) : body) });
    const refusing = await startProxy(undefined, {
      intercept: (q) =>
        q.path.startsWith('/openapi/access_token')
          ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"code":0,"data":{"access_token":"t","expires_in":7200}}' }
          : { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 40001, msg: 'z'.repeat(100_000) }) },
    });
    try {
      await withEnv(
        { WEIBAN_BASE_URL: weiban.url, YOUMI_BASE_URL: youmi.url, YOUMI_TOKEN_URL: env.sandbox('youmi').url, WSHOTO_BASE_URL: refusing.url },
        async () => {
          const kept = { weiban: ['errcode', 'errmsg', 'id'], youmi: ['errdesc', 'errmsg', 'msgTime', 'requestId', 'succeed', 'values'] } as const;
          for (const vendor of ['weiban', 'youmi'] as const) {
            const t = (await create({ vendor, name: unique(), sendAt: inSeconds(4), ...VALID[vendor] })).body;
            await dispatchAs('a', t.id);
            const step = (await get(t.id)).body.steps[0];
            r.tried++;
            expect(step.status).toBe('SUBMITTED');
            expect(Object.keys(step.vendorResponse).sort()).toEqual([...kept[vendor]].sort());
            expect(Buffer.byteLength(JSON.stringify(step.vendorResponse))).toBeLessThanOrEqual(2048);
            for (const v of Object.values(step.vendorResponse)) expect(String(v).length).toBeLessThanOrEqual(256);
            expect(step.vendorTaskId).toBe(String(step.vendorResponse[vendor === 'weiban' ? 'id' : 'values']));
          }
          const w = (await create({ vendor: 'wshoto', name: unique(), sendAt: inSeconds(4), ...VALID.wshoto })).body;
          await dispatchAs('a', w.id);
          const failed = (await get(w.id)).body;
          r.tried++;
          expect(failed.status).toBe('FAILED');
          expect(failed.steps[0].error.code).toBe('40001');
          expect(failed.steps[0].error.message.length).toBeLessThanOrEqual(512);
          expect(Buffer.byteLength(JSON.stringify(failed))).toBeLessThan(8 * 1024);
        },
      );
    } finally {
      await Promise.all([weiban.close(), youmi.close(), refusing.close()]);
    }
  });

  it('7. polling ends for every polled vendor: the poll at the cap ends the step, says why, and schedules no other', async () => {
    const r = row('polling: steps followed past the cap');
    const cap = appSettings().STATUS_POLL_MAX_COUNT;
    for (const vendor of ['weiban', 'wshoto'] as const) {
      const t = (await create(vtask(vendor))).body;
      await dispatchAs('a', t.id);
      expect((await get(t.id)).body.status).toBe('SUBMITTED'); // the sandbox keeps it sending (QUNFA_SANDBOX_PROGRESS_MS)
      // The poll event's n counts the polls before it: n = cap − 1 is the cap-th poll.
      await (pollStatusFn as any)({ kind: 'poll', tenantId: 'a', taskId: t.id, step: 0, n: cap - 1 }, lambdaContext('pollStatus'));
      const done = (await get(t.id)).body;
      const later = ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? []).filter(
        (x) => x.event?.kind === 'poll' && x.event?.taskId === t.id && x.event?.n >= cap,
      );
      r.tried++;
      r.lost += ['COMPLETED', 'FAILED'].includes(done.status) ? later.length : 1;
      expect(['COMPLETED', 'FAILED'], vendor).toContain(done.status);
      expect(done.history.at(-1).cause).toMatch(new RegExp(`^qunfa stopped following this step: it was asked ${cap} times`));
      expect(later).toEqual([]);
    }
  });

  it('8. a filtered list does bounded work per request and its cursor misses nothing', async () => {
    const r = row('lists: filtered pages past the bound');
    const queries = countCommands(dynamo(), /QueryCommand/);
    // More tasks than one request may read, whatever ran before this test.
    for (let i = 0; i < 6; i++) await Promise.all(Array.from({ length: 20 }, () => create(task({ sendAt: inSeconds(3600) }))));
    // Every task of tenant a, as the store holds them: what the filtered walk must return.
    const all: any[] = [];
    for (let cursor: string | undefined; ;) {
      const page = (await call(listTasks as never, { path: '/v1/tasks', query: { limit: '100', ...(cursor ? { cursor } : {}) } })).body;
      all.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(all.length).toBeGreaterThan(100); // more than one request's bound, so the walk spans pages
    for (const status of ['UNKNOWN', 'RUNNING', 'CANCELLED']) {
      // some, none (nothing progresses here), many
      const want = all.filter((t) => t.status === status).map((t) => t.id);
      const got: string[] = [];
      for (let cursor: string | undefined; ;) {
        queries.count = 0;
        const res = await call(listTasks as never, { path: '/v1/tasks', query: { limit: '1', status, ...(cursor ? { cursor } : {}) } });
        r.tried++;
        if (res.status >= 500) r.fiveXX++;
        expect(queries.count).toBeLessThanOrEqual(LIST_MAX_QUERIES);
        got.push(...res.body.items.map((t: any) => t.id));
        if (!res.body.nextCursor) break;
        cursor = res.body.nextCursor;
      }
      r.lost += want.filter((id) => !got.includes(id)).length;
      r.duplicates += got.length - new Set(got).size;
      expect(new Set(got)).toEqual(new Set(want));
    }
  });

  it('10. functions that call no vendor never read vendor credentials', async () => {
    const r = row('secrets: vendor credentials read without a vendor call');
    const real = tenantDirectory();
    let reads = 0;
    setTenantDirectory({
      keys: () => real.keys(),
      credentials: async () => {
        reads++;
        throw new Error('vendor credentials read');
      },
    });
    try {
      const created = await create(task());
      const answers = [
        created,
        await get(created.body.id),
        await call(listTasks as never, { path: '/v1/tasks', query: { limit: '5' } }),
        await call(listVendors as never, { path: '/v1/vendors' }),
        await cancel(created.body.id), // not yet sent: nothing to cancel at the vendor
      ];
      r.tried += answers.length;
      r.leaks += reads;
      expect(answers.map((a) => a.status)).toEqual([201, 200, 200, 200, 200]);
      expect(reads).toBe(0);
    } finally {
      setTenantDirectory(real);
    }
  });
});
