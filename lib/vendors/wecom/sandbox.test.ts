/**
 * The WeCom sandbox over real HTTP: what it checks and answers as WeCom would (tokens, uploads,
 * add_msg_template's rules, 41063 then staff confirmation, per-recipient outcomes, pagination,
 * cancel and remind with their limits), and its control extras.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../kit/sandboxServer';
import { multipartMedia, SAMPLE_ASSETS, sandbox, wecomSandbox, WECOM_SANDBOX_LIMITS } from './sandbox';

type Creds = { corpId: string; secret: string };
const corp = sandbox.demoCredentials() as Creds;
const other = sandbox.demoCredentials() as Creds;
const PROGRESS_MS = 600;
const DISPATCH_MS = 200;
const MB = 1024 * 1024;

let sb: RunningSandbox;
let token = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = async (res: Response | Promise<Response>): Promise<any> => (await res).json();
const gettoken = (c: Creds) => json(fetch(`${sb.url}/cgi-bin/gettoken?corpid=${encodeURIComponent(c.corpId)}&corpsecret=${encodeURIComponent(c.secret)}`));
const api = (name: string, body: unknown, t = token) =>
  json(
    fetch(`${sb.url}/cgi-bin/externalcontact/${name}?access_token=${t}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
const upload = (type: string, bytes: Uint8Array, filename = 'f.bin', t = token, field = 'media') => {
  const fd = new FormData();
  fd.append(field, new Blob([new Uint8Array(bytes)]), filename);
  return json(fetch(`${sb.url}/cgi-bin/media/upload?access_token=${t}&type=${type}`, { method: 'POST', body: fd }));
};
const patchTask = (msgid: string, fields: unknown) => json(fetch(`${sb.url}/__sandbox/tasks/${msgid}`, { method: 'POST', body: JSON.stringify(fields) }));
const tasks = () => json(fetch(`${sb.url}/__sandbox/tasks`)) as Promise<any[]>;
const create = async (body: Record<string, unknown>) => {
  const r = await api('add_msg_template', body);
  expect(r.errcode, JSON.stringify(r)).toBe(0);
  return r.msgid as string;
};
/** Every row of a paged list, and the pages' sizes. */
const allPages = async (name: string, body: Record<string, unknown>, key: string) => {
  const rows: any[] = [];
  const sizes: number[] = [];
  let cursor = '';
  for (let i = 0; i < 50; i++) {
    const r = await api(name, { ...body, cursor });
    expect(r.errcode, JSON.stringify(r)).toBe(0);
    rows.push(...r[key]);
    sizes.push(r[key].length);
    cursor = r.next_cursor;
    if (!cursor) break;
  }
  return { rows, sizes };
};
const png = SAMPLE_ASSETS['sample.png']!.bytes;
const text = { content: '双十一快乐' };

beforeAll(async () => {
  sb = await startSandbox(wecomSandbox({ credentials: () => [corp, other], progressMs: PROGRESS_MS, dispatchMs: DISPATCH_MS }));
  token = (await gettoken(corp)).access_token;
});
afterAll(() => sb.close());

describe('wecom sandbox: token', () => {
  it('gettoken answers a token for 7,200 s, the same one while it is valid', async () => {
    const a = await gettoken(corp);
    expect(a).toMatchObject({ errcode: 0, errmsg: 'ok', access_token: token });
    expect(a.expires_in).toBeGreaterThan(7190);
    expect(a.expires_in).toBeLessThanOrEqual(7200);
    const b = await gettoken(other);
    expect(b.errcode).toBe(0);
    expect(b.access_token).not.toBe(token);
  });

  it('40013 unknown corp, 40001 wrong secret, 41002/41004 missing, 43001 not GET', async () => {
    expect((await gettoken({ corpId: 'ww0000000000000000', secret: corp.secret })).errcode).toBe(40013);
    expect((await gettoken({ corpId: corp.corpId, secret: other.secret })).errcode).toBe(40001);
    expect((await json(fetch(`${sb.url}/cgi-bin/gettoken?corpsecret=x`))).errcode).toBe(41002);
    expect((await json(fetch(`${sb.url}/cgi-bin/gettoken?corpid=${corp.corpId}`))).errcode).toBe(41004);
    expect((await json(fetch(`${sb.url}/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${corp.secret}`, { method: 'POST' }))).errcode).toBe(43001);
  });

  it('41001 without a token, 40014 an unknown one; a good one passes', async () => {
    expect((await json(fetch(`${sb.url}/cgi-bin/externalcontact/get_groupmsg_task`, { method: 'POST', body: '{}' }))).errcode).toBe(41001);
    expect((await api('get_groupmsg_task', { msgid: 'msgX' }, 'nope')).errcode).toBe(40014);
    expect((await api('get_groupmsg_task', { msgid: 'msgX' })).errcode).toBe(41047);
  });

  it('a revoked token answers 42001 (expired); gettoken then gives a new one that works', async () => {
    const before = token;
    await fetch(`${sb.url}/__sandbox/revoke-tokens`, { method: 'POST' });
    expect(await api('get_groupmsg_task', { msgid: 'msgX' }, before)).toMatchObject({ errcode: 42001 });
    const fresh = await gettoken(corp);
    expect(fresh.errcode).toBe(0);
    expect(fresh.access_token).not.toBe(before);
    expect(fresh.expires_in).toBe(7200);
    token = fresh.access_token;
    expect((await api('get_groupmsg_task', { msgid: 'msgX' })).errcode).toBe(41047);
  });

  it('43002 for a GET on a POST endpoint, 47001 for a body that is not JSON, 404 off the API', async () => {
    expect((await json(fetch(`${sb.url}/cgi-bin/externalcontact/add_msg_template?access_token=${token}`))).errcode).toBe(43002);
    const bad = await json(fetch(`${sb.url}/cgi-bin/externalcontact/add_msg_template?access_token=${token}`, { method: 'POST', body: '{not json' }));
    expect(bad.errcode).toBe(47001);
    expect((await fetch(`${sb.url}/cgi-bin/nothing?access_token=${token}`, { method: 'POST' })).status).toBe(404);
  });
});

