/**
 * The sweeper puts lost work back on its path, once: a step whose schedule is gone, a claim whose
 * dispatcher died, a poll whose schedule is gone, callbacks never started. Real parts throughout
 * (dynalite with the byWatch index, the vendor sandboxes, workers run through the Lambda-invoke
 * endpoint); no local runner runs here, so only the sweeper can fire anything.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sweep, type SweepReport } from '../lib/delivery/sweeper';
import { claimNextCall } from '../lib/core/states';
import { LocalScheduler } from '../lib/infra/scheduler/localScheduler';
import { pollScheduleName, scheduleName } from '../lib/infra/scheduler/scheduler';
import { WATCH_SHARDS } from '../lib/infra/taskStore';
import { call, clearLimits, inSeconds, lambdaContext, startTestEnv, waitFor, type TestEnv } from './helpers/env';
import { dynamo, fns, rebuildTestApp, testApp } from './helpers/testApp';

let env: TestEnv;
const GRACE_S = 1;

const body = (over: Record<string, unknown> = {}) => ({
  vendor: 'weiban',
  name: '双十一提醒',
  audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
  content: { text: '今晚8点开抢' },
  ...over,
});
const create = async (over: Record<string, unknown> = {}) => {
  const res = await call(fns.createTask as never, { method: 'POST', path: '/v1/tasks', body: body(over) });
  expect(res.status).toBe(201);
  return res.body as { id: string };
};
const get = async (id: string) => (await call(fns.getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
const vendorCalls = async (path: string) => ((await (await fetch(`${env.weiban.url}/__sandbox/requests`)).json()) as any[]).filter((r) => r.path === path);
const CREATE_PATH = '/open-api/customer_group_msg/add';
const schedules = () => new LocalScheduler(dynamo(), 'qunfa-test-schedules');
const scheduleNames = async () => ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? []).map((s) => s.name as string);
const sweepNow = () => sweep(testApp().deps(lambdaContext('sweeper')));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sweeper as its EventBridge rule runs it: every `periodMs`, here two at once (a slow run overlapping the next). */
function sweepEvery(periodMs: number) {
  const reports: SweepReport[] = [];
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      reports.push(...(await Promise.all([sweepNow(), sweepNow()])));
      await sleep(periodMs);
    }
  };
  const running = loop();
  return {
    reports,
    repaired: () => reports.flatMap((r) => r.repaired),
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

beforeAll(async () => {
  // The sandbox keeps a sent task running for a minute, so a step stays followed by polls here.
  env = await startTestEnv({
    SWEEP_GRACE_SECONDS: String(GRACE_S),
    DISPATCH_LEASE_SECONDS: '1',
    STATUS_POLL_INTERVALS: '1,1,30',
    QUNFA_SANDBOX_PROGRESS_MS: '60000',
  });
});
afterAll(async () => {
  await sleep(500); // the workers the last sweep invoked finish first
  await env?.close();
});
beforeEach(async () => {
  rebuildTestApp({});
  await fetch(`${env.weiban.url}/__sandbox/reset`, { method: 'POST' });
  await clearLimits();
  // Earlier tests' overdue work is swept away first, so each test sees only its own.
  await sweepNow();
});

describe('the sweeper', () => {
  it('fires a waiting step whose schedule was deleted, exactly once, within its period after the grace', async () => {
    const sendAt = inSeconds(4); // beyond the send-now window: a timed step, waiting for its schedule
    const task = await create({ sendAt });
    await schedules().cancel(scheduleName(task.id, 0));
    expect(await scheduleNames()).not.toContain(scheduleName(task.id, 0));

    // Due but within the grace: not lost yet (a scheduler may fire late).
    await sleep(Date.parse(sendAt) - Date.now() + 200);
    expect((await sweepNow()).repaired).toEqual([]);
    expect((await get(task.id)).status).toBe('SCHEDULED');

    const period = 500;
    const sweeper = sweepEvery(period);
    try {
      const done = await waitFor(async () => {
        const t = await get(task.id);
        return t.status === 'SUBMITTED' && t;
      }, 8_000);
      // Within the grace plus one period (and the dispatch's own moment) of the step's time.
      expect(Date.parse(done.steps[0].submittedAt) - Date.parse(sendAt)).toBeLessThan(GRACE_S * 1000 + period + 1_500);
      await sleep(2 * period + GRACE_S * 1000); // more sweeps: nothing more to repair
    } finally {
      await sweeper.stop();
    }
    // (Its first status poll is overdue too by then, with no runner here: the sweeper asks that as well.)
    expect(sweeper.repaired().filter((r) => r.taskId === task.id && r.work.kind === 'dispatch')).toEqual([
      { tenantId: 'a', taskId: task.id, work: { kind: 'dispatch', step: 0 } },
    ]);
    expect(await vendorCalls(CREATE_PATH)).toHaveLength(1);
    const t = await get(task.id);
    expect(t.history.filter((h: any) => h.to === 'DISPATCHING')).toHaveLength(1);
  });

  it('a claim whose dispatcher died past its lease ends UNKNOWN through the sweeper, never re-sent', async () => {
    const task = await create({ sendAt: inSeconds(3600) });
    await schedules().cancel(scheduleName(task.id, 0));
    // A dispatcher claimed the step and died before its call's outcome was written.
    await testApp().store.update('a', task.id, (t) => claimNextCall(t, 0, [], new Date()));
    await sleep(1_000 + GRACE_S * 1000 + 300); // the lease, then the grace
    const report = await sweepNow();
    expect(report.repaired.filter((r) => r.taskId === task.id)).toEqual([{ tenantId: 'a', taskId: task.id, work: { kind: 'dispatch', step: 0 } }]);
    const t = await waitFor(async () => {
      const x = await get(task.id);
      return x.status === 'UNKNOWN' && x;
    });
    expect(t.steps[0].error.code).toBe('qunfa.dispatch_lost');
    expect(await vendorCalls(CREATE_PATH)).toHaveLength(0);
  });

  it('asks again about a submitted step whose poll schedule was lost, with the poll number it had, and the chain goes on', async () => {
    const task = await create(); // sent now
    await waitFor(async () => (await get(task.id)).status === 'SUBMITTED');
    await schedules().cancel(pollScheduleName(task.id, 0, 0));
    await sleep(1_000 + GRACE_S * 1000 + 300); // the first poll's time, then the grace
    const report = await sweepNow();
    expect(report.repaired.filter((r) => r.taskId === task.id)).toEqual([{ tenantId: 'a', taskId: task.id, work: { kind: 'poll', step: 0, n: 0 } }]);
    const polled = await waitFor(async () => {
      const x = await get(task.id);
      return (x.steps[0].polls ?? 0) >= 1 && x;
    });
    expect(polled.steps[0].polls).toBe(1);
    // The next poll of the chain is scheduled under its own number: one chain, not two.
    expect((await scheduleNames()).filter((n) => n.startsWith(`${task.id}-s0-p`))).toEqual([pollScheduleName(task.id, 0, 1)]);
  });

  it("a poll behind its step's chain (late, re-driven, or racing the sweeper's) asks nothing; one whose credentials are gone counts as a failed poll and the chain goes on", async () => {
    const task = await create(); // sent now
    await waitFor(async () => (await get(task.id)).status === 'SUBMITTED');
    const STATUS_PATH = '/open-api/customer_group_msg/result';
    const poll = (n: number) => fns.pollStatus({ kind: 'poll', tenantId: 'a', taskId: task.id, step: 0, n }, lambdaContext('pollStatus'));
    expect(await poll(0)).toEqual({ outcome: expect.stringMatching(/SUBMITTED|RUNNING/) });
    const asked = (await vendorCalls(STATUS_PATH)).length;
    expect(asked).toBeGreaterThan(0);
    expect(await poll(0)).toEqual({ outcome: "poll 0 is behind this step's poll 1" });
    expect(await vendorCalls(STATUS_PATH)).toHaveLength(asked);

    const out = await env.withTenants(
      (t) => {
        delete t.a.vendors.weiban;
      },
      async () => {
        rebuildTestApp({});
        return poll(1);
      },
    );
    rebuildTestApp({});
    expect(out.outcome).toMatch(/^poll failed: /);
    expect(await scheduleNames()).toContain(pollScheduleName(task.id, 0, 2));
    expect((await testApp().store.get('a', task.id))?.nextPolls?.['0']?.n).toBe(2);
  });

  it('delivers callbacks whose delivery was never started', async () => {
    const received: string[] = [];
    const receiver: Server = createServer((req, res) => {
      req.resume();
      received.push(String(req.headers['qunfa-event-id']));
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    try {
      // Every callback invoke is lost (as if Lambda dropped them); the step is cancelled: a change to tell.
      const real = testApp().invoke;
      rebuildTestApp({ invoke: async (e, lane) => (e.kind === 'callback' ? undefined : real(e, lane)) });
      const task = await create({ sendAt: inSeconds(3600), callbackUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks` });
      const del = await call(fns.deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${task.id}`, params: { taskId: id(task) } });
      expect(del.body.status).toBe('CANCELLED');
      await sleep(GRACE_S * 1000 + 300);
      expect(received).toEqual([]);
      rebuildTestApp({}); // the sweeper's own invokes reach the worker
      const report = await sweepNow();
      expect(report.repaired.filter((r) => r.taskId === task.id)).toEqual([{ tenantId: 'a', taskId: task.id, work: { kind: 'callback' } }]);
      await waitFor(async () => received.length >= 1);
      expect(received).toEqual([`${task.id}.1`]);
      // Seen delivered: the task leaves the index (nothing waits), so later sweeps do not read it.
      await sleep(GRACE_S * 1000 + 300);
      const later = await sweepNow();
      expect(later.repaired.filter((r) => r.taskId === task.id)).toEqual([]);
      expect(await watchAtOf(task.id)).toBeUndefined();
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });

  it('reads only overdue tasks from the index, not every waiting one', async () => {
    for (let i = 0; i < 40; i++) await create({ sendAt: inSeconds(3600 + i) });
    const lostAt = inSeconds(3);
    const lost = await create({ sendAt: lostAt });
    await schedules().cancel(scheduleName(lost.id, 0));
    await sleep(Date.parse(lostAt) - Date.now() + GRACE_S * 1000 + 300);
    const report = await sweepNow();
    expect(report.read).toBe(1);
    expect(report.repaired.map((r) => r.taskId)).toEqual([lost.id]);
    expect(WATCH_SHARDS).toBeGreaterThan(1);
  });
});

const id = (t: { id: string }) => t.id;
const watchAtOf = async (taskId: string) =>
  (
    await dynamo().send(
      new ScanCommand({ TableName: 'qunfa-test-tasks', FilterExpression: 'sk = :sk', ExpressionAttributeValues: { ':sk': `TASK#${taskId}` } }),
    )
  ).Items?.[0]?.watchAt as number | undefined;
