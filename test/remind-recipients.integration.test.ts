/**
 * Issue 12's generic parts, with the vendors that have neither: POST /remind and GET /recipients
 * give a clear 409 where the vendor cannot, 404 for another tenant's task, 400 naming the bad
 * query field; and the recipients store keeps a step's rows across items within DynamoDB's item
 * limit, pages through them with cursors, filters by status, and drops rows a later report no
 * longer has. (WeCom's own reminders and recipients: test/wecom.integration.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecipientOutcome } from '../lib/core/recipients';
import { RECIPIENTS_PER_ITEM } from '../lib/infra/taskStore';
import { VALID } from './helpers/bodies';
import { call, inSeconds, KEY_B, startTestEnv, waitFor, type TestEnv } from './helpers/env';
import { dynamo, fns, taskStore } from './helpers/testApp';

let env: TestEnv;
let weibanTask: string;

const remind = (id: string, key?: string) =>
  call(fns.remindStaff as never, { method: 'POST', path: `/v1/tasks/${id}/remind`, params: { taskId: id }, ...(key ? { key } : {}) });
const recipients = (id: string, query: Record<string, string> = {}, key?: string) =>
  call(fns.listRecipients as never, { path: `/v1/tasks/${id}/recipients`, params: { taskId: id }, query, ...(key ? { key } : {}) });

beforeAll(async () => {
  env = await startTestEnv();
  const res = await call(fns.createTask as never, {
    method: 'POST',
    path: '/v1/tasks',
    body: { vendor: 'weiban', name: 'no-remind', sendAt: inSeconds(3600), ...VALID.weiban },
  });
  expect(res.status).toBe(201);
  weibanTask = res.body.id;
});
afterAll(() => env?.close());

describe('where the vendor cannot', () => {
  it('remind → 409 saying the vendor cannot remind, and the task is unchanged', async () => {
    const before = await call(fns.getTask as never, { path: `/v1/tasks/${weibanTask}`, params: { taskId: weibanTask } });
    const res = await remind(weibanTask);
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.detail).toMatch(/^weiban cannot remind staff/);
    const after = await call(fns.getTask as never, { path: `/v1/tasks/${weibanTask}`, params: { taskId: weibanTask } });
    expect(after.body).toEqual(before.body);
  });

  it('recipients → 409 saying the vendor does not report them', async () => {
    const res = await recipients(weibanTask);
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/^weiban does not report each recipient's outcome/);
  });

  it("another tenant's task is 404 for both, never 403", async () => {
    expect((await remind(weibanTask, KEY_B)).status).toBe(404);
    expect((await recipients(weibanTask, {}, KEY_B)).status).toBe(404);
    expect((await remind('tsk_nope')).status).toBe(404);
  });

  it('a bad query is 400 naming the field', async () => {
    for (const [query, path] of [
      [{ status: 'delivered' }, 'status'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '1001' }, 'limit'],
      [{ colour: 'red' }, 'colour'],
    ] as const) {
      const res = await recipients(weibanTask, query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(
        res.body.errors.map((e: { path: string }) => e.path),
        JSON.stringify(query),
      ).toContain(path);
    }
  });
});

describe('the recipients store', () => {
  const taskId = 'tsk_01M84B0000000000000000RCPT';
  const rows = (n: number, step: string): RecipientOutcome[] =>
    Array.from({ length: n }, (_, i) => ({
      sender: `staff-${i % 3}`,
      recipient: `wm-${step}-${String(i).padStart(5, '0')}`,
      kind: 'customer',
      status: i % 10 === 0 ? 'notFriend' : i % 7 === 0 ? 'unsent' : 'sent',
      ...(i % 7 === 0 ? {} : { sentAt: '2026-12-01T02:00:05.000Z' }),
    }));
  const items = async () =>
    (
      await dynamo().send(
        new (await import('@aws-sdk/lib-dynamodb')).QueryCommand({
          TableName: 'qunfa-test-tasks',
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': 'T#a', ':p': `RCP#${taskId}#` },
        }),
      )
    ).Items ?? [];
  const pageAll = async (opts: { status?: RecipientOutcome['status']; limit: number }) => {
    const seen = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await taskStore().listRecipients('a', taskId, { ...opts, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(opts.limit);
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
      pages++;
      expect(pages).toBeLessThan(100);
    } while (cursor);
    return { seen, pages };
  };

  it('keeps 10,000 rows of a step in items under the item limit, and pages through every row once, in order', async () => {
    await taskStore().putRecipients('a', taskId, 0, rows(10_000, 's0'));
    await taskStore().putRecipients('a', taskId, 1, rows(3, 's1'));
    const kept = await items();
    expect(kept.length).toBe(10_000 / RECIPIENTS_PER_ITEM + 1);
    for (const item of kept) expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(400 * 1024);
    const { seen, pages } = await pageAll({ limit: 700 });
    expect(seen.length).toBe(10_003);
    expect(pages).toBe(Math.ceil(10_003 / 700));
    expect(seen.map((r) => r.recipient)).toEqual([...rows(10_000, 's0'), ...rows(3, 's1')].map((r) => r.recipient));
    expect(seen[1]).toEqual({ step: 0, sender: 'staff-1', recipient: 'wm-s0-00001', kind: 'customer', status: 'sent', sentAt: '2026-12-01T02:00:05.000Z' });
    expect(seen.at(-1)).toMatchObject({ step: 1, recipient: 'wm-s1-00002' });
  });

  it('filters by status across pages', async () => {
    const { seen } = await pageAll({ status: 'notFriend', limit: 250 });
    expect(seen.length).toBe(1_000 + 1);
    expect(seen.every((r) => r.status === 'notFriend')).toBe(true);
  });

  it('a later, shorter report replaces the rows and drops the items it no longer fills', async () => {
    await taskStore().putRecipients(
      'a',
      taskId,
      0,
      rows(1_200, 's0').map((r) => ({ ...r, status: 'sent' })),
    );
    expect((await items()).length).toBe(2 + 1);
    const { seen } = await pageAll({ limit: 1000 });
    expect(seen.length).toBe(1_203);
    expect(seen.filter((r) => r.step === 0).every((r) => r.status === 'sent')).toBe(true);
  });

  it("a cursor is bound to its task: another task's, or one never given, is refused (400 cursor)", async () => {
    await expect(taskStore().listRecipients('a', taskId, { limit: 1, cursor: 'not-a-cursor' })).rejects.toMatchObject({ statusCode: 400 });
    const page = await taskStore().listRecipients('a', taskId, { limit: 1 });
    expect(page.nextCursor).toEqual(expect.any(String));
    await expect(taskStore().listRecipients('a', 'tsk_01M84B0000000000000000OTHR', { limit: 1, cursor: page.nextCursor as string })).rejects.toMatchObject({
      statusCode: 400,
    });
  });
});

describe('wecom: reminders and their limit', () => {
  it("3 reminders a day per send, the 4th 429 with Retry-After — and that limit holds back none of the tenant's other calls", async () => {
    const res = await call(fns.createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'wecom',
        name: 'remind-limit',
        audience: { kind: 'customers', senders: ['lazy-li'], customerIds: ['wm-x'] },
        content: { text: '记得确认' },
      },
    });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    await waitFor(async () => (await call(fns.getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body.status === 'SUBMITTED', 15_000);
    for (let i = 0; i < 3; i++) expect((await remind(id)).status).toBe(200);
    const fourth = await remind(id);
    expect(fourth.status).toBe(429);
    expect(fourth.headers['retry-after']).toBe('86400');
    expect(fourth.body.detail).toMatch(/41094/);
    const task = (await call(fns.getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
    expect(task.history.filter((h: { cause: string }) => h.cause.startsWith('wecom reminded')).length).toBe(3);
    // The per-send limit is not a rate limit: cancelling (another write to WeCom) goes through at once.
    const cancel = await call(fns.deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${id}`, params: { taskId: id } });
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('CANCELLED');
  }, 30_000);

  it('a step sent to several staff (one WeCom send each) is cancelled at WeCom send by send, every one of them', async () => {
    const res = await call(fns.createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'wecom',
        name: 'cancel-all',
        audience: { kind: 'groups', senders: ['lazy-a', 'lazy-b', 'lazy-c'], groupIds: ['wrG1'] },
        content: { text: '群公告' },
      },
    });
    const id = res.body.id as string;
    const submitted = await waitFor(async () => {
      const t = (await call(fns.getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
      return t.status === 'SUBMITTED' && t;
    }, 15_000);
    const msgids = submitted.steps[0].batches.map((b: { vendorTaskId: string }) => b.vendorTaskId);
    expect(msgids).toHaveLength(3);
    const cancel = await call(fns.deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${id}`, params: { taskId: id } });
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('CANCELLED');
    const cancelled = ((await (await fetch(`${env.sandbox('wecom').url}/__sandbox/requests`)).json()) as { path: string; body: { msgid: string } }[])
      .filter((r) => r.path === '/cgi-bin/externalcontact/cancel_groupmsg_send')
      .map((r) => r.body.msgid);
    expect(cancelled).toEqual(expect.arrayContaining(msgids));
  }, 30_000);

  it('a remind the tenant has no usable credentials for is 409 saying so, never a 500', async () => {
    const res = await call(fns.createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: {
        vendor: 'wecom',
        name: 'remind-no-creds',
        audience: { kind: 'customers', senders: ['lazy-z'], customerIds: ['wm-y'] },
        content: { text: '记得确认' },
      },
    });
    const id = res.body.id as string;
    await waitFor(async () => (await call(fns.getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body.status === 'SUBMITTED', 15_000);
    const out = await env.withTenants(
      (t) => {
        t.a.vendors.wecom = { corpId: '' };
      },
      () => remind(id),
    );
    expect(out.status).toBe(409);
    expect(out.body.detail).toMatch(/no usable wecom credentials/);
  }, 30_000);
});
