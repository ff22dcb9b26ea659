/**
 * WeCom sandbox: a local stand-in for WeCom's own API (vendors.md "WeCom"), same paths, same
 * envelope {errcode, errmsg} (always HTTP 200), checking what WeCom checks:
 *
 *   GET  /cgi-bin/gettoken?corpid=&corpsecret=          → access_token, expires_in (7,200 s; the same
 *                                                           token again while it is valid, as WeCom does)
 *   POST /cgi-bin/media/upload?type=image|voice|video|file  multipart field `media` (with a filename)
 *                                                        → {type, media_id, created_at}; a media id lives 3 days
 *   POST /cgi-bin/externalcontact/add_msg_template       → {fail_list, msgid}
 *   POST /cgi-bin/externalcontact/get_groupmsg_task      → {task_list, next_cursor}
 *   POST /cgi-bin/externalcontact/get_groupmsg_send_result → {send_list, next_cursor}
 *   POST /cgi-bin/externalcontact/cancel_groupmsg_send
 *   POST /cgi-bin/externalcontact/remind_groupmsg_send
 *   POST /cgi-bin/externalcontact/get_groupmsg_list_v2   → {group_msg_list, next_cursor} (by creation time)
 *
 * Codes. As vendors.md and the brief name them: 40013 unknown corpid, 40001 wrong secret, 40014
 * unknown token, 42001 expired or revoked token, 40005 a file that is not what `type` says
 * (jpg/png, mp4, amr), 40006 a file ≤ 5 bytes or over its type's limit, 40007 a media id this
 * sandbox did not issue to the corp, of another type, or older than 3 days, 41046/41047 missing/
 * unknown msgid, 41048 no sendable customer, 41063 results asked for right after create, 41093
 * already cancelled, 41094 a 4th remind within 24 h, 45009 over a rate window, 45033 over the
 * in-flight limit. Where vendors.md is silent the sandbox uses WeCom's global code table
 * (https://developer.work.weixin.qq.com/document/path/90313) as best known; named here so nobody
 * mistakes a choice for a documented fact:
 *   41001 missing access_token · 41002 missing corpid · 41004 missing corpsecret ·
 *   40004 an upload `type` other than image|voice|video|file (WeCom's table may swap 40004 and
 *   40005: treat them alike) · 41005 no `media` part (or one without a filename) · 44001 an empty
 *   file · 40058 invalid parameter (a bad chat_type, a list over its bound, a group without sender,
 *   a missing field, limit over 1000, a bad cursor, a list_v2 span over a month) · 40008 an unknown
 *   attachment msgtype · 41006 an attachment without its media_id · 44004 nothing to send (no text
 *   content, no attachments) · 45002 text.content over 4,000 bytes · 45003 a title over its bound
 *   (link 128 B, miniprogram 64 B) · 45004 link desc over 512 B · 41093 also for reminding a
 *   cancelled send · 43001/43002 wrong method · 47001 a body that is not JSON.
 *
 * Tasks. Recipients: single with external_userid → those ids (deduplicated) minus fail_list (any
 * id containing 'invalid'), sent by `sender` if given, else by the id's owner: the part after its
 * last '@' ('wm1@alice' → alice), else 'owner'; single with tag_filter → `<tag>-c1..c3` per tag of
 * every group (a union, not WeCom's AND: enough to see the filter arrive); single with only sender
 * → `<sender>-c1..c3`; group → chat_id_list (or `<sender>-chat1..3` when none), sent by `sender`.
 * Nothing is ready for `dispatchMs` after create (41063). Each sender then shows status 0 until
 * `progressMs` after create, then 2 (sent) — except a sender whose userid contains 'lazy' (never
 * confirms) and senders who had not confirmed when the send was cancelled (their rows stay 0).
 * Send results: a recipient containing 'notfriend' → 2, 'overquota' → 3, else 1 once its sender
 * confirmed, 0 before; group sends list only sent rows. An image's pic_url is taken if it is an
 * http(s) URL (WeCom wants one from its own image upload; the sandbox does not serve that upload).
 *
 * A test may change a task by POST /__sandbox/tasks/<msgid> (merged into the record):
 *   {readyAt: 0}                         results answer at once (no 41063)
 *   {confirmAt: <epoch ms>}              when the senders confirm
 *   {senderStatus: {"alice": 0|1|2}}     pin a sender's status (1 and 2 count as confirmed)
 * Control extras: GET /__sandbox/media (issued media ids: type, bytes, sha256, filename,
 * uploadedAt), POST /__sandbox/media/<id> {uploadedAt} (age one: expiry), GET /__sandbox/reminds
 * (per msgid, when), GET /__sandbox/assets/sample.{png,jpg,mp4,pdf,amr} (small valid files).
 *
 * Limits: WeCom's 10,000 calls a minute and 150,000 an hour per corp per API (every API counts;
 * the window is per corp and path), 45009 beyond and for a minute after; WeCom publishes no
 * in-flight limit: 20 per corp and path here, 45033 beyond.
 */
