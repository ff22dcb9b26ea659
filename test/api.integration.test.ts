import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_BODY_BYTES } from '../lib/api/handler';
import { type DispatchEvent, type Scheduler } from '../lib/infra/scheduler/scheduler';
import { LocalScheduler, startLocalRunner } from '../lib/infra/scheduler/localScheduler';
import { call, clearLimits, inSeconds, KEY_B, lambdaContext, startTestEnv, waitFor, type TestEnv } from './helpers/env';
import { dynamo, fns, invokeWorker, rebuildTestApp, setScheduler } from './helpers/testApp';
const createTask = fns.createTask;
const deleteTask = fns.deleteTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listTasks = fns.listTasks;
const openapi = fns.openapi;

let env: TestEnv;

const body = (over: Record<string, unknown> = {}) => ({
  vendor: 'weiban',
  name: '双十一提醒',
  audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
  content: { text: '今晚8点开抢', attachments: [{ type: 'link', title: '活动', url: 'https://shop.example.com/1111' }] },
  sendAt: inSeconds(3600),
  ...over,
});

const create = (b: unknown, headers: Record<string, string> = {}, key?: string) =>
  call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b, headers, key });
const get = (id: string, key?: string) => call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id }, key });
const cancel = (id: string, key?: string) => call(deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${id}`, params: { taskId: id }, key });
const list = (query: Record<string, string> = {}, key?: string) => call(listTasks as never, { path: '/v1/tasks', query, key });
const dispatch = (e: DispatchEvent) => (dispatchStepFn as any)(e, lambdaContext('dispatchStep'));
const vendorTasks = async () => (await (await fetch(`${env.weiban.url}/__sandbox/tasks`)).json()) as any[];
const vendorCalls = async (path: string) => ((await (await fetch(`${env.weiban.url}/__sandbox/requests`)).json()) as any[]).filter((r) => r.path === path);
const fault = (f: unknown) => fetch(`${env.weiban.url}/__sandbox/faults`, { method: 'POST', body: JSON.stringify(f) });
const itemCount = async () => (await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks', Select: 'COUNT' }))).Count ?? 0;
const schedules = async () => (await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? [];

beforeAll(async () => {
  env = await startTestEnv();
});
afterAll(async () => {
  await env.close();
});
beforeEach(async () => {
  await fetch(`${env.weiban.url}/__sandbox/reset`, { method: 'POST' });
  await clearLimits();
});

describe('create, get, list', () => {
  it('creates a timed task: 201, SCHEDULED, one schedule at its time, readable and listed', async () => {
    const sendAt = inSeconds(3600);
    const res = await create(body({ sendAt }));
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/v1/tasks/${res.body.id}`);
    expect(res.body).toMatchObject({
      vendor: 'weiban',
      status: 'SCHEDULED',
      steps: [{ index: 0, status: 'SCHEDULED', sendAt: new Date(sendAt).toISOString() }],
    });
    expect(res.body.history).toEqual([expect.objectContaining({ from: null, to: 'SCHEDULED', cause: 'created' })]);

    const sched = (await schedules()).filter((s) => s.name === `${res.body.id}-s0`);
    expect(sched).toHaveLength(1);
    expect(sched[0]?.at).toBe(Date.parse(sendAt));

    const got = await get(res.body.id);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
    const page = await list();
    expect(page.body.items.map((t: any) => t.id)).toContain(res.body.id);
    expect(await vendorTasks()).toHaveLength(0);
  });

  it('a send-now task goes straight to the vendor (no scheduler wait) and becomes SUBMITTED with its id', async () => {
    const { sendAt: _omit, ...now } = body();
    const res = await create(now);
    expect(res.status).toBe(201);
    const done = await waitFor(async () => {
      const t = (await get(res.body.id)).body;
      return t.status === 'SUBMITTED' && t;
    }, 5000);
    const [vt] = await vendorTasks();
    expect(done.steps[0].vendorTaskId).toBe(vt.id);
    expect(done.steps[0].vendorResponse).toEqual({ errcode: 0, errmsg: 'ok', id: vt.id });
    expect(done.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SUBMITTED']);
    const [sent] = await vendorCalls('/open-api/customer_group_msg/add');
    expect(sent.query.access_token).toMatch(/^[0-9a-f]{48}$/);
    expect(sent.body).toEqual({
      name: '双十一提醒',
      staff_ext_id_list: ['zhangsan'],
      group_ext_id_list: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'],
      create_staff_ext_id: 'zhangsan',
      text: '今晚8点开抢',
      attachments: [{ msgtype: 'link', link: { title: '活动', url: 'https://shop.example.com/1111' } }],
    });
  });

  it('the local scheduler fires a step 2 s ahead within about a second of its time', async () => {
    const runner = startLocalRunner({ scheduler: new LocalScheduler(dynamo(), 'qunfa-test-schedules'), invoke: invokeWorker, intervalMs: 100 });
    try {
      const sendAt = inSeconds(3);
      const res = await create(body({ sendAt }));
      expect((await get(res.body.id)).body.status).toBe('SCHEDULED');
      const t = await waitFor(async () => {
        const x = (await get(res.body.id)).body;
        return x.status === 'SUBMITTED' && x;
      }, 8000);
      const lateness = Date.parse(t.steps[0].claimedAt) - Date.parse(sendAt);
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(1500);
      expect((await schedules()).some((s) => s.name === `${res.body.id}-s0`)).toBe(false); // deleted after firing
    } finally {
      await runner.stop();
    }
  });

  it('lists newest first, paginates by cursor, filters by status and vendor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(body({ name: `page-${i}` }), {}, KEY_B)).body.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list({ limit: '2', ...(cursor ? { cursor } : {}) }, KEY_B);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((t: any) => t.id));
      cursor = page.body.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    await cancel(ids[1] as string, KEY_B);
    const cancelled = await list({ status: 'CANCELLED' }, KEY_B);
    expect(cancelled.body.items.map((t: any) => t.id)).toEqual([ids[1]]);
    expect((await list({ vendor: 'youmi' }, KEY_B)).body.items).toEqual([]);
    expect((await list({ status: 'BOGUS' }, KEY_B)).status).toBe(400);
    expect((await list({ cursor: 'not-a-cursor' }, KEY_B)).body.errors[0].path).toBe('cursor');
  });

  it('serves the OpenAPI 3.1 document generated from the schemas', async () => {
    const res = await call(openapi as never, { path: '/v1/openapi.json', key: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const create = res.body.components.schemas.CreateTask;
    expect(create.properties.vendor.enum).toEqual(['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom']);
    expect(create.properties.content.properties.attachments.maxItems).toBe(9);
    expect(create.additionalProperties).toBe(false);
  });
});

