import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chinaTime, SIGNERS, tanmarketAdapter, tanmarketBody, tanmarketHeaders } from './adapter';
import type { StepRequestInput } from '../adapter';
import { jsonAfter, seed } from '../../../test/helpers/seeds';

const example = jsonAfter(seed('000'), '示例\n{');
const [text, material, image] = example.sopContents[0].sopDatas;

const input = (over: Partial<StepRequestInput> = {}): StepRequestInput => ({
  taskId: 'tsk_x',
  name: example.title,
  audience: { kind: 'customers', senders: example.salesIds.map(String) },
  content: {
    text: text.content,
    attachments: [
      {
        type: 'material',
        materialId: material.mcId,
        kind: String(material.mcType),
        title: material.title,
        description: material.content,
        url: material.fileUrl,
      },
      { type: 'image', url: image.fileUrl, title: image.fileName },
    ],
  },
  sendAt: '2022-04-29T10:02:00+08:00',
  stepIndex: 0,
  vendorOptions: tanmarketAdapter.options.parse({}),
  ...over,
});

describe('tanmarket: customer SOP (群发助手SOP), compared with seed 000', () => {
  const req = tanmarketAdapter.buildRequest(input());
  const body = JSON.parse(tanmarketBody(input()));

  it('POSTs to the seed path', () => {
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/api/v3/customer-sop/save');
  });

  it('equals the seed body field by field', () => {
    expect(Object.keys(body)).toEqual(Object.keys(example));
    expect(body.title).toBe(example.title);
    expect(body.salesIds).toEqual(example.salesIds);
    expect(body.type).toBe(4);
    const [c] = body.sopContents;
    expect(c.sendType).toBe(example.sopContents[0].sendType);
    expect(c.sendDate).toBe('2022-04-29 10:02:00');
    expect(c.sopDatas[0]).toEqual(text);
    expect(c.sopDatas[1]).toEqual(material);
    // mediaId, sign and fileId are Tanmarket's references to a file uploaded to it; qunfa sends by URL.
    const { mediaId: _m, sign: _s, fileId: _f, ...imageByUrl } = image;
    expect(c.sopDatas[2]).toEqual(imageByUrl);
  });

  it('keeps 15-digit and beyond-2^53 staff ids exact, as JSON integers', () => {
    expect(tanmarketBody(input())).toContain('"salesIds":[464248809015488]');
    const big = tanmarketBody(input({ audience: { kind: 'customers', senders: ['9007199254740993', '9223372036854775807'] } }));
    expect(big).toContain('"salesIds":[9007199254740993,9223372036854775807]');
    expect(tanmarketAdapter.check(input({ audience: { kind: 'customers', senders: ['46424880901548x'] } }))).toEqual([
      { path: 'audience.senders.0', message: expect.stringContaining('integers') },
    ]);
  });

  it('writes China time whatever zone the sendAt came in', () => {
    expect(chinaTime('2022-04-29T02:02:00Z')).toBe('2022-04-29 10:02:00');
    expect(chinaTime('2022-04-28T21:02:00-05:00')).toBe('2022-04-29 10:02:00');
    expect(chinaTime('2022-12-31T16:30:00Z', false)).toBe('2023-01-01 00:30');
  });

  it('groups go to addGroupAssistant with sendTime to the minute', () => {
    const g = tanmarketAdapter.buildRequest(input({ audience: { kind: 'groups', senders: ['464248809015488'], groupIds: ['wrOgQhDgAA'] } }));
    expect(g.path).toBe('/api/v3/groupSop/addGroupAssistant');
    expect(g.body).toMatchObject({
      title: example.title,
      chatIds: ['wrOgQhDgAA'],
      instruction: example.title,
      sopContents: [{ sendTime: '2022-04-29 10:02' }],
    });
  });

  it('signs with the four headers; the default signer is md5(appId+timestamp+appSecret)', () => {
    const h = tanmarketHeaders({ appId: 'app1', appKey: 'key1', appSecret: 'sec1' }, 'md5(appId+timestamp+appSecret)', 1700000000000);
    expect(Object.keys(h)).toEqual(['appId', 'timestamp', 'sign', 'appKey']);
    expect(h.timestamp).toBe('1700000000000');
    expect(h.sign).toBe(createHash('md5').update('app11700000000000sec1').digest('hex'));
    expect(Object.keys(SIGNERS).length).toBeGreaterThan(1);
    expect(() => tanmarketHeaders({ appId: 'a', appKey: 'k', appSecret: 's' }, 'nope')).toThrow(/TANMARKET_SIGNER must be one of/);
  });
});
