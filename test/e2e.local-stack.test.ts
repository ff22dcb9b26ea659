/**
 * End to end, over HTTP only: the local stack as `npm start` runs it (serverless-offline, dynalite
 * persisted on disk, the local scheduler, the Weiban sandbox), on free ports and its own data dir.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALID, type Vendor } from './helpers/bodies';
import { startLocalStack, type LocalStack } from './helpers/localStack';

const KEY = 'qf_e2e_demo_key_0123456789abcdef';

let stack: LocalStack;
let ports: LocalStack['ports'];

const api = (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(init.headers as Record<string, string>) };
  if (init.key !== null) headers.authorization = `Bearer ${init.key ?? KEY}`;
  return fetch(`http://127.0.0.1:${ports.api}${path}`, { ...init, headers });
};
const SANDBOX_ORDER: Vendor[] = ['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom']; // scripts/lib/sandboxes.ts: base, base+1, …
const sandbox = async (what: 'tasks' | 'requests', vendor: Vendor = 'weiban') =>
  (await (await fetch(`http://127.0.0.1:${ports.sandbox + SANDBOX_ORDER.indexOf(vendor)}/__sandbox/${what}`)).json()) as any[];
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString().replace('Z', '+00:00');
const task = (over: Record<string, unknown> = {}) => ({
  vendor: 'weiban',
  name: '双十一提醒',
  audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
  content: { text: '今晚8点开抢' },
  ...over,
});
async function until<T>(fn: () => Promise<T | false | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}
const getTask = async (id: string) => await (await api(`/v1/tasks/${id}`)).json();

describe('the local stack, over HTTP', () => {
  beforeAll(async () => {
    stack = await startLocalStack(KEY, {
      QUNFA_ESBUILD_DIR: '.esbuild-e2e',
      QUNFA_QUIET: '0',
      DISPATCH_BACKOFF_MS: '50',
      QUNFA_SANDBOX_PROGRESS_MS: '3000',
      STATUS_POLL_INTERVALS: '1',
      CALLBACK_RETRY_SECONDS: '1',
      // The functions log at INFO and write their metrics, as deployed (the test runner turns both down in-process).
      LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_DISABLED: 'false',
    });
    ports = stack.ports;
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('prints the demo key and a ready curl line', () => {
    const out = stack.output.join('');
    expect(out).toContain(`demo API key         ${KEY}`);
    expect(out).toMatch(new RegExp(`curl -s -X POST http://localhost:${ports.api}/v1/tasks -H "Authorization: Bearer ${KEY}"`));
  });

  it('a task 3 s ahead is SCHEDULED, reaches the sandbox at its time, and becomes SUBMITTED', async () => {
    const sendAt = inSeconds(3);
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify(task({ sendAt })) });
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(created.status).toBe('SCHEDULED');
    expect((await getTask(created.id)).status).toBe('SCHEDULED');
    expect(await sandbox('tasks')).toHaveLength(0);

    const done = await until(async () => {
      const t = await getTask(created.id);
      return t.status === 'SUBMITTED' && t;
    }, 15_000);
    const [vendorTask] = await sandbox('tasks');
    expect(done.steps[0].vendorTaskId).toBe(vendorTask.id);
    expect(vendorTask.request).toMatchObject({ name: '双十一提醒', staff_ext_id_list: ['zhangsan'], text: '今晚8点开抢' });
    expect(Date.parse(done.steps[0].claimedAt)).toBeGreaterThanOrEqual(Date.parse(sendAt));
  }, 30_000);

  it('a cancelled task reaches nothing, even after its time', async () => {
    const before = (await sandbox('requests')).length;
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify(task({ name: '取消', sendAt: inSeconds(3) })) });
    const created = await res.json();
    const cancel = await api(`/v1/tasks/${created.id}`, { method: 'DELETE' });
    expect(cancel.status).toBe(200);
    expect((await cancel.json()).status).toBe('CANCELLED');
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await getTask(created.id)).status).toBe('CANCELLED');
    expect((await sandbox('requests')).slice(before).filter((r) => r.body?.name === '取消')).toEqual([]);
  }, 30_000);

  it('an Idempotency-Key replay returns the same task (200); with another body, 422', async () => {
    const body = JSON.stringify(task({ name: 'idem', sendAt: inSeconds(3600) }));
    const headers = { 'idempotency-key': 'e2e-order-42' };
    const first = await api('/v1/tasks', { method: 'POST', body, headers });
    const again = await api('/v1/tasks', { method: 'POST', body, headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect((await again.json()).id).toBe((await first.json()).id);
    const other = await api('/v1/tasks', { method: 'POST', body: JSON.stringify(task({ name: 'other', sendAt: inSeconds(3600) })), headers });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toBe('application/problem+json');
  });

  it('bad input and a missing key are answered with problem+json over HTTP', async () => {
    const bad = await api('/v1/tasks', { method: 'POST', body: '{"vendor":' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail).toMatch(/not valid JSON/);
    const anon = await api('/v1/tasks', { key: null });
    expect(anon.status).toBe(401);
    const doc = await api('/v1/openapi.json', { key: null });
    expect((await doc.json()).openapi).toBe('3.1.0');
  });

  it.each(['youmi', 'tanmarket', 'wshoto'] as Vendor[])(
    '%s: a timed task reaches its sandbox and is SUBMITTED; a cancelled one reaches nothing',
    async (vendor) => {
      const make = (name: string) => api('/v1/tasks', { method: 'POST', body: JSON.stringify({ vendor, name, sendAt: inSeconds(3), ...VALID[vendor] }) });
      const sent = await (await make(`${vendor}-e2e`)).json();
      const cancelled = await (await make(`${vendor}-cancelled`)).json();
      expect(sent.status).toBe('SCHEDULED');
      expect((await api(`/v1/tasks/${cancelled.id}`, { method: 'DELETE' })).status).toBe(200);
      await until(async () => (await getTask(sent.id)).status === 'SUBMITTED', 15_000);
      await new Promise((r) => setTimeout(r, 1500));
      const names = (await sandbox('tasks', vendor)).map((t) => t.request?.bulksend?.task_theme ?? t.request?.title ?? t.request?.template_name);
      expect(names).toEqual([`${vendor}-e2e`]);
      expect((await getTask(cancelled.id)).status).toBe('CANCELLED');
    },
    30_000,
  );

  it('content a vendor cannot carry is refused at create time with 422 over HTTP', async () => {
    const mini = { type: 'miniprogram', appId: 'wx1', title: '小程序', page: 'pages/a', coverUrl: 'https://x.example/c.png' };
    const toYoumi = await api('/v1/tasks', {
      method: 'POST',
      body: JSON.stringify({ vendor: 'youmi', name: 'x', ...VALID.youmi, content: { attachments: [mini] } }),
    });
    expect(toYoumi.status).toBe(422);
    expect((await toYoumi.json()).errors[0]).toEqual({
      path: 'content.attachments.0.type',
      message: expect.stringContaining('youmi cannot carry miniprogram'),
    });
    const toWshoto = await api('/v1/tasks', {
      method: 'POST',
      body: JSON.stringify({ vendor: 'wshoto', name: 'x', ...VALID.wshoto, content: { attachments: [{ type: 'image', url: 'https://x.example/a.png' }] } }),
    });
    expect(toWshoto.status).toBe(422);
    expect((await (await api('/v1/vendors', { key: null })).json()).items).toHaveLength(5);
  });

  it.each(['weiban', 'youmi', 'wshoto'] as Vendor[])(
    '%s: create → SUBMITTED → RUNNING → COMPLETED (with figures where the vendor gives them); the caller receives each change, signed',
    async (vendor) => {
      const callbackUrl = `http://127.0.0.1:${ports.receiver}/hooks`;
      const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify({ vendor, name: `${vendor}-lifecycle`, ...VALID[vendor], callbackUrl }) });
      const created = await res.json();
      expect(res.status).toBe(201);
      const done = await until(async () => {
        const t = await getTask(created.id);
        return t.status === 'COMPLETED' && t;
      }, 40_000);
      expect(done.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED']);
      // WShoto's query_task_detail_info gives a status, no counts (seed 003); the others give figures.
      const figures = {
        given: done.stats !== undefined,
        sentSome: (done.stats?.sent ?? 0) > 0,
        plannedCoversSent: (done.stats?.planned ?? 0) >= (done.stats?.sent ?? 0),
      };
      expect(figures).toEqual({ given: vendor !== 'wshoto', sentSome: vendor !== 'wshoto', plannedCoversSent: true });
      const received = await until(async () => {
        const all = (await (await fetch(`http://127.0.0.1:${ports.receiver}/received`)).json()) as any[];
        const mine = all.filter((r) => r.taskId === created.id);
        return mine.some((r) => r.status === 'COMPLETED') && mine;
      }, 15_000);
      expect(received.every((r: any) => r.verified && r.answered === 200)).toBe(true);
      expect(received.map((r: any) => r.id)).toEqual([1, 2, 3, 4].map((i) => `${created.id}.${i}`));
    },
    60_000,
  );

  it("a task's life is in the functions' logs: EMF metrics at each stage and log lines, every line of its invocations naming its tenant and task", async () => {
    const callbackUrl = `http://127.0.0.1:${ports.receiver}/hooks`;
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify({ ...task(), name: 'observed', callbackUrl }) });
    const created = await res.json();
    await until(async () => (await getTask(created.id)).status === 'COMPLETED', 40_000);
    const lines = () =>
      stack.output
        .join('')
        .split('\n')
        .flatMap((l) => {
          const at = l.indexOf('{"');
          try {
            return at < 0 ? [] : [JSON.parse(l.slice(at)) as Record<string, any>];
          } catch {
            return [];
          }
        });
    const metricsOf = (ls: Record<string, any>[]) =>
      ls.filter((l) => l._aws).flatMap((l) => l._aws.CloudWatchMetrics[0].Metrics.map((m: any) => m.Name as string));
    // The last callback is delivered a moment after COMPLETED.
    const mine = await until(async () => {
      const m = lines().filter((l) => l.taskId === created.id);
      return metricsOf(m).includes('CallbacksDelivered') && metricsOf(m).filter((n) => n === 'CallbacksDelivered').length >= 4 && m;
    }, 15_000);
    const emf = mine.filter((l) => l._aws);
    expect(new Set(emf.map((l) => l._aws.CloudWatchMetrics[0].Namespace))).toEqual(new Set(['qunfa']));
    expect(new Set(metricsOf(emf))).toEqual(new Set(['TasksCreated', 'VendorCallLatency', 'StepsDispatched', 'StatusPolls', 'CallbacksDelivered']));
    expect(emf.find((l) => l.StepsDispatched)).toMatchObject({
      tenantId: 'demo',
      taskId: created.id,
      step: '0',
      vendor: 'weiban',
      outcome: 'SUBMITTED',
      service: 'qunfa',
    });
    expect(emf.every((l) => l.tenantId === 'demo')).toBe(true);
    // Every log line (metrics included) of every invocation that worked on this task names it and its tenant, with the request id.
    const requestIds = new Set(mine.map((l) => l.function_request_id).filter(Boolean));
    expect(requestIds.size).toBeGreaterThanOrEqual(4); // create, dispatch, polls, callbacks
    const logLines = lines().filter((l) => l.level && requestIds.has(l.function_request_id));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.filter((l) => l.taskId !== created.id || l.tenantId !== 'demo')).toEqual([]);
    expect(logLines.find((l) => l.message === 'step dispatched')).toMatchObject({ tenantId: 'demo', taskId: created.id, step: 0, vendor: 'weiban' });
  }, 60_000);

  it('tanmarket: SUBMITTED is where knowledge ends, and the task says so', async () => {
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify({ vendor: 'tanmarket', name: 'tm-lifecycle', ...VALID.tanmarket }) });
    const created = await res.json();
    const t = await until(async () => {
      const x = await getTask(created.id);
      return x.status === 'SUBMITTED' && x;
    }, 10_000);
    expect(t.history.at(-1).cause).toMatch(/offers no way to learn results/);
  });

  describe('wecom (WeCom itself, no SCRM)', () => {
    const wecomUrl = (path: string) => `http://127.0.0.1:${ports.sandbox + SANDBOX_ORDER.indexOf('wecom')}${path}`;
    const wecomGet = async (path: string) => await (await fetch(wecomUrl(path))).json();
    const requestsTo = async (path: string) => (await sandbox('requests', 'wecom')).filter((r) => r.path === path);
    const asset = (name: string) => wecomUrl(`/__sandbox/assets/${name}`);
    const create = async (body: Record<string, unknown>) => {
      const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify({ vendor: 'wecom', ...body }) });
      expect(res.status).toBe(201);
      return res.json();
    };

    it('a timed customers task with all five attachment kinds reaches add_msg_template at its time with freshly uploaded media ids; remind reaches remind_groupmsg_send; after the staff confirm it is COMPLETED with its figures and /recipients gives each customer its outcome', async () => {
      const uploadsBefore = (await requestsTo('/cgi-bin/media/upload')).length;
      const sendAt = inSeconds(4);
      const created = await create({
        name: '会员日',
        sendAt,
        audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wm-a', 'wm-notfriend-b', 'wm-overquota-c', 'wm-d'] },
        content: {
          text: '会员日，全场五折',
          attachments: [
            { type: 'image', url: asset('sample.png') },
            { type: 'link', title: '会场', url: 'https://shop.example.com/vip', description: '今晚8点', thumbUrl: 'https://shop.example.com/t.png' },
            { type: 'miniprogram', appId: 'wx8bd80126147dfa55', title: '会员中心', page: 'pages/vip/index', coverUrl: asset('sample.jpg') },
            { type: 'video', url: asset('sample.mp4') },
            { type: 'file', url: asset('sample.pdf'), name: '会员权益.pdf' },
          ],
        },
      });
      expect(created.status).toBe('SCHEDULED');
      // Nothing is uploaded at create: media ids live three days.
      expect((await requestsTo('/cgi-bin/media/upload')).length).toBe(uploadsBefore);

      const submitted = await until(async () => {
        const t = await getTask(created.id);
        return t.status !== 'SCHEDULED' && t.status !== 'DISPATCHING' && t;
      }, 20_000);
      expect(submitted.status).toMatch(/SUBMITTED|RUNNING/);
      const msgid = submitted.steps[0].vendorTaskId;
      const [sent] = (await sandbox('tasks', 'wecom')).filter((t) => t.id === msgid);
      const request = sent.request;
      expect(request).toMatchObject({
        chat_type: 'single',
        external_userid: ['wm-a', 'wm-notfriend-b', 'wm-overquota-c', 'wm-d'],
        sender: 'zhangsan',
        text: { content: '会员日，全场五折' },
      });
      expect(request.attachments.map((a: any) => a.msgtype)).toEqual(['image', 'link', 'miniprogram', 'video', 'file']);
      expect(request.attachments[1].link).toEqual({
        title: '会场',
        url: 'https://shop.example.com/vip',
        desc: '今晚8点',
        picurl: 'https://shop.example.com/t.png',
      });
      // Each media id was issued by WeCom's upload after the step's time: fresh, of the right type.
      const issued = new Map(((await wecomGet('/__sandbox/media')) as any[]).map((m) => [m.media_id, m]));
      const ids = [
        request.attachments[0].image.media_id,
        request.attachments[2].miniprogram.pic_media_id,
        request.attachments[3].video.media_id,
        request.attachments[4].file.media_id,
      ];
      expect(ids.map((id: string) => issued.get(id)?.type)).toEqual(['image', 'image', 'video', 'file']);
      for (const id of ids) expect(issued.get(id).uploadedAt).toBeGreaterThanOrEqual(Date.parse(sendAt));

      const reminded = await api(`/v1/tasks/${created.id}/remind`, { method: 'POST' });
      expect(reminded.status).toBe(200);
      expect((await reminded.json()).history.at(-1).cause).toMatch(/wecom reminded the staff of 1 send not yet confirmed/);
      expect((await requestsTo('/cgi-bin/externalcontact/remind_groupmsg_send')).map((r) => r.body.msgid)).toContain(msgid);

      const done = await until(async () => {
        const t = await getTask(created.id);
        return t.status === 'COMPLETED' && t;
      }, 30_000);
      expect(done.stats).toMatchObject({ sent: 2, notFriend: 1, overQuota: 1 });
      const page = await (await api(`/v1/tasks/${created.id}/recipients`)).json();
      expect(page.nextCursor).toBeNull();
      expect(page.items.map((r: any) => [r.recipient, r.status, r.sender])).toEqual([
        ['wm-a', 'sent', 'zhangsan'],
        ['wm-notfriend-b', 'notFriend', 'zhangsan'],
        ['wm-overquota-c', 'overQuota', 'zhangsan'],
        ['wm-d', 'sent', 'zhangsan'],
      ]);
      const notFriend = await (await api(`/v1/tasks/${created.id}/recipients?status=notFriend`)).json();
      expect(notFriend.items.map((r: any) => r.recipient)).toEqual(['wm-notfriend-b']);
    }, 60_000);

    it('a groups task is cancelled at WeCom after submit', async () => {
      const created = await create({
        name: '群发取消',
        audience: { kind: 'groups', senders: ['lazy-wang'], groupIds: ['wrChat1', 'wrChat2'] },
        content: { text: '群公告' },
      });
      const submitted = await until(async () => {
        const t = await getTask(created.id);
        return (t.status === 'SUBMITTED' || t.status === 'RUNNING') && t;
      }, 20_000);
      const res = await api(`/v1/tasks/${created.id}`, { method: 'DELETE' });
      expect(res.status).toBe(200);
      expect((await res.json()).status).toBe('CANCELLED');
      expect((await requestsTo('/cgi-bin/externalcontact/cancel_groupmsg_send')).map((r) => r.body.msgid)).toContain(submitted.steps[0].vendorTaskId);
    }, 40_000);

    it('a task 5 days ahead has uploaded nothing', async () => {
      const before = (await requestsTo('/cgi-bin/media/upload')).length;
      const created = await create({
        name: '五天后',
        sendAt: inSeconds(5 * 86_400),
        audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wm-a'] },
        content: { attachments: [{ type: 'image', url: asset('sample.png') }] },
      });
      await new Promise((r) => setTimeout(r, 2_000));
      expect((await getTask(created.id)).status).toBe('SCHEDULED');
      expect((await requestsTo('/cgi-bin/media/upload')).length).toBe(before);
      expect(
        (await requestsTo('/cgi-bin/externalcontact/add_msg_template')).filter(
          (r) => r.body?.text === undefined && r.body?.attachments?.length === 1 && r.body?.external_userid?.[0] === 'wm-a' && r.at > created.createdAt,
        ),
      ).toEqual([]);
    }, 20_000);
  });

  it('a restart loses no task and still fires a step that fell due while it was down', async () => {
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify(task({ name: 'restart', sendAt: inSeconds(4) })) });
    const created = await res.json();
    await stack.restart();
    const t = await until(async () => {
      const x = await getTask(created.id);
      return x.status === 'SUBMITTED' && x;
    }, 20_000);
    expect(t.history.map((h: any) => h.to)).toEqual(['SCHEDULED', 'DISPATCHING', 'SUBMITTED']);
    expect((await sandbox('tasks')).filter((v) => v.request.name === 'restart')).toHaveLength(1);
    const list = await (await api('/v1/tasks?limit=100')).json();
    expect(list.items.map((x: any) => x.name)).toEqual(expect.arrayContaining(['双十一提醒', '取消', 'idem', 'restart']));
  }, 200_000);
});
