import { isConditionFailed } from '../awsErrors';
import { DeleteCommand, PutCommand, QueryCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Scheduler, WorkEvent } from './scheduler';

export interface LocalSchedule {
  name: string;
  at: number;
  event: WorkEvent;
  attempts?: number;
}

/**
 * The local scheduler's store: a DynamoDB table (dynalite under `.data/`), so schedules survive a
 * restart of `npm start` exactly as tasks do. The runner below fires them.
 */
export class LocalScheduler implements Scheduler {
  /** false once the table turns out to have no `byAt` index (made by an older version): scan instead. */
  private indexed = true;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async schedule(name: string, at: Date, event: WorkEvent): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { name, at: at.getTime(), event, queue: QUEUE },
          ConditionExpression: 'attribute_not_exists(#n)',
          ExpressionAttributeNames: { '#n': 'name' },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  async cancel(name: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { name } }));
  }

  /**
   * The schedules due now, oldest first: read through the `byAt` index, so a tick costs what is
   * due, not what is waiting (a campaign leaves thousands of future polls and deferrals here).
   */
  async due(now = Date.now()): Promise<LocalSchedule[]> {
    if (this.indexed) {
      try {
        const out: LocalSchedule[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const page = await this.doc.send(
            new QueryCommand({
              TableName: this.table,
              IndexName: BY_AT,
              KeyConditionExpression: '#q = :q AND #at <= :now',
              ExpressionAttributeNames: { '#q': 'queue', '#at': 'at' },
              ExpressionAttributeValues: { ':q': QUEUE, ':now': now },
              ExclusiveStartKey: start,
            }),
          );
          out.push(...((page.Items ?? []) as LocalSchedule[]));
          start = page.LastEvaluatedKey;
        } while (start);
        return out;
      } catch (err) {
        if ((err as Error).name !== 'ValidationException') throw err;
        this.indexed = false;
      }
    }
    const out: LocalSchedule[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: '#at <= :now',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':now': now },
          ExclusiveStartKey: start,
        }),
      );
      out.push(...((page.Items ?? []) as LocalSchedule[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.at - b.at);
  }

  async recordFailure(s: LocalSchedule): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...s, attempts: (s.attempts ?? 0) + 1 } }));
  }
}

const FIRE_AT_ONCE = 32;
/** The index of schedules by time (one partition: a local stack holds thousands, not millions). */
export const BY_AT = 'byAt';
const QUEUE = 'due';

export interface RunnerOptions {
  scheduler: LocalScheduler;
  invoke: (event: WorkEvent) => Promise<void>;
  intervalMs?: number;
  maxAttempts?: number;
  onDeadLetter?: (s: LocalSchedule, err: unknown) => void;
}

/**
 * Fires due schedules the way EventBridge Scheduler does: an asynchronous invoke of the worker
 * with the schedule's input, then the schedule is deleted (ActionAfterCompletion DELETE); a
 * failed invoke is retried on the next ticks, then dead-lettered.
 */
export function startLocalRunner(opts: RunnerOptions): { stop: () => Promise<void> } {
  const { scheduler, invoke, intervalMs = 250, maxAttempts = 10 } = opts;
  let stopped = false;
  let busy = false;
  let running: Promise<void> = Promise.resolve();
  // Due schedules fire together, as EventBridge Scheduler fires them (a few at a time here).
  const fire = async (s: LocalSchedule) => {
    try {
      await invoke(s.event);
      await scheduler.cancel(s.name);
    } catch (err) {
      if ((s.attempts ?? 0) + 1 >= maxAttempts) {
        opts.onDeadLetter?.(s, err);
        await scheduler.cancel(s.name);
      } else {
        await scheduler.recordFailure(s);
      }
    }
  };
  const tick = async () => {
    const due = await scheduler.due();
    for (let i = 0; i < due.length && !stopped; i += FIRE_AT_ONCE) await Promise.all(due.slice(i, i + FIRE_AT_ONCE).map(fire));
  };
  // One tick at a time: a tick that fires hundreds of due schedules is not queued behind by more.
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    running = running
      .then(tick)
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