describe('bad input: 4xx problem+json naming the field, nothing written', () => {
  const cases: [string, { rawBody?: string; body?: unknown; headers?: Record<string, string> }, number, string | undefined][] = [
    ['malformed JSON', { rawBody: '{"vendor": "weiban",' }, 400, undefined],
    ['unknown vendor', { body: body({ vendor: 'wechat' }) }, 400, 'vendor'],
    ['missing name', { body: body({ name: undefined }) }, 400, 'name'],
    ['empty content', { body: body({ content: {} }) }, 400, 'content'],
    [
      '10 attachments',
      { body: body({ content: { attachments: Array(10).fill({ type: 'image', url: 'https://x.example/a.png' }) } }) },
      400,
      'content.attachments',
    ],
    ['non-http URL', { body: body({ content: { attachments: [{ type: 'image', url: 'file:///etc/passwd' }] } }) }, 400, 'content.attachments.0.url'],
    ['text over 4000 bytes', { body: body({ content: { text: '群'.repeat(1400) } }) }, 400, 'content.text'],
    ['sendAt without offset', { body: body({ sendAt: '2026-12-01T10:00:00' }) }, 400, 'sendAt'],
    ['sendAt in the past', { body: body({ sendAt: '2021-06-18T20:00:00+08:00' }) }, 400, 'sendAt'],
    [
      'unsorted SOP steps',
      {
        body: {
          ...body(),
          content: undefined,
          sendAt: undefined,
          steps: [
            { sendAt: inSeconds(7200), content: { text: 'b' } },
            { sendAt: inSeconds(3600), content: { text: 'a' } },
          ],
        },
      },
      400,
      'steps.1.sendAt',
    ],
    [
      'unknown attachment type',
      { body: body({ content: { attachments: [{ type: 'sticker', url: 'https://x.example/a' }] } }) },
      400,
      'content.attachments.0.type',
    ],
    ['unknown field', { body: { ...body(), priority: 'high' } }, 400, 'priority'],
    [
      'a file attachment Weiban cannot carry',
      { body: body({ content: { attachments: [{ type: 'file', url: 'https://x.example/a.pdf', name: 'a.pdf' }] } }) },
      422,
      'content.attachments.0.type',
    ],
    [
      'tag filters Weiban cannot apply',
      { body: body({ audience: { kind: 'customers', senders: ['s'], tags: { include: { match: 'any', ids: ['t1'] } } } }) },
      422,
      'audience.tags',
    ],
    ['unknown vendorOptions field', { body: body({ vendorOptions: { staff_eu_list: [] } }) }, 400, 'vendorOptions.staff_eu_list'],
    ['a body over the limit', { rawBody: JSON.stringify({ ...body(), name: 'x'.repeat(MAX_BODY_BYTES) }) }, 413, undefined],
    ['a non-JSON content type', { body: body(), headers: { 'content-type': 'text/plain' } }, 415, undefined],
    ['an empty Idempotency-Key', { body: body(), headers: { 'idempotency-key': '' } }, 400, 'Idempotency-Key'],
  ];

  it.each(cases)('%s', async (_label, req, status, path) => {
    const before = await itemCount();
    const beforeSchedules = (await schedules()).length;
    const res = await call(createTask as never, { method: 'POST', path: '/v1/tasks', ...req });
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String), detail: expect.any(String) });
    if (path) expect(res.body.errors.map((e: any) => e.path)).toContain(path);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+|stack/);
    expect(await itemCount()).toBe(before);
    expect((await schedules()).length).toBe(beforeSchedules);
  });

  it('no API key → 401; a wrong one → 401; neither reads the body', async () => {
    const before = await itemCount();
    const none = await call(createTask as never, { method: 'POST', path: '/v1/tasks', key: null, rawBody: '{bad' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await create(body(), {}, 'qf_not_a_key_of_anyone_000000');
    expect(wrong.status).toBe(401);
    expect(await itemCount()).toBe(before);
  });

  it('a tenant without the vendor configured → 422 naming vendor', async () => {
    const { writeFileSync, readFileSync } = await import('node:fs');
    const original = readFileSync(env.tenantsFile, 'utf8');
    const tenants = JSON.parse(original);
    tenants.b.vendors = {};
    writeFileSync(env.tenantsFile, JSON.stringify(tenants));
    await new Promise((r) => setTimeout(r, 20)); // a new mtime
    try {
      const res = await create(body(), {}, KEY_B);
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([{ path: 'vendor', message: 'weiban is not configured for this tenant' }]);
    } finally {
      writeFileSync(env.tenantsFile, original);
    }
  });
});

