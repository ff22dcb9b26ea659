/**
 * A task too large for its store item (DynamoDB's 400 KB) is refused with 413 naming the limit
 * and the largest field, before anything is written or scheduled (issue 10, item 2). Over the
 * handlers, dynalite and the local schedules table.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, inSeconds, startTestEnv, type TestEnv } from './helpers/env';
import { dynamo, fns } from './helpers/testApp';
const createTask = fns.createTask;
const getTask = fns.getTask;
const patchTaskFn = fns.patchTask;

let env: TestEnv;

const create = (b: unknown, headers: Record<string, string> = {}) => call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b, headers });
const get = (id: string) => call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } });
const patch = (id: string, b: unknown) => call(patchTaskFn as never, { method: 'PATCH', path: `/v1/tasks/${id}`, params: { taskId: id }, body: b });
const items = async () => ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks' }))).Items ?? []) as Record<string, unknown>[];
const schedules = async () => ((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-schedules' }))).Items ?? []).map((s) => String(s.name)).sort();

/** Nine links whose URLs (and, with `thumb`, thumbnail URLs) are about `urlBytes` long. */
const url = (tag: string, bytes: number) => `https://cdn.example.com/${tag}/${'a'.repeat(bytes - 40)}`;
const links = (urlBytes: number, tag: string, thumb = true) =>
  Array.from({ length: 9 }, (_, k) => ({
    type: 'link',
    title: `第${k}篇`,
    url: url(`${tag}/${k}`, urlBytes),
    ...(thumb ? { thumbUrl: url(`${tag}/${k}/t`, urlBytes) } : {}),
  }));
const steps = (n: number, urlBytes: number, thumb = true) =>
  Array.from({ length: n }, (_, i) => ({
    sendAt: inSeconds(3600 + i * 60),
    content: { text: `第${i}步`, attachments: links(urlBytes, `s${i}`, thumb) },
  }));
const sop = (name: string, s: unknown[]) => ({
  vendor: 'weiban',
  name,
  audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
  steps: s,
});

beforeAll(async () => {
  env = await startTestEnv();
});
afterAll(async () => {
  await env.close();
});

describe('a task too large to store', () => {
  const tooBig = sop('too-big', steps(20, 2_000));

  it('20 steps × 9 links with 2 KB URLs (and thumbnails) → 413 naming the limit and steps; nothing written, nothing scheduled', async () => {
    const beforeItems = (await items()).length;
    const beforeSchedules = await schedules();
    const res = await create(tooBig, { 'idempotency-key': 'too-big-1' });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toMatchObject({ type: 'about:blank', status: 413, title: 'Payload Too Large' });
    expect(res.body.detail).toMatch(/400 KB/);
    expect(res.body.detail).toMatch(/64 KB/); // the headroom kept for what the task gathers while it runs
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].path).toBe('steps');
    expect(res.body.errors[0].message).toMatch(/344064 bytes/);
    expect((await items()).length).toBe(beforeItems);
    expect(await schedules()).toEqual(beforeSchedules);
  });

  it('the same key and body again → the same 413, still nothing written', async () => {
    const beforeItems = (await items()).length;
    const res = await create(tooBig, { 'idempotency-key': 'too-big-1' });
    expect(res.status).toBe(413);
    expect((await items()).length).toBe(beforeItems);
  });

  it('a large task that fits (20 steps × 9 links with 1.5 KB URLs) → 201, its item within 400 KB less the headroom', async () => {
    const res = await create(sop('fits', steps(20, 1_500, false)));
    expect(res.status).toBe(201);
    const item = (await items()).find((i) => i.sk === `TASK#${res.body.id}`);
    expect(item).toBeDefined();
    expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThanOrEqual(400 * 1024 - 64 * 1024);
    expect((await schedules()).filter((n) => n.startsWith(`${res.body.id}-`))).toHaveLength(20);
  });

  it('names the field that takes the room: vendorOptions (YouMi nicknames for 10,000 customers)', async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `27${String(i).padStart(6, '0')}`);
    const nicknames = Object.fromEntries(ids.map((id) => [id, '会员'.repeat(16)]));
    const beforeItems = (await items()).length;
    const beforeSchedules = await schedules();
    const res = await create({
      vendor: 'youmi',
      name: 'nicknames',
      audience: { kind: 'customers', senders: ['hex'], customerIds: ids },
      content: { text: '会员日' },
      sendAt: inSeconds(3600),
      vendorOptions: { machine: { ad_wechat_id: 1, machine_key: 'k' }, nicknames },
    });
    expect(res.status).toBe(413);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['vendorOptions']);
    expect((await items()).length).toBe(beforeItems);
    expect(await schedules()).toEqual(beforeSchedules);
  });
});

describe('a PATCH that would make the task too large', () => {
  it('→ 413 naming the content it changes; the task unchanged; the schedule made for the move is gone, the old one kept', async () => {
    const created = await create(sop('patch-grows', steps(20, 100)));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const before = (await get(id)).body;
    const beforeSchedules = await schedules();
    expect(beforeSchedules).toContain(`${id}-s0`);

    const grown = steps(20, 2_000).map((s, index) => ({ index, content: s.content, ...(index === 0 ? { sendAt: inSeconds(1800) } : {}) }));
    const res = await patch(id, { steps: grown });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.detail).toMatch(/400 KB/);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].path).toMatch(/^steps\.\d+\.content$/);
    expect(res.body.errors[0].message).toMatch(/344064 bytes/);

    expect((await get(id)).body).toEqual(before);
    expect(await schedules()).toEqual(beforeSchedules); // no -s0-r1 left behind, -s0 still there
  });

  it('a PATCH that fits still works on the same task', async () => {
    const created = await create(sop('patch-fits', steps(20, 100)));
    const res = await patch(created.body.id, { steps: [{ index: 3, content: { text: 'v2', attachments: links(2_000, 'v2') } }] });
    expect(res.status).toBe(200);
    expect(res.body.steps[3].content.text).toBe('v2');
  });
});
