/**
 * TaskStore: one DynamoDB table, the tenant id in every partition key (isolation by
 * construction: no read can name another tenant's item). Every change is a single-item
 * conditional write guarded by the task's version, so a step is claimed exactly once however
 * many dispatchers race, and nothing needs transactions (dynalite has none).
 *
 *   pk = T#<tenantId>   sk = TASK#<taskId>   the task (steps and history inside)
 *   pk = T#<tenantId>   sk = IDEM#<sha256>   an Idempotency-Key → task id, body hash
 *   pk = T#<tenantId>   sk = EVT#<vendor>#<id>   a vendor event already taken in (dedupe)
 *   pk = T#<tenantId>   sk = VREF#<vendor>#<id>  a vendor task id → task and step (callback vendors)
 *   pk = T#<tenantId>   sk = CB#<taskId>         delivery of the task's callbacks to the caller
 *   pk = T#<tenantId>   sk = AUD#<taskId>#<n>    a chunk of a large audience's ids (the task item
 *                                                stays small, so every status change stays cheap)
 *
 * The sweeper's index, `byWatch` (sparse, keys only): a task item that waits for work carries
 * watchShard (one of WATCH_SHARDS, from its id) and watchAt (epoch ms: when it must next have
 * moved, lib/core/states.ts watchTerms). Every write recomputes them; a task waiting on nothing
 * has neither and is not in the index. The sweeper reads only what is overdue, in every shard,
 * never a tenant's partition.
 *
 * Reading or creating a task tags the invocation with it (lib/infra/logger.ts tagInvocation): every
 * later log line and metric of the invocation names its task and vendor.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoLib } from './awsClients';
import type { Audience } from '../core/task';
import { badRequest, unavailable } from '../core/errors';
import { isConditionFailed } from './awsErrors';
import { tagInvocation } from './logger';
import type { StepState, Task, VendorId } from '../core/task';
import { allFinal, nextWatchAt, watchTerms, type WatchRules, type WatchState } from '../core/states';
import type { RecipientOutcome, RecipientRow, RecipientStatus } from '../core/recipients';

export interface StoredTask extends Task, WatchState {
  tenantId: string;
  version: number;
  idempotencyKeyHash?: string;
  ttl?: number;
  /** Set when the audience's ids live in AUD# chunk items rather than in the task item. */
  audienceChunks?: { field: 'customerIds' | 'groupIds'; chunks: number; count: number };
}

/** Ids kept inline up to this many bytes; beyond, they go to chunks of at most CHUNK_BYTES. */
const INLINE_AUDIENCE_BYTES = 64 * 1024;
const CHUNK_BYTES = 256 * 1024;

/** DynamoDB's limit on one item. */
export const MAX_ITEM_BYTES = 400 * 1024;
/**
 * Room kept in a task item for what it gathers while it runs (history entries, batches, bounded
 * vendor answers, deferral notes), so a task accepted today can still record its outcome.
 */
export const GROWTH_HEADROOM_BYTES = 64 * 1024;
/** The most a task item may take when the caller creates or changes it. */
export const MAX_TASK_BYTES = MAX_ITEM_BYTES - GROWTH_HEADROOM_BYTES;

export interface IdempotencyRecord {
  taskId: string;
  bodyHash: string;
  createdAt: string;
}

export interface CallbackAttempt {
  eventId: string;
  at: string;
  status?: number;
  error?: string;
}
export interface CallbackState {
  /** Index into the task's history of the next change to deliver. */
  cursor: number;
  attempts: CallbackAttempt[];
  /** Events given up on after CALLBACK_GIVE_UP_SECONDS. */
  abandoned: string[];
  leaseUntil: number;
  /** When the next attempt is scheduled (epoch ms), while one waits for a failed delivery. */
  retryAt?: number;
  version: number;
}

export interface ListOptions {
  status?: StepState;
  vendor?: VendorId;
  limit: number;
  cursor?: string;
}

/** Consumed capacity and request counts, read from the SDK's ConsumedCapacity (for the bench). */
export interface StoreStats {
  reads: number;
  writes: number;
  rcu: number;
  wcu: number;
}

