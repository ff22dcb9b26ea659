/**
 * FlowLimiter: qunfa's own pacing of vendor calls, shared by every concurrently running function,
 * per (tenant, vendor): requests in flight, vendor writes per minute and per hour (SPEC §1 "Flow
 * control"). One DynamoDB item per pair, changed only by single-item conditional UpdateItems
 * (dynalite has no transactions), each condition naming only the attributes it depends on, so
 * concurrent dispatchers rarely collide:
 *
 *   pk = T#<tenantId>  sk = LIMIT#<vendor>
 *     f<k>    in-flight slot k (k < inFlight): the epoch ms its lease ends. A holder that dies
 *             gives its slot back by expiry.
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
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoLib } from './aws';
import { isConditionFailed } from './errors';

export interface RateLimits {
  /** Requests in flight at once (every vendor call). */
  inFlight: number;
  /** Vendor writes (creates, cancels, reminders) in any 60 s. */
  perMinute: number;
  /** Vendor writes in any hour. */
  perHour: number;
}

/** A write counts against the minute and hour windows; a read (a status query) only takes a slot. */
export type CallKind = 'write' | 'read';

export interface Permit { tenantId: string; vendor: string; slot: number; lease: number; second?: number; minute?: number }

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

export interface LimiterStats { reads: number; writes: number; conflicts: number }

const MAX_ATTEMPTS = 6;
const MINUTE_BUCKETS = 62;
const HOUR_BUCKETS = 61;

export class FlowLimiter {
  readonly stats: LimiterStats = { reads: 0, writes: 0, conflicts: 0 };

  constructor(private readonly doc: DynamoDBDocumentClient, private readonly table: string, private readonly leaseMs: number) {}

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
  async tryAcquire(tenantId: string, vendor: string, kind: CallKind, limits: RateLimits): Promise<Admission> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const item = await this.read(tenantId, vendor);
      const now = Date.now();
      const sec = Math.floor(now / 1000);
      const min = Math.floor(now / 60_000);
      if ((item.ban ?? 0) > now) return { granted: false, reason: 'vendor-ban', retryAt: item.ban as number };

      const free: number[] = [];
      let soonest = Number.POSITIVE_INFINITY;
      for (let k = 0; k < limits.inFlight; k++) {
        const lease = item[`f${k}`] ?? 0;
        if (lease <= now) free.push(k);
        else soonest = Math.min(soonest, lease);
      }
      if (!free.length) return { granted: false, reason: 'in-flight', retryAt: soonest };