describe('wecom sandbox: media upload', () => {
  it('a png → {type, media_id, created_at in unix seconds as a string}; listed with its size and hash', async () => {
    const r = await upload('image', png, 'a.png');
    expect(r).toMatchObject({ errcode: 0, errmsg: 'ok', type: 'image' });
    expect(r.media_id).toMatch(/^\w{20,}$/);
    expect(r.created_at).toMatch(/^\d{10}$/);
    expect(Math.abs(Number(r.created_at) - Date.now() / 1000)).toBeLessThan(5);
    const media = (await json(fetch(`${sb.url}/__sandbox/media`))) as any[];
    expect(media.find((m) => m.media_id === r.media_id)).toMatchObject({
      type: 'image',
      bytes: png.length,
      filename: 'a.png',
      corp: corp.corpId,
      sha256: createHash('sha256').update(png).digest('hex'),
    });
    // The generic server records the upload by its size, never as its bytes parsed as JSON.
    const requests = (await json(fetch(`${sb.url}/__sandbox/requests`))) as any[];
    const rec = requests.filter((q) => q.path === '/cgi-bin/media/upload').at(-1);
    expect(rec.body.__multipart.bytes).toBeGreaterThan(png.length);
  });

  it('jpg, mp4, amr and any file are taken as their types', async () => {
    expect(await upload('image', SAMPLE_ASSETS['sample.jpg']!.bytes, 'a.jpg')).toMatchObject({ errcode: 0, type: 'image' });
    expect(await upload('video', SAMPLE_ASSETS['sample.mp4']!.bytes, 'a.mp4')).toMatchObject({ errcode: 0, type: 'video' });
    expect(await upload('voice', SAMPLE_ASSETS['sample.amr']!.bytes, 'a.amr')).toMatchObject({ errcode: 0, type: 'voice' });
    expect(await upload('file', SAMPLE_ASSETS['sample.pdf']!.bytes, '说明.pdf')).toMatchObject({ errcode: 0, type: 'file' });
  });

  it('40005 when the bytes are not what type says (a gif as image, a png as video)', async () => {
    expect((await upload('image', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'a.gif')).errcode).toBe(40005);
    expect((await upload('video', png, 'a.mp4')).errcode).toBe(40005);
    expect((await upload('voice', png, 'a.amr')).errcode).toBe(40005);
  });

  it('over 5 bytes: 5 → 40006, 6 → taken, 0 → 44001', async () => {
    const magic = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]);
    expect((await upload('image', magic.subarray(0, 5), 'a.png')).errcode).toBe(40006);
    expect((await upload('image', magic, 'a.png')).errcode).toBe(0);
    expect((await upload('file', Buffer.alloc(0), 'a.txt')).errcode).toBe(44001);
  });

  it('size limits: image and video 10 MB, voice 2 MB, file 20 MB (the server takes a 20 MB body), one byte over → 40006', async () => {
    const image = (n: number) => Buffer.concat([png.subarray(0, 8), Buffer.alloc(n - 8)]);
    expect((await upload('image', image(10 * MB), 'big.png')).errcode).toBe(0);
    expect((await upload('image', image(10 * MB + 1), 'big.png')).errcode).toBe(40006);
    const mp4 = (n: number) => Buffer.concat([SAMPLE_ASSETS['sample.mp4']!.bytes, Buffer.alloc(n - SAMPLE_ASSETS['sample.mp4']!.bytes.length)]);
    expect((await upload('video', mp4(10 * MB), 'big.mp4')).errcode).toBe(0);
    expect((await upload('video', mp4(10 * MB + 1), 'big.mp4')).errcode).toBe(40006);
    const amr = (n: number) => Buffer.concat([Buffer.from('#!AMR\n'), Buffer.alloc(n - 6)]);
    expect((await upload('voice', amr(2 * MB), 'big.amr')).errcode).toBe(0);
    expect((await upload('voice', amr(2 * MB + 1), 'big.amr')).errcode).toBe(40006);
    expect((await upload('file', Buffer.alloc(20 * MB, 1), 'big.bin')).errcode).toBe(0);
    expect((await upload('file', Buffer.alloc(20 * MB + 1, 1), 'big.bin')).errcode).toBe(40006);
  });

  it('40004 for a type other than image|voice|video|file, 41005 without a media part', async () => {
    expect((await upload('gif', png, 'a.png')).errcode).toBe(40004);
    expect((await upload('image', png, 'a.png', token, 'file')).errcode).toBe(41005);
    const noFile = await json(fetch(`${sb.url}/cgi-bin/media/upload?access_token=${token}&type=file`, { method: 'POST' }));
    expect(noFile.errcode).toBe(41005);
  });

  it('multipartMedia reads a quoted boundary, filename* and the part content type', () => {
    const body = Buffer.concat([
      Buffer.from('--xyz-1\r\nContent-Disposition: form-data; name="other"\r\n\r\nzzz\r\n'),
      Buffer.from(`--xyz-1\r\nContent-Disposition: form-data; name="media"; filename*=UTF-8''%E8%AF%B4%E6%98%8E.pdf\r\nContent-Type: application/pdf\r\n\r\n`),
      Buffer.from('%PDF-1.4\r\n--xyz'),
      Buffer.from('\r\n--xyz-1--\r\n'),
    ]);
    const part = multipartMedia({ headers: { 'content-type': 'multipart/form-data; boundary="xyz-1"' }, rawBytes: body });
    expect(part?.filename).toBe('说明.pdf');
    expect(part?.contentType).toBe('application/pdf');
    expect(part?.data.toString('latin1')).toBe('%PDF-1.4\r\n--xyz');
    expect(multipartMedia({ headers: { 'content-type': 'application/json' }, rawBytes: body })).toBeUndefined();
  });
});