import { createHash, randomBytes } from 'node:crypto';
import { demoSecret, type SandboxSpec, type SandboxState, type VendorReply, type VendorRequest, type VendorSandbox } from '../kit/sandboxServer';

/** WeCom's published limits (per corp per API); in flight is this sandbox's own choice. */
export const WECOM_SANDBOX_LIMITS = { inFlight: 20, perMinute: 10_000, perHour: 150_000 } as const;
const MB = 1024 * 1024;
const DAY_MS = 86_400_000;
const TOKEN_TTL_S = 7200;
/** How many reminds WeCom takes per message per 24 h. */
const REMINDS_PER_DAY = 3;
/** Customers synthesised per tag, or per sender when only the sender is given. */
const SYNTHETIC = 3;

export interface WecomSandboxOptions {
  /** The corps and app secrets it knows; read on every token request. */
  credentials: () => { corpId: string; secret: string }[];
  /** How long after create the senders confirm (status 0 → 2). Default 2,000 ms. */
  progressMs?: number;
  /** How long after create the results answer 41063. Default 300 ms. */
  dispatchMs?: number;
  /** How long a media id lives. Default 3 days. */
  mediaTtlMs?: number;
}

type MediaType = 'image' | 'voice' | 'video' | 'file';

interface Media {
  media_id: string;
  corp: string;
  type: MediaType;
  bytes: number;
  sha256: string;
  filename: string;
  contentType?: string;
  uploadedAt: number;
}

interface Recipient {
  /** external_userid, or chat_id for a group send. */
  id: string;
  sender: string;
}

/** A task as kept in the shared state (GET /__sandbox/tasks). */
export interface WecomTask {
  id: string;
  corp: string;
  chatType: 'single' | 'group';
  createdAt: number;
  /** Results answer 41063 until then. */
  readyAt: number;
  /** When the senders confirm (unless lazy, pinned, or cancelled first). */
  confirmAt: number;
  request: unknown;
  senders: string[];
  recipients: Recipient[];
  failList: string[];
  /** Fields WeCom ignores for this chat_type (it does not refuse them). */
  ignored: string[];
  cancelledAt?: number;
  reminds: number[];
  senderStatus?: Record<string, number>;
}

const UPLOAD_LIMITS: Record<MediaType, { max: number; magic: (b: Buffer) => boolean; what: string }> = {
  image: {
    max: 10 * MB,
    what: 'jpg or png',
    magic: (b) => b.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff])) || b.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47])),
  },
  voice: { max: 2 * MB, what: 'amr', magic: (b) => b.subarray(0, 5).toString('latin1') === '#!AMR' },
  video: { max: 10 * MB, what: 'mp4', magic: (b) => b.subarray(4, 8).toString('latin1') === 'ftyp' },
  file: { max: 20 * MB, what: 'any file', magic: () => true },
};

const bytesOf = (s: string) => Buffer.byteLength(s, 'utf8');
const isObject = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
const nonEmptyStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');