describe('tenant isolation', () => {
  it("another tenant's task is 404 on get and cancel, absent from list, and unchanged", async () => {
    const mine = await create(body());
    const theirs = await get(mine.body.id, KEY_B);
    expect(theirs.status).toBe(404);
    expect(theirs.body.detail).toBe('task not found');
    expect((await cancel(mine.body.id, KEY_B)).status).toBe(404);
    expect((await list({ limit: '100' }, KEY_B)).body.items.map((t: any) => t.id)).not.toContain(mine.body.id);
    expect((await get(mine.body.id)).body.status).toBe('SCHEDULED');
    expect((await get('tsk_00000000000000000000000000')).status).toBe(404);
    expect((await get('../../etc')).status).toBe(404);
  });
});

describe('idempotency', () => {
  it('same key + same body → the same task (200); same key + another body → 422', async () => {
    const b = body();
    const first = await create(b, { 'idempotency-key': 'order-1001' });
    expect(first.status).toBe(201);
    const again = await create(JSON.parse(JSON.stringify(b)), { 'idempotency-key': 'order-1001' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const other = await create({ ...b, name: '另一个' }, { 'idempotency-key': 'order-1001' });
    expect(other.status).toBe(422);
    expect(other.body.errors[0].path).toBe('Idempotency-Key');
    // The same key under another tenant is another tenant's business.
    const b2 = await create(b, { 'idempotency-key': 'order-1001' }, KEY_B);
    expect(b2.status).toBe(201);
    expect(b2.body.id).not.toBe(first.body.id);
  });

  it('a replay after the sendAt has passed still returns the task, not a validation error', async () => {
    const b = body({ sendAt: inSeconds(60) });
    const first = await create(b, { 'idempotency-key': 'late-replay' });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2 * 3600_000); // two hours on: that sendAt is now long past
    try {
      expect((await create(b)).status).toBe(400); // as a new task it would be refused
      const again = await create(b, { 'idempotency-key': 'late-replay' });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
    } finally {
      vi.useRealTimers();
    }
  });

  it('200 concurrent creates with one key → one task, every answer that task', async () => {
    const b = body();
    const answers = await Promise.all(Array.from({ length: 200 }, () => create(b, { 'idempotency-key': 'burst-1' })));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(answers.every((a) => a.status === 200 || a.status === 201)).toBe(true);
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.status === 201).length).toBeGreaterThanOrEqual(1);
    const tasks = (await list({ limit: '100' })).body.items.filter((t: any) => t.id === [...ids][0]);
    expect(tasks).toHaveLength(1);
  });

  it('a create whose scheduler threw is completed by the retry with the same key, not duplicated', async () => {
    const real = new LocalScheduler(dynamo(), 'qunfa-test-schedules');
    let failures = 1;
    const flaky: Scheduler = {
      schedule: async (...args) => {
        if (failures-- > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        return real.schedule(...args);
      },
      cancel: (n) => real.cancel(n),
    };
    setScheduler(flaky);
    try {
      const b = body();
      const before = await itemCount();
      const first = await create(b, { 'idempotency-key': 'half-way' });
      expect(first.status).toBe(503);
      expect(first.headers['retry-after']).toBeDefined();
      const retry = await create(b, { 'idempotency-key': 'half-way' });
      expect(retry.status).toBe(201); // the caller never had the task: this retry made it
      const again = await create(b, { 'idempotency-key': 'half-way' });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(retry.body.id);
      expect(await itemCount()).toBe(before + 2); // one idempotency record, one task
      expect((await schedules()).filter((s) => s.name === `${retry.body.id}-s0`)).toHaveLength(1);
    } finally {
      setScheduler(undefined);
    }
  });
});

