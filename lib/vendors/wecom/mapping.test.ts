/**
 * WeCom's mapping, field by field against the shapes its document shows (seed-004.txt, the WeCom
 * section of shared/vendors.md), its create-time refusals, the parsing of its result pages, and
 * its calls over real HTTP (a stub standing in for WeCom: token, multipart upload, create, pages).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { taskSchemas, type Attachment } from '../../core/task';
import { capabilityErrors } from '../capabilities';
import { ENTRIES_PER_TASK, entriesOf, planBatches } from '../batches';
import { MediaUnavailable, VendorCallError, type FetchedMedia, type StepRequestInput, type VendorContext } from '../adapter';
import { seed } from '../../../test/helpers/seeds';
import {
  imageFormat,
  isMp4,
  notYetStatus,
  parseSendPage,
  parseTaskPage,
  placeholderMediaId,
  REMIND_RETRY_MS,
  uploadName,
  urlExtension,
  wecomAdapter,
  wecomRequest,
  wecomStatus,
  type WecomCredentials,
} from './adapter';

const doc = seed('004').replace(/\s+/g, ' ');

/** The keys the document gives an attachment of this msgtype (`a | b` alternatives: the first, the one qunfa uses). */
function documentedAttachment(type: string): string[] {
  const m = new RegExp(`\\{msgtype:"${type}", ${type}:\\{([^}]*)\\}\\}`).exec(doc);
  if (!m?.[1]) throw new Error(`no ${type} attachment in seed-004`);
  return m[1].split(',').map((f) => (/^\s*([a-z_]+)/.exec(f) as RegExpExecArray)[1] as string);
}

/** The keys of a result list's rows as the document shows them (alternatives kept together). */
function documentedRow(list: string): string[][] {
  const m = new RegExp(`\\{${list}: \\[\\{(.*?)\\}\\]`).exec(doc);
  if (!m?.[1]) throw new Error(`no ${list} in seed-004`);
  return m[1]
    .replace(/\([^)]*\)/g, '')
    .split(',')
    .map((f) => f.split('|').map((x) => x.trim()));
}

/** The create call's documented body (from add_msg_template to its answer). */
const createDoc = doc.slice(doc.indexOf('add_msg_template'), doc.indexOf('→', doc.indexOf('add_msg_template')));

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 1, 2, 3]);
const JPG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]);
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom'), Buffer.alloc(8)]);
const GIF = Buffer.from('GIF89a\u0001\u0000\u0001\u0000', 'latin1');

const ALL_KINDS: Attachment[] = [
  { type: 'image', url: 'https://cdn.example/a/poster.png', title: 'poster' },
  { type: 'link', url: 'https://shop.example/sale', title: '双十一', description: '全场五折', thumbUrl: 'https://cdn.example/t.jpg' },
  { type: 'miniprogram', appId: 'wx8bd80126147dfAAA', title: '商城', page: '/path/index.html', coverUrl: 'https://cdn.example/cover.jpg' },
  { type: 'video', url: 'https://cdn.example/v/clip.mp4' },
  { type: 'file', url: 'https://cdn.example/f/price-list', name: '价目表.pdf' },
];

function input(over: Partial<StepRequestInput> = {}): StepRequestInput {
  return {
    taskId: 'tsk_w',
    name: '双十一提醒',
    audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wmA', 'wmB'] },
    content: { text: '双十一全场五折' },
    sendAt: '2026-12-01T02:00:00.000Z',
    stepIndex: 0,
    vendorOptions: {},
    ...over,
  };
}

const body = (i: StepRequestInput, ids?: (string | undefined)[]) => (ids ? wecomRequest(i, ids) : wecomAdapter.buildRequest(i)).body as Record<string, any>;

describe('wecom: the create request (add_msg_template), field by field', () => {
  it('POSTs to add_msg_template; every body field is one the document names', () => {
    const req = wecomAdapter.buildRequest(input({ content: { text: 'hi', attachments: ALL_KINDS }, vendorOptions: { allow_select: true } }));
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/cgi-bin/externalcontact/add_msg_template');
    expect(doc).toContain('`POST /cgi-bin/externalcontact/add_msg_template`');
    for (const k of Object.keys(req.body as object)) expect(createDoc, k).toMatch(new RegExp(`\\b${k}\\b`));
  });

  it('customers with external_userid: chat_type single, the sender, text as {content}', () => {
    expect(body(input())).toEqual({ chat_type: 'single', external_userid: ['wmA', 'wmB'], sender: 'zhangsan', text: { content: '双十一全场五折' } });
  });

  it('no sender: WeCom notifies every member who has the customers (no sender field); allow_select passes through', () => {
    const b = body(input({ audience: { kind: 'customers', customerIds: ['wmA'] }, vendorOptions: { allow_select: false } }));
    expect(b).toEqual({ chat_type: 'single', external_userid: ['wmA'], allow_select: false, text: { content: '双十一全场五折' } });
  });

  it("only a sender: all of that member's customers (no external_userid)", () => {
    expect(body(input({ audience: { kind: 'customers', senders: ['lisi'] } }))).toEqual({
      chat_type: 'single',
      sender: 'lisi',
      text: { content: '双十一全场五折' },
    });
  });

  it('tags.include match any → one tag group of every tag (OR within a group)', () => {
    const b = body(input({ audience: { kind: 'customers', senders: ['s1'], tags: { include: { match: 'any', ids: ['t1', 't2', 't3'] } } } }));
    expect(b.tag_filter).toEqual({ group_list: [{ tag_list: ['t1', 't2', 't3'] }] });
    expect(b).not.toHaveProperty('external_userid');
    expect(createDoc).toContain('tag_filter: {group_list: [{tag_list: [...]}]}');
  });

  it('tags.include match all → one tag group per tag (AND across groups)', () => {
    const b = body(input({ audience: { kind: 'customers', tags: { include: { match: 'all', ids: ['t1', 't2'] } } } }));
    expect(b.tag_filter).toEqual({ group_list: [{ tag_list: ['t1'] }, { tag_list: ['t2'] }] });
    expect(b).not.toHaveProperty('sender');
  });

  it('groups: chat_type group, chat_id_list and the sender', () => {
    const b = body(input({ audience: { kind: 'groups', senders: ['owner1'], groupIds: ['wrA', 'wrB'] } }));
    expect(b).toEqual({ chat_type: 'group', chat_id_list: ['wrA', 'wrB'], sender: 'owner1', text: { content: '双十一全场五折' } });
  });

  it('no text (attachments only): no text field', () => {
    const b = body(input({ content: { attachments: [ALL_KINDS[1] as Attachment] } }));
    expect(b).not.toHaveProperty('text');
    expect(b.attachments).toHaveLength(1);
  });
});