describe('wecom sandbox: add_msg_template, single', () => {
  it('chat_type defaults to single; fail_list holds the ids that cannot be sent to; the task keeps request, senders, recipients', async () => {
    const r = await api('add_msg_template', { external_userid: ['wm-a', 'wm-invalid-1', 'wm-b', 'wm-a'], sender: 'alice', text });
    expect(r).toMatchObject({ errcode: 0, errmsg: 'ok', fail_list: ['wm-invalid-1'] });
    expect(r.msgid).toMatch(/^msg\w+$/);
    const t = (await tasks()).find((x) => x.id === r.msgid);
    expect(t).toMatchObject({ corp: corp.corpId, chatType: 'single', senders: ['alice'], failList: ['wm-invalid-1'], request: { sender: 'alice', text } });
    expect(t.recipients).toEqual([
      { id: 'wm-a', sender: 'alice' },
      { id: 'wm-b', sender: 'alice' },
    ]);
    expect(Math.abs(t.createdAt - Date.now())).toBeLessThan(5000);
  });

  it('40058 for a chat_type other than single or group', async () => {
    expect((await api('add_msg_template', { chat_type: 'broadcast', external_userid: ['wm1'], text })).errcode).toBe(40058);
  });

  it('external_userid: 10,000 taken, 10,001 → 40058', async () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `wm${i}`);
    expect((await api('add_msg_template', { external_userid: ids(10_000), sender: 'alice', text })).errcode).toBe(0);
    expect((await api('add_msg_template', { external_userid: ids(10_001), sender: 'alice', text })).errcode).toBe(40058);
  });

  it('text.content: 4,000 UTF-8 bytes taken, 4,001 → 45002', async () => {
    const c4000 = '群'.repeat(1333) + 'a'; // 3 bytes a character
    expect(Buffer.byteLength(c4000)).toBe(4000);
    expect((await api('add_msg_template', { external_userid: ['wm1'], text: { content: c4000 } })).errcode).toBe(0);
    expect((await api('add_msg_template', { external_userid: ['wm1'], text: { content: c4000 + 'b' } })).errcode).toBe(45002);
  });

  it('attachments: 9 taken, 10 → 40058; nothing to send → 44004', async () => {
    const links = (n: number) => Array.from({ length: n }, (_, i) => ({ msgtype: 'link', link: { title: `t${i}`, url: 'https://example.com/' } }));
    expect((await api('add_msg_template', { external_userid: ['wm1'], attachments: links(9) })).errcode).toBe(0);
    expect((await api('add_msg_template', { external_userid: ['wm1'], attachments: links(10) })).errcode).toBe(40058);
    expect((await api('add_msg_template', { external_userid: ['wm1'], text: { content: '' }, attachments: [] })).errcode).toBe(44004);
  });

  it('41048 when nobody can be sent to (every id invalid, or no audience at all)', async () => {
    expect((await api('add_msg_template', { external_userid: ['wm-invalid-1', 'wm-invalid-2'], text })).errcode).toBe(41048);
    expect((await api('add_msg_template', { text })).errcode).toBe(41048);
  });

  it('tag_filter: customers per tag of every group; ≤ 100 tags a group; ignored beside external_userid', async () => {
    const msgid = await create({ tag_filter: { group_list: [{ tag_list: ['etVIP'] }, { tag_list: ['etNew', 'etOld'] }] }, text });
    const t = (await tasks()).find((x) => x.id === msgid);
    expect(t.recipients.map((r: any) => r.id)).toEqual([
      'etVIP-c1',
      'etVIP-c2',
      'etVIP-c3',
      'etNew-c1',
      'etNew-c2',
      'etNew-c3',
      'etOld-c1',
      'etOld-c2',
      'etOld-c3',
    ]);
    expect(t.senders).toEqual(['owner']);
    const tags = (n: number) => Array.from({ length: n }, (_, i) => `et${i}`);
    expect((await api('add_msg_template', { tag_filter: { group_list: [{ tag_list: tags(100) }] }, text })).errcode).toBe(0);
    expect((await api('add_msg_template', { tag_filter: { group_list: [{ tag_list: tags(101) }] }, text })).errcode).toBe(40058);
    const both = await create({ external_userid: ['wm1'], tag_filter: { group_list: [{ tag_list: ['etVIP'] }] }, text });
    const tb = (await tasks()).find((x) => x.id === both);
    expect(tb.recipients).toEqual([{ id: 'wm1', sender: 'owner' }]);
    expect(tb.ignored).toEqual(['tag_filter']);
  });

  it("only a sender: that member's customers; no sender: each id's owner (after '@', else 'owner')", async () => {
    const mine = await create({ sender: 'bob', text });
    expect((await tasks()).find((x) => x.id === mine).recipients.map((r: any) => r.id)).toEqual(['bob-c1', 'bob-c2', 'bob-c3']);
    const owned = await create({ external_userid: ['wm1@carol', 'wm2', 'wm3@carol'], text });
    expect((await tasks()).find((x) => x.id === owned).senders).toEqual(['carol', 'owner']);
  });
});

