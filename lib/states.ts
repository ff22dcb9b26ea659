/**
 * The step state machine. Transitions only move forward: a late or duplicate event can never
 * move a step back, and a final state is final. UNKNOWN is reachable only from DISPATCHING and is
 * left only by reconciliation with the vendor, never by re-sending.
 */
import type { DeliveryStats, HistoryEntry, Step, StepState, Task } from './schema';

const NEXT: Record<StepState, readonly StepState[]> = {
  SCHEDULED: ['DISPATCHING', 'CANCELLED'],
  DISPATCHING: ['SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'UNKNOWN'],
  UNKNOWN: ['SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'],
  SUBMITTED: ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'],
  RUNNING: ['COMPLETED', 'FAILED', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

export const FINAL: ReadonlySet<StepState> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
export const isFinal = (s: StepState) => FINAL.has(s);
export const canMove = (from: StepState, to: StepState) => NEXT[from].includes(to);

/**
 * The task's aggregate: when every step is final, FAILED if any failed, else COMPLETED if any
 * completed, else CANCELLED; otherwise UNKNOWN if any step is UNKNOWN (it needs a person's eye),
 * else the state of the first unfinished step.
 */
export function aggregate(steps: readonly Pick<Step, 'status'>[]): StepState {
  const states = steps.map((s) => s.status);
  if (states.every(isFinal)) {
    if (states.includes('FAILED')) return 'FAILED';
    if (states.includes('COMPLETED')) return 'COMPLETED';
    return 'CANCELLED';
  }
  if (states.includes('UNKNOWN')) return 'UNKNOWN';
  return states.find((s) => !isFinal(s)) ?? 'SCHEDULED';
}

export class IllegalTransition extends Error {
  constructor(readonly from: StepState, readonly to: StepState) {
    super(`illegal transition ${from} → ${to}`);
  }
}

/** Moves one step (mutating `task`), records the history entry and recomputes the aggregate. */
export function moveStep(task: Task, index: number, to: StepState, cause: string, patch: Partial<Step> = {}, now = new Date()): void {
  const step = task.steps[index];
  if (!step) throw new Error(`task ${task.id} has no step ${index}`);
  if (!canMove(step.status, to)) throw new IllegalTransition(step.status, to);
  const at = now.toISOString();
  const entry: HistoryEntry = { at, step: index, from: step.status, to, cause };
  Object.assign(step, patch, { status: to, updatedAt: at });
  task.history.push(entry);
  task.status = aggregate(task.steps);
  task.updatedAt = at;
}

/**
 * How long qunfa follows a step by polling. Every poll counts, failed ones included, so a vendor
 * that never answers and one that answers "sending" for ever both end.
 */
export interface PollLimits {
  /** Polls per step, failed ones included (STATUS_POLL_MAX_COUNT). */
  maxPolls: number;
  /** Time since the step was submitted after which qunfa stops asking (STATUS_POLL_MAX_AGE_SECONDS). */
  maxAgeMs: number;
  /** The vendor's documented result horizon, if it has one (Weiban: 15 days). */
  vendorHorizonMs?: number;
}

export interface PollCutoff {
  /** `qunfa.result_horizon`: the vendor stops updating results; `qunfa.poll_limit`: qunfa stops asking. */
  code: 'qunfa.result_horizon' | 'qunfa.poll_limit';
  why: string;
}

const days = (ms: number) => `${Math.round((ms / 86_400_000) * 100) / 100} days`;

/**
 * Is this poll the last one qunfa makes? `n` is this poll's number, counting from 1 and counting
 * failed polls; `since` when the step was submitted. Pure: no clock, no I/O.
 */
export function pollCutoff(poll: { n: number; since: number; now: number }, limits: PollLimits, vendor: string): PollCutoff | undefined {
  const age = poll.now - poll.since;
  if (limits.vendorHorizonMs !== undefined && age > limits.vendorHorizonMs) {
    return { code: 'qunfa.result_horizon', why: `${vendor} keeps results for ${days(limits.vendorHorizonMs)}` };
  }
  if (age > limits.maxAgeMs) return { code: 'qunfa.poll_limit', why: `it was submitted more than ${days(limits.maxAgeMs)} ago` };
  if (poll.n >= limits.maxPolls) return { code: 'qunfa.poll_limit', why: `it was asked ${poll.n} times, the most qunfa asks about one step` };
  return undefined;
}

/**
 * The final state of a step qunfa stops following: COMPLETED with its last figures if they show
 * anything sent, else FAILED with the cutoff's code. The cause says that qunfa stopped and why.
 */
export function stoppedFollowing(
  last: { stats?: DeliveryStats }, cut: PollCutoff, vendor: string, lastError?: string,
): { state: 'COMPLETED' | 'FAILED'; error?: { code: string; message: string }; cause: string } {
  const cause = `qunfa stopped following this step: ${cut.why}${lastError ? ` (the last ask failed: ${lastError})` : ''}; figures are final as of now`;
  const sent = last.stats?.sent;
  if (sent !== undefined && sent > 0) return { state: 'COMPLETED', cause };
  const figures = sent === undefined ? `${vendor} reported no figures, so nothing is known to have been sent` : `${vendor} reported nothing sent (staff never confirmed)`;
  return { state: 'FAILED', error: { code: cut.code, message: `${cut.why}, and ${figures}` }, cause };
}
