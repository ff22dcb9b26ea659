/**
 * Fan-out (issue 10, item 6): Weiban lists a customer send's recipients once per sender
 * (staff_eu_list), so a request carries senders × customers entries. That product is bounded per
 * task (422 at create) and per vendor call (the step goes out in batches split over senders and
 * customers). Over the handlers, dynalite and the Weiban sandbox.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, inSeconds, lambdaContext, startTestEnv, type TestEnv } from './helpers/env';
import { dynamo, fns } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listVendors = fns.listVendors;

let env: TestEnv;

const PER_CALL = 100_000;
const PER_TASK = 1_000_000;

const ids = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${String(i).padStart(8, '0')}Xq9aYwLf`);
const create = (b: unknown) => call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b });
const get = async (id: string) => (await call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
const dispatch = (taskId: string) => (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId, step: 0 }, lambdaContext('dispatchStep'));
const itemCount = async () => (await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks', Select: 'COUNT' }))).Count ?? 0;
const scheduleCount = async () => (await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules', Select: 'COUNT' }))).Count ?? 0;
type StaffList = { staff_ext_id: string; eu_ext_ids: string[] }[];
const received = async (name: string) =>
  ((await (await fetch(`${env.weiban.url}/__sandbox/tasks`)).json()) as { request: { name: string; staff_eu_list: StaffList } }[])
    .filter((t) => t.request.name === name)
    .map((t) => t.request.staff_eu_list);

beforeAll(async () => {
  env = await startTestEnv({ QUNFA_SANDBOX_PROGRESS_MS: '600000' });
});
afterAll(async () => {
  await env.close();
});

describe('senders × customers', () => {
  it('GET /v1/vendors publishes the bounds with Weiban’s limits', async () => {
    const res = await call(listVendors as never, { path: '/v1/vendors', key: null });
    const weiban = res.body.items.find((v: { id: string }) => v.id === 'weiban');
    expect(weiban.capabilities.recipientsPerSender).toEqual(['customers']);
    expect(weiban.capabilities.limits).toMatchObject({ customerIdsPerCall: 10_000, sendersPerCall: 100, entriesPerCall: PER_CALL, entriesPerTask: PER_TASK });
  });

  it('100 senders × 100,000 customers (10 million entries) → 422 naming audience and the limit; nothing written', async () => {
    const beforeItems = await itemCount();
    const beforeSchedules = await scheduleCount();
    const res = await create({
      vendor: 'weiban',
      name: 'fan-out-too-big',
      audience: { kind: 'customers', senders: ids(100, 'staff'), customerIds: ids(100_000, 'wm') },
      content: { text: '会员日' },
      sendAt: inSeconds(3600),
    });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].path).toBe('audience');
    expect(res.body.errors[0].message).toMatch(/100 senders × 100000 customerIds = 10000000/);
    expect(res.body.errors[0].message).toMatch(/at most 1000000/);
    expect(res.body.errors[0].message).toMatch(/split/);
    expect(await itemCount()).toBe(beforeItems);
    expect(await scheduleCount()).toBe(beforeSchedules);
  });

  it('20 senders × 30,000 customers (600,000 entries) → batches of ≤ 100,000 entries, every pair exactly once, SUBMITTED', async () => {
    const senders = ids(20, 'staff');
    const customers = ids(30_000, 'wm');
    const res = await create({
      vendor: 'weiban',
      name: 'fan-out-batches',
      audience: { kind: 'customers', senders, customerIds: customers },
      content: { text: '会员日' },
      sendAt: inSeconds(4),
    });
    expect(res.status).toBe(201);
    expect(await dispatch(res.body.id)).toMatchObject({ outcome: 'SUBMITTED' });

    const calls = await received('fan-out-batches');
    expect(calls.length).toBeGreaterThan(1);
    for (const staff of calls) {
      expect(staff.reduce((n, s) => n + s.eu_ext_ids.length, 0)).toBeLessThanOrEqual(PER_CALL);
      expect(staff.length).toBeLessThanOrEqual(100); // Weiban: ≤ 100 staff a call
      for (const s of staff) expect(s.eu_ext_ids.length).toBeLessThanOrEqual(10_000); // ≤ 10k customers per staff a call
    }
    // Every (sender, customer) pair reached Weiban exactly once.
    const bySender = new Map<string, string[]>();
    for (const staff of calls) for (const s of staff) bySender.set(s.staff_ext_id, [...(bySender.get(s.staff_ext_id) ?? []), ...s.eu_ext_ids]);
    expect([...bySender.keys()].sort()).toEqual([...senders].sort());
    for (const got of bySender.values()) {
      expect(got).toHaveLength(customers.length);
      expect(new Set(got).size).toBe(customers.length);
    }

    const task = await get(res.body.id);
    expect(task.status).toBe('SUBMITTED');
    // Each batch says what it carries: 10,000 customers for 10 of the 20 senders.
    expect(task.steps[0].batches.map((b: { size: number; senders?: number }) => [b.size, b.senders])).toEqual(Array(calls.length).fill([10_000, 10]));
    expect(task.steps[0].batches.every((b: { status: string }) => b.status === 'SUBMITTED')).toBe(true);
    expect(task.history.at(-1).cause).toBe(`accepted by weiban in ${calls.length} batches`);
  }, 60_000);
});
