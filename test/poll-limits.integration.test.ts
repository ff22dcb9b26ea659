/**
 * Issue 10 item 7: polling ends for every vendor. A WShoto task the sandbox keeps "sending"
 * forever, or whose status endpoint fails forever, or that is older than qunfa follows a step,
 * ends in a final state whose history says qunfa stopped following it and why — and no poll is
 * scheduled after that.
 */
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalScheduler, startLocalRunner } from '../lib/infra/scheduler/localScheduler';
import { TaskStore } from '../lib/infra/taskStore';
import { VALID } from './helpers/bodies';
import { call, inSeconds, lambdaContext, startTestEnv, waitFor, type TestEnv } from './helpers/env';
import { dynamo, fns, invokeWorker } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const pollStatusFn = fns.pollStatus;

const MAX_POLLS = 4;
let env: TestEnv;
let runner: { stop: () => Promise<void> };

const get = async (id: string) => (await call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
const sandbox = (what: string, b: unknown = {}) => fetch(`${env.sandbox('wshoto').url}/__sandbox/${what}`, { method: 'POST', body: JSON.stringify(b) });
const statusQueries = async () =>
  ((await (await fetch(`${env.sandbox('wshoto').url}/__sandbox/requests`)).json()) as any[]).filter(
    (r) => r.path === '/openapi/task/follow_up/query_task_detail_info',
  ).length;
const pendingPolls = async (taskId: string) =>
  ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? []).filter(
    (s) => s.event?.kind === 'poll' && s.event?.taskId === taskId,
  ).length;

/** A WShoto task, SUBMITTED, its first poll scheduled (1 s ahead) by the dispatcher. */
async function submittedWshoto(): Promise<{ id: string; vendorTaskId: string }> {
  const res = await call(createTask as never, {
    method: 'POST',
    path: '/v1/tasks',
    body: { vendor: 'wshoto', name: `kept-${randomUUID().slice(0, 6)}`, sendAt: inSeconds(4), ...VALID.wshoto },
  });
  expect(res.status).toBe(201);
  expect(await (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId: res.body.id, step: 0 }, lambdaContext('dispatchStep'))).toMatchObject({
    outcome: 'SUBMITTED',
  });
  const t = await get(res.body.id);
  return { id: t.id, vendorTaskId: t.steps[0].vendorTaskId };
}

const final = (id: string, timeoutMs: number) =>
  waitFor(
    async () => {
      const t = await get(id);
      return ['COMPLETED', 'FAILED'].includes(t.status) && t;
    },
    timeoutMs,
    200,
  );

beforeAll(async () => {
  env = await startTestEnv({ STATUS_POLL_INTERVALS: '1', STATUS_POLL_MAX_COUNT: String(MAX_POLLS), QUNFA_SANDBOX_PROGRESS_MS: '600000' });
  runner = startLocalRunner({ scheduler: new LocalScheduler(dynamo(), 'qunfa-test-schedules'), invoke: invokeWorker, intervalMs: 100 });
});
afterAll(async () => {
  await runner.stop();
  await env.close();
});
beforeEach(async () => {
  await sandbox('reset');
});

describe('polling ends for a vendor with no result horizon (WShoto)', () => {
  it('a task the vendor keeps "sending" ends after STATUS_POLL_MAX_COUNT polls, FAILED with qunfa.poll_limit, and polls stop', async () => {
    const t = await submittedWshoto();
    await sandbox(`tasks/${t.vendorTaskId}`, { status: 2 }); // sending, for ever
    const done = await final(t.id, 15_000);
    expect(done.status).toBe('FAILED');
    expect(done.steps[0].error.code).toBe('qunfa.poll_limit');
    expect(done.steps[0].error.message).toMatch(/reported no figures/);
    expect(done.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'FAILED']);
    expect(done.history.at(-1).cause).toMatch(/^qunfa stopped following this step: it was asked 4 times/);
    expect(await statusQueries()).toBe(MAX_POLLS);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await statusQueries()).toBe(MAX_POLLS); // nothing asked after the end
    expect(await pendingPolls(t.id)).toBe(0);
  });

  it('failed polls count: a status endpoint that always answers HTTP 500 ends the step at the same cap', async () => {
    const t = await submittedWshoto();
    await sandbox('faults', { match: 'query_task_detail_info', mode: 'http', status: 500, count: -1 });
    const done = await final(t.id, 15_000);
    expect(done.status).toBe('FAILED');
    expect(done.steps[0].error.code).toBe('qunfa.poll_limit');
    expect(done.history.at(-1)).toMatchObject({ from: 'SUBMITTED', to: 'FAILED' });
    expect(done.history.at(-1).cause).toMatch(/it was asked 4 times.*the last ask failed: http_500/);
    expect(await statusQueries()).toBe(MAX_POLLS);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await statusQueries()).toBe(MAX_POLLS);
  });

  it('a step older than STATUS_POLL_MAX_AGE_SECONDS (default 15 days) ends at its next poll', async () => {
    const t = await submittedWshoto();
    await sandbox(`tasks/${t.vendorTaskId}`, { status: 2 });
    const store = new TaskStore(dynamo(), 'qunfa-test-tasks');
    await store.update('a', t.id, (x) => {
      x.steps[0]!.submittedAt = new Date(Date.now() - 16 * 86_400_000).toISOString();
      return true;
    });
    const done = await final(t.id, 8_000);
    expect(done.status).toBe('FAILED');
    expect(done.steps[0].error.code).toBe('qunfa.poll_limit');
    expect(done.history.at(-1).cause).toMatch(/qunfa stopped following this step: it was submitted more than 15 days ago/);
    expect(await statusQueries()).toBe(1);
  });

  it('a poll event past the cap arriving late (a duplicate delivery) changes nothing on a final step', async () => {
    const t = await submittedWshoto();
    await sandbox(`tasks/${t.vendorTaskId}`, { status: 2 });
    const done = await final(t.id, 15_000);
    const out = await (pollStatusFn as any)({ kind: 'poll', tenantId: 'a', taskId: t.id, step: 0, n: MAX_POLLS + 3 }, lambdaContext('pollStatus'));
    expect(out).toEqual({ outcome: 'already FAILED' });
    expect((await get(t.id)).history).toEqual(done.history);
  });
});