describe('wecom sandbox: attachments and media ids', () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    ids.image = (await upload('image', png, 'a.png')).media_id;
    ids.video = (await upload('video', SAMPLE_ASSETS['sample.mp4']!.bytes, 'a.mp4')).media_id;
    ids.file = (await upload('file', SAMPLE_ASSETS['sample.pdf']!.bytes, 'a.pdf')).media_id;
    const otherToken = (await gettoken(other)).access_token;
    ids.otherCorp = (await upload('image', png, 'a.png', otherToken)).media_id;
  });
  const send = (attachments: unknown[]) => api('add_msg_template', { external_userid: ['wm1'], attachments });

  it('each attachment type with a media id of its own type is taken', async () => {
    const r = await send([
      { msgtype: 'image', image: { media_id: ids.image } },
      { msgtype: 'image', image: { pic_url: 'https://wework.qpic.cn/wwpic/1.png' } },
      { msgtype: 'link', link: { title: 'T', url: 'https://example.com/', picurl: 'https://example.com/p.png', desc: 'D' } },
      { msgtype: 'miniprogram', miniprogram: { title: 'M', pic_media_id: ids.image, appid: 'wx8bd80126147dfAAA', page: '/path/index.html' } },
      { msgtype: 'video', video: { media_id: ids.video } },
      { msgtype: 'file', file: { media_id: ids.file } },
    ]);
    expect(r.errcode, JSON.stringify(r)).toBe(0);
  });

  it('40007 for a media id of another type, unknown, or issued to another corp; 41006 when it is missing', async () => {
    expect(await send([{ msgtype: 'image', image: { media_id: ids.file } }])).toMatchObject({ errcode: 40007, errmsg: expect.stringContaining('file') });
    expect((await send([{ msgtype: 'video', video: { media_id: ids.image } }])).errcode).toBe(40007);
    expect((await send([{ msgtype: 'file', file: { media_id: ids.video } }])).errcode).toBe(40007);
    expect((await send([{ msgtype: 'miniprogram', miniprogram: { title: 'M', pic_media_id: ids.file, appid: 'wx1', page: '/p.html' } }])).errcode).toBe(40007);
    expect((await send([{ msgtype: 'image', image: { media_id: '3neverissued' } }])).errcode).toBe(40007);
    expect((await send([{ msgtype: 'image', image: { media_id: ids.otherCorp } }])).errcode).toBe(40007);
    expect((await send([{ msgtype: 'file', file: {} }])).errcode).toBe(41006);
    expect((await send([{ msgtype: 'image', image: {} }])).errcode).toBe(41006);
  });

  it('a media id lives 3 days', async () => {
    const id = (await upload('image', png, 'old.png')).media_id;
    const age = (ms: number) => fetch(`${sb.url}/__sandbox/media/${id}`, { method: 'POST', body: JSON.stringify({ uploadedAt: Date.now() - ms }) });
    await age(3 * 86_400_000 - 60_000);
    expect((await send([{ msgtype: 'image', image: { media_id: id } }])).errcode).toBe(0);
    await age(3 * 86_400_000 + 1000);
    expect(await send([{ msgtype: 'image', image: { media_id: id } }])).toMatchObject({ errcode: 40007, errmsg: expect.stringContaining('expired') });
  });

  it('byte limits: link title 128 / desc 512, miniprogram title 64 (45003, 45004); 40008 for an unknown msgtype', async () => {
    const link = (title: string, desc?: string) => send([{ msgtype: 'link', link: { title, url: 'https://example.com/', desc } }]);
    expect((await link('a'.repeat(128))).errcode).toBe(0);
    expect((await link('a'.repeat(129))).errcode).toBe(45003);
    expect((await link('标'.repeat(43))).errcode).toBe(45003); // 129 bytes
    expect((await link('t', 'd'.repeat(512))).errcode).toBe(0);
    expect((await link('t', 'd'.repeat(513))).errcode).toBe(45004);
    const mini = (title: string) => send([{ msgtype: 'miniprogram', miniprogram: { title, pic_media_id: ids.image, appid: 'wx1', page: '/p.html' } }]);
    expect((await mini('m'.repeat(64))).errcode).toBe(0);
    expect((await mini('m'.repeat(65))).errcode).toBe(45003);
    expect((await send([{ msgtype: 'voice', voice: { media_id: ids.image } }])).errcode).toBe(40008);
    expect((await send([{ msgtype: 'link', link: { url: 'https://example.com/' } }])).errcode).toBe(40058);
  });
});

