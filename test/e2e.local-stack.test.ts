/**
 * End to end, over HTTP only: the local stack as `npm start` runs it (serverless-offline, dynalite
 * persisted on disk, the local scheduler, the Weiban sandbox), on free ports and its own data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALID, type Vendor } from './helpers/bodies';
import { freePort } from './helpers/external';

const root = join(__dirname, '..');
const KEY = 'qf_e2e_demo_key_0123456789abcdef';

interface Stack {
  child: ChildProcess;
  output: string[];
}
let ports: { api: number; lambda: number; dynamo: number; sandbox: number; receiver: number };
let dataDir: string;
let stack: Stack;

async function startStack(): Promise<Stack> {
  const output: string[] = [];
  const child = spawn(join(root, 'node_modules/.bin/tsx'), ['scripts/start.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(ports.api),
      LAMBDA_PORT: String(ports.lambda),
      QUNFA_DYNAMO_PORT: String(ports.dynamo),
      QUNFA_SANDBOX_PORT_BASE: String(ports.sandbox),
      QUNFA_DATA_DIR: dataDir,
      QUNFA_DEMO_API_KEY: KEY,
      QUNFA_ESBUILD_DIR: '.esbuild-e2e',
      QUNFA_TENANTS_FILE: '',
      WEIBAN_BASE_URL: '',
      DISPATCH_BACKOFF_MS: '50',
      QUNFA_RECEIVER_PORT: String(ports.receiver),
      QUNFA_SANDBOX_PROGRESS_MS: '3000',
      STATUS_POLL_INTERVALS: '1',
      CALLBACK_RETRY_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const deadline = Date.now() + 150_000;
  while (!output.join('').includes('qunfa is running on')) {
    if (child.exitCode !== null) throw new Error(`the stack exited:\n${output.join('')}`);
    if (Date.now() > deadline) throw new Error(`the stack did not start:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, output };
}

async function stopStack(s: Stack | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (s.child.exitCode === null) s.child.kill('SIGKILL');
}

const api = (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(init.headers as Record<string, string>) };
  if (init.key !== null) headers.authorization = `Bearer ${init.key ?? KEY}`;
  return fetch(`http://127.0.0.1:${ports.api}${path}`, { ...init, headers });
};
const SANDBOX_ORDER: Vendor[] = ['weiban', 'youmi', 'tanmarket', 'wshoto']; // scripts/lib/sandboxes.ts: base, base+1, …
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
    ports = {
      api: await freePort(),
      lambda: await freePort(),
      dynamo: await freePort(),
      sandbox: 20000 + Math.floor(Math.random() * 20000),
      receiver: await freePort(),
    };
    dataDir = mkdtempSync(join(tmpdir(), 'qunfa-e2e-'));
    stack = await startStack();
  }, 180_000);
  afterAll(async () => {
    await stopStack(stack);
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
    expect((await (await api('/v1/vendors', { key: null })).json()).items).toHaveLength(4);
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
      if (vendor === 'wshoto') {
        expect(done.stats).toBeUndefined(); // query_task_detail_info gives a status, no counts (seed 003)
      } else {
        expect(done.stats.sent).toBeGreaterThan(0);
        expect(done.stats.planned).toBeGreaterThanOrEqual(done.stats.sent);
      }
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

  it('tanmarket: SUBMITTED is where knowledge ends, and the task says so', async () => {
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify({ vendor: 'tanmarket', name: 'tm-lifecycle', ...VALID.tanmarket }) });
    const created = await res.json();
    const t = await until(async () => {
      const x = await getTask(created.id);
      return x.status === 'SUBMITTED' && x;
    }, 10_000);
    expect(t.history.at(-1).cause).toMatch(/offers no way to learn results/);
  });

  it('a restart loses no task and still fires a step that fell due while it was down', async () => {
    const res = await api('/v1/tasks', { method: 'POST', body: JSON.stringify(task({ name: 'restart', sendAt: inSeconds(4) })) });
    const created = await res.json();
    await stopStack(stack);
    stack = await startStack();
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