const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;
const EVENT_TTL_SECONDS = 30 * 24 * 3600;
const FINAL_TASK_TTL_SECONDS = 400 * 24 * 3600;
const MAX_UPDATE_ATTEMPTS = 25;
/** The most task items one list request reads, matching its filter or not (at least its `limit`). */
export const LIST_MAX_EVALUATED = 100;
/** The most queries one list request makes (a query returns at most 1 MB). */
export const LIST_MAX_QUERIES = 3;

/** The sweeper's index and its shards: writes of due times spread over this many partitions of it. */
export const BY_WATCH = 'byWatch';
export const WATCH_SHARDS = 16;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A task's shard, from the random last character of its id. */
export const watchShard = (taskId: string) => `W#${Math.max(0, CROCKFORD.indexOf(taskId.at(-1) ?? '0')) % WATCH_SHARDS}`;

const pk = (tenantId: string) => `T#${tenantId}`;
const taskSk = (taskId: string) => `TASK#${taskId}`;
const idemSk = (keyHash: string) => `IDEM#${keyHash}`;

export class TaskStore {
  readonly stats: StoreStats = { reads: 0, writes: 0, rcu: 0, wcu: 0 };

  /** `watch`: the rules that set each task's watch time; without them no task is in the sweeper's index. */
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly watch?: WatchRules,
  ) {}

  /** The item for a task, with its place in the sweeper's index (none when it waits on nothing). */
  private itemOf(task: StoredTask): Record<string, unknown> {
    const item = toItem(task);
    const at = this.watch && nextWatchAt(watchTerms(task, this.watch));
    return at === undefined ? item : { ...item, watchShard: watchShard(task.id), watchAt: at };
  }

  async get(tenantId: string, taskId: string): Promise<StoredTask | undefined> {
    const out = await this.call('read', () =>
      this.doc.send(
        new (dynamoLib().GetCommand)({
          TableName: this.table,
          Key: { pk: pk(tenantId), sk: taskSk(taskId) },
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    const task = out.Item ? fromItem(out.Item) : undefined;
    if (task) tagInvocation({ taskId: task.id, vendor: task.vendor });
    return task;
  }

  /**
   * Writes a new task; false if a task with that id already exists. A large audience's ids are
   * written first as chunk items (deterministic keys, so a retried create rewrites the same ones),
   * then the task item, conditionally: the task never exists without its audience.
   */
  async create(input: StoredTask): Promise<StoredTask | false> {
    const { task, chunks } = splitAudience(input);
    tagInvocation({ taskId: task.id, vendor: task.vendor });
    await this.putChunks(task, chunks);
    return (await this.putNew(this.itemOf(task))) ? task : false;
  }

  /** Writes an item that must not exist yet; false if it already does. */
  private async putNew(item: Record<string, unknown>): Promise<boolean> {
    try {
      await this.call('write', () =>
        this.doc.send(
          new (dynamoLib().PutCommand)({
            TableName: this.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  /**
   * Read-modify-write with optimistic concurrency. `mutate` changes the task in place and returns
   * a result, or returns undefined to write nothing. On a lost race it runs again on fresh data,
   * so every decision it makes is made on the state it actually replaces. `known`, a task the
   * caller has just read, saves the first read: if it is stale, the version check refuses the
   * write and the next attempt reads afresh.
   */
  async update<R>(
    tenantId: string,
    taskId: string,
    mutate: (task: StoredTask) => R | undefined,
    known?: StoredTask,
  ): Promise<{ task: StoredTask; result: R | undefined } | undefined> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const task = attempt === 0 && known ? structuredClone(known) : await this.get(tenantId, taskId);
      if (!task) return undefined;
      const version = task.version;
      const result = mutate(task);
      if (result === undefined) return { task, result };
      task.version = version + 1;
      if (allFinal(task.steps)) {
        task.ttl = Math.floor(Date.now() / 1000) + FINAL_TASK_TTL_SECONDS;
      }
      try {
        await this.call('write', () =>
          this.doc.send(
            new (dynamoLib().PutCommand)({
              TableName: this.table,
              Item: this.itemOf(task),
              ConditionExpression: 'version = :v',
              ExpressionAttributeValues: { ':v': version },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          ),
        );
        return { task, result };
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
        await sleep(Math.random() * 5 * (attempt + 1));
      }
    }
    throw unavailable('the task is being changed by many requests at once; retry', 1);
  }

  private async putChunks(task: StoredTask, chunks: string[][]): Promise<void> {
    await this.batchWrite(
      chunks.map((c, n) => ({
        PutRequest: { Item: { pk: pk(task.tenantId), sk: `AUD#${task.id}#${String(n).padStart(4, '0')}`, kind: 'audience', ids: c } },
      })),
    );
  }

  /** The full audience of a task, its ids read back from chunks where they were moved. */
  async fullAudience(task: StoredTask): Promise<Audience> {
    if (!task.audienceChunks) return task.audience;
    const ids: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.call('read', () =>
        this.doc.send(
          new (dynamoLib().QueryCommand)({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': pk(task.tenantId), ':prefix': `AUD#${task.id}#` },
            ExclusiveStartKey: start,
            ConsistentRead: true,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      for (const item of out.Items ?? []) ids.push(...(item.ids as string[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return { ...task.audience, [task.audienceChunks.field]: ids };
  }

  /**
   * Newest first. The cursor carries only a sort key: the partition always comes from the caller's
   * tenant. A request does bounded work: it evaluates at most LIST_MAX_EVALUATED items (or `limit`,
   * if larger) in at most LIST_MAX_QUERIES queries, matching or not. A filtered page may therefore
   * be short, or empty, with a nextCursor that continues exactly where the scan stopped.
   */
  async list(tenantId: string, opts: ListOptions): Promise<{ items: StoredTask[]; nextCursor: string | null }> {
    const filters: string[] = [];
    const values: Record<string, unknown> = { ':pk': pk(tenantId), ':prefix': 'TASK#' };
    const names: Record<string, string> = {};
    if (opts.status) {
      filters.push('#status = :status');
      values[':status'] = opts.status;
      names['#status'] = 'status';
    }
    if (opts.vendor) {
      filters.push('vendor = :vendor');
      values[':vendor'] = opts.vendor;
    }
    let startKey: Record<string, unknown> | undefined = opts.cursor ? { pk: pk(tenantId), sk: decodeCursor(opts.cursor) } : undefined;
    const budget = Math.max(LIST_MAX_EVALUATED, opts.limit);
    const items: StoredTask[] = [];
    let evaluated = 0;
    /** The sort key of the last item this request evaluated and the next page starts after; none once the data ends. */
    let resume: string | undefined;
    for (let queries = 0; items.length < opts.limit && evaluated < budget && queries < LIST_MAX_QUERIES; queries++) {
      const room = opts.limit - items.length;
      const out = await this.call('read', () =>
        this.doc.send(
          new (dynamoLib().QueryCommand)({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            ExpressionAttributeValues: values,
            ScanIndexForward: false,
            // Unfiltered, every item read is returned: read just the page. Filtered, read what the budget allows at once.
            Limit: filters.length ? budget - evaluated : room,
            ExclusiveStartKey: startKey,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      const got = (out.Items ?? []).map(fromItem);
      evaluated += out.ScannedCount ?? got.length;
      if (got.length > room) {
        // Read past the page: it ends at the last item returned, and the rest is read again next time.
        items.push(...got.slice(0, room));
        resume = taskSk((items.at(-1) as StoredTask).id);
        break;
      }
      items.push(...got);
      startKey = out.LastEvaluatedKey;
      resume = startKey?.sk as string | undefined;
      if (!startKey) break;
    }
    return { items, nextCursor: resume ? encodeCursor(resume) : null };
  }

  async getIdempotency(tenantId: string, keyHash: string): Promise<IdempotencyRecord | undefined> {
    const out = await this.call('read', () =>
      this.doc.send(
        new (dynamoLib().GetCommand)({
          TableName: this.table,
          Key: { pk: pk(tenantId), sk: idemSk(keyHash) },
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    if (!out.Item) return undefined;
    return { taskId: out.Item.taskId as string, bodyHash: out.Item.bodyHash as string, createdAt: out.Item.createdAt as string };
  }

  /** Claims an Idempotency-Key for a task id; returns the record that holds it (this one or the earlier one). */
  async claimIdempotency(tenantId: string, keyHash: string, record: IdempotencyRecord): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
    const item = { pk: pk(tenantId), sk: idemSk(keyHash), kind: 'idempotency', ...record, ttl: Math.floor(Date.now() / 1000) + IDEMPOTENCY_TTL_SECONDS };
    if (await this.putNew(item)) return { claimed: true, record };
    const existing = await this.getIdempotency(tenantId, keyHash);
    if (!existing) throw unavailable('idempotency record vanished; retry', 1);
    return { claimed: false, record: existing };
  }

  /** Records a vendor event; false if it was already taken in (a duplicate delivery). */
  async recordEvent(tenantId: string, vendor: string, eventId: string): Promise<boolean> {
    return this.putNew({
      pk: pk(tenantId),
      sk: `EVT#${vendor}#${eventId}`,
      kind: 'event',
      at: new Date().toISOString(),
      ttl: Math.floor(Date.now() / 1000) + EVENT_TTL_SECONDS,
    });
  }

  /** Forgets an event record, so a vendor's retry is taken in again (used when applying it failed). */
  async forgetEvent(tenantId: string, vendor: string, eventId: string): Promise<void> {
    await this.call('write', () =>
      this.doc.send(
        new (dynamoLib().DeleteCommand)({ TableName: this.table, Key: { pk: pk(tenantId), sk: `EVT#${vendor}#${eventId}` }, ReturnConsumedCapacity: 'TOTAL' }),
      ),
    );
  }

  async putVendorRef(tenantId: string, vendor: string, vendorTaskId: string, ref: { taskId: string; step: number }): Promise<void> {
    await this.call('write', () =>
      this.doc.send(
        new (dynamoLib().PutCommand)({
          TableName: this.table,
          Item: { pk: pk(tenantId), sk: `VREF#${vendor}#${vendorTaskId}`, kind: 'vref', ...ref, ttl: Math.floor(Date.now() / 1000) + FINAL_TASK_TTL_SECONDS },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
  }

  async getVendorRef(tenantId: string, vendor: string, vendorTaskId: string): Promise<{ taskId: string; step: number } | undefined> {
    const out = await this.call('read', () =>
      this.doc.send(
        new (dynamoLib().GetCommand)({
          TableName: this.table,
          Key: { pk: pk(tenantId), sk: `VREF#${vendor}#${vendorTaskId}` },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    return out.Item ? { taskId: out.Item.taskId as string, step: out.Item.step as number } : undefined;
  }

  /** Tasks overdue at `now` in one shard of the sweeper's index (keys and watch time), oldest first. */
  async overdue(
    shard: number,
    now: number,
    limit: number,
    start?: Record<string, unknown>,
  ): Promise<{ items: { tenantId: string; taskId: string; watchAt: number }[]; next?: Record<string, unknown> }> {
    const out = await this.call('read', () =>
      this.doc.send(
        new (dynamoLib().QueryCommand)({
          TableName: this.table,
          IndexName: BY_WATCH,
          KeyConditionExpression: 'watchShard = :s AND watchAt <= :now',
          ExpressionAttributeValues: { ':s': `W#${shard}`, ':now': now },
          Limit: limit,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    const items = (out.Items ?? []).flatMap((i) =>
      String(i.sk).startsWith('TASK#') ? [{ tenantId: String(i.pk).slice(2), taskId: String(i.sk).slice(5), watchAt: Number(i.watchAt) }] : [],
    );
    return { items, ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}) };
  }

  /**
   * The sweeper's write: the task's next watch time (none: out of the index) and what it found
   * delivered, only if the task is still the version it read with the watch time it found. Of two
   * sweepers one wins, and a worker's write meanwhile (which set the watch from what it did) wins
   * over both. The version is not bumped: a worker holding the task writes over this unhindered.
   */
  async rewatch(task: StoredTask, foundAt: number, watchAt: number | undefined, patch: WatchState = {}): Promise<boolean> {
    const sets: string[] = [];
    const values: Record<string, unknown> = { ':v': task.version, ':found': foundAt };
    if (watchAt === undefined) sets.push('REMOVE watchShard, watchAt');
    else {
      sets.push('SET watchAt = :w');
      values[':w'] = watchAt;
    }
    if (patch.callbacksSweptThrough !== undefined) {
      sets[0] += watchAt === undefined ? ' SET callbacksSweptThrough = :c' : ', callbacksSweptThrough = :c';
      values[':c'] = patch.callbacksSweptThrough;
    }
    try {
      await this.call('write', () =>
        this.doc.send(
          new (dynamoLib().UpdateCommand)({
            TableName: this.table,
            Key: { pk: pk(task.tenantId), sk: taskSk(task.id) },
            UpdateExpression: sets.join(' '),
            ConditionExpression: 'version = :v AND watchAt = :found',
            ExpressionAttributeValues: values,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  /** Notes when a step's next status poll is scheduled and its number (the sweeper's watch follows it). */
  async noteNextPoll(tenantId: string, taskId: string, step: number, next: { n: number; at: number }): Promise<void> {
    await this.update(tenantId, taskId, (t) => {
      t.nextPolls = { ...t.nextPolls, [String(step)]: next };
      return true;
    });
  }

  async getCallbackState(tenantId: string, taskId: string): Promise<CallbackState | undefined> {
    const out = await this.call('read', () =>
      this.doc.send(
        new (dynamoLib().GetCommand)({
          TableName: this.table,
          Key: { pk: pk(tenantId), sk: `CB#${taskId}` },
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    if (!out.Item) return undefined;
    const { pk: _p, sk: _s, kind: _k, ttl: _t, ...state } = out.Item;
    return state as CallbackState;
  }

  /** Writes the state if its version is still `expectedVersion` (0 = not yet written); false if someone else did. */
  async putCallbackState(tenantId: string, taskId: string, state: CallbackState, expectedVersion: number): Promise<boolean> {
    try {
      await this.call('write', () =>
        this.doc.send(
          new (dynamoLib().PutCommand)({
            TableName: this.table,
            Item: { pk: pk(tenantId), sk: `CB#${taskId}`, kind: 'callbacks', ...state, ttl: Math.floor(Date.now() / 1000) + FINAL_TASK_TTL_SECONDS },
            ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
            ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ':v': expectedVersion } }),
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  /**
   * A step's per-recipient outcomes as the vendor last reported them, replacing what was kept:
   * RECIPIENTS_PER_ITEM rows an item (ids are ≤ 128 characters, so an item stays far below
   * DynamoDB's 400 KB), items beyond the new count deleted. Kept as long as a final task.
   */
  async putRecipients(tenantId: string, taskId: string, step: number, rows: RecipientOutcome[]): Promise<void> {
    const prefix = recipientsPrefix(taskId, step);
    const ttl = Math.floor(Date.now() / 1000) + FINAL_TASK_TTL_SECONDS;
    const puts = [];
    for (let n = 0; n * RECIPIENTS_PER_ITEM < rows.length; n++) {
      const part = rows.slice(n * RECIPIENTS_PER_ITEM, (n + 1) * RECIPIENTS_PER_ITEM).map(packRecipient);
      puts.push({ PutRequest: { Item: { pk: pk(tenantId), sk: `${prefix}${String(n).padStart(4, '0')}`, kind: 'recipients', rows: part, ttl } } });
    }
    const kept = await this.recipientKeys(tenantId, prefix);
    const deletes = kept.slice(puts.length).map((sk) => ({ DeleteRequest: { Key: { pk: pk(tenantId), sk } } }));
    await this.batchWrite([...puts, ...deletes]);
  }

  /**
   * A task's recipients, step by step in the vendor's order, `status` filtering; at most `limit`
   * rows and a cursor to the rest (null at the end).
   */
  async listRecipients(
    tenantId: string,
    taskId: string,
    opts: { status?: RecipientStatus; limit: number; cursor?: string },
  ): Promise<{ items: RecipientRow[]; nextCursor: string | null }> {
    const from = opts.cursor ? decodeRecipientCursor(opts.cursor, taskId) : undefined;
    const items: RecipientRow[] = [];
    let startKey: Record<string, unknown> | undefined = from ? { pk: pk(tenantId), sk: from.sk } : undefined;
    let skipInFirst = from?.offset ?? 0;
    let firstItem = Boolean(from);
    for (;;) {
      const out = await this.call('read', () =>
        this.doc.send(
          new (dynamoLib().QueryCommand)({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
            ExpressionAttributeValues: { ':pk': pk(tenantId), ':p': `RCP#${taskId}#` },
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
            ConsistentRead: true,
            Limit: 4,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      // The cursor's item is read again (its rows from the offset on): a query resumes after a key.
      if (firstItem && from) {
        firstItem = false;
        const again = await this.call('read', () =>
          this.doc.send(new (dynamoLib().GetCommand)({ TableName: this.table, Key: { pk: pk(tenantId), sk: from.sk }, ConsistentRead: true })),
        );
        const page = again.Item ? [again.Item, ...(out.Items ?? [])] : (out.Items ?? []);
        const done = this.takeRows(page, opts, items, skipInFirst);
        skipInFirst = 0;
        if (done) return { items, nextCursor: encodeRecipientCursor(done) };
      } else {
        const done = this.takeRows(out.Items ?? [], opts, items, 0);
        if (done) return { items, nextCursor: encodeRecipientCursor(done) };
      }
      if (!out.LastEvaluatedKey) return { items, nextCursor: null };
      startKey = out.LastEvaluatedKey;
    }
  }

  /** Appends matching rows from `page` until `limit`; returns where the next page starts if it was reached with rows left. */
  private takeRows(
    page: Record<string, unknown>[],
    opts: { status?: RecipientStatus; limit: number },
    items: RecipientRow[],
    skip: number,
  ): { sk: string; offset: number } | undefined {
    for (const [p, item] of page.entries()) {
      const sk = String(item.sk);
      const step = Number(sk.split('#')[2]);
      const rows = (item.rows as PackedRecipient[]) ?? [];
      for (let i = p === 0 ? skip : 0; i < rows.length; i++) {
        if (items.length === opts.limit) return { sk, offset: i };
        const row = unpackRecipient(rows[i] as PackedRecipient, step);
        if (!opts.status || row.status === opts.status) items.push(row);
      }
    }
    return undefined;
  }

  private async recipientKeys(tenantId: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.call('read', () =>
        this.doc.send(
          new (dynamoLib().QueryCommand)({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
            ExpressionAttributeValues: { ':pk': pk(tenantId), ':p': prefix },
            ProjectionExpression: 'sk',
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of out.Items ?? []) keys.push(String(item.sk));
      start = out.LastEvaluatedKey;
    } while (start);
    return keys;
  }

  /** Writes in groups of 25 (BatchWriteItem's bound), retrying what DynamoDB leaves unprocessed. */
  private async batchWrite(requests: Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length; attempt++) {
        const out = await this.call('write', () =>
          this.doc.send(new (dynamoLib().BatchWriteCommand)({ RequestItems: { [this.table]: pending }, ReturnConsumedCapacity: 'TOTAL' })),
        );
        pending = out.UnprocessedItems?.[this.table] ?? [];
        if (pending.length) await sleep(Math.min(1000, 20 * 2 ** attempt));
      }
    }
  }

  private async call<T extends { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] }>(
    kind: 'read' | 'write',
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      const out = await fn();
      const cc = out.ConsumedCapacity;
      const units = Array.isArray(cc) ? cc.reduce((a, c) => a + (c.CapacityUnits ?? 0), 0) : (cc?.CapacityUnits ?? 0);
      if (kind === 'read') {
        this.stats.reads++;
        this.stats.rcu += units;
      } else {
        this.stats.writes++;
        this.stats.wcu += units;
      }
      return out;
    } catch (err) {
      if (kind === 'read') this.stats.reads++;
      else this.stats.writes++;
      throw err;
    }
  }
}

/**
 * The task as the store keeps it: a large audience's ids moved out into chunks (the task item
 * then carries their count). Pure, so a task can be measured before anything is written.
 */
function splitAudience(task: StoredTask): { task: StoredTask; chunks: string[][] } {
  const field = task.audience.kind === 'groups' ? 'groupIds' : 'customerIds';
  const ids = task.audience[field];
  if (!ids || Buffer.byteLength(JSON.stringify(ids)) <= INLINE_AUDIENCE_BYTES) return { task, chunks: [] };
  const chunks: string[][] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const id of ids) {
    const size = Buffer.byteLength(id) + 3;
    if (bytes + size > CHUNK_BYTES && current.length) {
      chunks.push(current);
      current = [];
      bytes = 2;
    }
    current.push(id);
    bytes += size;
  }
  if (current.length) chunks.push(current);
  const { [field]: _moved, ...rest } = task.audience;
  return { task: { ...task, audience: rest, audienceChunks: { field, chunks: chunks.length, count: ids.length } }, chunks };
}

/** The task exactly as its item would be stored (after the audience move), nothing written. */
export const storedForm = (task: StoredTask): StoredTask => splitAudience(task).task;

/**
 * Bytes of the task's item as JSON. DynamoDB counts attribute names and UTF-8 values; JSON adds
 * quotes, colons and commas on top, so this errs on the large side.
 */
export const itemBytes = (stored: StoredTask): number => Buffer.byteLength(JSON.stringify(toItem(stored)));

function toItem(task: StoredTask): Record<string, unknown> {
  return { pk: pk(task.tenantId), sk: taskSk(task.id), kind: 'task', ...task };
}

function fromItem(item: Record<string, unknown>): StoredTask {
  const { pk: _pk, sk: _sk, kind: _kind, watchShard: _ws, watchAt: _wa, ...rest } = item;
  return rest as unknown as StoredTask;
}

function encodeCursor(sk: string): string {
  return Buffer.from(JSON.stringify({ sk }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { sk?: unknown };
    if (typeof parsed.sk === 'string' && /^TASK#tsk_[0-9A-Z]{26}$/.test(parsed.sk)) return parsed.sk;
  } catch {
    // fall through
  }
  throw badRequest('cursor: is not a cursor this API returned', [{ path: 'cursor', message: 'is not a cursor this API returned' }]);
}

/** Rows per recipients item: 1,000 rows of ids ≤ 128 characters stay under about 300 KB. */
export const RECIPIENTS_PER_ITEM = 1_000;

const recipientsPrefix = (taskId: string, step: number) => `RCP#${taskId}#${String(step).padStart(2, '0')}#`;

/** A row as stored: [recipient, kind, status, sender?, sentAt?] (short: a thousand to an item). */
type PackedRecipient = [string, 'c' | 'g', RecipientStatus, string?, string?];

const packRecipient = (r: RecipientOutcome): PackedRecipient => {
  const row: PackedRecipient = [r.recipient, r.kind === 'group' ? 'g' : 'c', r.status];
  if (r.sender !== undefined || r.sentAt !== undefined) row.push(r.sender ?? '');
  if (r.sentAt !== undefined) row.push(r.sentAt);
  return row;
};

const unpackRecipient = ([recipient, kind, status, sender, sentAt]: PackedRecipient, step: number): RecipientRow => ({
  step,
  ...(sender ? { sender } : {}),
  recipient,
  kind: kind === 'g' ? 'group' : 'customer',
  status,
  ...(sentAt ? { sentAt } : {}),
});

function encodeRecipientCursor(at: { sk: string; offset: number }): string {
  return Buffer.from(JSON.stringify(at), 'utf8').toString('base64url');
}

function decodeRecipientCursor(cursor: string, taskId: string): { sk: string; offset: number } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { sk?: unknown; offset?: unknown };
    if (
      typeof parsed.sk === 'string' &&
      parsed.sk.startsWith(`RCP#${taskId}#`) &&
      /^RCP#tsk_[0-9A-Z]{26}#\d{2}#\d{4}$/.test(parsed.sk) &&
      Number.isInteger(parsed.offset) &&
      (parsed.offset as number) >= 0 &&
      (parsed.offset as number) < RECIPIENTS_PER_ITEM
    ) {
      return { sk: parsed.sk, offset: parsed.offset as number };
    }
  } catch {
    // fall through
  }
  throw badRequest('cursor: is not a cursor this API returned', [{ path: 'cursor', message: 'is not a cursor this API returned' }]);
}

/** The API's view of a task: store bookkeeping stripped. */
export function publicTask(task: StoredTask): Task {
  const { tenantId: _t, version: _v, idempotencyKeyHash: _i, ttl: _ttl, audienceChunks, nextPolls: _np, callbacksSweptThrough: _cs, ...rest } = task;
  // A large audience's ids are not echoed back in every read: their count is.
  return audienceChunks ? { ...rest, audienceSize: { [audienceChunks.field]: audienceChunks.count } } : rest;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