/** The `media` part of a multipart/form-data body: its filename, content type and bytes. */
export function multipartMedia(req: Pick<VendorRequest, 'headers' | 'rawBytes'>): { filename?: string; contentType?: string; data: Buffer } | undefined {
  const ct = req.headers['content-type'] ?? '';
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
  if (!/^multipart\/form-data/i.test(ct) || !m) return undefined;
  const boundary = (m[1] ?? m[2]) as string;
  const raw = req.rawBytes;
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  let at = raw.indexOf(delimiter);
  while (at >= 0) {
    let start = at + delimiter.length;
    if (raw[start] === 0x2d && raw[start + 1] === 0x2d) return undefined; // the closing delimiter
    if (raw[start] === 0x0d && raw[start + 1] === 0x0a) start += 2;
    const headEnd = raw.indexOf('\r\n\r\n', start);
    if (headEnd < 0) return undefined;
    const end = raw.indexOf(next, headEnd + 4);
    if (end < 0) return undefined;
    const head = raw.subarray(start, headEnd).toString('utf8');
    const disposition = /^content-disposition:(.*)$/im.exec(head)?.[1] ?? '';
    const name = /(?:^|;)\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (name === 'media') {
      const star = /(?:^|;)\s*filename\*=(?:UTF-8'[^']*')?([^;]+)/i.exec(disposition)?.[1];
      const plain = /(?:^|;)\s*filename="([^"]*)"/i.exec(disposition)?.[1] ?? /(?:^|;)\s*filename=([^;"\s]+)/i.exec(disposition)?.[1];
      const filename = star ? decodeURIComponent(star.trim()) : plain;
      const contentType = /^content-type:\s*(.*)$/im.exec(head)?.[1]?.trim();
      return { filename, contentType, data: raw.subarray(headEnd + 4, end) };
    }
    at = end + 2;
  }
  return undefined;
}

/** Small valid files the demo and the local end-to-end test fetch (GET /__sandbox/assets/<name>). */
export const SAMPLE_ASSETS: Record<string, { contentType: string; bytes: Buffer }> = {
  'sample.png': {
    contentType: 'image/png',
    bytes: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'),
  },
  'sample.jpg': {
    contentType: 'image/jpeg',
    bytes: Buffer.from(
      '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAACAAIBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/ACv/2Q==',
      'base64',
    ),
  },
  'sample.mp4': { contentType: 'video/mp4', bytes: sampleMp4() },
  'sample.pdf': { contentType: 'application/pdf', bytes: samplePdf() },
  'sample.amr': { contentType: 'audio/amr', bytes: Buffer.concat([Buffer.from('#!AMR\n', 'latin1'), Buffer.alloc(32, 0x3c)]) },
};

