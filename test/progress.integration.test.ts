import { createHmac, randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signCallback, verifyCallbackSignature } from '../lib/delivery/callerCallbacks';
import { callbackUrlProblem, isPrivateAddress, postJson } from '../lib/infra/guardedFetch';
import { LocalScheduler, startLocalRunner } from '../lib/infra/scheduler/localScheduler';
import { TaskStore } from '../lib/infra/taskStore';
import { encrypt, signature } from '../lib/vendors/weiban/callbackCrypto';
import { pushYoumiEvent } from '../lib/vendors/youmi/sandbox';
import { startReceiver } from '../scripts/lib/receiver';
import { VALID, type Vendor } from './helpers/bodies';
import { call, inSeconds, lambdaContext, startTestEnv, waitFor, type TestEnv } from './helpers/env';
import { dynamo, fns, invokeWorker } from './helpers/testApp';
const createTask = fns.createTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const pollStatusFn = fns.pollStatus;
const vendorWebhook = fns.vendorWebhook;

let env: TestEnv;
let runner: { stop: () => Promise<void> };

const create = async (b: unknown) => {
  const res = await call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body;
};
const get = async (id: string) => (await call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
const dispatch = (taskId: string) => (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId, step: 0 }, lambdaContext('dispatchStep'));
const poll = (taskId: string, n = 0) => (pollStatusFn as any)({ kind: 'poll', tenantId: 'a', taskId, step: 0, n }, lambdaContext('pollStatus'));
const submitted = async (vendor: Vendor, over: Record<string, unknown> = {}) => {
  const t = await create({ vendor, name: `${vendor}-${randomUUID().slice(0, 6)}`, sendAt: inSeconds(4), ...VALID[vendor], ...over });
  expect(await dispatch(t.id)).toMatchObject({ outcome: 'SUBMITTED' });
  return await get(t.id);
};
const sandboxPost = (v: Vendor, what: string, b: unknown = {}) => fetch(`${env.sandbox(v).url}/__sandbox/${what}`, { method: 'POST', body: JSON.stringify(b) });
const webhook = (vendor: string, tenant: string, r: { method?: string; query?: Record<string, string>; headers?: Record<string, string>; rawBody?: string }) =>
  call(vendorWebhook as never, {
    method: r.method ?? 'POST',
    path: `/v1/webhooks/${vendor}/${tenant}`,
    key: null,
    params: { vendor, tenantId: tenant },
    query: r.query,
    headers: r.headers,
    rawBody: r.rawBody,
  });

beforeAll(async () => {
  // The sandboxes' own clocks are slowed right down: these tests move tasks by hand or by event.
  env = await startTestEnv({ STATUS_POLL_INTERVALS: '1', CALLBACK_RETRY_SECONDS: '1', QUNFA_SANDBOX_PROGRESS_MS: '600000' });
  runner = startLocalRunner({ scheduler: new LocalScheduler(dynamo(), 'qunfa-test-schedules'), invoke: invokeWorker, intervalMs: 100 });
});
afterAll(async () => {
  await runner.stop();
  await env.close();
});
beforeEach(async () => {
  for (const v of ['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom'] as Vendor[]) await sandboxPost(v, 'reset');
});