describe('wecom sandbox: add_msg_template, group', () => {
  it('sender is required; chat_id_list ≤ 2,000', async () => {
    expect((await api('add_msg_template', { chat_type: 'group', chat_id_list: ['wrA'], text })).errcode).toBe(40058);
    const chats = (n: number) => Array.from({ length: n }, (_, i) => `wr${i}`);
    expect((await api('add_msg_template', { chat_type: 'group', sender: 'dave', chat_id_list: chats(2000), text })).errcode).toBe(0);
    expect((await api('add_msg_template', { chat_type: 'group', sender: 'dave', chat_id_list: chats(2001), text })).errcode).toBe(40058);
  });

  it('send results list only sent rows: none before the sender confirms, each chat after', async () => {
    const r = await api('add_msg_template', { chat_type: 'group', sender: 'dave', chat_id_list: ['wrA', 'wrB'], external_userid: ['wm1'], text });
    expect(r).toMatchObject({ errcode: 0, fail_list: [] });
    const t = (await tasks()).find((x) => x.id === r.msgid);
    expect(t.recipients).toEqual([
      { id: 'wrA', sender: 'dave' },
      { id: 'wrB', sender: 'dave' },
    ]);
    expect(t.ignored).toEqual(['external_userid']);
    await patchTask(r.msgid, { readyAt: 0 });
    expect(await api('get_groupmsg_send_result', { msgid: r.msgid, userid: 'dave' })).toMatchObject({ errcode: 0, send_list: [], next_cursor: '' });
    await patchTask(r.msgid, { confirmAt: Date.now() - 1000 });
    const sent = await api('get_groupmsg_send_result', { msgid: r.msgid, userid: 'dave' });
    expect(sent.send_list).toEqual([
      { chat_id: 'wrA', userid: 'dave', status: 1, send_time: expect.any(Number) },
      { chat_id: 'wrB', userid: 'dave', status: 1, send_time: expect.any(Number) },
    ]);
    expect((await api('get_groupmsg_task', { msgid: r.msgid })).task_list).toEqual([{ userid: 'dave', status: 2, send_time: expect.any(Number) }]);
  });
});

