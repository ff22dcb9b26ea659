/**
 * A TaskStore with the same semantics and no I/O (a Map, versions checked as DynamoDB would),
 * used only by the benchmark to measure a handler's own overhead with the store's I/O excluded.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Audience } from '../../lib/core/task';
import { TaskStore, type CallbackState, type IdempotencyRecord, type ListOptions, type StoredTask } from '../../lib/infra/taskStore';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryTaskStore extends TaskStore {
  private readonly tasks = new Map<string, StoredTask>();
  private readonly other = new Map<string, unknown>();
  constructor() {
    super(undefined as unknown as DynamoDBDocumentClient, 'memory');
  }
  override async get(tenantId: string, taskId: string) {
    const t = this.tasks.get(`${tenantId}/${taskId}`);
    return t ? clone(t) : undefined;
  }
  override async create(task: StoredTask) {
    const k = `${task.tenantId}/${task.id}`;
    if (this.tasks.has(k)) return false as const;
    this.tasks.set(k, clone(task));
    return task;
  }
  override async update<R>(tenantId: string, taskId: string, mutate: (t: StoredTask) => R | undefined) {
    const t = await this.get(tenantId, taskId);
    if (!t) return undefined;
    const result = mutate(t);
    if (result !== undefined) {
      t.version++;
      this.tasks.set(`${tenantId}/${taskId}`, clone(t));
    }
    return { task: t, result };
  }
  override async list(tenantId: string, opts: ListOptions) {
    const items = [...this.tasks.values()]
      .filter((t) => t.tenantId === tenantId)
      .reverse()
      .slice(0, opts.limit);
    return { items: items.map(clone), nextCursor: null };
  }
  override async fullAudience(task: StoredTask): Promise<Audience> {
    return task.audience;
  }
  override async getIdempotency(tenantId: string, keyHash: string) {
    return this.other.get(`I/${tenantId}/${keyHash}`) as IdempotencyRecord | undefined;
  }
  override async claimIdempotency(tenantId: string, keyHash: string, record: IdempotencyRecord) {
    const existing = await this.getIdempotency(tenantId, keyHash);
    if (existing) return { claimed: false, record: existing };
    this.other.set(`I/${tenantId}/${keyHash}`, record);
    return { claimed: true, record };
  }
  override async recordEvent(tenantId: string, vendor: string, eventId: string) {
    const k = `E/${tenantId}/${vendor}/${eventId}`;
    if (this.other.has(k)) return false;
    this.other.set(k, true);
    return true;
  }
  override async forgetEvent(tenantId: string, vendor: string, eventId: string) {
    this.other.delete(`E/${tenantId}/${vendor}/${eventId}`);
  }
  override async putVendorRef(tenantId: string, vendor: string, id: string, ref: { taskId: string; step: number }) {
    this.other.set(`V/${tenantId}/${vendor}/${id}`, ref);
  }
  override async getVendorRef(tenantId: string, vendor: string, id: string) {
    return this.other.get(`V/${tenantId}/${vendor}/${id}`) as { taskId: string; step: number } | undefined;
  }
  override async getCallbackState(tenantId: string, taskId: string) {
    return this.other.get(`C/${tenantId}/${taskId}`) as CallbackState | undefined;
  }
  override async putCallbackState(tenantId: string, taskId: string, state: CallbackState) {
    this.other.set(`C/${tenantId}/${taskId}`, state);
    return true;
  }
}