describe('wecom: attachments are the documented objects under their msgtype', () => {
  const ids = ['MEDIA_IMG', undefined, 'MEDIA_COVER', 'MEDIA_VID', 'MEDIA_FILE'];
  const atts = body(input({ content: { attachments: ALL_KINDS } }), ids).attachments as Record<string, any>[];
  const of = (t: string) => atts.find((a) => a.msgtype === t) as Record<string, any>;

  it.each(['image', 'link', 'miniprogram', 'video', 'file'])('%s: {msgtype, %s: {…}} with exactly the documented keys', (type) => {
    expect(Object.keys(of(type)).sort()).toEqual(['msgtype', type].sort());
    expect(Object.keys(of(type)[type]).sort()).toEqual(documentedAttachment(type).sort());
  });

  it('image, video and file carry the uploaded media ids; the order of attachments is kept', () => {
    expect(atts.map((a) => a.msgtype)).toEqual(['image', 'link', 'miniprogram', 'video', 'file']);
    expect(of('image').image).toEqual({ media_id: 'MEDIA_IMG' });
    expect(of('video').video).toEqual({ media_id: 'MEDIA_VID' });
    expect(of('file').file).toEqual({ media_id: 'MEDIA_FILE' });
  });

  it("a mini-program's cover is its uploaded pic_media_id; appid, page and title are the task's", () => {
    expect(of('miniprogram').miniprogram).toEqual({ title: '商城', pic_media_id: 'MEDIA_COVER', appid: 'wx8bd80126147dfAAA', page: '/path/index.html' });
  });

  it('a link travels by URL: description → desc, thumbUrl → picurl', () => {
    expect(of('link').link).toEqual({ title: '双十一', picurl: 'https://cdn.example/t.jpg', desc: '全场五折', url: 'https://shop.example/sale' });
    const bare = body(input({ content: { attachments: [{ type: 'link', url: 'https://x.example/', title: 't' }] } }));
    expect(bare.attachments[0].link).toEqual({ title: 't', url: 'https://x.example/' });
  });

  it('buildRequest is wecomRequest with a placeholder where each upload goes (pure: same input, same request)', () => {
    const i = input({ content: { attachments: ALL_KINDS } });
    const placeholders = ALL_KINDS.map((a, k) => (a.type === 'link' ? undefined : placeholderMediaId(k)));
    expect(wecomAdapter.buildRequest(i)).toEqual(wecomRequest(i, placeholders));
    expect(wecomAdapter.buildRequest(i)).toEqual(wecomAdapter.buildRequest(i));
    expect(of('image').image.media_id).not.toBe(placeholderMediaId(0));
  });

  it('a missing media id is a bug, not a request', () => {
    expect(() => wecomRequest(input({ content: { attachments: ALL_KINDS } }), [])).toThrow(/attachment 0 \(image\) has no media id/);
  });
});