describe('wecom sandbox: results over time', () => {
  it('41063 right after create; then the sender at 0 and every row 0; after progressMs the sender at 2 and each row its outcome', async () => {
    const t0 = Date.now();
    const msgid = await create({ external_userid: ['c1', 'c2-notfriend', 'c3-overquota', 'c4', 'c5'], sender: 'erin', text });
    expect((await api('get_groupmsg_task', { msgid })).errcode).toBe(41063);
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'erin' })).errcode).toBe(41063);

    await sleep(t0 + DISPATCH_MS + 30 - Date.now());
    expect(await api('get_groupmsg_task', { msgid })).toEqual({ errcode: 0, errmsg: 'ok', task_list: [{ userid: 'erin', status: 0 }], next_cursor: '' });
    const unsent = await api('get_groupmsg_send_result', { msgid, userid: 'erin' });
    expect(unsent.send_list.map((r: any) => r.status)).toEqual([0, 0, 0, 0, 0]);
    expect(unsent.send_list[0]).toEqual({ external_userid: 'c1', userid: 'erin', status: 0 });

    await sleep(t0 + PROGRESS_MS + 30 - Date.now());
    const task = await api('get_groupmsg_task', { msgid });
    expect(task.task_list).toEqual([{ userid: 'erin', status: 2, send_time: expect.any(Number) }]);
    expect(Math.abs(task.task_list[0].send_time - Date.now() / 1000)).toBeLessThan(5);
    const done = await api('get_groupmsg_send_result', { msgid, userid: 'erin' });
    expect(done.send_list.map((r: any) => [r.external_userid, r.status])).toEqual([
      ['c1', 1],
      ['c2-notfriend', 2],
      ['c3-overquota', 3],
      ['c4', 1],
      ['c5', 1],
    ]);
    expect(done.send_list.filter((r: any) => 'send_time' in r).map((r: any) => r.external_userid)).toEqual(['c1', 'c4', 'c5']);
  });

  it('pages by limit with an opaque cursor ("" when done); limit over 1000 or a bad cursor → 40058', async () => {
    const msgid = await create({ external_userid: ['p1', 'p2-notfriend', 'p3', 'p4-overquota', 'p5'], sender: 'erin', text });
    await patchTask(msgid, { readyAt: 0, confirmAt: Date.now() - 1000 });
    const first = await api('get_groupmsg_send_result', { msgid, userid: 'erin', limit: 2 });
    expect(first.send_list).toHaveLength(2);
    expect(first.next_cursor).not.toBe('');
    const { rows, sizes } = await allPages('get_groupmsg_send_result', { msgid, userid: 'erin', limit: 2 }, 'send_list');
    expect(sizes).toEqual([2, 2, 1]);
    expect(rows.map((r) => r.external_userid)).toEqual(['p1', 'p2-notfriend', 'p3', 'p4-overquota', 'p5']);
    expect(rows.map((r) => r.status)).toEqual([1, 2, 1, 3, 1]);
    expect(await api('get_groupmsg_send_result', { msgid, userid: 'erin', limit: 5 })).toMatchObject({ send_list: rows, next_cursor: '' });
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'erin', limit: 1000 })).send_list).toHaveLength(5);
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'erin', limit: 1001 })).errcode).toBe(40058);
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'erin', cursor: 'garbage' })).errcode).toBe(40058);
    expect((await api('get_groupmsg_send_result', { msgid })).errcode).toBe(40058);
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'someone-else' })).send_list).toEqual([]);

    const many = await create({ external_userid: ['a@u1', 'b@u2', 'c@u3', 'd@u4', 'e@u5'], text });
    await patchTask(many, { readyAt: 0 });
    const senders = await allPages('get_groupmsg_task', { msgid: many, limit: 2 }, 'task_list');
    expect(senders.sizes).toEqual([2, 2, 1]);
    expect(senders.rows.map((r) => r.userid)).toEqual(['u1', 'u2', 'u3', 'u4', 'u5']);
  });

  it('41046 without a msgid, 41047 for an unknown one or another corp’s', async () => {
    const msgid = await create({ external_userid: ['wm1'], text });
    expect((await api('get_groupmsg_task', {})).errcode).toBe(41046);
    expect((await api('get_groupmsg_task', { msgid: 'msgUnknown' })).errcode).toBe(41047);
    const otherToken = (await gettoken(other)).access_token;
    expect((await api('get_groupmsg_task', { msgid }, otherToken)).errcode).toBe(41047);
    expect((await api('cancel_groupmsg_send', { msgid }, otherToken)).errcode).toBe(41047);
  });

  it("a 'lazy' sender never confirms; a test can pin a sender's status", async () => {
    const msgid = await create({ external_userid: ['x1@lazy-frank', 'x2@gina', 'x3@hank'], text });
    await patchTask(msgid, { readyAt: 0, confirmAt: Date.now() - 1000, senderStatus: { hank: 1 } });
    const t = await api('get_groupmsg_task', { msgid });
    expect(t.task_list.map((r: any) => [r.userid, r.status])).toEqual([
      ['lazy-frank', 0],
      ['gina', 2],
      ['hank', 1],
    ]);
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'lazy-frank' })).send_list).toEqual([
      { external_userid: 'x1@lazy-frank', userid: 'lazy-frank', status: 0 },
    ]);
    expect((await api('get_groupmsg_send_result', { msgid, userid: 'hank' })).send_list[0]).toMatchObject({ external_userid: 'x3@hank', status: 1 });
  });
});