describe("Weiban callbacks (WeCom-style msg_signature + AES-256-CBC), with the tenant's own secrets", () => {
  const creds = () => env.tenants.a!.vendors.weiban;
  const signed = (encrypted: string, ts = String(Math.floor(Date.now() / 1000)), nonce = '263014780') => ({
    msg_signature: signature(creds().callbackToken as string, ts, nonce, encrypted),
    timestamp: ts,
    nonce,
  });

  it('answers URL verification with the decrypted echostr', async () => {
    const echostr = encrypt(creds().callbackAesKey as string, '1616140317555161061', creds().corpId as string);
    const res = await webhook('weiban', 'a', { method: 'GET', query: { ...signed(echostr), echostr } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.body).toBe('1616140317555161061');
  });

  it("a bad signature, a stale timestamp, a tampered body, another tenant's key → 401, nothing recorded", async () => {
    const before = (await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks', Select: 'COUNT' }))).Count;
    const enc = encrypt(creds().callbackAesKey as string, JSON.stringify({ event: 'work_order', event_id: 'wo-1' }), creds().corpId as string);
    const ok = signed(enc);
    const stale = String(Math.floor(Date.now() / 1000) - 3600);
    const other = env.tenants.b!.vendors.weiban;
    const otherEnc = encrypt(other.callbackAesKey as string, '{"event":"x"}', other.corpId as string);
    for (const r of [
      { query: { ...ok, msg_signature: '0'.repeat(40) }, rawBody: JSON.stringify({ encrypt: enc }) },
      { query: signed(enc, stale), rawBody: JSON.stringify({ encrypt: enc }) },
      { query: ok, rawBody: JSON.stringify({ encrypt: enc.replace(/^./, enc[0] === 'A' ? 'B' : 'A') }) },
      { query: { ...ok }, rawBody: 'not json' },
      {
        query: { msg_signature: signature(other.callbackToken as string, ok.timestamp, ok.nonce, otherEnc), timestamp: ok.timestamp, nonce: ok.nonce },
        rawBody: JSON.stringify({ encrypt: otherEnc }),
      },
    ]) {
      const res = await webhook('weiban', 'a', r);
      expect(res.status, JSON.stringify(r.query)).toBe(401);
      expect(res.body.detail).toBe('the callback could not be verified');
    }
    expect((await webhook('weiban', 'nosuchtenant', { query: ok, rawBody: JSON.stringify({ encrypt: enc }) })).status).toBe(401);
    expect((await webhook('tanmarket', 'a', { rawBody: '{}' })).status).toBe(404);
    expect((await dynamo().send(new ScanCommand({ TableName: 'qunfa-test-tasks', Select: 'COUNT' }))).Count).toBe(before);
  });

  it('a verified event is acknowledged "success" and taken in once', async () => {
    const enc = encrypt(creds().callbackAesKey as string, JSON.stringify({ event: 'work_order', event_id: 'wo-42' }), creds().corpId as string);
    const q = signed(enc);
    const answers = await Promise.all(Array.from({ length: 5 }, () => webhook('weiban', 'a', { query: q, rawBody: JSON.stringify({ encrypt: enc }) })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const events = await dynamo().send(
      new ScanCommand({ TableName: 'qunfa-test-tasks', FilterExpression: 'sk = :sk', ExpressionAttributeValues: { ':sk': 'EVT#weiban#wo-42' } }),
    );
    expect(events.Items).toHaveLength(1);
  });
});

describe('YouMi rpaTaskResult events', () => {
  const creds = () => env.tenants.a!.vendors.youmi as { clientId: string; clientSecret: string };
  const url = () => `${env.apiUrl}/v1/webhooks/youmi/a`;
  const event = (taskId: string, status: string, success = 0, eventId = randomUUID()) => ({
    eventId,
    messageType: 'rpaTaskResult',
    occurredAt: new Date().toISOString(),
    data: { taskId: Number(taskId), status, total: 2, success, fail: status === 'finished' ? 2 - success : 0 },
  });

  it('moves a step forward with figures; the same event 1, 2 and 50 times (concurrently) counts once', async () => {
    const t = await submitted('youmi');
    const vid = t.steps[0].vendorTaskId;
    const running = event(vid, 'running');
    expect(await pushYoumiEvent(url(), creds(), running)).toBe(200);
    expect(await pushYoumiEvent(url(), creds(), running)).toBe(200);
    const finished = event(vid, 'finished', 2);
    const answers = await Promise.all(Array.from({ length: 50 }, () => pushYoumiEvent(url(), creds(), finished)));
    expect(answers.every((s) => s === 200)).toBe(true);
    const after = await get(t.id);
    expect(after.status).toBe('COMPLETED');
    expect(after.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED']);
    expect(after.steps[0].stats).toEqual({ planned: 2, sent: 2, failed: 0 });
    expect(after.stats).toEqual({ planned: 2, sent: 2, failed: 0 });
  });

  it('events out of order never move a step backwards', async () => {
    const t = await submitted('youmi');
    const vid = t.steps[0].vendorTaskId;
    await pushYoumiEvent(url(), creds(), event(vid, 'finished', 1));
    await pushYoumiEvent(url(), creds(), event(vid, 'running'));
    const after = await get(t.id);
    expect(after.status).toBe('COMPLETED');
    expect(after.history.at(-1)).toMatchObject({ from: 'SUBMITTED', to: 'COMPLETED' });
  });

  it('a bad signature, a stale timestamp or a tampered body → 401, task unchanged', async () => {
    const t = await submitted('youmi');
    const body = JSON.stringify(event(t.steps[0].vendorTaskId, 'finished', 2));
    const ts = String(Math.floor(Date.now() / 1000));
    const { youmiEventSignature } = await import('../lib/vendors/youmi/adapter');
    const headers = (over: Record<string, string> = {}, b = body) => ({
      'x-youmi-appid': creds().clientId,
      'x-youmi-nonce': 'n1',
      'x-youmi-timestamp': ts,
      'x-youmi-signature': youmiEventSignature(creds().clientSecret, creds().clientId, 'n1', over['x-youmi-timestamp'] ?? ts, b),
      ...over,
    });
    const staleTs = String(Math.floor(Date.now() / 1000) - 3600);
    for (const r of [
      { headers: headers({ 'x-youmi-signature': 'AAAA' }), rawBody: body },
      { headers: headers({ 'x-youmi-timestamp': staleTs }), rawBody: body },
      { headers: headers(), rawBody: body.replace('"success":2', '"success":9') },
      { headers: headers({ 'x-youmi-appid': 'someone-else' }), rawBody: body },
    ]) {
      expect((await webhook('youmi', 'a', r)).status).toBe(401);
    }
    const after = await get(t.id);
    expect(after.status).toBe('SUBMITTED');
    expect(after.steps[0].stats).toBeUndefined();
  });
});

describe('status polling', () => {
  it('drives a WShoto task 0 → 2 → 3 and stops polling at the end', async () => {
    const t = await submitted('wshoto');
    const vid = t.steps[0].vendorTaskId;
    expect(await poll(t.id, 0)).toMatchObject({ outcome: 'SUBMITTED' });
    await sandboxPost('wshoto', `tasks/${vid}`, { status: 2 });
    await waitFor(async () => (await get(t.id)).status === 'RUNNING', 8000);
    await sandboxPost('wshoto', `tasks/${vid}`, { status: 3 });
    const done = await waitFor(async () => {
      const x = await get(t.id);
      return x.status === 'COMPLETED' && x;
    }, 8000);
    expect(done.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED']);
    expect(done.steps[0].polls).toBeGreaterThanOrEqual(2);
    const polls = done.steps[0].polls;
    await new Promise((r) => setTimeout(r, 2500));
    expect((await get(t.id)).steps[0].polls).toBe(polls); // no poll after the end
  });

  it('drives a Weiban group send to completed, with figures', async () => {
    const t = await submitted('weiban', { audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['g1', 'g2', 'g3'] } });
    const vid = t.steps[0].vendorTaskId;
    await sandboxPost('weiban', `tasks/${vid}`, { status: 'sended' });
    await waitFor(async () => (await get(t.id)).status === 'RUNNING', 8000);
    await sandboxPost('weiban', `tasks/${vid}`, { status: 'completed' });
    const done = await waitFor(async () => {
      const x = await get(t.id);
      return x.status === 'COMPLETED' && x;
    }, 8000);
    expect(done.stats).toEqual({ planned: 3, sent: 2, failed: 0, notFriend: 1, overQuota: 0, unconfirmedStaff: 0 });
  });

  it('a Weiban task still "sending" past the 15-day horizon ends clearly', async () => {
    const t = await submitted('weiban');
    const vid = t.steps[0].vendorTaskId;
    await sandboxPost('weiban', `tasks/${vid}`, { status: 'waiting' });
    const store = new TaskStore(dynamo(), 'qunfa-test-tasks');
    await store.update('a', t.id, (x) => {
      x.steps[0]!.submittedAt = new Date(Date.now() - 16 * 86_400_000).toISOString();
      return true;
    });
    await poll(t.id, 7);
    const after = await get(t.id);
    expect(after.status).toBe('FAILED');
    expect(after.steps[0].error.code).toBe('qunfa.result_horizon');
    expect(after.history.at(-1).cause).toMatch(/keeps results for 15 days/);
  });
});

describe('UNKNOWN steps', () => {
  it('stay UNKNOWN with the reason and what a person can do, and are listable', async () => {
    const t = await create({ vendor: 'wshoto', name: 'lost-answer', sendAt: inSeconds(4), ...VALID.wshoto });
    await sandboxPost('wshoto', 'faults', { match: 'async_create', mode: 'accept-then-reset' });
    expect(await dispatch(t.id)).toMatchObject({ outcome: 'UNKNOWN' });
    const after = await get(t.id);
    expect(after.history.at(-1).cause).toMatch(/not re-sent.*look in wshoto's console for a task named "lost-answer"/);
    const listTasks = fns.listTasks;
    const listed = await call(listTasks as never, { path: '/v1/tasks', query: { status: 'UNKNOWN' } });
    expect(listed.body.items.map((x: any) => x.id)).toContain(t.id);
  });
});

describe('callbacks to the caller', () => {
  it('an endpoint failing 3 times then answering 200 receives every change, signed, in order', async () => {
    const secret = env.tenants.a!.webhookSecret;
    const receiver = await startReceiver(0, () => secret, true);
    try {
      await fetch(`${receiver.url}/fail-next?count=3`, { method: 'POST' });
      const t = await create({ vendor: 'youmi', name: 'with-callbacks', sendAt: inSeconds(4), ...VALID.youmi, callbackUrl: `${receiver.url}/hooks` });
      await dispatch(t.id);
      const vid = (await get(t.id)).steps[0].vendorTaskId;
      await pushYoumiEvent(`${env.apiUrl}/v1/webhooks/youmi/a`, env.tenants.a!.vendors.youmi as never, {
        eventId: randomUUID(),
        messageType: 'rpaTaskResult',
        data: { taskId: Number(vid), status: 'finished', total: 2, success: 2, fail: 0 },
      });
      const ok = await waitFor(
        async () => {
          const r = receiver.received.filter((x) => x.answered === 200);
          return r.length >= 3 && r;
        },
        20_000,
        100,
      );
      expect(receiver.received.slice(0, 3).map((r) => r.answered)).toEqual([500, 500, 500]);
      expect(receiver.received.every((r) => r.verified)).toBe(true);
      // Each change once, in the order it happened (ids are <task>.<history index>).
      expect(ok.map((r) => r.id)).toEqual([`${t.id}.1`, `${t.id}.2`, `${t.id}.3`]);
      expect(ok.at(-1)?.status).toBe('COMPLETED');
      const retried = receiver.received.filter((r) => r.id === `${t.id}.1`);
      expect(retried.length).toBe(4); // three 500s, then the 200
      const seen = await get(t.id);
      expect(seen.callbacks).toMatchObject({ delivered: 3, pending: 0, abandoned: [] });
      expect(seen.callbacks.attempts.map((a: any) => a.status)).toEqual([500, 500, 500, 200, 200, 200]);
    } finally {
      await receiver.close();
    }
  });

  it('the signature is HMAC-SHA256 over "<t>.<body>" and a receiver can check it', () => {
    const header = signCallback('whsec_test', 1_700_000_000, '{"id":"x"}');
    expect(header).toBe(`t=1700000000,v1=${createHmac('sha256', 'whsec_test').update('1700000000.{"id":"x"}').digest('hex')}`);
    expect(verifyCallbackSignature('whsec_test', header, '{"id":"x"}', 300, 1_700_000_100_000)).toBe(true);
    expect(verifyCallbackSignature('whsec_test', header, '{"id":"y"}', 300, 1_700_000_100_000)).toBe(false);
    expect(verifyCallbackSignature('whsec_test', header, '{"id":"x"}', 300, 1_700_009_000_000)).toBe(false);
  });

  it('outside local mode a callbackUrl must be https and public', async () => {
    expect(callbackUrlProblem('http://caller.example.com/h', false)).toBe('must be https');
    expect(callbackUrlProblem('http://127.0.0.1:4700/h', true)).toBeUndefined();
    for (const u of [
      'https://127.0.0.1/h',
      'https://169.254.169.254/latest/meta-data',
      'https://10.0.0.8/h',
      'https://[::1]/h',
      'https://localhost/h',
      'https://db.internal/h',
      'https://[fd00:ec2::254]/',
    ]) {
      expect(callbackUrlProblem(u, false), u).toMatch(/private/);
    }
    expect(callbackUrlProblem('https://caller.example.com/hooks', false)).toBeUndefined();
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    await expect(postJson('https://127.0.0.1:1/x', '{}', {}, { allowPrivate: false, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'EPRIVATE' });
    await expect(postJson('https://localhost:1/x', '{}', {}, { allowPrivate: false, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'EPRIVATE' });
  });
});