describe('dispatch', () => {
  const due = async (over: Record<string, unknown> = {}) => {
    // 4 s ahead: not fired directly (that is ≤ 2 s), yet within the 5 s a dispatcher may be early.
    const res = await create(body({ sendAt: inSeconds(4), ...over }));
    return res.body.id as string;
  };
  const ev = (taskId: string, step = 0): DispatchEvent => ({ kind: 'dispatch', tenantId: 'a', taskId, step });

  it('50 simultaneous dispatches of one step → exactly one vendor create', async () => {
    const id = await due();
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => dispatch(ev(id))));
    expect(outcomes.filter((o: any) => o.outcome === 'SUBMITTED')).toHaveLength(1);
    expect(await vendorTasks()).toHaveLength(1);
    const t = (await get(id)).body;
    expect(t.history.filter((h: any) => h.to === 'DISPATCHING')).toHaveLength(1);
  });

  it('a dispatch that fires early is ignored; one for a missing task does nothing', async () => {
    const res = await create(body({ sendAt: inSeconds(600) }));
    expect(await dispatch(ev(res.body.id))).toMatchObject({ outcome: 'skipped' });
    expect(await dispatch(ev('tsk_00000000000000000000000000'))).toMatchObject({ outcome: 'skipped', reason: 'no such task' });
    expect((await get(res.body.id)).body.status).toBe('SCHEDULED');
    expect(await vendorTasks()).toHaveLength(0);
  });

  it('a throttled send is deferred, not failed: given back unsent, scheduled again, then SUBMITTED once', async () => {
    const id = await due();
    await fault({ match: 'customer_group_msg', mode: 'vendor-error', code: 10052, message: 'too many concurrent requests' });
    const first = await dispatch(ev(id));
    expect(first).toMatchObject({ outcome: 'deferred' });
    const waiting = (await get(id)).body;
    expect(waiting.status).toBe('SCHEDULED');
    expect(waiting.steps[0]).toMatchObject({ status: 'SCHEDULED', deferrals: 1, nextAttemptAt: first.nextAttemptAt });
    expect(waiting.history.at(-1)).toMatchObject({ from: 'DISPATCHING', to: 'SCHEDULED' });
    expect(waiting.history.at(-1).cause).toMatch(/deferred \(1\): not sent: weiban throttled the call \(10052 .*\); next try at /);
    // The scheduler holds the next attempt, at the time the history names.
    const next = (await schedules()).find((s: any) => s.name === `${id}-s0-r1-${Date.parse(first.nextAttemptAt).toString(36)}`);
    expect(next?.at).toBe(Date.parse(first.nextAttemptAt));
    expect(await vendorTasks()).toHaveLength(0);
    // Fired early, it waits; fired at its time, it goes.
    expect(await dispatch(ev(id))).toMatchObject({ outcome: 'skipped' });
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(first.nextAttemptAt) - Date.now())));
    expect(await dispatch(ev(id))).toMatchObject({ outcome: 'SUBMITTED' });
    expect(await vendorCalls('/open-api/customer_group_msg/add')).toHaveLength(2);
    expect(await vendorTasks()).toHaveLength(1);
    expect((await get(id)).body.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SCHEDULED', 'DISPATCHING', 'SUBMITTED']);
  });

  it('a throttle that never ends: deferred until notAfter, then FAILED qunfa.expired, never at the vendor', async () => {
    const id = await due({ notAfter: inSeconds(7) });
    await fault([{ match: 'customer_group_msg', mode: 'http', status: 429, count: -1 }]);
    let out: any;
    for (let i = 0; i < 20; i++) {
      out = await dispatch(ev(id));
      if (out.outcome !== 'deferred') break;
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(out.nextAttemptAt) - Date.now())));
    }
    await fetch(`${env.weiban.url}/__sandbox/reset`, { method: 'POST' });
    expect(out.outcome).toBe('FAILED');
    const t = (await get(id)).body;
    expect(t.steps[0].error.code).toBe('qunfa.expired');
    expect(t.steps[0].deferrals).toBeGreaterThan(1);
    expect(t.history.filter((h: any) => /deferred/.test(h.cause)).length).toBe(t.steps[0].deferrals);
    expect(await vendorTasks()).toHaveLength(0);
  });

  it('a vendor refusal → FAILED with the vendor code and message, no retry', async () => {
    const id = await due();
    await fault({ match: 'customer_group_msg', mode: 'vendor-error', code: 20017, message: '群发名称重复' });
    expect(await dispatch(ev(id))).toMatchObject({ outcome: 'FAILED' });
    const t = (await get(id)).body;
    expect(t.status).toBe('FAILED');
    expect(t.steps[0].error).toEqual({ code: '20017', message: '群发名称重复' });
    expect(await vendorCalls('/open-api/customer_group_msg/add')).toHaveLength(1);
  });

  it('HTTP 500, a reset connection, or an accept whose answer is lost → UNKNOWN, never re-sent', async () => {
    for (const mode of [{ mode: 'http', status: 500 }, { mode: 'reset' }, { mode: 'accept-then-reset' }]) {
      await fetch(`${env.weiban.url}/__sandbox/reset`, { method: 'POST' });
      const id = await due();
      await fault({ match: 'customer_group_msg', ...mode });
      expect(await dispatch(ev(id))).toMatchObject({ outcome: 'UNKNOWN' });
      // The scheduler retries (at-least-once): nothing is sent again.
      expect(await dispatch(ev(id))).toMatchObject({ outcome: 'skipped' });
      expect(await vendorCalls('/open-api/customer_group_msg/add')).toHaveLength(1);
      const t = (await get(id)).body;
      expect(t.status).toBe('UNKNOWN');
      expect(t.history.at(-1).cause).toMatch(/not re-sent/);
    }
    expect(await vendorTasks()).toHaveLength(1); // accept-then-reset: the vendor has it once
  });

  it('a revoked token is refreshed once and the send succeeds', async () => {
    const first = await due();
    expect(await dispatch(ev(first))).toMatchObject({ outcome: 'SUBMITTED' });
    const tokensBefore = (await vendorCalls('/open-api/access_token/get')).length;
    await fetch(`${env.weiban.url}/__sandbox/revoke-tokens`, { method: 'POST' });
    const second = await due();
    expect(await dispatch(ev(second))).toMatchObject({ outcome: 'SUBMITTED' });
    expect((await vendorCalls('/open-api/access_token/get')).length - tokensBefore).toBe(1);
    expect(await vendorCalls('/open-api/customer_group_msg/add')).toHaveLength(3); // ok; 10001; ok with the new token
    expect(await vendorTasks()).toHaveLength(2);
  });

  it('a wrong secret ends FAILED with the vendor message, not a retry loop', async () => {
    const { writeFileSync, readFileSync } = await import('node:fs');
    const original = readFileSync(env.tenantsFile, 'utf8');
    const tenants = JSON.parse(original);
    tenants.a.vendors.weiban.secret = 'wrong';
    const id = await due({ name: 'wrong-secret' });
    writeFileSync(env.tenantsFile, JSON.stringify(tenants));
    // No cache to clear: a token is kept per tenant *and* every credential field, so the edited
    // secret is never served the token the right one got; it must ask (the one token call below).
    try {
      expect(await dispatch(ev(id))).toMatchObject({ outcome: 'FAILED' });
      const step = (await get(id)).body.steps[0];
      expect(step.error.message).toMatch(/invalid corp_id or secret/);
      expect(JSON.stringify(step)).not.toContain(tenants.a.vendors.weiban.corpId + 'wrong');
      expect(await vendorCalls('/open-api/access_token/get')).toHaveLength(1);
    } finally {
      writeFileSync(env.tenantsFile, original);
    }
  });

  it('a vendor that refuses connections is retried, then deferred, not failed (it provably never got the step)', async () => {
    const id = await due();
    const saved = process.env.WEIBAN_BASE_URL;
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r())); // a port where nothing listens
    process.env.WEIBAN_BASE_URL = `http://127.0.0.1:${port}`;
    rebuildTestApp();
    try {
      expect(await dispatch(ev(id))).toMatchObject({ outcome: 'deferred' });
      const t = (await get(id)).body;
      expect(t.status).toBe('SCHEDULED');
      expect(t.history.at(-1).cause).toMatch(
        /^deferred \(1\): not sent: weiban could not be reached \(ECONNREFUSED .*not reached in 5 attempts\)\); next try at /,
      );
      expect(Date.parse(t.steps[0].nextAttemptAt) - Date.now()).toBeGreaterThan(25_000);
    } finally {
      process.env.WEIBAN_BASE_URL = saved;
      rebuildTestApp();
    }
  });
});

