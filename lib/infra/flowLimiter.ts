/**
 * FlowLimiter: qunfa's own pacing of vendor calls, shared by every concurrently running function,
 * per (tenant, vendor): requests in flight, vendor writes per minute and per hour (SPEC §1 "Flow
 * control"). One DynamoDB item per pair, changed only by single-item conditional UpdateItems
 * (dynalite has no transactions), each condition naming only the attributes it depends on, so
 * concurrent dispatchers rarely collide:
 *
 *   pk = T#<tenantId>  sk = LIMIT#<vendor>
 *     fl      the calls in flight: holder id → the epoch ms its lease ends. Taking one is
 *             `size(fl) < inFlight` as the condition (atomic, no two callers race for one slot);
 *             a holder that dies gives its place back by expiry (the next caller removes it).
 *     s<sec>  vendor writes started in that epoch second. The minute window counts the current
 *             second and the 61 before it: one second more than the vendor's 60, so a call
 *             started late in its second still leaves the window only when the vendor's has.
 *     m<min>  vendor writes started in that epoch minute; the hour window is the current minute
 *             and the 60 before it.
 *     ban     epoch ms until which the vendor asked us to stop (its throttle answer).
 *     r<sec>  deferred writes that chose that future second to try again: a hint, so that the
 *             steps waiting for a full minute's room are spread over the seconds where room
 *             comes back, each told its own second, instead of all retrying at the first one.
 *
 * A write is admitted when the buckets of the window, as read, leave room in the current one; the
 * condition `s<now> < cap` is exact because past buckets no longer change (the one just before is
 * guarded too, for callers straddling a second). Old buckets are removed by the writes themselves.
 */
import { randomBytes } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoLib } from './awsClients';
import { isConditionFailed } from './awsErrors';
import type { RateLimits } from '../core/rateLimits';

/** A write counts against the minute and hour windows; a read (a status query) only takes a slot. */
export type CallKind = 'write' | 'read';

export interface Permit {
  tenantId: string;
  vendor: string;
  holder: string;
  lease: number;
  second?: number;
  minute?: number;
}

export type Admission =
  | { granted: true; permit: Permit }
  | { granted: false; reason: 'in-flight' | 'per-minute' | 'per-hour' | 'vendor-ban' | 'contention'; retryAt: number; reserved?: boolean };

/** What happened to the call a permit was for. */
export interface CallOutcome {
  /** false when the request provably never reached the vendor: its window count is given back. */
  reachedVendor: boolean;
  /** The vendor throttled: no call to it until then (epoch ms). */
  banUntil?: number;
}

export interface LimiterStats {
  reads: number;
  writes: number;
  conflicts: number;
}

const MAX_ATTEMPTS = 6;
const MINUTE_BUCKETS = 62;
const HOUR_BUCKETS = 61;