describe('wecom: batches (one sender per call, ≤ 10,000 customers, ≤ 2,000 groups)', () => {
  const caps = wecomAdapter.capabilities;
  const ids = (n: number, p: string) => Array.from({ length: n }, (_, k) => `${p}${k}`);

  it('2 senders → 2 calls, one sender each (each its own msgid)', () => {
    const plan = planBatches(input({ audience: { kind: 'customers', senders: ['s1', 's2'], customerIds: ['a', 'b'] } }), caps);
    expect(plan.count).toBe(2);
    expect([0, 1].map((n) => body(plan.batch(n)))).toEqual([
      { chat_type: 'single', external_userid: ['a', 'b'], sender: 's1', text: { content: '双十一全场五折' } },
      { chat_type: 'single', external_userid: ['a', 'b'], sender: 's2', text: { content: '双十一全场五折' } },
    ]);
  });

  it('25,000 customers → 3 calls per sender (10,000, 10,000, 5,000)', () => {
    const one = planBatches(input({ audience: { kind: 'customers', senders: ['s1'], customerIds: ids(25_000, 'wm') } }), caps);
    expect(one.count).toBe(3);
    expect([0, 1, 2].map((n) => body(one.batch(n)).external_userid.length)).toEqual([10_000, 10_000, 5_000]);
    const two = planBatches(input({ audience: { kind: 'customers', senders: ['s1', 's2'], customerIds: ids(25_000, 'wm') } }), caps);
    expect(two.count).toBe(6);
    const calls = Array.from({ length: 6 }, (_, n) => body(two.batch(n)));
    for (const s of ['s1', 's2']) expect(calls.filter((c) => c.sender === s).map((c) => c.external_userid.length)).toEqual([10_000, 10_000, 5_000]);
    expect(new Set(calls.flatMap((c) => c.external_userid)).size).toBe(25_000);
  });

  it('4,500 groups of one owner → 3 calls (2,000, 2,000, 500)', () => {
    const plan = planBatches(input({ audience: { kind: 'groups', senders: ['o1'], groupIds: ids(4_500, 'wr') } }), caps);
    expect([0, 1, 2].map((n) => body(plan.batch(n)).chat_id_list.length)).toEqual([2_000, 2_000, 500]);
  });

  it("each sender's call repeats the ids, so a task carries senders × ids entries, bounded like the vendors that list them per sender", () => {
    expect(entriesOf({ kind: 'customers', senders: ids(100, 's'), customerIds: ids(10_000, 'wm') }, caps)).toBe(ENTRIES_PER_TASK);
    expect(entriesOf({ kind: 'customers', senders: ids(100, 's'), customerIds: ids(10_001, 'wm') }, caps)).toBeGreaterThan(ENTRIES_PER_TASK);
    expect(entriesOf({ kind: 'groups', senders: ids(2, 's'), groupIds: ids(3, 'wr') }, caps)).toBe(6);
  });

  it('tags without customers: one call per sender, each with the tag filter', () => {
    const plan = planBatches(input({ audience: { kind: 'customers', senders: ['s1', 's2', 's3'], tags: { include: { match: 'any', ids: ['t'] } } } }), caps);
    expect(plan.count).toBe(3);
    expect(body(plan.batch(2))).toMatchObject({ sender: 's3', tag_filter: { group_list: [{ tag_list: ['t'] }] } });
  });
});

describe('wecom: create-time refusals (check), naming the field', () => {
  const paths = (i: StepRequestInput) => wecomAdapter.check(i).map((e) => e.path);

  it('a valid task passes', () => {
    expect(wecomAdapter.check(input({ content: { text: 'x', attachments: ALL_KINDS } }))).toEqual([]);
  });

  it('tags.exclude: WeCom cannot exclude', () => {
    const errs = wecomAdapter.check(input({ audience: { kind: 'customers', senders: ['s'], tags: { exclude: { match: 'any', ids: ['t'] } } } }));
    expect(errs).toEqual([{ path: 'audience.tags.exclude', message: expect.stringContaining('cannot exclude') }]);
  });

  it('a group send without a sender', () => {
    expect(paths(input({ audience: { kind: 'groups', groupIds: ['wr1'] } }))).toEqual(['audience.senders']);
  });

  it('customerIds with tags: WeCom would ignore the tags, so it is refused and the message says why', () => {
    const errs = wecomAdapter.check(input({ audience: { kind: 'customers', customerIds: ['a'], tags: { include: { match: 'any', ids: ['t'] } } } }));
    expect(errs).toEqual([{ path: 'audience.tags.include', message: expect.stringMatching(/ignores tag_filter when external_userid is given/) }]);
  });

  it('tags for a group send (tag_filter selects customers)', () => {
    expect(paths(input({ audience: { kind: 'groups', senders: ['o'], tags: { include: { match: 'any', ids: ['t'] } } } }))).toEqual(['audience.tags.include']);
  });

  it('more than 9 attachments', () => {
    const ten = Array.from({ length: 10 }, () => ({ type: 'link' as const, url: 'https://x.example/', title: 't' }));
    expect(paths(input({ content: { attachments: ten } }))).toEqual(['content.attachments']);
  });

  it('text over 4,000 bytes (UTF-8: 1,334 Chinese characters are 4,002 bytes)', () => {
    expect(paths(input({ content: { text: '五'.repeat(1334) } }))).toEqual(['content.text']);
    expect(paths(input({ content: { text: '五'.repeat(1333) } }))).toEqual([]);
  });

  it('an image URL ending in .gif; a video URL ending in .mov; a mini-program cover ending in .webp', () => {
    expect(paths(input({ content: { attachments: [{ type: 'image', url: 'https://cdn.example/a.gif' }] } }))).toEqual(['content.attachments.0.url']);
    expect(
      paths(
        input({
          content: {
            attachments: [
              { type: 'link', url: 'https://x.example/', title: 't' },
              { type: 'video', url: 'https://cdn.example/v.MOV' },
            ],
          },
        }),
      ),
    ).toEqual(['content.attachments.1.url']);
    const mp = { type: 'miniprogram' as const, appId: 'wx1', title: 't', page: '/p', coverUrl: 'https://cdn.example/c.webp' };
    expect(paths(input({ content: { attachments: [mp] } }))).toEqual(['content.attachments.0.coverUrl']);
  });

  it('media URLs whose type is not knowable from them pass (checked on the bytes at dispatch); .jpeg and upper case pass', () => {
    const atts: Attachment[] = [
      { type: 'image', url: 'https://cdn.example/img?id=1' },
      { type: 'image', url: 'https://cdn.example/A.JPEG' },
      { type: 'video', url: 'https://cdn.example/v/123' },
    ];
    expect(paths(input({ content: { attachments: atts } }))).toEqual([]);
  });

  it('link and mini-program titles are bounded in bytes, as WeCom bounds them', () => {
    const atts: Attachment[] = [
      { type: 'link', url: 'https://x.example/', title: '长'.repeat(43), description: '述'.repeat(171) },
      { type: 'miniprogram', appId: 'wx1', title: '小'.repeat(22), page: '/p', coverUrl: 'https://cdn.example/c.png' },
    ];
    expect(paths(input({ content: { attachments: atts } }))).toEqual([
      'content.attachments.0.title',
      'content.attachments.0.description',
      'content.attachments.1.title',
    ]);
  });

  it('material is not among what WeCom carries (the capability matrix refuses it)', () => {
    const errs = capabilityErrors(wecomAdapter, {
      vendor: 'wecom',
      name: 'n',
      audience: { kind: 'customers', senders: ['s'] },
      content: { attachments: [{ type: 'material', materialId: '1' }] },
    });
    expect(errs.map((e) => e.path)).toEqual(['content.attachments.0.type']);
  });

  it('options: allow_select only', () => {
    expect(wecomAdapter.options.safeParse({ allow_select: true }).success).toBe(true);
    expect(wecomAdapter.options.safeParse({ allow_select: 'yes' }).success).toBe(false);
    expect(wecomAdapter.options.safeParse({ sender: 'x' }).success).toBe(false);
  });

  it('the task with every kind passes the canonical schema', () => {
    const parsed = taskSchemas().CreateTaskInput.safeParse({
      vendor: 'wecom',
      name: 'n',
      audience: input().audience,
      content: { text: 'x', attachments: ALL_KINDS },
    });
    expect(parsed.success).toBe(true);
  });
});

