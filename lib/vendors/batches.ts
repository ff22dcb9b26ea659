/**
 * Fan-out: an audience larger than a vendor's per-call limits (Weiban ≤ 10,000 customers per
 * staff and ≤ 100 staff per call, ≤ 2,000 groups) is sent as several vendor tasks, one batch each.
 *
 * Where a vendor lists the recipients once per sender (capabilities.recipientsPerSender: Weiban's
 * staff_eu_list, WShoto's user_customers_list), a request carries senders × ids entries: 100
 * senders × 100,000 customers is 10 million entries, hundreds of MB of JSON. That product is
 * bounded per call (batches split over senders as well as ids) and per task (refused at create).
 */
import type { Audience } from '../core/task';
import { combinedState } from '../core/states';
import type { Capabilities, StepRequestInput, VendorStatus } from './adapter';

/** Recipient entries (senders × ids) in one vendor call: about 3.5 MB of JSON at 35 bytes an id. */
export const ENTRIES_PER_CALL = 100_000;
/** Recipient entries in one task, all calls together: ten full calls. */
export const ENTRIES_PER_TASK = 1_000_000;

interface Shape {
  field: 'customerIds' | 'groupIds';
  ids: readonly string[];
  senders: readonly string[];
  multiplies: boolean;
}

function shape(audience: Audience, caps: Capabilities): Shape {
  const field = audience.kind === 'groups' ? 'groupIds' : 'customerIds';
  const ids = audience[field] ?? [];
  const senders = audience.senders ?? [];
  return { field, ids, senders, multiplies: (caps.recipientsPerSender ?? []).includes(audience.kind) && senders.length > 0 && ids.length > 0 };
}

/** The entries the vendor's requests carry for this audience, all calls together. */
export function entriesOf(audience: Audience, caps: Capabilities): number {
  const s = shape(audience, caps);
  return s.multiplies ? s.senders.length * s.ids.length : s.ids.length;
}

/** The limits GET /v1/vendors publishes: the vendor's own, and qunfa's entry bounds where they apply. */
export function publishedLimits(caps: Capabilities): Capabilities['limits'] & { entriesPerCall?: number; entriesPerTask?: number } {
  return caps.recipientsPerSender?.length ? { ...caps.limits, entriesPerCall: ENTRIES_PER_CALL, entriesPerTask: ENTRIES_PER_TASK } : caps.limits;
}

export interface BatchPlan {
  count: number;
  /** Per batch: its recipient ids, and its senders when the senders are split across batches. */
  shapes: { size: number; senders?: number }[];
  /** Batch n's request input, slicing only its own senders and ids (no batch is built before it is sent). */
  batch(n: number): StepRequestInput;
}

/** How the audience is cut: ids and senders per call, and how many parts of each. */
function cut(audience: Audience, caps: Capabilities) {
  const s = shape(audience, caps);
  const idLimit = (s.field === 'groupIds' ? caps.limits.groupIdsPerCall : caps.limits.customerIdsPerCall) ?? Number.POSITIVE_INFINITY;
  const inf = Number.POSITIVE_INFINITY;
  // As many ids per call as allowed first, then as many senders as the entry bound leaves room
  // for: each sender then appears in as few vendor tasks (confirmations in WeCom) as possible.
  const idsPer = Math.max(1, Math.min(s.ids.length, idLimit, s.multiplies ? ENTRIES_PER_CALL : inf));
  const sendersPer = Math.max(1, Math.min(s.senders.length, caps.limits.sendersPerCall ?? inf, s.multiplies ? Math.floor(ENTRIES_PER_CALL / idsPer) : inf));
  const idParts = Math.max(1, Math.ceil(s.ids.length / idsPer));
  const senderParts = Math.max(1, Math.ceil(s.senders.length / sendersPer));
  return { ...s, idsPer, sendersPer, idParts, senderParts, count: idParts * senderParts };
}

/** How many vendor calls the audience takes (without building any). */
export const batchCount = (audience: Audience, caps: Capabilities): number => cut(audience, caps).count;

export function planBatches(input: StepRequestInput, caps: Capabilities): BatchPlan {
  const { field, ids, senders, idsPer, sendersPer, senderParts, count } = cut(input.audience, caps);
  const range = (n: number) => {
    const i = Math.floor(n / senderParts);
    const s = n % senderParts;
    return {
      ids: [i * idsPer, Math.min(ids.length, (i + 1) * idsPer)] as const,
      senders: [s * sendersPer, Math.min(senders.length, (s + 1) * sendersPer)] as const,
    };
  };
  return {
    count,
    shapes: Array.from({ length: count }, (_, n) => {
      const r = range(n);
      return { size: r.ids[1] - r.ids[0], ...(senderParts > 1 ? { senders: r.senders[1] - r.senders[0] } : {}) };
    }),
    batch(n) {
      if (!Number.isInteger(n) || n < 0 || n >= count) throw new RangeError(`no batch ${n} of ${count}`);
      if (count === 1) return input;
      const r = range(n);
      return {
        ...input,
        audience: {
          ...input.audience,
          ...(ids.length ? { [field]: ids.slice(...r.ids) } : {}),
          ...(senders.length ? { senders: senders.slice(...r.senders) } : {}),
        },
      };
    },
  };
}

/** Several batches' statuses as one: final only when all are; figures added up; recipients and waiting staff together. */
export function combineStatuses(statuses: VendorStatus[]): VendorStatus {
  const state: VendorStatus['state'] = combinedState(statuses.map((s) => s.state));
  const stats: Record<string, number> = {};
  for (const s of statuses) for (const [k, v] of Object.entries(s.stats ?? {})) if (typeof v === 'number') stats[k] = (stats[k] ?? 0) + v;
  const error = state === 'FAILED' ? statuses.find((s) => s.error)?.error : undefined;
  const recipients = statuses.some((s) => s.recipients) ? statuses.flatMap((s) => s.recipients ?? []) : undefined;
  const waitingFor = statuses.some((s) => s.waitingFor) ? [...new Set(statuses.flatMap((s) => s.waitingFor ?? []))] : undefined;
  return {
    state,
    ...(Object.keys(stats).length ? { stats } : {}),
    ...(error ? { error } : {}),
    ...(recipients ? { recipients } : {}),
    ...(waitingFor ? { waitingFor } : {}),
    raw: statuses.map((s) => s.raw),
  };
}
