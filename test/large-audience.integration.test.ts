import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, inSeconds, lambdaContext, startTestEnv, type TestEnv } from './helpers/env';
import { dynamoFaults, throttling } from './reliability/faults';
import { dynamo, fns } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;

let env: TestEnv;
const N = 100_000;
const customers = Array.from({ length: N }, (_, i) => `wmNbxMDAAA${String(i).padStart(8, '0')}Xq9aYwLf`);

const dispatch = (taskId: string) => (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId, step: 0 }, lambdaContext('dispatchStep'));
const get = async (id: string) => (await call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
const vendorBatches = async (name: string) =>
  ((await (await fetch(`${env.weiban.url}/__sandbox/tasks`)).json()) as any[]).filter((t) => t.request.name === name);

beforeAll(async () => {
  env = await startTestEnv({ DISPATCH_LEASE_SECONDS: '1', QUNFA_SANDBOX_PROGRESS_MS: '600000' });
});
afterAll(async () => {
  await env.close();
});

describe(`a ${N.toLocaleString('en')}-customer task`, () => {
  it('is accepted and stored within DynamoDB item limits; GET gives its size, not 100,000 ids', async () => {
    const res = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'weiban',
        name: 'big-accept',
        audience: { kind: 'customers', customerIds: customers },
        content: { text: '会员日' },
        sendAt: inSeconds(3600),
        vendorOptions: { create_staff_ext_id: 'boss' },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.audienceSize).toEqual({ customerIds: N });
    expect(res.body.audience.customerIds).toBeUndefined();
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks', ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    const mine = items.filter((i) => String(i.sk).includes(res.body.id));
    for (const item of mine) expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(400 * 1024);
    expect(mine.filter((i) => String(i.sk).startsWith('AUD#')).reduce((n, i) => n + (i.ids as string[]).length, 0)).toBe(N);
    expect((await get(res.body.id)).audienceSize).toEqual({ customerIds: N });
  });

  it('goes out in batches of ≤ 10,000 per call, each exactly once, even when the dispatch dies half-way and resumes', async () => {
    const res = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'weiban',
        name: 'big-send',
        audience: { kind: 'customers', customerIds: customers },
        content: { text: '会员日' },
        sendAt: inSeconds(4),
        vendorOptions: { create_staff_ext_id: 'boss' },
      },
    });
    const id = res.body.id as string;
    // The store refuses the write that records batch 3's outcome: the dispatcher dies there. Each
    // batch is two task writes (its claim, made once the limiter admits it, then its outcome).
    dynamoFaults(dynamo()).push({ command: /PutItemCommand/, count: 1, error: throttling, after: 7 });
    await expect(dispatch(id)).rejects.toThrow();
    const mid = await get(id);
    expect(mid.status).toBe('DISPATCHING');
    expect(mid.steps[0].batches.map((b: any) => b.status)).toEqual(['SUBMITTED', 'SUBMITTED', 'SUBMITTED', 'SENDING', ...Array(6).fill('PENDING')]);
    expect(await vendorBatches('big-send')).toHaveLength(4);

    await new Promise((r) => setTimeout(r, 1100)); // the lease (1 s here) runs out; the retry resumes
    expect(await dispatch(id)).toMatchObject({ outcome: 'UNKNOWN' });
    const done = await get(id);
    const sent = await vendorBatches('big-send');
    expect(sent).toHaveLength(10); // batch 3 reached Weiban once, before the death; never again
    const all = sent.flatMap((t) => t.request.eu_ext_ids as string[]);
    expect(all).toHaveLength(N);
    expect(new Set(all).size).toBe(N);
    for (const t of sent) expect(t.request.eu_ext_ids.length).toBeLessThanOrEqual(10_000);
    expect(done.steps[0].batches.map((b: any) => b.status)).toEqual(['SUBMITTED', 'SUBMITTED', 'SUBMITTED', 'UNKNOWN', ...Array(6).fill('SUBMITTED')]);
    expect(done.history.at(-1).cause).toMatch(/batches 3 of 10 may have reached weiban and are not re-sent; 9 submitted/);
  }, 60_000);

  it('without a fault: 10 batches, SUBMITTED', async () => {
    const res = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'weiban',
        name: 'big-clean',
        audience: { kind: 'customers', senders: ['s1'], customerIds: customers },
        content: { text: '会员日' },
        sendAt: inSeconds(4),
      },
    });
    expect(await dispatch(res.body.id)).toMatchObject({ outcome: 'SUBMITTED' });
    const sent = await vendorBatches('big-clean');
    expect(sent).toHaveLength(10);
    for (const t of sent) expect(t.request.staff_eu_list[0].eu_ext_ids.length).toBe(10_000);
    expect((await get(res.body.id)).history.at(-1).cause).toBe('accepted by weiban in 10 batches');
  }, 60_000);

  it('a callback vendor takes one batch per task: more is refused at create time', async () => {
    const res = await call(createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'youmi',
        name: 'big-youmi',
        audience: { kind: 'customers', senders: ['hex'], customerIds: customers.slice(0, 10_001) },
        content: { text: 'x' },
        vendorOptions: { machine: { ad_wechat_id: 1, machine_key: 'k' } },
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'audience.customerIds', message: 'youmi takes at most 10000 per task' }]);
  });
});