describe('wecom: results, parsed from pages shaped as the document shows', () => {
  it('the documented row fields are the ones read', () => {
    expect(documentedRow('task_list')).toEqual([['userid'], ['status'], ['send_time']]);
    expect(documentedRow('send_list')).toEqual([['external_userid', 'chat_id'], ['userid'], ['status'], ['send_time']]);
  });

  it('41063 (still being dispatched) → SUBMITTED, no error', () => {
    const s = notYetStatus({ errcode: 41063, errmsg: 'msg is sending' });
    expect(s).toEqual({ state: 'SUBMITTED', raw: { errcode: 41063, errmsg: 'msg is sending' } });
    expect(s).not.toHaveProperty('error');
  });

  it('pages: rows and the next cursor (an empty cursor ends the list)', () => {
    expect(parseTaskPage({ errcode: 0, task_list: [{ userid: 'zhangsan', status: 1, send_time: 0 }], next_cursor: 'CURSOR' })).toEqual({
      rows: [{ userid: 'zhangsan', status: 1 }],
      nextCursor: 'CURSOR',
    });
    expect(
      parseSendPage({ errcode: 0, send_list: [{ external_userid: 'wmA', userid: 'zhangsan', status: 1, send_time: 1_700_000_000 }], next_cursor: '' }),
    ).toEqual({
      rows: [{ externalUserid: 'wmA', userid: 'zhangsan', status: 1, sendTime: 1_700_000_000 }],
    });
    expect(parseSendPage({ errcode: 0, send_list: [{ chat_id: 'wrA', userid: 'o', status: 1, send_time: 5 }, { userid: 'x', status: 1 }, null] })).toEqual({
      rows: [{ chatId: 'wrA', userid: 'o', status: 1, sendTime: 5 }],
    });
    expect(parseTaskPage({ errcode: 0 })).toEqual({ rows: [] });
  });

  it('no members listed yet → SUBMITTED', () => {
    expect(wecomStatus('customers', [], []).state).toBe('SUBMITTED');
  });

  it('mixed statuses → RUNNING; waitingFor names the members at 0 (not confirmed); 1 (confirmed, sending) is not waited for', () => {
    const staff = parseTaskPage({
      task_list: [
        { userid: 'zhangsan', status: 2, send_time: 1_700_000_000 },
        { userid: 'lisi', status: 1, send_time: 0 },
        { userid: 'wangwu', status: 0, send_time: 0 },
      ],
    }).rows;
    const sends = parseSendPage({
      send_list: [
        { external_userid: 'wmA', userid: 'zhangsan', status: 1, send_time: 1_700_000_000 },
        { external_userid: 'wmB', userid: 'zhangsan', status: 2, send_time: 0 },
        { external_userid: 'wmC', userid: 'wangwu', status: 0, send_time: 0 },
      ],
    }).rows;
    const s = wecomStatus('customers', staff, sends);
    expect(s.state).toBe('RUNNING');
    expect(s.waitingFor).toEqual(['wangwu']);
    expect(s.stats).toEqual({ planned: 3, sent: 1, notFriend: 1, overQuota: 0, unconfirmedStaff: 1 });
    expect(s.recipients).toEqual([
      { sender: 'zhangsan', recipient: 'wmA', kind: 'customer', status: 'sent', sentAt: '2023-11-14T22:13:20.000Z' },
      { sender: 'zhangsan', recipient: 'wmB', kind: 'customer', status: 'notFriend' },
      { sender: 'wangwu', recipient: 'wmC', kind: 'customer', status: 'unsent' },
    ]);
  });

  it('every member sent → COMPLETED with figures and every recipient', () => {
    const staff = [
      { userid: 'zhangsan', status: 2 },
      { userid: 'lisi', status: 2 },
    ];
    const sends = parseSendPage({
      send_list: [
        { external_userid: 'wmA', userid: 'zhangsan', status: 1, send_time: 1_700_000_000 },
        { external_userid: 'wmB', userid: 'zhangsan', status: 3, send_time: 0 },
        { external_userid: 'wmC', userid: 'lisi', status: 1, send_time: 1_700_000_060 },
      ],
    }).rows;
    const s = wecomStatus('customers', staff, sends);
    expect(s.state).toBe('COMPLETED');
    expect(s.waitingFor).toEqual([]);
    expect(s.stats).toEqual({ planned: 3, sent: 2, notFriend: 0, overQuota: 1, unconfirmedStaff: 0 });
    expect(s.recipients?.map((r) => [r.recipient, r.status])).toEqual([
      ['wmA', 'sent'],
      ['wmB', 'overQuota'],
      ['wmC', 'sent'],
    ]);
  });

  it('group sends: recipients are groups; planned is not known (only sent rows are listed)', () => {
    const s = wecomStatus('groups', [{ userid: 'o', status: 2 }], [{ chatId: 'wrA', userid: 'o', status: 1, sendTime: 1_700_000_000 }]);
    expect(s.state).toBe('COMPLETED');
    expect(s.stats).toEqual({ sent: 1, notFriend: 0, overQuota: 0, unconfirmedStaff: 0 });
    expect(s.recipients).toEqual([{ sender: 'o', recipient: 'wrA', kind: 'group', status: 'sent', sentAt: '2023-11-14T22:13:20.000Z' }]);
  });
});

