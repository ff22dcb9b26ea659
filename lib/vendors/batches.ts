/**
 * Fan-out: an audience larger than a vendor's per-call limit (Weiban ≤ 10,000 customers per
 * staff per call, ≤ 2,000 groups) is sent as several vendor tasks, one batch each.
 */
import type { Capabilities, StepRequestInput, VendorStatus } from './types';

export function splitIntoBatches(input: StepRequestInput, limits: Capabilities['limits']): StepRequestInput[] {
  const field = input.audience.kind === 'groups' ? 'groupIds' : 'customerIds';
  const per = field === 'groupIds' ? limits.groupIdsPerCall : limits.customerIdsPerCall;
  const ids = input.audience[field];
  if (!per || !ids || ids.length <= per) return [input];
  const out: StepRequestInput[] = [];
  for (let i = 0; i < ids.length; i += per) out.push({ ...input, audience: { ...input.audience, [field]: ids.slice(i, i + per) } });
  return out;
}

/** Several batches' statuses as one: final only when all are; figures added up. */
export function combineStatuses(statuses: VendorStatus[]): VendorStatus {
  const states = statuses.map((s) => s.state);
  const final = states.every((s) => s === 'COMPLETED' || s === 'FAILED' || s === 'CANCELLED');
  const state: VendorStatus['state'] = final
    ? states.includes('COMPLETED') ? 'COMPLETED' : states.includes('FAILED') ? 'FAILED' : 'CANCELLED'
    : states.some((s) => s === 'RUNNING' || s === 'COMPLETED') ? 'RUNNING' : 'SUBMITTED';
  const stats: Record<string, number> = {};
  for (const s of statuses) for (const [k, v] of Object.entries(s.stats ?? {})) if (typeof v === 'number') stats[k] = (stats[k] ?? 0) + v;
  const error = state === 'FAILED' ? statuses.find((s) => s.error)?.error : undefined;
  return { state, ...(Object.keys(stats).length ? { stats } : {}), ...(error ? { error } : {}), raw: statuses.map((s) => s.raw) };
}
