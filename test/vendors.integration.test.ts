import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stepInput } from '../lib/vendors/stepInput';
import { vendorContext } from '../lib/delivery/vendorContext';
import { wshotoAdapter } from '../lib/vendors/wshoto/adapter';
import { VALID, type Vendor } from './helpers/bodies';
import { call, inSeconds, lambdaContext, startTestEnv, type TestEnv } from './helpers/env';
import { appSettings, appVendors, fns, tenantDirectory } from './helpers/testApp';
const createTask = fns.createTask;
const deleteTask = fns.deleteTask;
const dispatchStepFn = fns.dispatchStep;
const getTask = fns.getTask;
const listVendors = fns.listVendors;

let env: TestEnv;

const VENDORS = Object.keys(VALID) as Vendor[];

const body = (vendor: Vendor, over: Record<string, unknown> = {}) => ({ vendor, name: `${vendor}-双十一`, sendAt: inSeconds(4), ...VALID[vendor], ...over });
const create = (b: unknown) => call(createTask as never, { method: 'POST', path: '/v1/tasks', body: b });
const get = async (id: string) => (await call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
const cancel = (id: string) => call(deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${id}`, params: { taskId: id } });
const dispatch = (taskId: string, step = 0) => (dispatchStepFn as any)({ kind: 'dispatch', tenantId: 'a', taskId, step }, lambdaContext('dispatchStep'));
const sandboxGet = async (v: Vendor, what: string) => (await (await fetch(`${env.sandbox(v).url}/__sandbox/${what}`)).json()) as any[];
const sandboxPost = (v: Vendor, what: string, b: unknown = {}) => fetch(`${env.sandbox(v).url}/__sandbox/${what}`, { method: 'POST', body: JSON.stringify(b) });

beforeAll(async () => {
  env = await startTestEnv();
});
afterAll(async () => {
  await env.close();
});
beforeEach(async () => {
  for (const v of VENDORS) await sandboxPost(v, 'reset');
});

describe.each(VENDORS)('%s over its sandbox', (vendor) => {
  it('a timed task reaches the sandbox at dispatch and becomes SUBMITTED with the vendor reference', async () => {
    const res = await create(body(vendor));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await dispatch(res.body.id)).toMatchObject({ outcome: 'SUBMITTED' });
    const t = await get(res.body.id);
    expect(t.status).toBe('SUBMITTED');
    const vendorTasks = await sandboxGet(vendor, 'tasks');
    expect(vendorTasks).toHaveLength(1);
    // Tanmarket's save endpoints answer {} (no id to keep); every other vendor's id is recorded.
    expect(t.steps[0].vendorTaskId).toBe(vendor === 'tanmarket' ? undefined : vendorTasks[0].id);
  });

  it('an SOP fires each step as its own vendor task; cancel stops the rest', async () => {
    const { content, sendAt: _s, ...rest } = body(vendor) as any;
    const res = await create({
      ...rest,
      steps: [
        { sendAt: inSeconds(4), content },
        { sendAt: inSeconds(3600), content: { text: '第二天' } },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await dispatch(res.body.id, 0);
    const c = await cancel(res.body.id);
    expect(c.status).toBe(200);
    expect(c.body.steps[1].status).toBe('CANCELLED');
    expect(await dispatch(res.body.id, 1)).toMatchObject({ outcome: 'skipped' });
    expect(await sandboxGet(vendor, 'tasks')).toHaveLength(1);
  });

  it('a wrong secret ends FAILED with the vendor message, after one try', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const original = readFileSync(env.tenantsFile, 'utf8');
    const res = await create(body(vendor, { name: `${vendor}-wrong-secret` }));
    const tenants = JSON.parse(original);
    const creds = tenants.a.vendors[vendor];
    for (const k of ['secret', 'clientSecret', 'appSecret']) if (k in creds) creds[k] = 'not-the-secret';
    writeFileSync(env.tenantsFile, JSON.stringify(tenants));
    // No cache to clear: tokens are kept per tenant *and* every credential field, so the wrong
    // secret is never served the token the right one got; it must ask, and is refused.
    try {
      expect(await dispatch(res.body.id)).toMatchObject({ outcome: 'FAILED' });
      const step = (await get(res.body.id)).steps[0];
      expect(step.error.message).toMatch(/secret|sign|client/i);
      expect(JSON.stringify(step)).not.toContain('not-the-secret');
      expect(await sandboxGet(vendor, 'tasks')).toHaveLength(0);
      const sent = (await sandboxGet(vendor, 'requests')).length;
      expect(sent).toBeLessThanOrEqual(2); // one token request (or one signed call); no retry loop
    } finally {
      writeFileSync(env.tenantsFile, original);
    }
  });

  it('unknown vendorOptions are refused naming the field', async () => {
    const res = await create(body(vendor, { vendorOptions: { ...(VALID[vendor].vendorOptions as object), name: 'override' } }));
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.path)).toContain('vendorOptions.name');
  });
});

describe('token expiry mid-run', () => {
  it.each(['weiban', 'youmi', 'wshoto'] as Vendor[])('%s: a revoked token is refreshed once and the call succeeds', async (vendor) => {
    const first = await create(body(vendor));
    expect(await dispatch(first.body.id)).toMatchObject({ outcome: 'SUBMITTED' });
    const tokenCalls = async () => (await sandboxGet(vendor, 'requests')).filter((r) => /token/.test(r.path)).length;
    const before = await tokenCalls();
    await sandboxPost(vendor, 'revoke-tokens');
    const second = await create(body(vendor));
    expect(await dispatch(second.body.id)).toMatchObject({ outcome: 'SUBMITTED' });
    expect((await tokenCalls()) - before).toBe(1);
    expect(await sandboxGet(vendor, 'tasks')).toHaveLength(2);
  });
});

describe('what a vendor cannot carry is refused at create time (422), naming field and vendor', () => {
  it.each<[Vendor, Record<string, unknown>, string, RegExp]>([
    [
      'youmi',
      { content: { attachments: [{ type: 'miniprogram', appId: 'wx1', title: '小程序', page: 'pages/a', coverUrl: 'https://x.example/c.png' }] } },
      'content.attachments.0.type',
      /youmi cannot carry miniprogram/,
    ],
    ['wshoto', { content: { attachments: [{ type: 'image', url: 'https://x.example/a.png' }] } }, 'content.attachments.0.type', /wshoto cannot carry image/],
    ['youmi', { audience: { kind: 'groups', senders: ['hex'], groupIds: ['g'] } }, 'audience.kind', /youmi cannot send to groups/],
    [
      'tanmarket',
      { content: { attachments: [{ type: 'file', url: 'https://x.example/a.pdf', name: 'a.pdf' }] } },
      'content.attachments.0.type',
      /tanmarket cannot carry file/,
    ],
    ['tanmarket', { audience: { kind: 'customers', senders: ['464248809015488'], customerIds: ['c1'] } }, 'audience.customerIds', /tanmarket/],
    ['wshoto', { audience: { kind: 'customers', senders: ['s'], tags: { include: { match: 'any', ids: ['t'] } } } }, 'audience.tags', /wshoto cannot filter/],
    ['youmi', { vendorOptions: undefined }, 'vendorOptions.machine', /./],
  ])('%s: %j', async (vendor, patch, path, message) => {
    const res = await create({ ...body(vendor), ...patch });
    expect([400, 422]).toContain(res.status);
    const err = res.body.errors.find((e: any) => e.path === path);
    expect(err, JSON.stringify(res.body)).toBeDefined();
    expect(err.message).toMatch(message);
  });

  it('the same matrix is published at GET /v1/vendors', async () => {
    const res = await call(listVendors as never, { path: '/v1/vendors', key: null });
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.body.items.map((v: any) => [v.id, v.capabilities]));
    expect(Object.keys(byId).sort()).toEqual(['tanmarket', 'wecom', 'weiban', 'wshoto', 'youmi']);
    // Reminders and per-recipient results: WeCom's, no SCRM vendor's.
    for (const id of ['weiban', 'youmi', 'tanmarket', 'wshoto']) expect([byId[id].remind, byId[id].recipientResults], id).toEqual([false, false]);
    expect([byId.wecom.remind, byId.wecom.recipientResults, byId.wecom.cancelAfterSubmit]).toEqual([true, true, true]);
    expect(byId.wecom.attachmentTypes).toEqual(['image', 'link', 'miniprogram', 'video', 'file']);
    expect(byId.youmi.attachmentTypes).not.toContain('miniprogram');
    expect(byId.wshoto.attachmentTypes).toEqual(['material']);
    expect(byId.youmi.cancelAfterSubmit).toBe(true);
    expect(byId.weiban.cancelAfterSubmit).toBe(false);
    expect(byId.wshoto.status).toBe('poll');
  });
});

describe('youmi: cancel after submit', () => {
  it('a SUBMITTED step is deleted at YouMi and becomes CANCELLED', async () => {
    const res = await create(body('youmi'));
    await dispatch(res.body.id);
    const c = await cancel(res.body.id);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('CANCELLED');
    expect(c.body.history.at(-1)).toMatchObject({ from: 'SUBMITTED', to: 'CANCELLED', cause: 'cancelled at youmi by the caller' });
    const [vt] = await sandboxGet('youmi', 'tasks');
    expect(vt.status).toBe('deleted');
    const del = (await sandboxGet('youmi', 'requests')).find((r) => r.path === '/v2/BulkSend/DeleteBulkSendTask');
    expect(del.body).toEqual({ id: Number(vt.id) });
  });

  it('a YouMi refusal to delete (already finished) → 409 with its message, step unchanged', async () => {
    const res = await create(body('youmi'));
    await dispatch(res.body.id);
    const [vt] = await sandboxGet('youmi', 'tasks');
    await sandboxPost('youmi', `tasks/${vt.id}`, { status: 'done' });
    const c = await cancel(res.body.id);
    expect(c.status).toBe(409);
    expect(c.body.detail).toMatch(/youmi did not cancel step 0: 40000 任务已完成/);
    expect((await get(res.body.id)).status).toBe('SUBMITTED');
  });
});

describe('wshoto: status read with query_task_detail_info', () => {
  it('follows the sandbox through 0 → 2 → 3, and -1 with error_info', async () => {
    const res = await create(body('wshoto'));
    await dispatch(res.body.id);
    const id = (await get(res.body.id)).steps[0].vendorTaskId as string;
    expect(id).toMatch(/^\d{19}$/); // past 2^53 and exact
    const { adapter, ctx } = await vendorContext(tenantDirectory(), 'a', 'wshoto', appVendors(), appSettings());
    const t = await get(res.body.id);
    const input = stepInput(t, t.steps[0]);
    expect(adapter).toBe(wshotoAdapter);
    expect((await adapter.status!(ctx, id, input)).state).toBe('SUBMITTED');
    await sandboxPost('wshoto', `tasks/${id}`, { status: 2 });
    expect((await adapter.status!(ctx, id, input)).state).toBe('RUNNING');
    await sandboxPost('wshoto', `tasks/${id}`, { status: 3 });
    expect((await adapter.status!(ctx, id, input)).state).toBe('COMPLETED');
    await sandboxPost('wshoto', `tasks/${id}`, { status: -1, error_info: '员工已离职' });
    expect(await adapter.status!(ctx, id, input)).toMatchObject({ state: 'FAILED', error: { message: '员工已离职' } });
  });
});
