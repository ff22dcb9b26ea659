import { describe, expect, it } from 'vitest';
import { taskSchemas } from '../../core/task';
import { weibanAdapter } from './adapter';
import type { StepRequestInput } from '../adapter';
import { startProxy } from '../../../test/helpers/proxy';
import { jsonAfter, seed } from '../../../test/helpers/seeds';

const example = jsonAfter(seed('002'), '示例');
const first = example.attachments[0];

/** The canonical task that means what seed 002's example means. */
function seedTask(): StepRequestInput {
  return {
    taskId: 'tsk_x',
    name: example.name,
    audience: { kind: 'groups', senders: example.staff_ext_id_list, groupIds: example.group_ext_id_list },
    content: {
      text: example.text,
      attachments: [
        { type: 'image', url: first.image.url, title: first.image.title },
        { type: 'link', url: first.link.url, title: first.link.title, description: first.link.desc },
        // The seed's cover is placeholder text ("ut sit"); the mapping carries it through unchanged.
        {
          type: 'miniprogram',
          appId: first.miniprogram.appid,
          title: first.miniprogram.title,
          page: first.miniprogram.page,
          coverUrl: first.miniprogram.cover,
        },
        { type: 'video', url: first.video.url, title: first.video.title },
      ],
    },
    sendAt: '2026-12-01T02:00:00.000Z',
    stepIndex: 0,
    vendorOptions: { create_staff_ext_id: example.create_staff_ext_id },
  };
}

describe('weiban: groups → customer_group_msg/add, compared with seed 002', () => {
  const req = weibanAdapter.buildRequest(seedTask());
  const body = req.body as Record<string, any>;

  it('POSTs to the seed path', () => {
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/open-api/customer_group_msg/add');
  });

  it('has exactly the seed body fields', () => {
    expect(Object.keys(body).sort()).toEqual(Object.keys(example).sort());
  });

  it.each(['name', 'staff_ext_id_list', 'group_ext_id_list', 'create_staff_ext_id', 'text'])('%s equals the seed', (field) => {
    expect(body[field]).toEqual(example[field]);
  });

  it.each(['image', 'link', 'miniprogram', 'video'])('a %s attachment is the seed object under msgtype %s', (type) => {
    const att = body.attachments.find((a: any) => a.msgtype === type);
    expect(att).toBeDefined();
    expect(Object.keys(att).sort()).toEqual(['msgtype', type].sort());
    expect(att[type]).toEqual(first[type]);
  });

  it('puts the seed values on the wire byte for byte (UTF-8, no escaping of Chinese)', async () => {
    // What submit actually sends, read off a real HTTP server standing in for Weiban.
    const weiban = await startProxy(undefined, {
      intercept: (q) => ({
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: q.path.startsWith('/open-api/access_token/get') ? '{"errcode":0,"errmsg":"ok","access_token":"tok"}' : '{"errcode":0,"errmsg":"ok","id":"1"}',
      }),
    });
    try {
      const ctx = {
        tenantId: 't',
        credentials: { corpId: 'ww1', secret: 's' },
        baseUrl: weiban.url,
        timeoutMs: 5000,
        settings: weibanAdapter.settings.parse({}),
        fetchMedia: () => Promise.reject(new Error('weiban sends attachments by URL: nothing is fetched')),
      };
      await weibanAdapter.submit(ctx, seedTask());
      const sent = weiban.requests.find((q) => q.path.startsWith('/open-api/customer_group_msg/add'));
      expect(sent).toBeDefined();
      const bytes = Buffer.from(sent?.rawBody ?? '', 'utf8');
      expect(bytes.includes(Buffer.from(example.text, 'utf8'))).toBe(true);
      expect(bytes.includes(Buffer.from(`"create_staff_ext_id":"${example.create_staff_ext_id}"`))).toBe(true);
      expect(JSON.parse(sent?.rawBody ?? '{}')).toEqual(body);
    } finally {
      await weiban.close();
    }
  });

  it('the same task passes the canonical schema once the cover is a real URL', () => {
    const t = seedTask();
    const atts = t.content.attachments!.map((a) => (a.type === 'miniprogram' ? { ...a, coverUrl: 'https://example.com/cover.png' } : a));
    const parsed = taskSchemas().CreateTaskInput.safeParse({
      vendor: 'weiban',
      name: t.name,
      audience: t.audience,
      content: { ...t.content, attachments: atts },
      vendorOptions: t.vendorOptions,
    });
    expect(parsed.success).toBe(true);
  });
});

describe('weiban: customers → group_msg/add', () => {
  const base = { ...seedTask(), audience: { kind: 'customers' as const, customerIds: ['wm1', 'wm2'] }, vendorOptions: { create_staff_ext_id: 'boss' } };

  it('without senders lists the customers in eu_ext_ids', () => {
    const req = weibanAdapter.buildRequest(base);
    expect(req.path).toBe('/open-api/group_msg/add');
    expect(req.body).toMatchObject({ name: example.name, allow_select: false, eu_ext_ids: ['wm1', 'wm2'], create_staff_ext_id: 'boss', text: example.text });
    expect(req.body).not.toHaveProperty('staff_eu_list');
  });

  it('with senders pairs each sender with the customers in staff_eu_list', () => {
    const req = weibanAdapter.buildRequest({ ...base, audience: { ...base.audience, senders: ['s1', 's2'] } });
    expect((req.body as any).staff_eu_list).toEqual([
      { staff_ext_id: 's1', eu_ext_ids: ['wm1', 'wm2'] },
      { staff_ext_id: 's2', eu_ext_ids: ['wm1', 'wm2'] },
    ]);
    expect(req.body).not.toHaveProperty('eu_ext_ids');
  });

  it('defaults the creator to the first sender and asks for one when there is none', () => {
    const noOpt = { ...base, vendorOptions: {}, audience: { kind: 'customers' as const, senders: ['s9'] } };
    expect((weibanAdapter.buildRequest(noOpt).body as any).create_staff_ext_id).toBe('s9');
    expect(weibanAdapter.check({ ...noOpt, audience: { kind: 'customers', customerIds: ['x'] } })).toEqual([
      { path: 'vendorOptions.create_staff_ext_id', message: expect.stringContaining('creating staff member') },
    ]);
  });

  it('group sends without senders or groups are refused naming the field', () => {
    const errs = weibanAdapter.check({ ...seedTask(), audience: { kind: 'groups', senders: [] } });
    expect(errs.map((e) => e.path)).toEqual(['audience.senders', 'audience.groupIds']);
  });
});