describe('wecom: media checks', () => {
  it('recognises jpg, png and mp4 by their bytes; not gif, not a QuickTime .mov', () => {
    expect([imageFormat(PNG), imageFormat(JPG), imageFormat(GIF)]).toEqual(['png', 'jpg', undefined]);
    expect(isMp4(MP4)).toBe(true);
    expect(isMp4(Buffer.concat([Buffer.from([0, 0, 0, 0x14]), Buffer.from('ftypqt  '), Buffer.alloc(4)]))).toBe(false);
    expect(isMp4(PNG)).toBe(false);
  });

  it('URL extensions; upload names get the extension of what the bytes are', () => {
    expect([urlExtension('https://a.example/x/Photo.JPG?v=2'), urlExtension('https://a.example/x/photo'), urlExtension('https://a.example/v1.2/')]).toEqual([
      'jpg',
      undefined,
      undefined,
    ]);
    expect(uploadName('poster', 'png', 0)).toBe('poster.png');
    expect(uploadName('poster.jpeg', 'jpg', 0)).toBe('poster.jpeg');
    expect(uploadName('', 'mp4', 3)).toBe('attachment-3.mp4');
    expect(uploadName('价目"表\n.pdf', undefined, 4)).toBe('价目_表_.pdf');
  });
});

// ---------------------------------------------------------------------------------------------
// Over HTTP, against a stub standing in for WeCom
// ---------------------------------------------------------------------------------------------

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  json?: any;
}
type Reply = { json: unknown; status?: number } | 'hang';

async function stubWecom(route: (q: Seen) => Reply | undefined) {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const raw = Buffer.concat(chunks);
      let json: unknown;
      if (String(req.headers['content-type']).startsWith('application/json')) json = JSON.parse(raw.toString('utf8'));
      const q: Seen = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, raw, json };
      seen.push(q);
      const r =
        route(q) ?? (q.path === '/cgi-bin/gettoken' ? { json: { errcode: 0, errmsg: 'ok', access_token: `tok${seen.length}`, expires_in: 7200 } } : undefined);
      if (r === 'hang') return; // never answers: the caller's timeout ends it
      if (!r) return void res.writeHead(404).end();
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(r.json));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    calls: (path: string) => seen.filter((q) => q.path === path),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

const media: Record<string, Buffer> = {
  'https://cdn.example/a/poster.png': PNG,
  'https://cdn.example/cover.jpg': JPG,
  'https://cdn.example/v/clip.mp4': MP4,
  'https://cdn.example/f/price-list': Buffer.from('%PDF-1.4 price list'),
  'https://cdn.example/img': GIF,
  'https://cdn.example/tiny': Buffer.from('abc'),
};
const fetched: { url: string; maxBytes: number }[] = [];
async function fetchMedia(url: string, maxBytes: number): Promise<FetchedMedia> {
  fetched.push({ url, maxBytes });
  const b = media[url];
  if (!b) throw new MediaUnavailable(url, `${new URL(url).host}${new URL(url).pathname} answered 404`);
  return { bytes: b, fileName: new URL(url).pathname.split('/').pop() as string };
}

let tenant = 0;
const ctxFor = (baseUrl: string, timeoutMs = 2_000): VendorContext<WecomCredentials, Record<string, never>> => ({
  tenantId: `t${++tenant}`,
  credentials: { corpId: 'ww1', secret: 'sec' },
  baseUrl,
  timeoutMs,
  settings: {},
  fetchMedia,
});

async function thrown(p: Promise<unknown>): Promise<VendorCallError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VendorCallError);
    return err as VendorCallError;
  }
  throw new Error('did not throw');
}