      const past = (prefix: 's' | 'm', from: number, to: number) => {
        let n = 0;
        for (let x = from; x <= to; x++) n += item[`${prefix}${x}`] ?? 0;
        return n;
      };
      const names: Record<string, string> = { '#f': `f${free[Math.floor(Math.random() * free.length)]}`, '#ban': 'ban' };
      const values: Record<string, number> = { ':now': now, ':lease': now + this.leaseMs };
      const conditions = ['(attribute_not_exists(#f) OR #f <= :now)', '(attribute_not_exists(#ban) OR #ban <= :now)'];
      let add = '';
      if (kind === 'write') {
        const capS = limits.perMinute - past('s', sec - MINUTE_BUCKETS + 1, sec - 1);
        const capM = limits.perHour - past('m', min - HOUR_BUCKETS + 1, min - 1);
        if ((item[`s${sec}`] ?? 0) >= capS) return { granted: false, reason: 'per-minute', retryAt: (await this.reserve(tenantId, vendor, item, sec, limits.perMinute)) * 1000, reserved: true };
        if ((item[`m${min}`] ?? 0) >= capM) return { granted: false, reason: 'per-hour', retryAt: roomAt(item, 'm', min, HOUR_BUCKETS, limits.perHour) * 60_000 };
        Object.assign(names, { '#s': `s${sec}`, '#m': `m${min}`, '#sp': `s${sec - 1}`, '#mp': `m${min - 1}` });
        Object.assign(values, { ':one': 1, ':capS': capS, ':capM': capM });
        conditions.push('(attribute_not_exists(#s) OR #s < :capS)', '(attribute_not_exists(#m) OR #m < :capM)');
        // The bucket just before may still be growing (a caller whose clock read the previous second).
        for (const [name, attr] of [['#sp', `s${sec - 1}`], ['#mp', `m${min - 1}`]] as const) {
          const v = item[attr];
          if (v === undefined) conditions.push(`attribute_not_exists(${name})`);
          else { values[`:${name.slice(1)}`] = v; conditions.push(`${name} = :${name.slice(1)}`); }
        }
        add = ' ADD #s :one, #m :one';
      }
      // Buckets that left both windows go with this write (the item stays small).
      const stale = Object.keys(item).filter((a) => (/^[sr]\d+$/.test(a) && Number(a.slice(1)) < sec - MINUTE_BUCKETS - 1)
        || (a[0] === 'm' && /^m\d+$/.test(a) && Number(a.slice(1)) < min - HOUR_BUCKETS - 1));
      stale.slice(0, 50).forEach((a, i) => { names[`#x${i}`] = a; });
      const remove = stale.length ? ` REMOVE ${stale.slice(0, 50).map((_, i) => `#x${i}`).join(', ')}` : '';
      try {
        this.stats.writes++;
        await this.doc.send(new (dynamoLib().UpdateCommand)({
          TableName: this.table,
          Key: this.key(tenantId, vendor),
          UpdateExpression: `SET #f = :lease${add}${remove}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }));
        const slot = Number((names['#f'] as string).slice(1));
        return { granted: true, permit: { tenantId, vendor, slot, lease: values[':lease'] as number, ...(kind === 'write' ? { second: sec, minute: min } : {}) } };
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
    const load = (x: number) => (x < sec ? item[`s${x}`] ?? 0 : Math.max(item[`s${x}`] ?? 0, item[`r${x}`] ?? 0));
    let window = 0;
    for (let x = sec + 1 - MINUTE_BUCKETS + 1; x <= sec + 1; x++) window += load(x);
    let t = sec + 1;
    for (; t < sec + 4 * MINUTE_BUCKETS && window >= limit; t++) window += load(t + 1) - load(t + 1 - MINUTE_BUCKETS);
    this.stats.writes++;
    await this.doc.send(new (dynamoLib().UpdateCommand)({
      TableName: this.table,
      Key: this.key(tenantId, vendor),
      UpdateExpression: 'ADD #r :one',
      ExpressionAttributeNames: { '#r': `r${t}` },
      ExpressionAttributeValues: { ':one': 1 },
    }));
    return t;
  }

  /** Gives the slot back; a call that never reached the vendor gives back its window count too. */
  async release(permit: Permit, outcome: CallOutcome): Promise<void> {
    const names: Record<string, string> = { '#f': `f${permit.slot}` };
    const values: Record<string, number> = { ':lease': permit.lease };
    const sets: string[] = [];
    const adds: string[] = [];
    // A bucket is only refunded while it is surely still in the item (removal starts at 62 s).
    if (!outcome.reachedVendor && permit.second !== undefined && Date.now() - permit.second * 1000 < 55_000) {
      Object.assign(names, { '#s': `s${permit.second}`, '#m': `m${permit.minute}` });
      values[':minus'] = -1;
      adds.push('#s :minus', '#m :minus');
    }
    if (outcome.banUntil) {
      names['#ban'] = 'ban';
      values[':ban'] = outcome.banUntil;
      sets.push('#ban = :ban');
    }
    const expression = (withSlot: boolean) => [
      sets.length ? `SET ${sets.join(', ')}` : '',
      adds.length ? `ADD ${adds.join(', ')}` : '',
      withSlot ? 'REMOVE #f' : '',
    ].filter(Boolean).join(' ');
    const send = (withSlot: boolean) => {
      this.stats.writes++;
      const used = withSlot ? names : Object.fromEntries(Object.entries(names).filter(([k]) => k !== '#f'));
      const vals = withSlot ? values : Object.fromEntries(Object.entries(values).filter(([k]) => k !== ':lease'));
      return this.doc.send(new (dynamoLib().UpdateCommand)({
        TableName: this.table,
        Key: this.key(permit.tenantId, permit.vendor),
        UpdateExpression: expression(withSlot),
        ...(withSlot ? { ConditionExpression: '#f = :lease' } : {}),
        ExpressionAttributeNames: used,
        ...(Object.keys(vals).length ? { ExpressionAttributeValues: vals } : {}),
      }));
    };
    try {
      await send(true);
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      // The lease ran out and the slot went to someone else: leave theirs, keep the rest.
      if (sets.length || adds.length) await send(false);
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