describe('wecom sandbox: cancel and remind', () => {
  it('cancel stops the senders who have not confirmed (their rows stay 0); a second cancel → 41093', async () => {
    const cancelled = await create({ external_userid: ['k1', 'k2'], sender: 'ivan', text });
    const kept = await create({ external_userid: ['k1', 'k2'], sender: 'ivan', text });
    expect(await api('cancel_groupmsg_send', { msgid: cancelled })).toEqual({ errcode: 0, errmsg: 'ok' });
    expect((await api('cancel_groupmsg_send', { msgid: cancelled })).errcode).toBe(41093);
    expect((await api('cancel_groupmsg_send', {})).errcode).toBe(41046);
    await sleep(PROGRESS_MS + 50);
    expect((await api('get_groupmsg_task', { msgid: cancelled })).task_list).toEqual([{ userid: 'ivan', status: 0 }]);
    expect((await api('get_groupmsg_send_result', { msgid: cancelled, userid: 'ivan' })).send_list.map((r: any) => r.status)).toEqual([0, 0]);
    expect((await api('get_groupmsg_task', { msgid: kept })).task_list[0].status).toBe(2);
    // Cancelling after the sender confirmed recalls nothing.
    expect((await api('cancel_groupmsg_send', { msgid: kept })).errcode).toBe(0);
    expect((await api('get_groupmsg_send_result', { msgid: kept, userid: 'ivan' })).send_list.map((r: any) => r.status)).toEqual([1, 1]);
  });

  it('remind: 3 a message per 24 h, the 4th → 41094; counted per msgid; a cancelled send → 41093', async () => {
    const msgid = await create({ external_userid: ['r1'], sender: 'lazy-judy', text });
    const another = await create({ external_userid: ['r1'], sender: 'lazy-judy', text });
    for (let i = 0; i < 3; i++) expect(await api('remind_groupmsg_send', { msgid })).toEqual({ errcode: 0, errmsg: 'ok' });
    expect((await api('remind_groupmsg_send', { msgid })).errcode).toBe(41094);
    expect((await api('remind_groupmsg_send', { msgid: another })).errcode).toBe(0);
    const reminds = await json(fetch(`${sb.url}/__sandbox/reminds`));
    expect(reminds[msgid]).toHaveLength(3);
    expect(reminds[another]).toHaveLength(1);
    // Reminds older than 24 h no longer count.
    await patchTask(msgid, { reminds: [Date.now() - 86_400_000 - 1000, Date.now() - 1000, Date.now() - 1000] });
    expect((await api('remind_groupmsg_send', { msgid })).errcode).toBe(0);
    expect((await api('remind_groupmsg_send', { msgid })).errcode).toBe(41094);
    await api('cancel_groupmsg_send', { msgid: another });
    expect((await api('remind_groupmsg_send', { msgid: another })).errcode).toBe(41093);
    expect((await api('remind_groupmsg_send', { msgid: 'msgUnknown' })).errcode).toBe(41047);
  });
});

describe('wecom sandbox: get_groupmsg_list_v2', () => {
  it('lists the sends created in a time range, by chat_type; a span over a month → 40058', async () => {
    const now = Math.floor(Date.now() / 1000);
    const msgid = await create({ external_userid: ['l1'], sender: 'kate', text: { content: 'listed' } });
    const r = await api('get_groupmsg_list_v2', { chat_type: 'single', start_time: now - 60, end_time: now + 60, creator: 'kate' });
    expect(r.errcode).toBe(0);
    expect(r.group_msg_list).toEqual([
      { msgid, creator: 'kate', create_time: expect.stringMatching(/^\d{10}$/), create_type: 0, text: { content: 'listed' }, attachments: [] },
    ]);
    expect((await api('get_groupmsg_list_v2', { chat_type: 'group', start_time: now - 60, end_time: now + 60, creator: 'kate' })).group_msg_list).toEqual([]);
    expect((await api('get_groupmsg_list_v2', { start_time: now - 40 * 86_400, end_time: now })).errcode).toBe(40058);
  });
});