/** An ISO BMFF file: an `ftyp` box (isom, mp41), a `free` box and an empty `mdat`. */
function sampleMp4(): Buffer {
  const box = (type: string, payload: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(8 + payload.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, payload]);
  };
  const ftyp = Buffer.concat([Buffer.from('isom', 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isommp41', 'latin1')]);
  return Buffer.concat([box('ftyp', ftyp), box('free', Buffer.alloc(8)), box('mdat', Buffer.alloc(0))]);
}

/** A one-page PDF with a correct cross-reference table. */
function samplePdf(): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    '<< /Length 44 >>\nstream\nBT /F1 18 Tf 20 40 Td (qunfa sample) Tj ET\nendstream',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

export function wecomSandbox(opts: WecomSandboxOptions): SandboxSpec {
  const progressMs = opts.progressMs ?? 2000;
  const dispatchMs = opts.dispatchMs ?? 300;
  const mediaTtlMs = opts.mediaTtlMs ?? 3 * DAY_MS;
  const tokens = new Map<string, { corp: string; expiresAt: number; revoked: boolean }>();
  /** The valid token of each corp and secret (WeCom answers the same one until it expires). */
  const current = new Map<string, string>();
  const media = new Map<string, Media>();

  const err = (errcode: number, errmsg: string): VendorReply => ({ body: { errcode, errmsg } });
  const ok = (fields: Record<string, unknown> = {}): VendorReply => ({ body: { errcode: 0, errmsg: 'ok', ...fields } });
  const newId = (prefix: string, length: number) => prefix + randomBytes(length).toString('base64url').replace(/[-_]/g, 'A').slice(0, length);

  const tokenOf = (req: VendorRequest) => {
    const t = tokens.get(req.query.get('access_token') ?? '');
    return t && !t.revoked && t.expiresAt > Date.now() ? t : undefined;
  };

  const gettoken = (req: VendorRequest): VendorReply => {
    if (req.method !== 'GET') return err(43001, 'require GET method');
    const corpId = req.query.get('corpid');
    const secret = req.query.get('corpsecret');
    if (!corpId) return err(41002, 'corpid missing');
    if (!secret) return err(41004, 'corpsecret missing');
    const known = opts.credentials().filter((c) => c.corpId === corpId);
    if (known.length === 0) return err(40013, 'invalid corpid');
    if (!known.some((c) => c.secret === secret)) return err(40001, 'invalid credential: invalid secret');
    const key = `${corpId}\n${secret}`;
    const now = Date.now();
    const held = current.get(key);
    const valid = held ? tokens.get(held) : undefined;
    if (held && valid && !valid.revoked && valid.expiresAt > now) return ok({ access_token: held, expires_in: Math.ceil((valid.expiresAt - now) / 1000) });
    const token = randomBytes(48).toString('base64url');
    tokens.set(token, { corp: corpId, expiresAt: now + TOKEN_TTL_S * 1000, revoked: false });
    current.set(key, token);
    return ok({ access_token: token, expires_in: TOKEN_TTL_S });
  };

  const upload = (req: VendorRequest, corp: string): VendorReply => {
    const type = req.query.get('type') as MediaType | null;
    if (!type || !(type in UPLOAD_LIMITS)) return err(40004, `invalid media type: ${type ?? '(none)'}; image, voice, video or file`);
    const part = multipartMedia(req);
    if (!part || !part.filename) return err(41005, 'media data missing: a multipart `media` part with a filename');
    const limit = UPLOAD_LIMITS[type];
    if (part.data.length === 0) return err(44001, 'empty media data');
    if (part.data.length <= 5) return err(40006, `invalid file size: ${part.data.length} bytes, must be over 5`);
    if (part.data.length > limit.max) return err(40006, `invalid file size: ${part.data.length} bytes, a ${type} is at most ${limit.max / MB} MB`);
    if (!limit.magic(part.data)) return err(40005, `invalid file type: a ${type} must be ${limit.what}`);
    const now = Date.now();
    const id = newId(type === 'image' ? '3' : type === 'video' ? '2' : '1', 63);
    media.set(id, {
      media_id: id,
      corp,
      type,
      bytes: part.data.length,
      sha256: createHash('sha256').update(part.data).digest('hex'),
      filename: part.filename,
      contentType: part.contentType,
      uploadedAt: now,
    });
    return ok({ type, media_id: id, created_at: String(Math.floor(now / 1000)) });
  };

  /** A media id in an attachment: issued to this corp, of this type, not yet expired. */
  const checkMedia = (id: unknown, type: MediaType, corp: string, where: string): VendorReply | undefined => {
    if (typeof id !== 'string' || id === '') return err(41006, `media_id missing: ${where}`);
    const m = media.get(id);
    if (!m || m.corp !== corp) return err(40007, `invalid media_id: ${where}`);
    if (m.type !== type) return err(40007, `invalid media_id: ${where} is a ${m.type}, not a ${type}`);
    if (Date.now() - m.uploadedAt >= mediaTtlMs) return err(40007, `invalid media_id: ${where} expired (a media id lives 3 days)`);
    return undefined;
  };

  const checkAttachment = (a: unknown, i: number, corp: string): VendorReply | undefined => {
    const at = `attachments[${i}]`;
    if (!isObject(a)) return err(40058, `invalid parameter: ${at}`);
    const type = a.msgtype;
    if (!['image', 'link', 'miniprogram', 'video', 'file'].includes(type)) return err(40008, `invalid message type: ${at}.msgtype ${String(type)}`);
    const b = a[type as string];
    if (!isObject(b)) return err(40058, `invalid parameter: ${at}.${type} missing`);
    switch (type) {
      case 'image':
        if (b.media_id !== undefined && b.media_id !== '') return checkMedia(b.media_id, 'image', corp, `${at}.image.media_id`);
        if (typeof b.pic_url === 'string' && /^https?:\/\//.test(b.pic_url)) return undefined;
        return err(41006, `media_id missing: ${at}.image needs media_id or pic_url`);
      case 'link':
        if (typeof b.title !== 'string' || !b.title) return err(40058, `invalid parameter: ${at}.link.title missing`);
        if (bytesOf(b.title) > 128) return err(45003, `title size out of limit: ${at}.link.title over 128 bytes`);
        if (typeof b.url !== 'string' || !/^https?:\/\//.test(b.url)) return err(40058, `invalid parameter: ${at}.link.url`);
        if (b.desc !== undefined && typeof b.desc !== 'string') return err(40058, `invalid parameter: ${at}.link.desc`);
        if (typeof b.desc === 'string' && bytesOf(b.desc) > 512) return err(45004, `description size out of limit: ${at}.link.desc over 512 bytes`);
        if (b.picurl !== undefined && typeof b.picurl !== 'string') return err(40058, `invalid parameter: ${at}.link.picurl`);
        return undefined;
      case 'miniprogram':
        if (typeof b.title !== 'string' || !b.title) return err(40058, `invalid parameter: ${at}.miniprogram.title missing`);
        if (bytesOf(b.title) > 64) return err(45003, `title size out of limit: ${at}.miniprogram.title over 64 bytes`);
        for (const f of ['appid', 'page']) if (typeof b[f] !== 'string' || !b[f]) return err(40058, `invalid parameter: ${at}.miniprogram.${f} missing`);
        return checkMedia(b.pic_media_id, 'image', corp, `${at}.miniprogram.pic_media_id`);
      default:
        return checkMedia(b.media_id, type as MediaType, corp, `${at}.${type}.media_id`);
    }
  };

  const createTask = (req: VendorRequest, corp: string, state: SandboxState): VendorReply => {
    const b = req.body ?? {};
    if (!isObject(b)) return err(47001, 'data format error');
    const chatType = b.chat_type ?? 'single';
    if (chatType !== 'single' && chatType !== 'group') return err(40058, `invalid parameter: chat_type ${String(chatType)}`);
    if (b.sender !== undefined && (typeof b.sender !== 'string' || !b.sender)) return err(40058, 'invalid parameter: sender');
    const sender = b.sender as string | undefined;
    if (b.text !== undefined && (!isObject(b.text) || (b.text.content !== undefined && typeof b.text.content !== 'string')))
      return err(40058, 'invalid parameter: text.content');
    const content = (b.text?.content as string | undefined) ?? '';
    if (bytesOf(content) > 4000) return err(45002, `content size out of limit: text.content is ${bytesOf(content)} bytes, at most 4000`);
    if (b.attachments !== undefined && !Array.isArray(b.attachments)) return err(40058, 'invalid parameter: attachments');
    const attachments = (b.attachments ?? []) as unknown[];
    if (attachments.length > 9) return err(40058, `invalid parameter: ${attachments.length} attachments, at most 9`);
    for (const [i, a] of attachments.entries()) {
      const bad = checkAttachment(a, i, corp);
      if (bad) return bad;
    }
    if (!content && attachments.length === 0) return err(44004, 'empty content: neither text.content nor attachments');

    const ignored: string[] = [];
    let recipients: Recipient[] = [];
    let failList: string[] = [];
    if (chatType === 'group') {
      for (const f of ['external_userid', 'tag_filter']) if (b[f] !== undefined) ignored.push(f);
      if (!sender) return err(40058, 'invalid parameter: sender is required for a group send');
      if (b.chat_id_list !== undefined && !nonEmptyStrings(b.chat_id_list)) return err(40058, 'invalid parameter: chat_id_list');
      const chats = [...new Set((b.chat_id_list ?? []) as string[])];
      if (chats.length > 2000) return err(40058, `invalid parameter: chat_id_list has ${chats.length}, at most 2000`);
      const ids = chats.length ? chats : Array.from({ length: SYNTHETIC }, (_, k) => `${sender}-chat${k + 1}`);
      recipients = ids.map((id) => ({ id, sender }));
    } else {
      if (b.chat_id_list !== undefined) ignored.push('chat_id_list');
      if (b.external_userid !== undefined && !nonEmptyStrings(b.external_userid)) return err(40058, 'invalid parameter: external_userid');
      const ids = [...new Set((b.external_userid ?? []) as string[])];
      if (ids.length > 10_000) return err(40058, `invalid parameter: external_userid has ${ids.length}, at most 10000`);
      let tags: string[] = [];
      if (b.tag_filter !== undefined) {
        const groups = isObject(b.tag_filter) ? b.tag_filter.group_list : undefined;
        if (!Array.isArray(groups)) return err(40058, 'invalid parameter: tag_filter.group_list');
        for (const [k, g] of groups.entries()) {
          if (!isObject(g) || !nonEmptyStrings(g.tag_list)) return err(40058, `invalid parameter: tag_filter.group_list[${k}].tag_list`);
          if (g.tag_list.length > 100) return err(40058, `invalid parameter: tag_filter.group_list[${k}].tag_list has ${g.tag_list.length}, at most 100`);
          tags.push(...g.tag_list);
        }
        tags = [...new Set(tags)];
      }
      const owner = (id: string) => sender ?? (id.includes('@') ? id.slice(id.lastIndexOf('@') + 1) : 'owner');
      if (ids.length) {
        if (tags.length) ignored.push('tag_filter');
        failList = ids.filter((id) => id.includes('invalid'));
        recipients = ids.filter((id) => !id.includes('invalid')).map((id) => ({ id, sender: owner(id) }));
      } else if (tags.length) {
        recipients = tags.flatMap((tag) => Array.from({ length: SYNTHETIC }, (_, k) => ({ id: `${tag}-c${k + 1}`, sender: sender ?? 'owner' })));
      } else if (sender) {
        recipients = Array.from({ length: SYNTHETIC }, (_, k) => ({ id: `${sender}-c${k + 1}`, sender }));
      }
      if (recipients.length === 0) return err(41048, 'no sendable customer');
    }
    const now = Date.now();
    const task: WecomTask = {
      id: newId('msg', 27),
      corp,
      chatType,
      createdAt: now,
      readyAt: now + dispatchMs,
      confirmAt: now + progressMs,
      request: b,
      senders: [...new Set(recipients.map((r) => r.sender))],
      recipients,
      failList,
      ignored,
      reminds: [],
    };
    state.tasks.push(task as unknown as Record<string, unknown>);
    return ok({ fail_list: failList, msgid: task.id });
  };

  /** The task a msgid names, for this corp; or WeCom's refusal. */
  const findTask = (b: Record<string, any>, corp: string, state: SandboxState): WecomTask | VendorReply => {
    if (typeof b.msgid !== 'string' || !b.msgid) return err(41046, 'msgid missing');
    const t = state.tasks.find((x) => x.id === b.msgid && x.corp === corp) as WecomTask | undefined;
    return t ?? err(41047, `invalid msgid: ${b.msgid}`);
  };
  const isReply = (x: WecomTask | VendorReply): x is VendorReply => !('recipients' in x);

  /** When this sender confirmed (epoch ms), or undefined if not (yet, or ever). */
  const confirmedAt = (t: WecomTask, sender: string): number | undefined => {
    const now = Date.now();
    const pinned = t.senderStatus?.[sender];
    if (pinned !== undefined) return pinned >= 1 ? Math.min(t.confirmAt, now) : undefined;
    if (sender.includes('lazy') || now < t.confirmAt) return undefined;
    if (t.cancelledAt !== undefined && t.cancelledAt < t.confirmAt) return undefined;
    return t.confirmAt;
  };
  const seconds = (ms: number) => Math.floor(ms / 1000);

  /** limit (≤ 1000, default 500) and an opaque cursor (the offset). */
  const paginate = <T>(rows: T[], b: Record<string, any>, max = 1000, byDefault = 500): { rows: T[]; next_cursor: string } | VendorReply => {
    const limit = b.limit ?? byDefault;
    if (!Number.isInteger(limit) || limit < 1 || limit > max) return err(40058, `invalid parameter: limit ${String(limit)}, 1 to ${max}`);
    let offset = 0;
    if (b.cursor !== undefined && b.cursor !== '') {
      const m = typeof b.cursor === 'string' ? /^o:(\d+)$/.exec(Buffer.from(b.cursor, 'base64url').toString('latin1')) : null;
      if (!m) return err(40058, 'invalid parameter: cursor');
      offset = Number(m[1]);
    }
    const end = offset + limit;
    return { rows: rows.slice(offset, end), next_cursor: end < rows.length ? Buffer.from(`o:${end}`, 'latin1').toString('base64url') : '' };
  };

  const results = (req: VendorRequest, corp: string, state: SandboxState): VendorReply => {
    const b = req.body ?? {};
    if (!isObject(b)) return err(47001, 'data format error');
    const t = findTask(b, corp, state);
    if (isReply(t)) return t;
    if (Date.now() < t.readyAt) return err(41063, 'the send is still being dispatched, try again later');
    if (req.path.endsWith('/get_groupmsg_task')) {
      const rows = t.senders.map((userid) => {
        const at = confirmedAt(t, userid);
        const status = t.senderStatus?.[userid] ?? (at === undefined ? 0 : 2);
        return at === undefined ? { userid, status } : { userid, status, send_time: seconds(at) };
      });
      const page = paginate(rows, b);
      return 'rows' in page ? ok({ task_list: page.rows, next_cursor: page.next_cursor }) : page;
    }
    if (typeof b.userid !== 'string' || !b.userid) return err(40058, 'invalid parameter: userid');
    const at = confirmedAt(t, b.userid);
    const mine = t.recipients.filter((r) => r.sender === b.userid);
    const rows =
      t.chatType === 'group'
        ? at === undefined
          ? []
          : mine.map((r) => ({ chat_id: r.id, userid: r.sender, status: 1, send_time: seconds(at) }))
        : mine.map((r) => {
            const status = at === undefined ? 0 : r.id.includes('notfriend') ? 2 : r.id.includes('overquota') ? 3 : 1;
            return status === 1
              ? { external_userid: r.id, userid: r.sender, status, send_time: seconds(at as number) }
              : { external_userid: r.id, userid: r.sender, status };
          });
    const page = paginate<Record<string, unknown>>(rows, b);
    return 'rows' in page ? ok({ send_list: page.rows, next_cursor: page.next_cursor }) : page;
  };

  const cancel = (req: VendorRequest, corp: string, state: SandboxState): VendorReply => {
    const t = findTask(isObject(req.body) ? req.body : {}, corp, state);
    if (isReply(t)) return t;
    if (t.cancelledAt !== undefined) return err(41093, 'the send was already cancelled');
    t.cancelledAt = Date.now();
    return ok();
  };

  const remind = (req: VendorRequest, corp: string, state: SandboxState): VendorReply => {
    const t = findTask(isObject(req.body) ? req.body : {}, corp, state);
    if (isReply(t)) return t;
    // A cancelled send has nobody left to remind: the sandbox answers as for a second cancel.
    if (t.cancelledAt !== undefined) return err(41093, 'the send was cancelled');
    const now = Date.now();
    if (t.reminds.filter((at) => at > now - DAY_MS).length >= REMINDS_PER_DAY)
      return err(41094, `remind limit: at most ${REMINDS_PER_DAY} a message per 24 hours`);
    t.reminds.push(now);
    return ok();
  };

  /** Sends by creation time: the only lookup without the msgid (created here: create_type 0, by the company). */
  const listV2 = (req: VendorRequest, corp: string, state: SandboxState): VendorReply => {
    const b = req.body ?? {};
    if (!isObject(b)) return err(47001, 'data format error');
    const chatType = b.chat_type ?? 'single';
    if (chatType !== 'single' && chatType !== 'group') return err(40058, `invalid parameter: chat_type ${String(chatType)}`);
    if (!Number.isInteger(b.start_time) || !Number.isInteger(b.end_time) || b.end_time < b.start_time)
      return err(40058, 'invalid parameter: start_time and end_time (unix seconds)');
    if (b.end_time - b.start_time > 31 * 86_400) return err(40058, 'invalid parameter: start_time to end_time spans over a month');
    if (b.filter_type !== undefined && ![0, 1, 2].includes(b.filter_type)) return err(40058, 'invalid parameter: filter_type');
    const tasks = (state.tasks as unknown as WecomTask[]).filter(
      (t) =>
        t.corp === corp &&
        t.chatType === chatType &&
        seconds(t.createdAt) >= b.start_time &&
        seconds(t.createdAt) <= b.end_time &&
        b.filter_type !== 1 &&
        (b.creator === undefined || (t.request as any).sender === b.creator),
    );
    const rows = tasks.map((t) => {
      const r = t.request as Record<string, any>;
      return {
        msgid: t.id,
        creator: r.sender ?? '',
        create_time: String(seconds(t.createdAt)),
        create_type: 0,
        text: r.text,
        attachments: r.attachments ?? [],
      };
    });
    const page = paginate(rows, b, 100, 50);
    return 'rows' in page ? ok({ group_msg_list: page.rows, next_cursor: page.next_cursor }) : page;
  };

  const routes: Record<string, (req: VendorRequest, corp: string, state: SandboxState) => VendorReply> = {
    '/cgi-bin/media/upload': upload,
    '/cgi-bin/externalcontact/add_msg_template': createTask,
    '/cgi-bin/externalcontact/get_groupmsg_task': results,
    '/cgi-bin/externalcontact/get_groupmsg_send_result': results,
    '/cgi-bin/externalcontact/cancel_groupmsg_send': cancel,
    '/cgi-bin/externalcontact/remind_groupmsg_send': remind,
    '/cgi-bin/externalcontact/get_groupmsg_list_v2': listV2,
  };

  return {
    name: 'wecom',
    errorBody: (code, message) => ({ errcode: Number(code) || -1, errmsg: message }),
    throttleReply: () => err(45009, 'api freq out of limit'),
    // Issued tokens stay valid across a reset, as a vendor's would; revoke-tokens ends them (42001).
    reset: () => media.clear(),
    revokeTokens: () => {
      for (const t of tokens.values()) t.revoked = true;
      current.clear();
    },
    rateLimits: {
      limits: WECOM_SANDBOX_LIMITS,
      // Every API counts, each against its own window: the caller is the corp and the path.
      isWrite: () => true,
      caller: (req) => {
        const t = tokenOf(req);
        return t ? `${t.corp} ${req.path}` : undefined;
      },
      inFlightReply: () => err(45033, 'api concurrent out of limit'),
      banMs: 60_000,
    },

    async handle(req, state) {
      if (req.path === '/cgi-bin/gettoken') return gettoken(req);
      const token = req.query.get('access_token');
      if (!token) return err(41001, 'access_token missing');
      const t = tokens.get(token);
      if (!t) return err(40014, 'invalid access_token');
      if (t.revoked || t.expiresAt <= Date.now()) return err(42001, 'access_token expired');
      const route = routes[req.path];
      if (!route) return { status: 404, body: { errcode: 404, errmsg: `no such endpoint ${req.method} ${req.path}` } };
      if (req.method !== 'POST') return err(43002, 'require POST method');
      if (isObject(req.body) && '__unparseable' in req.body) return err(47001, 'data format error: the body is not JSON');
      return route(req, t.corp, state);
    },

    control(req, state) {
      const path = req.path.slice('/__sandbox'.length);
      if (req.method === 'GET' && path === '/media') return { body: [...media.values()] };
      const one = /^\/media\/([^/]+)$/.exec(path);
      if (req.method === 'POST' && one) {
        const m = media.get(decodeURIComponent(one[1] as string));
        if (!m) return { status: 404, body: { error: 'no such media id' } };
        if (isObject(req.body) && typeof req.body.uploadedAt === 'number') m.uploadedAt = req.body.uploadedAt;
        return { body: m };
      }
      if (req.method === 'GET' && path === '/reminds')
        return { body: Object.fromEntries((state.tasks as unknown as WecomTask[]).map((t) => [t.id, t.reminds.map((at) => new Date(at).toISOString())])) };
      const asset = /^\/assets\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && asset) {
        const a = SAMPLE_ASSETS[asset[1] as string];
        return a
          ? { body: a.bytes, headers: { 'content-type': a.contentType, 'content-length': String(a.bytes.length) } }
          : { status: 404, body: { error: 'no such asset' } };
      }
      return undefined;
    },
  };
}

/**
 * The local stack's WeCom (scripts/lib/sandboxes.ts), and a new tenant's WeCom credentials.
 * QUNFA_SANDBOX_WECOM_DISPATCH_MS sets how long results answer 41063 after create (default 300).
 */
export const sandbox: VendorSandbox = {
  spec: (o) =>
    wecomSandbox({
      credentials: () => o.credentials().map((c) => ({ corpId: c.corpId ?? '', secret: c.secret ?? '' })),
      progressMs: o.progressMs,
      dispatchMs: Number.isFinite(Number(o.env.QUNFA_SANDBOX_WECOM_DISPATCH_MS || 'x')) ? Number(o.env.QUNFA_SANDBOX_WECOM_DISPATCH_MS) : undefined,
    }),
  demoCredentials: () => ({ corpId: `ww${randomBytes(8).toString('hex')}`, secret: demoSecret(32) }),
};