describe('cancel', () => {
  it('cancels unfired steps, deletes their schedules, and a dispatch firing just after sends nothing', async () => {
    const res = await create(body({ sendAt: inSeconds(4) }));
    const c = await cancel(res.body.id);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('CANCELLED');
    expect(c.body.history.at(-1)).toMatchObject({ from: 'SCHEDULED', to: 'CANCELLED' });
    expect((await schedules()).some((s) => s.name === `${res.body.id}-s0`)).toBe(false);
    expect(await dispatch({ kind: 'dispatch', tenantId: 'a', taskId: res.body.id, step: 0 })).toMatchObject({ outcome: 'skipped' });
    expect(await vendorTasks()).toHaveLength(0);
    const again = await cancel(res.body.id);
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/already CANCELLED/);
  });

  it('a step already at Weiban (no cancel endpoint) → 409 saying so', async () => {
    const { sendAt: _n, ...now } = body();
    const res = await create(now);
    await waitFor(async () => (await get(res.body.id)).body.status === 'SUBMITTED', 5000);
    const c = await cancel(res.body.id);
    expect(c.status).toBe(409);
    expect(c.body.detail).toMatch(/cannot cancel a task it has accepted/);
    expect((await get(res.body.id)).body.status).toBe('SUBMITTED');
  });

  it('an SOP: cancelling after step 0 was sent stops the later steps', async () => {
    const { content, sendAt: _s, ...rest } = body();
    const res = await create({
      ...rest,
      steps: [
        { sendAt: inSeconds(4), content },
        { sendAt: inSeconds(3600), content: { text: '第二天提醒' } },
      ],
    });
    await dispatch({ kind: 'dispatch', tenantId: 'a', taskId: res.body.id, step: 0 });
    const c = await cancel(res.body.id);
    expect(c.status).toBe(200);
    expect(c.body.steps.map((s: any) => s.status)).toEqual(['SUBMITTED', 'CANCELLED']);
    expect(await dispatch({ kind: 'dispatch', tenantId: 'a', taskId: res.body.id, step: 1 })).toMatchObject({ outcome: 'skipped' });
    expect(await vendorTasks()).toHaveLength(1);
  });
});

describe('a dispatch that died mid-call', () => {
  it('is UNKNOWN once its lease has passed, and is not re-sent', async () => {
    const { TaskStore } = await import('../lib/infra/taskStore');
    const store = new TaskStore(dynamo(), 'qunfa-test-tasks');
    const res = await create(body({ sendAt: inSeconds(4) }));
    // Simulate a dispatcher that claimed the step long ago and was killed before recording anything.
    const { moveStep } = await import('../lib/core/states');
    await store.update('a', res.body.id, (t) => {
      moveStep(t, 0, 'DISPATCHING', 'claimed by a dispatcher', { claimedAt: new Date(Date.now() - 3600_000).toISOString() });
      return true;
    });
    expect(await dispatch({ kind: 'dispatch', tenantId: 'a', taskId: res.body.id, step: 0 })).toEqual({ outcome: 'UNKNOWN' });
    const t = (await get(res.body.id)).body;
    expect(t.status).toBe('UNKNOWN');
    expect(t.steps[0].error.code).toBe('qunfa.dispatch_lost');
    expect(await vendorTasks()).toHaveLength(0);
  });
});