describe('wecom sandbox: limits and faults', () => {
  it("WeCom's limits per corp per API; 45009 its throttle answer; 45033 and -1 from injected faults", async () => {
    const limits = await json(fetch(`${sb.url}/__sandbox/limits`));
    expect(limits.limits).toEqual({ inFlight: 20, perMinute: 10_000, perHour: 150_000 });
    expect(WECOM_SANDBOX_LIMITS).toEqual(limits.limits);
    expect(Object.keys(limits.callers)).toContain(`${corp.corpId} /cgi-bin/externalcontact/add_msg_template`);
    await fetch(`${sb.url}/__sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify([
        { match: 'get_groupmsg_task', mode: 'throttle' },
        { match: 'get_groupmsg_task', mode: 'vendor-error', code: 45033, message: 'api concurrent out of limit' },
        { match: 'get_groupmsg_task', mode: 'vendor-error', code: -1, message: 'system busy' },
      ]),
    });
    expect(await api('get_groupmsg_task', { msgid: 'msgX' })).toEqual({ errcode: 45009, errmsg: 'api freq out of limit' });
    expect((await api('get_groupmsg_task', { msgid: 'msgX' })).errcode).toBe(45033);
    expect((await api('get_groupmsg_task', { msgid: 'msgX' })).errcode).toBe(-1);
    expect((await api('get_groupmsg_task', { msgid: 'msgX' })).errcode).toBe(41047);
  });

  it('over 20 calls in flight to one API → 45033', async () => {
    await fetch(`${sb.url}/__sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ match: 'get_groupmsg_list_v2', mode: 'delay', delayMs: 400, count: 21 }),
    });
    const now = Math.floor(Date.now() / 1000);
    const answers = await Promise.all(Array.from({ length: 21 }, () => api('get_groupmsg_list_v2', { start_time: now - 60, end_time: now })));
    expect(answers.filter((a) => a.errcode === 45033)).toHaveLength(1);
    expect(answers.filter((a) => a.errcode === 0)).toHaveLength(20);
    await fetch(`${sb.url}/__sandbox/reset`, { method: 'POST' });
  });
});

describe('wecom sandbox: sample assets and the stack’s entry', () => {
  it('serves small valid files the stack can fetch and upload as their types', async () => {
    const get = async (name: string) => {
      const res = await fetch(`${sb.url}/__sandbox/assets/${name}`);
      expect(res.status).toBe(200);
      return { type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
    };
    const p = await get('sample.png');
    expect(p.type).toBe('image/png');
    expect(p.bytes.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect((await upload('image', p.bytes, 'sample.png')).errcode).toBe(0);
    const j = await get('sample.jpg');
    expect(j.bytes.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect((await upload('image', j.bytes, 'sample.jpg')).errcode).toBe(0);
    const v = await get('sample.mp4');
    expect(v.type).toBe('video/mp4');
    expect(v.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect((await upload('video', v.bytes, 'sample.mp4')).errcode).toBe(0);
    const f = await get('sample.pdf');
    expect(f.bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(f.bytes.toString('latin1')).toMatch(/%%EOF\n$/);
    expect((await fetch(`${sb.url}/__sandbox/assets/nothing.gif`)).status).toBe(404);
  });

  it('sandbox.spec knows every tenant’s corp; demo credentials look like WeCom’s; the 41063 window comes from the env', async () => {
    const creds = sandbox.demoCredentials();
    expect(creds.corpId).toMatch(/^ww[0-9a-f]{16}$/);
    expect(creds.secret).toMatch(/^[\w-]{43}$/);
    const spec = sandbox.spec({ credentials: () => [{ ...creds, qunfaTenant: 'demo' }], progressMs: 5000, env: { QUNFA_SANDBOX_WECOM_DISPATCH_MS: '0' } });
    expect(spec.name).toBe('wecom');
    const local = await startSandbox(spec);
    try {
      const tok = await json(fetch(`${local.url}/cgi-bin/gettoken?corpid=${creds.corpId}&corpsecret=${creds.secret}`));
      expect(tok.errcode).toBe(0);
      const call = (name: string, body: unknown) =>
        json(fetch(`${local.url}/cgi-bin/externalcontact/${name}?access_token=${tok.access_token}`, { method: 'POST', body: JSON.stringify(body) }));
      const c = await call('add_msg_template', { external_userid: ['wm1'], sender: 'amy', text });
      expect(await call('get_groupmsg_task', { msgid: c.msgid })).toMatchObject({ errcode: 0, task_list: [{ userid: 'amy', status: 0 }] });
    } finally {
      await local.close();
    }
  });
});
