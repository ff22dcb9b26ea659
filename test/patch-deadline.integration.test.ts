/**
 * Moving a send (PATCH) and deadlines (notAfter), over the handlers, dynalite, the local scheduler
 * and the Weiban sandbox: a moved step fires at its new time only; a fired step cannot change;
 * a PATCH racing a dispatch wins or gets 409, never both; past notAfter nothing is sent.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DispatchEvent } from '../lib/infra/scheduler/scheduler';
import { LocalScheduler, startLocalRunner } from '../lib/infra/scheduler/localScheduler';
import { call, clearLimits, inSeconds, lambdaContext, startTestEnv, waitFor, type TestEnv } from './helpers/env';
import { dynamo, fns, invokeWorker, setScheduler } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listVendors = fns.listVendors;
const patchTaskFn = fns.patchTask;

let env: TestEnv;

const body = (over: Record<string, unknown> = {}) => ({
  vendor: 'weiban',
  name: '周末活动',
  audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
  content: { text: 'v1' },
  sendAt: inSeconds(3600),
  ...over,
});
const create = (b: unknown) => call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b });
const get = (id: string) => call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } });
const patch = (id: string, b: unknown) => call(patchTaskFn as never, { method: 'PATCH', path: `/v1/tasks/${id}`, params: { taskId: id }, body: b });
const dispatch = (e: DispatchEvent) => (dispatchStepFn as any)(e, lambdaContext('dispatchStep'));
const ev = (taskId: string, step = 0): DispatchEvent => ({ kind: 'dispatch', tenantId: 'a', taskId, step });
const vendorTasks = async () =>
  (await (await fetch(`${env.weiban.url}/__sandbox/tasks`)).json()) as { request: { name: string; text: string }; createdAt: number }[];
const schedules = async () => ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? []) as { name: string; at: number }[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

describe('PATCH /v1/tasks/{id}', () => {
  it('a moved step fires at the new time, not the old; its schedule follows', async () => {
    const runner = startLocalRunner({ scheduler: new LocalScheduler(dynamo(), 'qunfa-test-schedules'), invoke: invokeWorker, intervalMs: 100 });
    try {
      const created = await create(body({ name: 'moved', sendAt: inSeconds(3) }));
      const newTime = new Date(Math.ceil((Date.now() + 9_000) / 1000) * 1000);
      const res = await patch(created.body.id, { sendAt: newTime.toISOString(), content: { text: 'v2' } });
      expect(res.status).toBe(200);
      expect(res.body.steps[0]).toMatchObject({ sendAt: newTime.toISOString(), status: 'SCHEDULED', content: { text: 'v2' }, rev: 1 });
      expect(res.body.history.at(-1).cause).toMatch(/content changed, moved to .* by the caller/);
      const names = (await schedules()).map((s) => s.name);
      expect(names).toContain(`${created.body.id}-s0-r1-${newTime.getTime().toString(36)}`);
      expect(names).not.toContain(`${created.body.id}-s0`);
      // The old time passes: nothing reaches the vendor.
      await sleep(5_000);
      expect((await vendorTasks()).filter((t) => t.request.name === 'moved')).toHaveLength(0);
      const sent = await waitFor(async () => (await vendorTasks()).find((t) => t.request.name === 'moved'), 10_000, 100);
      expect(sent.createdAt).toBeGreaterThanOrEqual(newTime.getTime());
      expect(sent.createdAt).toBeLessThan(newTime.getTime() + 2_000);
      expect(sent.request.text).toBe('v2');
      await sleep(500);
      expect((await vendorTasks()).filter((t) => t.request.name === 'moved')).toHaveLength(1);
    } finally {
      await runner.stop();
    }
  });

  it('a step already fired → 409, and nothing changes', async () => {
    const created = await create(body({ name: 'fired', sendAt: undefined }));
    await waitFor(async () => (await get(created.body.id)).body.status === 'SUBMITTED');
    const before = (await get(created.body.id)).body;
    const res = await patch(created.body.id, { content: { text: 'too late' } });
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.detail).toMatch(/step 0 is already SUBMITTED/);
    expect((await get(created.body.id)).body).toEqual(before);
  });

  it('is validated like a create: 400/422 naming the field, nothing written', async () => {
    const created = await create(body({ name: 'validated' }));
    const before = (await get(created.body.id)).body;
    const cases: [unknown, number, string][] = [
      [{ sendAt: '2026-12-01T10:00:00' }, 400, 'sendAt'],
      [{ content: { attachments: Array.from({ length: 10 }, () => ({ type: 'image', url: 'https://x.example/a.png' })) } }, 400, 'content.attachments'],
      [{ content: { text: 'x', attachments: [{ type: 'file', url: 'https://x.example/a.pdf', name: 'a.pdf' }] } }, 422, 'content.attachments.0.type'],
      [{ steps: [{ index: 3, content: { text: 'x' } }] }, 400, 'steps.0.index'],
      [{ notAfter: inSeconds(60) }, 400, 'notAfter'], // before the step's sendAt (in an hour)
      [{ colour: 'red' }, 400, 'colour'],
      [{}, 400, '(body)'],
    ];
    for (const [b, status, path] of cases) {
      const res = await patch(created.body.id, b);
      expect({ b, status: res.status }).toEqual({ b, status });
      expect(res.body.errors.map((e: any) => e.path)).toContain(path);
    }
    expect((await get(created.body.id)).body).toEqual(before);
    expect((await patch('tsk_00000000000000000000000000', { content: { text: 'x' } })).status).toBe(404);
  });

  it('100 PATCHes racing the dispatch: each step sent exactly once, in the version the answer says', async () => {
    const trials = 100;
    const results: { name: string; patched: boolean }[] = [];
    for (let i = 0; i < trials; i++) {
      const name = `race-${i}`;
      // Due within the dispatcher's tolerance, not fired directly: the race is between these two.
      const created = await create(body({ name, sendAt: inSeconds(4) }));
      // Either side may start first, by up to 40 ms: the race is over who writes first.
      const lead = Math.random() * 80 - 40;
      const [, res] = await Promise.all([
        sleep(Math.max(0, lead)).then(() => dispatch(ev(created.body.id))),
        sleep(Math.max(0, -lead)).then(() => patch(created.body.id, { content: { text: 'v2' } })),
      ]);
      expect([200, 409]).toContain(res.status);
      results.push({ name, patched: res.status === 200 });
      if (res.status === 200) await dispatch(ev(created.body.id)); // the schedule's firing, if the patch won before the claim
    }
    await sleep(500);
    const sent = await vendorTasks();
    for (const r of results) {
      const mine = sent.filter((t) => t.request.name === r.name);
      expect({ name: r.name, count: mine.length }).toEqual({ name: r.name, count: 1 });
      expect({ name: r.name, text: mine[0]?.request.text }).toEqual({ name: r.name, text: r.patched ? 'v2' : 'v1' });
    }
    // Both outcomes happened: the race was a race.
    expect(results.some((r) => r.patched)).toBe(true);
    expect(results.some((r) => !r.patched)).toBe(true);
  }, 120_000);
});

describe('notAfter', () => {
  it('a schedule that fires after notAfter sends nothing: FAILED qunfa.expired', async () => {
    const created = await create(body({ name: 'late', sendAt: inSeconds(3), notAfter: inSeconds(4) }));
    expect(created.body.steps[0].notAfter).toBe(created.body.notAfter);
    await sleep(4_500); // an outage: the schedule fires late
    expect(await dispatch(ev(created.body.id))).toEqual({ outcome: 'FAILED' });
    const t = (await get(created.body.id)).body;
    expect(t.status).toBe('FAILED');
    expect(t.steps[0].error.code).toBe('qunfa.expired');
    expect(t.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'FAILED']);
    expect(await vendorTasks()).toHaveLength(0);
  });

  it('defaults to sendAt + 1 h for each step', async () => {
    const at = inSeconds(600);
    const created = await create(body({ sendAt: at }));
    expect(Date.parse(created.body.steps[0].notAfter) - Date.parse(at)).toBe(3600_000);
  });

  it("with the tenant's limits full until after its notAfter, a step ends FAILED qunfa.expired at once, never sent", async () => {
    await env.withTenants(
      (t) => {
        t.a.limits = { weiban: { perMinute: 2 } };
      },
      async () => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push((await create(body({ name: `quota-${i}`, sendAt: inSeconds(4), notAfter: inSeconds(20) }))).body.id);
        const outcomes = [];
        for (const id of ids) outcomes.push(await dispatch(ev(id)));
        expect(outcomes.map((o) => o.outcome)).toEqual(['SUBMITTED', 'SUBMITTED', 'FAILED']);
        const t = (await get(ids[2] as string)).body;
        expect(t.steps[0].error.code).toBe('qunfa.expired');
        expect(t.history.at(-1).cause).toMatch(/no room: 2 weiban writes in the last minute; room is expected only at/);
        expect((await vendorTasks()).map((v) => v.request.name).sort()).toEqual(['quota-0', 'quota-1']);
      },
    );
  });

  it('a step with no room is deferred (still SCHEDULED) with why and when in its history', async () => {
    await env.withTenants(
      (t) => {
        t.a.limits = { weiban: { perMinute: 1 } };
      },
      async () => {
        const first = (await create(body({ name: 'room-0', sendAt: inSeconds(4) }))).body.id;
        const second = (await create(body({ name: 'room-1', sendAt: inSeconds(4) }))).body.id;
        expect(await dispatch(ev(first))).toMatchObject({ outcome: 'SUBMITTED' });
        const out = await dispatch(ev(second));
        expect(out.outcome).toBe('deferred');
        const wait = Date.parse(out.nextAttemptAt) - Date.now();
        expect(wait).toBeGreaterThan(55_000);
        expect(wait).toBeLessThan(66_000);
        const t = (await get(second)).body;
        expect(t.status).toBe('SCHEDULED');
        expect(t.steps[0]).toMatchObject({ nextAttemptAt: out.nextAttemptAt, deferrals: 1 });
        expect(t.history.at(-1)).toMatchObject({ from: 'SCHEDULED', to: 'SCHEDULED' });
        expect(t.history.at(-1).cause).toMatch(/^deferred \(1\): no room: 1 weiban writes in the last minute; next try at /);
        expect((await schedules()).find((s) => s.name === `${second}-s0-r1-${Date.parse(out.nextAttemptAt).toString(36)}`)?.at).toBe(
          Date.parse(out.nextAttemptAt),
        );
      },
    );
  });

  it('two firings deferring one step at once: the step always has a schedule at the time it waits for', async () => {
    await env.withTenants(
      (t) => {
        t.a.limits = { weiban: { perMinute: 1 } };
      },
      async () => {
        try {
          const filler = (await create(body({ name: 'fill', sendAt: inSeconds(4) }))).body.id;
          expect(await dispatch(ev(filler))).toMatchObject({ outcome: 'SUBMITTED' }); // the minute is full
          const stranded: string[] = [];
          // The first firing's schedule call returns late, so the second firing's deferral is written
          // first: the step waits for the second's time, though the first's schedule was made first.
          const real = new LocalScheduler(dynamo(), 'qunfa-test-schedules');
          let slow = true;
          setScheduler({
            schedule: async (name, at, event) => {
              await real.schedule(name, at, event);
              if (slow) {
                slow = false;
                await sleep(300);
              }
            },
            cancel: (name) => real.cancel(name),
          });
          for (let i = 0; i < 5; i++) {
            const id = (await create(body({ name: `twice-${i}`, sendAt: inSeconds(4) }))).body.id;
            slow = true;
            // Its schedule and its backstop (or a retry) fire together: each reserves its own second.
            const outs = await Promise.all([dispatch(ev(id)), sleep(50).then(() => dispatch(ev(id)))]);
            expect(outs.map((o) => o.outcome)).toContain('deferred');
            const step = (await get(id)).body.steps[0];
            const at = Date.parse(step.nextAttemptAt);
            if (!(await schedules()).some((s) => s.name.startsWith(`${id}-s0-`) && s.at === at)) stranded.push(id);
          }
          expect(stranded).toEqual([]);
        } finally {
          setScheduler(undefined);
        }
      },
    );
  });
});

describe('the contract is published', () => {
  it('the OpenAPI document has PATCH with its body schema, generated from the one that validates', async () => {
    const openapi = fns.openapi;
    const doc = (await call(openapi as never, { path: '/v1/openapi.json', key: null })).body;
    expect(doc.paths['/v1/tasks/{taskId}'].patch.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/PatchTask' });
    expect(Object.keys(doc.components.schemas.PatchTask.properties).sort()).toEqual(['content', 'notAfter', 'sendAt', 'steps']);
    expect(Object.keys(doc.components.schemas.CreateTask.properties)).toContain('notAfter');
  });
});

describe('limits are published', () => {
  it('GET /v1/vendors gives each vendor its flow-control defaults', async () => {
    const res = await call(listVendors as never, { path: '/v1/vendors', key: null });
    const weiban = res.body.items.find((v: any) => v.id === 'weiban');
    expect(weiban.capabilities.rateLimits).toEqual({ inFlight: 5, perMinute: 300, perHour: 15_000 });
    for (const v of res.body.items) expect(Object.keys(v.capabilities.rateLimits).sort()).toEqual(['inFlight', 'perHour', 'perMinute']);
  });
});
