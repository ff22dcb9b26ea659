import { describe, expect, it } from 'vitest';
import type { StepRequestInput } from '../adapter';
import { youmiAdapter } from './adapter';
import { jsonAfter, seed } from '../../../test/helpers/seeds';

const doc = seed('001');
const example = jsonAfter(doc, '示例\n{');
const row = example.listMass[0];

/** seed 001's task_content format block (JSON with // comments) parsed. */
function contentFormats(): any[] {
  const block = doc.slice(doc.indexOf('task_content 格式:#'), doc.indexOf('chooseLabel(')).split('\n');
  const json = block
    .filter((l) => !l.trim().startsWith('//') && !l.includes('格式:#'))
    .map((l) => l.replace(/("\s*)\/\/.*$/, '$1'))
    .join('\n');
  return JSON.parse(json.slice(json.indexOf('['), json.lastIndexOf(']') + 1));
}

const input = (over: Partial<StepRequestInput> = {}): StepRequestInput => ({
  taskId: 'tsk_x',
  name: example.bulksend.task_theme,
  audience: { kind: 'customers', senders: [row.belong_staff_code], customerIds: [row.object_id] },
  content: { text: 'test12345' },
  sendAt: '2024-12-20T00:00:00+08:00',
  stepIndex: 0,
  vendorOptions: youmiAdapter.options.parse({
    machine: { ad_wechat_id: row.ad_wechat_id, machine_key: row.machine_key, machine_name: row.machine_name, qv_company_id: row.qv_company_id },
    nicknames: { [row.object_id]: row.object_nickname },
  }),
  ...over,
});

describe('youmi: SaveBulkSendTask, compared with seed 001', () => {
  const req = youmiAdapter.buildRequest(input());
  const body = req.body as any;

  it('POSTs to the seed path', () => {
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v2/BulkSend/SaveBulkSendTask');
  });

  it('equals the seed body field by field', () => {
    expect(Object.keys(body)).toEqual(Object.keys(example));
    expect(Object.keys(body.bulksend)).toEqual(Object.keys(example.bulksend));
    for (const k of Object.keys(example.bulksend)) expect(body.bulksend[k], `bulksend.${k}`).toEqual(example.bulksend[k]);
    expect(body.listMass).toHaveLength(1);
    expect(Object.keys(body.listMass[0])).toEqual(Object.keys(row));
    for (const k of Object.keys(row)) expect(body.listMass[0][k], `listMass.0.${k}`).toEqual(row[k]);
    expect(body.chooseLabel).toBe(example.chooseLabel);
  });

  it('task_content is a JSON string, byte for byte the seed string; start_time unix seconds as a string', () => {
    expect(typeof body.bulksend.task_content).toBe('string');
    expect(body.bulksend.task_content).toBe('[{"data":{"content":"test12345"},"type":"0"}]');
    expect(body.bulksend.start_time).toBe('1734624000');
  });

  it.each(['1', '2', '3', '4'])('task_content item type %s matches the seed format', (type) => {
    const format = contentFormats().find((i) => i.type === type);
    const d = format.data;
    const attachment = {
      1: { type: 'image' as const, url: d.imgMediaUrl, title: d.imgName },
      2: { type: 'video' as const, url: d.videoMediaUrl, title: d.videoName },
      3: { type: 'link' as const, url: d.linkUrl, title: d.title, description: d.description, thumbUrl: d.thumbMediaUrl },
      4: { type: 'file' as const, url: d.fileMediaUrl, name: d.fileName },
    }[type as '1'];
    const items = JSON.parse((youmiAdapter.buildRequest(input({ content: { attachments: [attachment] } })).body as any).bulksend.task_content);
    expect(items).toEqual([format]);
    expect(Object.keys(items[0])).toEqual(['data', 'type']);
  });

  it('labels go to chooseLabel as a JSON string, with choose_type 1', () => {
    const req2 = youmiAdapter.buildRequest(
      input({
        audience: { kind: 'customers', senders: ['hex'], tags: { include: { match: 'any', ids: ['262:1317'] } } },
        vendorOptions: youmiAdapter.options.parse({ machine: { ad_wechat_id: 1, machine_key: 'k' }, labelNames: { '262:1317': '测试' } }),
      }),
    );
    const b = req2.body as any;
    expect(b.bulksend.choose_type).toBe(1);
    expect(JSON.parse(b.chooseLabel)).toEqual([{ ad_label_id: 262, ad_label_info_id: 1317, ad_label_info_name: '测试' }]);
    expect(b.listMass).toEqual([]);
  });

  it('refuses what it cannot say: several senders, exclude labels, malformed label ids', () => {
    const errs = youmiAdapter.check(
      input({ audience: { kind: 'customers', senders: ['a', 'b'], tags: { include: { match: 'any', ids: ['x'] }, exclude: { match: 'any', ids: ['1:2'] } } } }),
    );
    expect(errs.map((e) => e.path)).toEqual(['audience.senders', 'audience.tags.exclude', 'audience.tags.include.ids.0']);
  });

  it('vendorOptions cannot set what canonical fields set', () => {
    const r = youmiAdapter.options.safeParse({ machine: { ad_wechat_id: 1, machine_key: 'k', object_id: 'x' }, listMass: [] });
    expect(r.success).toBe(false);
  });
});