export class FlowLimiter {
  readonly stats: LimiterStats = { reads: 0, writes: 0, conflicts: 0 };

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly leaseMs: number,
  ) {}

  private key(tenantId: string, vendor: string) {
    return { pk: `T#${tenantId}`, sk: `LIMIT#${vendor}` };
  }

  /** The limiter's item as read (consistent), for decisions and for the bench. */
  async read(tenantId: string, vendor: string): Promise<Record<string, number>> {
    this.stats.reads++;
    const out = await this.doc.send(new (dynamoLib().GetCommand)({ TableName: this.table, Key: this.key(tenantId, vendor), ConsistentRead: true }));
    return (out.Item ?? {}) as Record<string, number>;
  }

  /**
   * One try for a slot (and, for a write, room in both windows). Never waits: a refusal says why
   * and when room is expected, and the caller decides whether to wait in-process or defer.
   */
  async tryAcquire(tenantId: string, vendor: string, kind: CallKind, limits: RateLimits, returning = false): Promise<Admission> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const item = await this.read(tenantId, vendor);
      const now = Date.now();
      const sec = Math.floor(now / 1000);
      const min = Math.floor(now / 60_000);
      if ((item.ban ?? 0) > now) return { granted: false, reason: 'vendor-ban', retryAt: item.ban as number };

      const fl = item.fl as unknown as Record<string, number> | undefined;
      if (!fl) {
        await this.init(tenantId, vendor);
        continue;
      }
      const live = Object.values(fl).filter((lease) => lease > now);
      if (live.length >= limits.inFlight) return { granted: false, reason: 'in-flight', retryAt: Math.min(...live) };
      const expired = Object.entries(fl)
        .filter(([, lease]) => lease <= now)
        .map(([id]) => id)
        .slice(0, 10);

      const past = (prefix: 's' | 'm', from: number, to: number) => {
        let n = 0;
        for (let x = from; x <= to; x++) n += item[`${prefix}${x}`] ?? 0;
        return n;
      };
      const holder = randomBytes(6).toString('hex');
      const names: Record<string, string> = { '#fl': 'fl', '#me': holder, '#ban': 'ban' };
      // Expired holders are removed by this write; that they are still there is part of its condition.
      const values: Record<string, number> = { ':now': now, ':lease': now + this.leaseMs, ':cap': limits.inFlight + expired.length };
      const conditions = ['size(#fl) < :cap', '(attribute_not_exists(#ban) OR #ban <= :now)'];
      expired.forEach((id, i) => {
        names[`#e${i}`] = id;
        conditions.push(`attribute_exists(#fl.#e${i})`);
      });
      let add = '';
      if (kind === 'write') {
        const capS = limits.perMinute - past('s', sec - MINUTE_BUCKETS + 1, sec - 1);
        const capM = limits.perHour - past('m', min - HOUR_BUCKETS + 1, min - 1);
        if ((item[`s${sec}`] ?? 0) >= capS) {
          // A step coming back at the second it was told finds the window still full when earlier
          // sends ran late: it comes back as soon as the oldest sends leave, not after everyone
          // reserved since (that would push it a whole minute on).
          if (returning) return { granted: false, reason: 'per-minute', retryAt: roomAt(item, 's', sec, MINUTE_BUCKETS, limits.perMinute) * 1000 };
          return { granted: false, reason: 'per-minute', retryAt: (await this.reserve(tenantId, vendor, item, sec, limits.perMinute)) * 1000, reserved: true };
        }
        if ((item[`m${min}`] ?? 0) >= capM)
          return { granted: false, reason: 'per-hour', retryAt: roomAt(item, 'm', min, HOUR_BUCKETS, limits.perHour) * 60_000 };
        Object.assign(names, { '#s': `s${sec}`, '#m': `m${min}`, '#sp': `s${sec - 1}`, '#mp': `m${min - 1}` });
        Object.assign(values, { ':one': 1, ':capS': capS, ':capM': capM });
        conditions.push('(attribute_not_exists(#s) OR #s < :capS)', '(attribute_not_exists(#m) OR #m < :capM)');
        // The bucket just before may still be growing (a caller whose clock read the previous second);
        // and if the next one exists, a caller of the next second has counted ours as it was: this
        // write, landing after it, would add to a window that caller already filled.
        Object.assign(names, { '#sn': `s${sec + 1}`, '#mn': `m${min + 1}` });
        conditions.push('attribute_not_exists(#sn)', 'attribute_not_exists(#mn)');
        for (const [name, attr] of [
          ['#sp', `s${sec - 1}`],
          ['#mp', `m${min - 1}`],
        ] as const) {
          const v = item[attr];
          if (v === undefined) conditions.push(`attribute_not_exists(${name})`);
          else {
            values[`:${name.slice(1)}`] = v;
            conditions.push(`${name} = :${name.slice(1)}`);
          }
        }
        add = ' ADD #s :one, #m :one';
      }
      // Buckets that left both windows go with this write (the item stays small).
      const stale = Object.keys(item).filter(
        (a) =>
          (/^[sr]\d+$/.test(a) && Number(a.slice(1)) < sec - MINUTE_BUCKETS - 1) ||
          (a[0] === 'm' && /^m\d+$/.test(a) && Number(a.slice(1)) < min - HOUR_BUCKETS - 1),
      );
      stale.slice(0, 50).forEach((a, i) => {
        names[`#x${i}`] = a;
      });
      const removals = [...stale.slice(0, 50).map((_, i) => `#x${i}`), ...expired.map((_, i) => `#fl.#e${i}`)];
      const remove = removals.length ? ` REMOVE ${removals.join(', ')}` : '';
      try {
        this.stats.writes++;
        await this.doc.send(
          new (dynamoLib().UpdateCommand)({
            TableName: this.table,
            Key: this.key(tenantId, vendor),
            UpdateExpression: `SET #fl.#me = :lease${add}${remove}`,
            ConditionExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return {
          granted: true,
          permit: { tenantId, vendor, holder, lease: values[':lease'] as number, ...(kind === 'write' ? { second: sec, minute: min } : {}) },
        };
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
        this.stats.conflicts++;
      }
    }
    return { granted: false, reason: 'contention', retryAt: Date.now() + 50 };
  }

  /**
   * The first second from now on whose minute window has room once the writes already sent and
   * the retries already told to come then are counted; that retry is counted there too (a hint:
   * admission still counts only what was sent). Returns the epoch second.
   */
  private async reserve(tenantId: string, vendor: string, item: Record<string, number>, sec: number, limit: number): Promise<number> {
    // Past seconds: what was sent. This second and later: what was sent or told to come, the larger.
    const load = (x: number) => (x < sec ? (item[`s${x}`] ?? 0) : Math.max(item[`s${x}`] ?? 0, item[`r${x}`] ?? 0));
    let window = 0;
    for (let x = sec + 1 - MINUTE_BUCKETS + 1; x <= sec + 1; x++) window += load(x);
    let t = sec + 1;
    for (; t < sec + 4 * MINUTE_BUCKETS && window >= limit; t++) window += load(t + 1) - load(t + 1 - MINUTE_BUCKETS);
    this.stats.writes++;
    await this.doc.send(
      new (dynamoLib().UpdateCommand)({
        TableName: this.table,
        Key: this.key(tenantId, vendor),
        UpdateExpression: 'ADD #r :one',
        ExpressionAttributeNames: { '#r': `r${t}` },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    return t;
  }

  /** The in-flight map, made once per (tenant, vendor); a map must exist before its entries can be set. */
  private async init(tenantId: string, vendor: string): Promise<void> {
    this.stats.writes++;
    await this.doc.send(
      new (dynamoLib().UpdateCommand)({
        TableName: this.table,
        Key: this.key(tenantId, vendor),
        UpdateExpression: 'SET #fl = if_not_exists(#fl, :empty)',
        ExpressionAttributeNames: { '#fl': 'fl' },
        ExpressionAttributeValues: { ':empty': {} },
      }),
    );
  }

  /** Gives the place in flight back; a call that never reached the vendor gives back its window count too. */
  async release(permit: Permit, outcome: CallOutcome): Promise<void> {
    const names: Record<string, string> = { '#fl': 'fl', '#me': permit.holder };
    const values: Record<string, number> = {};
    const parts = ['REMOVE #fl.#me'];
    // A bucket is only refunded while it is surely still in the item (removal starts at 62 s).
    if (!outcome.reachedVendor && permit.second !== undefined && Date.now() - permit.second * 1000 < 55_000) {
      Object.assign(names, { '#s': `s${permit.second}`, '#m': `m${permit.minute}` });
      values[':minus'] = -1;
      parts.push('ADD #s :minus, #m :minus');
    }
    this.stats.writes++;
    await this.doc.send(
      new (dynamoLib().UpdateCommand)({
        TableName: this.table,
        Key: this.key(permit.tenantId, permit.vendor),
        UpdateExpression: parts.join(' '),
        ExpressionAttributeNames: names,
        ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
      }),
    );
    if (outcome.banUntil) await this.ban(permit.tenantId, permit.vendor, outcome.banUntil);
  }

  /** The vendor asked for a pause: only ever lengthened (a 1 s answer never cuts short a 60 s ban). */
  private async ban(tenantId: string, vendor: string, until: number): Promise<void> {
    this.stats.writes++;
    try {
      await this.doc.send(
        new (dynamoLib().UpdateCommand)({
          TableName: this.table,
          Key: this.key(tenantId, vendor),
          UpdateExpression: 'SET #ban = :ban',
          ConditionExpression: 'attribute_not_exists(#ban) OR #ban < :ban',
          ExpressionAttributeNames: { '#ban': 'ban' },
          ExpressionAttributeValues: { ':ban': until },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }
}

/**
 * When the window will have room if nothing else is sent: the first moment the oldest buckets
 * have left it. Buckets are counted in units (seconds or minutes) from `now`.
 */
function roomAt(item: Record<string, number>, prefix: 's' | 'm', now: number, width: number, limit: number): number {
  let total = 0;
  for (let x = now - width + 1; x <= now; x++) total += item[`${prefix}${x}`] ?? 0;
  for (let x = now - width + 1; x <= now; x++) {
    total -= item[`${prefix}${x}`] ?? 0;
    if (total < limit) return x + width;
  }
  return now + width;
}