describe('wecom over HTTP: submit', () => {
  let stub: Awaited<ReturnType<typeof stubWecom>> | undefined;
  afterEach(async () => {
    await stub?.close();
    stub = undefined;
    fetched.length = 0;
  });

  const created = { json: { errcode: 0, errmsg: 'ok', fail_list: ['wmGone'], msgid: 'msgGCAAAXtWyujaWJHDDGi0mAAAA' } };
  const createOnly = (q: Seen) => (q.path === '/cgi-bin/externalcontact/add_msg_template' ? created : undefined);
  let uploads = 0;
  const uploaded = () => ({ json: { errcode: 0, errmsg: '', type: 'image', media_id: `MEDIA${++uploads}`, created_at: '1380000000' } });

  it('gets a token, uploads every medium (multipart field media, with a filename), then creates with the real media ids', async () => {
    uploads = 0;
    stub = await stubWecom((q) =>
      q.path === '/cgi-bin/media/upload' ? uploaded() : q.path === '/cgi-bin/externalcontact/add_msg_template' ? created : undefined,
    );
    const ctx = ctxFor(stub.url);
    const res = await wecomAdapter.submit(ctx, input({ content: { text: '双十一', attachments: ALL_KINDS } }));
    expect(res).toEqual({
      vendorTaskId: 'msgGCAAAXtWyujaWJHDDGi0mAAAA',
      raw: { errcode: 0, errmsg: 'ok', msgid: 'msgGCAAAXtWyujaWJHDDGi0mAAAA', fail_list: '["wmGone"]' },
    });

    const [tokenCall] = stub.calls('/cgi-bin/gettoken');
    expect(tokenCall?.method).toBe('GET');
    expect(Object.fromEntries(tokenCall?.query ?? [])).toEqual({ corpid: 'ww1', corpsecret: 'sec' });

    const ups = stub.calls('/cgi-bin/media/upload');
    expect(ups.map((u) => [u.method, u.query.get('type'), u.query.get('access_token')])).toEqual([
      ['POST', 'image', 'tok1'],
      ['POST', 'image', 'tok1'],
      ['POST', 'video', 'tok1'],
      ['POST', 'file', 'tok1'],
    ]);
    for (const u of ups) expect(u.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const part = (u: Seen) =>
      /Content-Disposition: form-data; name="([^"]+)"; filename="([^"]*)"\r\nContent-Type: ([^\r]+)/.exec(u.raw.toString('utf8'))?.slice(1);
    expect(ups.map(part)).toEqual([
      ['media', 'poster.png', 'image/png'],
      ['media', 'cover.jpg', 'image/jpeg'],
      ['media', 'clip.mp4', 'video/mp4'],
      ['media', '价目表.pdf', 'application/octet-stream'],
    ]);
    expect((ups[0] as Seen).raw.includes(PNG)).toBe(true);
    expect(fetched).toEqual([
      { url: 'https://cdn.example/a/poster.png', maxBytes: 10 * 1024 * 1024 },
      { url: 'https://cdn.example/cover.jpg', maxBytes: 10 * 1024 * 1024 },
      { url: 'https://cdn.example/v/clip.mp4', maxBytes: 10 * 1024 * 1024 },
      { url: 'https://cdn.example/f/price-list', maxBytes: 20 * 1024 * 1024 },
    ]);

    const [create] = stub.calls('/cgi-bin/externalcontact/add_msg_template');
    expect(create?.query.get('access_token')).toBe('tok1');
    expect(create?.json).toEqual(
      wecomRequest(input({ content: { text: '双十一', attachments: ALL_KINDS } }), ['MEDIA1', undefined, 'MEDIA2', 'MEDIA3', 'MEDIA4']).body,
    );
    // The token is cached: a second submit of the same tenant asks for none.
    await wecomAdapter.submit(ctx, input());
    expect(stub.calls('/cgi-bin/gettoken')).toHaveLength(1);
  });

  it('a token WeCom refuses (42001, 40014) is fetched again and the call retried once', async () => {
    let creates = 0;
    stub = await stubWecom((q) => {
      if (q.path !== '/cgi-bin/externalcontact/add_msg_template') return undefined;
      creates++;
      return creates === 1 ? { json: { errcode: 42001, errmsg: 'access_token expired' } } : created;
    });
    expect((await wecomAdapter.submit(ctxFor(stub.url), input())).vendorTaskId).toBe(created.json.msgid);
    expect(stub.calls('/cgi-bin/gettoken')).toHaveLength(2);
    expect(stub.calls('/cgi-bin/externalcontact/add_msg_template').map((q) => q.query.get('access_token'))).toEqual(['tok1', 'tok3']);

    await stub.close();
    stub = await stubWecom((q) =>
      q.path === '/cgi-bin/externalcontact/add_msg_template' ? { json: { errcode: 40014, errmsg: 'invalid access_token' } } : undefined,
    );
    const err = await thrown(wecomAdapter.submit(ctxFor(stub.url), input()));
    expect([err.kind, err.code, err.message]).toEqual(['refused', '40014', 'invalid access_token']);
    expect(stub.calls('/cgi-bin/externalcontact/add_msg_template')).toHaveLength(2);
  });

  it('a token WeCom will not give is refused with its code; a token request that hangs was not sent', async () => {
    stub = await stubWecom((q) => (q.path === '/cgi-bin/gettoken' ? { json: { errcode: 40001, errmsg: 'invalid credential' } } : undefined));
    const err = await thrown(wecomAdapter.submit(ctxFor(stub.url), input()));
    expect([err.kind, err.code, err.message]).toEqual(['refused', '40001', 'gettoken: invalid credential']);
    await stub.close();
    stub = await stubWecom((q) => (q.path === '/cgi-bin/gettoken' ? 'hang' : undefined));
    expect((await thrown(wecomAdapter.submit(ctxFor(stub.url, 300), input()))).kind).toBe('not_sent');
    expect(stub.calls('/cgi-bin/externalcontact/add_msg_template')).toHaveLength(0);
  });

  it.each([
    [45009, 60_000],
    [45033, 1_000],
    [-1, 1_000],
  ])('errcode %i is throttling (retry after %i ms), never a failure', async (code, ms) => {
    stub = await stubWecom((q) => (q.path === '/cgi-bin/externalcontact/add_msg_template' ? { json: { errcode: code, errmsg: 'busy' } } : undefined));
    const err = await thrown(wecomAdapter.submit(ctxFor(stub.url), input()));
    expect([err.kind, err.code, err.retryAfterMs]).toEqual(['throttled', String(code), ms]);
  });

  it("other codes are refusals with WeCom's code and message", async () => {
    stub = await stubWecom((q) =>
      q.path === '/cgi-bin/externalcontact/add_msg_template' ? { json: { errcode: 41048, errmsg: 'no valid external_userid' } } : undefined,
    );
    const err = await thrown(wecomAdapter.submit(ctxFor(stub.url), input()));
    expect([err.kind, err.code, err.message]).toEqual(['refused', '41048', 'no valid external_userid']);
  });

  it('a create that times out is ambiguous (it may have reached WeCom)', async () => {
    stub = await stubWecom((q) => (q.path === '/cgi-bin/externalcontact/add_msg_template' ? 'hang' : undefined));
    expect((await thrown(wecomAdapter.submit(ctxFor(stub.url, 300), input()))).kind).toBe('ambiguous');
  });

  it('an upload that times out is not_sent (only create can create anything); a throttled upload is throttled; nothing is created', async () => {
    const withImage = input({ content: { attachments: [ALL_KINDS[0] as Attachment] } });
    stub = await stubWecom((q) => (q.path === '/cgi-bin/media/upload' ? 'hang' : createOnly(q)));
    const timedOut = await thrown(wecomAdapter.submit(ctxFor(stub.url, 300), withImage));
    expect([timedOut.kind, timedOut.code]).toEqual(['not_sent', 'timeout']);
    expect(timedOut.message).toMatch(/^attachment 0 \(image\): media\/upload: /);
    await stub.close();

    stub = await stubWecom((q) => (q.path === '/cgi-bin/media/upload' ? { json: { errcode: 45009, errmsg: 'api freq out of limit' } } : createOnly(q)));
    const busy = await thrown(wecomAdapter.submit(ctxFor(stub.url), withImage));
    expect([busy.kind, busy.code, busy.retryAfterMs]).toEqual(['throttled', '45009', 60_000]);
    await stub.close();

    stub = await stubWecom((q) => (q.path === '/cgi-bin/media/upload' ? { json: { errcode: 40006, errmsg: 'invalid file size' } } : createOnly(q)));
    const refused = await thrown(wecomAdapter.submit(ctxFor(stub.url), withImage));
    expect([refused.kind, refused.code, refused.message]).toEqual(['refused', '40006', 'attachment 0 (image): media/upload: invalid file size']);
    expect(stub.calls('/cgi-bin/externalcontact/add_msg_template')).toHaveLength(0);
  });

  it.each<[string, Attachment, string, RegExp]>([
    [
      'unreachable media (MediaUnavailable)',
      { type: 'image', url: 'https://cdn.example/gone.png' },
      'wecom.media_unavailable',
      /^attachment 0 \(image\): .*answered 404/,
    ],
    ['an image that is not jpg/png', { type: 'image', url: 'https://cdn.example/img' }, 'wecom.media_format', /^attachment 0 \(image\): not a jpg or png/],
    ['a video that is not mp4', { type: 'video', url: 'https://cdn.example/a/poster.png' }, 'wecom.media_format', /^attachment 0 \(video\): not an mp4/],
    ['5 bytes or fewer', { type: 'file', url: 'https://cdn.example/tiny', name: 'a.txt' }, 'wecom.media_too_small', /^attachment 0 \(file\): 3 bytes/],
    [
      'a mini-program cover that is not an image',
      { type: 'miniprogram', appId: 'wx1', title: 't', page: '/p', coverUrl: 'https://cdn.example/v/clip.mp4' },
      'wecom.media_format',
      /^attachment 0 \(miniprogram cover\): not a jpg or png/,
    ],
  ])('%s: refused at dispatch, naming the attachment, before anything is uploaded or created', async (_what, att, code, message) => {
    stub = await stubWecom(createOnly);
    const err = await thrown(wecomAdapter.submit(ctxFor(stub.url), input({ content: { attachments: [att] } })));
    expect([err.kind, err.code]).toEqual(['refused', code]);
    expect(err.message).toMatch(message);
    expect(stub.calls('/cgi-bin/media/upload')).toHaveLength(0);
    expect(stub.calls('/cgi-bin/externalcontact/add_msg_template')).toHaveLength(0);
  });
});

describe('wecom over HTTP: status, cancel, remind', () => {
  let stub: Awaited<ReturnType<typeof stubWecom>> | undefined;
  afterEach(async () => {
    await stub?.close();
    stub = undefined;
  });

  it('41063 right after create → SUBMITTED, no error', async () => {
    stub = await stubWecom((q) =>
      q.path === '/cgi-bin/externalcontact/get_groupmsg_task' ? { json: { errcode: 41063, errmsg: 'msg is sending' } } : undefined,
    );
    const s = await wecomAdapter.status?.(ctxFor(stub.url), 'msgX', input());
    expect(s).toEqual({ state: 'SUBMITTED', raw: { errcode: 41063, errmsg: 'msg is sending' } });
  });

  it("follows next_cursor through the members, then each member's recipients", async () => {
    stub = await stubWecom((q) => {
      if (q.path === '/cgi-bin/externalcontact/get_groupmsg_task')
        return q.json.cursor === undefined
          ? { json: { errcode: 0, errmsg: 'ok', task_list: [{ userid: 'zhangsan', status: 2, send_time: 1_700_000_000 }], next_cursor: 'P2' } }
          : { json: { errcode: 0, errmsg: 'ok', task_list: [{ userid: 'lisi', status: 0, send_time: 0 }], next_cursor: '' } };
      if (q.path === '/cgi-bin/externalcontact/get_groupmsg_send_result') {
        if (q.json.userid === 'lisi')
          return { json: { errcode: 0, send_list: [{ external_userid: 'wmC', userid: 'lisi', status: 0, send_time: 0 }], next_cursor: '' } };
        return q.json.cursor === undefined
          ? { json: { errcode: 0, send_list: [{ external_userid: 'wmA', userid: 'zhangsan', status: 1, send_time: 1_700_000_000 }], next_cursor: 'R2' } }
          : { json: { errcode: 0, send_list: [{ external_userid: 'wmB', userid: 'zhangsan', status: 2, send_time: 0 }] } };
      }
      return undefined;
    });
    const s = await wecomAdapter.status?.(ctxFor(stub.url), 'msgX', input());
    expect(stub.calls('/cgi-bin/externalcontact/get_groupmsg_task').map((q) => q.json)).toEqual([
      { msgid: 'msgX', limit: 1000 },
      { msgid: 'msgX', limit: 1000, cursor: 'P2' },
    ]);
    expect(stub.calls('/cgi-bin/externalcontact/get_groupmsg_send_result').map((q) => q.json)).toEqual([
      { msgid: 'msgX', userid: 'zhangsan', limit: 1000 },
      { msgid: 'msgX', userid: 'zhangsan', limit: 1000, cursor: 'R2' },
      { msgid: 'msgX', userid: 'lisi', limit: 1000 },
    ]);
    expect(s?.state).toBe('RUNNING');
    expect(s?.waitingFor).toEqual(['lisi']);
    expect(s?.stats).toEqual({ planned: 3, sent: 1, notFriend: 1, overQuota: 0, unconfirmedStaff: 1 });
    expect(s?.recipients?.map((r) => `${r.sender}:${r.recipient}:${r.status}`)).toEqual(['zhangsan:wmA:sent', 'zhangsan:wmB:notFriend', 'lisi:wmC:unsent']);
  });

  it('cancel: cancel_groupmsg_send {msgid}; 41093 (already cancelled) is success; other codes refuse', async () => {
    let answer: unknown = { errcode: 0, errmsg: 'ok' };
    stub = await stubWecom((q) => (q.path === '/cgi-bin/externalcontact/cancel_groupmsg_send' ? { json: answer } : undefined));
    const ctx = ctxFor(stub.url);
    await wecomAdapter.cancel?.(ctx, 'msgX');
    expect(stub.calls('/cgi-bin/externalcontact/cancel_groupmsg_send').map((q) => q.json)).toEqual([{ msgid: 'msgX' }]);
    answer = { errcode: 41093, errmsg: 'already cancelled' };
    await expect(wecomAdapter.cancel?.(ctx, 'msgX')).resolves.toBeUndefined();
    answer = { errcode: 41047, errmsg: 'invalid msgid' };
    expect((await thrown(wecomAdapter.cancel?.(ctx, 'msgX') as Promise<void>)).code).toBe('41047');
  });

  it('remind: remind_groupmsg_send {msgid}; 41094 (over 3 a day) is limited for 24 h (that send only: not a rate limit)', async () => {
    let answer: unknown = { errcode: 0, errmsg: 'ok' };
    stub = await stubWecom((q) => (q.path === '/cgi-bin/externalcontact/remind_groupmsg_send' ? { json: answer } : undefined));
    const ctx = ctxFor(stub.url);
    await wecomAdapter.remind?.(ctx, 'msgX');
    expect(stub.calls('/cgi-bin/externalcontact/remind_groupmsg_send').map((q) => q.json)).toEqual([{ msgid: 'msgX' }]);
    answer = { errcode: 41094, errmsg: 'remind times exceed limit' };
    const err = await thrown(wecomAdapter.remind?.(ctx, 'msgX') as Promise<void>);
    expect([err.kind, err.code, err.retryAfterMs]).toEqual(['limited', '41094', REMIND_RETRY_MS]);
    expect(REMIND_RETRY_MS).toBe(24 * 3600 * 1000);
  });
});

describe('wecom: capabilities', () => {
  it('as WeCom publishes them, with qunfa’s choices where it publishes none', () => {
    expect(wecomAdapter.capabilities).toMatchObject({
      attachmentTypes: ['image', 'link', 'miniprogram', 'video', 'file'],
      audienceKinds: ['customers', 'groups'],
      tagFilters: true,
      cancelAfterSubmit: true,
      status: 'poll',
      batches: true,
      remind: true,
      recipientResults: true,
      limits: { customerIdsPerCall: 10_000, groupIdsPerCall: 2_000, sendersPerCall: 1 },
      recipientsPerSender: ['customers', 'groups'],
      resultHorizonDays: 3,
      rateLimits: { inFlight: 20, perMinute: 10_000, perHour: 150_000 },
    });
    expect(wecomAdapter.responseFields).toEqual(['errcode', 'errmsg', 'msgid', 'fail_list']);
    expect(wecomAdapter.credentials.safeParse({ corpId: 'ww1', secret: 's' }).success).toBe(true);
    expect(wecomAdapter.credentials.safeParse({ corpId: 'ww1' }).success).toBe(false);
  });
});
