/**
 * The step state machine. Transitions only move forward: a late or duplicate event can never
 * move a step back, and a final state is final. UNKNOWN is reachable only from DISPATCHING and is
 * left only by reconciliation with the vendor, never by re-sending.
 */
import type { Batch, DeliveryStats, HistoryEntry, Step, StepState, Task } from './task';

const NEXT: Record<StepState, readonly StepState[]> = {
  // FAILED straight from SCHEDULED only when its notAfter passed before it could be sent.
  SCHEDULED: ['DISPATCHING', 'CANCELLED', 'FAILED'],
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
/** Every step final: the task is over (nothing will change it again). */
export const allFinal = (steps: readonly Pick<Step, 'status'>[]) => steps.every((s) => isFinal(s.status));

/** The states a vendor reports of a task it accepted. */
export type ReportedState = Extract<StepState, 'SUBMITTED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED'>;

/**
 * Several vendor tasks (a step's batches) reported as one: final only when all are (COMPLETED if
 * any completed, else FAILED if any failed, else CANCELLED); otherwise RUNNING once any has started
 * or finished, else SUBMITTED.
 */
export function combinedState(states: readonly ReportedState[]): ReportedState {
  if (states.every(isFinal)) return states.includes('COMPLETED') ? 'COMPLETED' : states.includes('FAILED') ? 'FAILED' : 'CANCELLED';
  return states.some((s) => s === 'RUNNING' || s === 'COMPLETED') ? 'RUNNING' : 'SUBMITTED';
}

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
  constructor(
    readonly from: StepState,
    readonly to: StepState,
  ) {
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

// ---- cancel: what the caller's cancel does to each step ----

/** A step nothing of which has been claimed: a cancel makes it CANCELLED here (its firing then sends nothing). */
export const cancelsHere = (s: Pick<Step, 'status'>) => s.status === 'SCHEDULED';

export type CancelAction =
  | { kind: 'here' }
  /** At a vendor that can cancel a task it accepted: ask it to cancel each of the step's calls, then the step is CANCELLED. */
  | { kind: 'at-vendor'; vendorTaskIds: string[] }
  /** Final already: nothing to cancel. */
  | { kind: 'none' }
  /** It cannot be cancelled now: why (the 409 says it). */
  | { kind: 'refused'; reason: string };

/**
 * What a cancel can do with a step: cancel it here (not yet claimed), nothing (final), nothing now
 * (being sent: it cannot be taken back mid-call), ask its vendor (where the vendor can cancel an
 * accepted task and qunfa has its id), or nothing with the reason why.
 */
export function cancelAction(
  step: Pick<Step, 'index' | 'status' | 'vendorTaskId' | 'batches'>,
  vendor: { id: string; displayName: string; canCancel: boolean },
): CancelAction {
  if (cancelsHere(step)) return { kind: 'here' };
  if (isFinal(step.status)) return { kind: 'none' };
  if (step.status === 'DISPATCHING') return { kind: 'refused', reason: `step ${step.index} is being sent to ${vendor.id} right now` };
  if (!vendor.canCancel)
    return {
      kind: 'refused',
      reason: `step ${step.index} is already at ${vendor.id} (${step.status}), and ${vendor.displayName} cannot cancel a task it has accepted`,
    };
  // A step sent as several calls (batches) is cancelled call by call: every one the vendor accepted.
  const vendorTaskIds = followedVendorTaskIds(step);
  if (!vendorTaskIds.length) return { kind: 'refused', reason: `step ${step.index} is ${step.status} with no ${vendor.id} task id to cancel` };
  return { kind: 'at-vendor', vendorTaskIds };
}

/** Cancels every step not yet claimed (mutating `task`); returns their indexes. */
export function cancelUnsent(task: Task, now = new Date()): number[] {
  const cancelled: number[] = [];
  for (const s of task.steps) {
    if (cancelsHere(s)) {
      moveStep(task, s.index, 'CANCELLED', 'cancelled by the caller before it was sent', {}, now);
      cancelled.push(s.index);
    }
  }
  return cancelled;
}

/** A step its vendor cancelled: CANCELLED, unless it moved on meanwhile to where it cannot be (mutating `task`). */
export function cancelledAtVendor(task: Task, index: number, now = new Date()): true | undefined {
  const step = task.steps[index];
  if (!step || !canMove(step.status, 'CANCELLED')) return undefined;
  moveStep(task, index, 'CANCELLED', `cancelled at ${task.vendor} by the caller`, {}, now);
  return true;
}

/** Why a cancel that cancelled nothing is refused (409): the task is over, or each step's reason. */
export function nothingCancelled(task: Pick<Task, 'status' | 'steps'>, reasons: readonly string[]): string {
  if (allFinal(task.steps)) return `the task is already ${task.status}; there is nothing left to cancel`;
  return `nothing could be cancelled: ${reasons.join('; ')}`;
}

// ---- reminders: asking the vendor to remind staff who have not confirmed a send ----

/**
 * What a reminder can reach: each step the vendor holds and still reports in progress (SUBMITTED or
 * RUNNING: some staff have not confirmed), with the vendor task ids it was accepted under.
 */
export function remindTargets(task: Pick<Task, 'steps'>): { step: number; vendorTaskIds: string[] }[] {
  return task.steps
    .filter((s) => s.status === 'SUBMITTED' || s.status === 'RUNNING')
    .map((s) => ({ step: s.index, vendorTaskIds: followedVendorTaskIds(s) }))
    .filter((t) => t.vendorTaskIds.length > 0);
}

/** Why a reminder reaches nothing (409): the task is over, or no step waits for staff. */
export function nothingToRemind(task: Pick<Task, 'status' | 'steps'>): string {
  if (allFinal(task.steps)) return `the task is already ${task.status}; nobody is left to remind`;
  return 'no step waits for staff to confirm it: steps not yet sent have nothing to confirm, and the others are done';
}

/** A reminder the vendor took, in the step's history (no state changes: mutating `task`). */
export function remindedAtVendor(task: Task, index: number, count: number, now = new Date()): true | undefined {
  const step = task.steps[index];
  if (!step) return undefined;
  const at = now.toISOString();
  task.history.push({
    at,
    step: index,
    from: step.status,
    to: step.status,
    cause: `${task.vendor} reminded the staff of ${count} send${count === 1 ? '' : 's'} not yet confirmed, at the caller's request`,
  });
  task.updatedAt = at;
  return true;
}

// ---- batches: the vendor calls of a step whose audience is over the vendor's per-call limits ----

export type BatchState = Batch['status'];

/**
 * Batch states, written by qunfa alone (no vendor event touches a batch). Each batch is sent at
 * most once: SUBMITTED, FAILED and UNKNOWN are final, and an UNKNOWN batch is never re-sent.
 */
const BATCH_NEXT: Record<BatchState, readonly BatchState[]> = {
  // FAILED straight from PENDING only when the step's notAfter passed before it could be sent.
  PENDING: ['SENDING', 'FAILED'],
  // Back to PENDING only when its claimer gives it back provably unsent (releaseUnsent).
  SENDING: ['SUBMITTED', 'FAILED', 'UNKNOWN', 'PENDING'],
  SUBMITTED: [],
  FAILED: [],
  UNKNOWN: [],
};

export const canMoveBatch = (from: BatchState, to: BatchState) => BATCH_NEXT[from].includes(to);
export const isBatchFinal = (s: BatchState) => BATCH_NEXT[s].length === 0;
/** Every batch has its outcome: the step can have its own. */
export const batchesDone = (batches: readonly Pick<Batch, 'status'>[]) => batches.every((b) => isBatchFinal(b.status));

export class IllegalBatchTransition extends Error {
  constructor(
    readonly from: BatchState,
    readonly to: BatchState,
  ) {
    super(`illegal batch transition ${from} → ${to}`);
  }
}

/** Moves one batch (mutating it), with what else the move records (its vendor task id, its error). */
export function moveBatch(batch: Batch, to: BatchState, patch: Partial<Batch> = {}): void {
  if (!canMoveBatch(batch.status, to)) throw new IllegalBatchTransition(batch.status, to);
  Object.assign(batch, patch, { status: to });
}

/**
 * A step's state once all its batches have their outcome: UNKNOWN if any may have reached the
 * vendor unrecorded; else FAILED if none was accepted; else SUBMITTED (refused ones are noted).
 */
export function batchesOutcome(batches: readonly Pick<Batch, 'status'>[]): 'UNKNOWN' | 'FAILED' | 'SUBMITTED' {
  if (batches.some((b) => b.status === 'UNKNOWN')) return 'UNKNOWN';
  if (!batches.some((b) => b.status === 'SUBMITTED')) return 'FAILED';
  return 'SUBMITTED';
}

/**
 * What a vendor call that ended in error makes of its step or batch: UNKNOWN if the request may
 * have reached the vendor (ambiguous: never re-sent), else FAILED (the vendor refused). Calls that
 * provably did not reach it (throttled, not sent) are given back instead (releaseUnsent).
 */
export const stateAfterError = (kind: string): 'UNKNOWN' | 'FAILED' => (kind === 'ambiguous' ? 'UNKNOWN' : 'FAILED');

// ---- flow control: deadlines, deferrals, claims of one vendor call at a time ----

/** A step's deadline: the task's notAfter if it names one, else its sendAt plus the deployment's window. */
export function stepDeadline(sendAt: string, taskNotAfter: string | undefined, defaultSeconds: number): string {
  return new Date(taskNotAfter ? Date.parse(taskNotAfter) : Date.parse(sendAt) + defaultSeconds * 1000).toISOString();
}

/** A history entry that records a change of state (callbacks go out for these), not a note such as a deferral. */
export const isStateChange = (h: HistoryEntry) => h.from !== null && h.from !== h.to;

/** What PATCH may change: only a step nothing of which has been claimed. */
export const canPatch = (s: Pick<Step, 'status'>) => s.status === 'SCHEDULED';

/**
 * Every step not yet claimed takes its deadline again from the task's (new) notAfter, else its
 * (new) sendAt plus the window (PATCH); a claimed step keeps the deadline it was sent under.
 */
export function redateUnsent(steps: Step[], taskNotAfter: string | undefined, defaultSeconds: number): void {
  for (const s of steps) if (canPatch(s)) s.notAfter = stepDeadline(s.sendAt, taskNotAfter, defaultSeconds);
}

/** Is `at` (epoch ms) past the step's deadline? A step without one never is; its deadline itself is not. */
export const pastDeadline = (step: Pick<Step, 'notAfter'>, at: number) => !!step.notAfter && at > Date.parse(step.notAfter);

/**
 * Would a step due at `sendAt` (epoch ms) miss `deadline`? Only a step not yet claimed can, and it
 * must be due strictly before it (a PATCH that breaks this is refused).
 */
export const missesDeadline = (step: Pick<Step, 'status'>, sendAt: number, deadline: number) => canPatch(step) && sendAt >= deadline;

/** Margin kept before a permit's lease ends: no connect retry starts after it. */
const PERMIT_MARGIN_MS = 1_000;

/**
 * Until when a claimed call's connect retries may go on: while its place in flight (the flow
 * limiter's lease, `permitLease` epoch ms) is surely still held, and never past the step's deadline.
 */
export const retriesUntil = (step: Pick<Step, 'notAfter'>, permitLease: number) =>
  Math.min(permitLease - PERMIT_MARGIN_MS, step.notAfter ? Date.parse(step.notAfter) : Number.POSITIVE_INFINITY);

/** How early a deferred step's firing may come (clock skew between hosts; schedulers fire at or after). */
const RETRY_EARLY_MS = 250;

export type DispatchDecision = { kind: 'wait'; reason: string } | { kind: 'expire' } | { kind: 'lost' } | { kind: 'send' };

/**
 * What a firing of a step's schedule may do, from the step alone (pure):
 * - send: claim the step's next vendor call (a SCHEDULED step that is due, or a step sent in
 *   batches whose dispatcher deferred the rest or died between two calls);
 * - expire: its deadline passed before it reached the vendor: FAILED qunfa.expired, nothing sent;
 * - lost: the dispatcher that claimed a call died (lease over): that call may have reached the
 *   vendor, so it is UNKNOWN and never re-sent;
 * - wait: not yet (early, deferred, or being sent), or nothing left to send.
 */
export function dispatchDecision(step: Step, now: number, o: { leaseMs: number; earlyMs: number }): DispatchDecision {
  const due = (iso: string | undefined) => !iso || Date.parse(iso) - now <= o.earlyMs;
  // A deferral's time is when room is expected: a firing before it would only be deferred again.
  const retryDue = (iso: string | undefined) => !iso || Date.parse(iso) - now <= RETRY_EARLY_MS;
  const expired = pastDeadline(step, now);
  const leaseOver = !!step.claimedAt && now - Date.parse(step.claimedAt) > o.leaseMs;
  if (step.status === 'SCHEDULED') {
    if (!due(step.sendAt)) return { kind: 'wait', reason: 'not yet due' };
    if (expired) return { kind: 'expire' };
    if (!retryDue(step.nextAttemptAt)) return { kind: 'wait', reason: `deferred until ${step.nextAttemptAt}` };
    return { kind: 'send' };
  }
  if (step.status !== 'DISPATCHING') return { kind: 'wait', reason: `step is ${step.status}` };
  const sending = step.batches?.some((b) => b.status === 'SENDING') ?? true;
  if (sending) return leaseOver ? { kind: 'lost' } : { kind: 'wait', reason: 'being sent' };
  // Between two batches: deferred (nextAttemptAt), or its dispatcher died between two calls.
  if (step.nextAttemptAt ? !retryDue(step.nextAttemptAt) : !leaseOver)
    return { kind: 'wait', reason: step.nextAttemptAt ? `deferred until ${step.nextAttemptAt}` : 'being sent' };
  return expired ? { kind: 'expire' } : { kind: 'send' };
}

/** Deferral notes kept per step before later ones replace the last (a long wait stays small). */
const DEFERRALS_KEPT = 10;

/**
 * Notes that a step waits for room (no state change): when it will be tried next and why, in its
 * history. After DEFERRALS_KEPT notes the last one is rewritten, so the item stays small.
 */
export function noteDeferral(task: Task, index: number, cause: string, nextAttemptAt: Date, now = new Date(), from?: StepState): void {
  const step = task.steps[index];
  if (!step) throw new Error(`task ${task.id} has no step ${index}`);
  const at = now.toISOString();
  const deferrals = (step.deferrals ?? 0) + 1;
  Object.assign(step, { nextAttemptAt: nextAttemptAt.toISOString(), deferrals, rev: (step.rev ?? 0) + 1, updatedAt: at });
  const entry: HistoryEntry = {
    at,
    step: index,
    from: from ?? step.status,
    to: step.status,
    cause: `deferred (${deferrals}): ${cause}; next try at ${nextAttemptAt.toISOString()}`,
  };
  const last = task.history.at(-1);
  if (deferrals > DEFERRALS_KEPT && last && last.step === index && last.from === last.to && entry.from === entry.to)
    task.history[task.history.length - 1] = entry;
  else task.history.push(entry);
  task.status = aggregate(task.steps);
  task.updatedAt = at;
}

/** Which vendor call of a step a claim took: the step itself (one call) or one of its batches. */
export type CallClaim = { batch?: number };

/**
 * Claims the step's next vendor call, if the decision allows (mutating `task`): a SCHEDULED step
 * becomes DISPATCHING (with its batches, the first SENDING, when it goes out in several calls);
 * a step between batches marks its next PENDING batch SENDING. The lease starts now.
 */
export function claimNextCall(task: Task, index: number, batches: readonly { size: number; senders?: number }[], now: Date): CallClaim | undefined {
  const step = task.steps[index] as Step;
  const at = now.toISOString();
  if (step.status === 'SCHEDULED') {
    const many = batches.length > 1;
    moveStep(
      task,
      index,
      'DISPATCHING',
      'claimed by a dispatcher',
      {
        claimedAt: at,
        attempts: (step.attempts ?? 0) + 1,
        ...(many ? { batches: batches.map((b, i): Batch => ({ index: i, ...b, status: i === 0 ? 'SENDING' : 'PENDING' })) } : {}),
      },
      now,
    );
    delete step.nextAttemptAt;
    return many ? { batch: 0 } : {};
  }
  const next = step.batches?.find((b) => b.status === 'PENDING');
  if (step.status !== 'DISPATCHING' || !next) return undefined;
  moveBatch(next, 'SENDING');
  step.claimedAt = at;
  delete step.nextAttemptAt;
  return { batch: next.index };
}

/** Is this claim still the one the store holds (nobody declared it lost meanwhile)? */
export function stillClaimed(task: Task, index: number, claim: CallClaim, claimedAt: string): boolean {
  const step = task.steps[index];
  if (step?.status !== 'DISPATCHING' || step.claimedAt !== claimedAt) return false;
  return claim.batch === undefined ? !step.batches : step.batches?.[claim.batch]?.status === 'SENDING';
}

/**
 * A claimed call whose dispatcher died (its lease is over) may have reached the vendor: UNKNOWN,
 * never re-sent (mutating `task`). A step of one call becomes UNKNOWN qunfa.dispatch_lost; in a step
 * of batches the batch being sent does, and the batches never sent may go at once (the caller gives
 * the step its outcome when none is left: batchesDone). `advice` tells a person where to look.
 */
export function loseClaim(task: Task, index: number, o: { leaseSeconds: number; advice: string }, now = new Date()): void {
  const s = task.steps[index] as Step;
  if (!s.batches) {
    moveStep(
      task,
      index,
      'UNKNOWN',
      `the dispatch that claimed this step did not finish; the vendor may have received it, so it is not re-sent. ${o.advice}`,
      {
        error: { code: 'qunfa.dispatch_lost', message: `no outcome recorded within ${o.leaseSeconds} s of the claim` },
      },
      now,
    );
    return;
  }
  for (const b of s.batches) {
    if (b.status === 'SENDING') moveBatch(b, 'UNKNOWN', { error: { code: 'qunfa.dispatch_lost', message: 'the dispatcher died while sending this batch' } });
  }
  // Nobody is sending now: the batches left go out at once.
  s.nextAttemptAt = now.toISOString();
}

/**
 * The claimer gives a vendor call back unsent: allowed only to the claimer, and only when the
 * vendor provably did not accept the request (it throttled, or no connection was made). A step of
 * one call returns to SCHEDULED; a batch returns to PENDING. Either waits for `nextAttemptAt`.
 * This is not an event transition: canMove never allows DISPATCHING → SCHEDULED.
 */
export function releaseUnsent(task: Task, index: number, claim: CallClaim, cause: string, nextAttemptAt: Date, now = new Date()): void {
  const step = task.steps[index] as Step;
  if (claim.batch === undefined) {
    step.status = 'SCHEDULED';
    delete step.claimedAt;
    noteDeferral(task, index, `not sent: ${cause}`, nextAttemptAt, now, 'DISPATCHING');
    return;
  }
  const b = step.batches?.[claim.batch];
  if (b) moveBatch(b, 'PENDING');
  noteDeferral(task, index, `batch ${claim.batch} not sent: ${cause}`, nextAttemptAt, now);
}

/**
 * A step that cannot be sent at all (no usable credentials for its vendor): FAILED with the error,
 * if nothing of it has been claimed (mutating `task`); a claimed step is left to its claimer.
 */
export function refuseUnsent(task: Task, index: number, err: { code: string; message: string }, now = new Date()): true | undefined {
  if (task.steps[index]?.status !== 'SCHEDULED') return undefined;
  moveStep(task, index, 'FAILED', `${task.vendor} refused: ${err.code} ${err.message}`, { error: { code: err.code, message: err.message } }, now);
  return true;
}

/** A step that can no longer reach the vendor in time: FAILED qunfa.expired (its unsent batches too). */
export function expireStep(task: Task, index: number, now = new Date()): void {
  const step = task.steps[index] as Step;
  const message = `not sent: its notAfter (${step.notAfter}) passed before it could reach ${task.vendor}`;
  if (step.status === 'SCHEDULED') {
    moveStep(task, index, 'FAILED', message, { error: { code: 'qunfa.expired', message } }, now);
    delete step.nextAttemptAt;
    return;
  }
  for (const b of step.batches ?? []) if (b.status === 'PENDING') moveBatch(b, 'FAILED', { error: { code: 'qunfa.expired', message } });
  delete step.nextAttemptAt;
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

const DAY_MS = 86_400_000;

/** The limits from the deployment's settings and the vendor's documented horizon (days; none if 0 or absent). */
export function pollLimits(maxPolls: number, maxAgeSeconds: number, resultHorizonDays?: number): PollLimits {
  return { maxPolls, maxAgeMs: maxAgeSeconds * 1000, ...(resultHorizonDays ? { vendorHorizonMs: resultHorizonDays * DAY_MS } : {}) };
}

/** When qunfa started following a step (its age counts from here): its submit, else its last change. */
export const followedSince = (step: Pick<Step, 'submittedAt' | 'updatedAt'>) => Date.parse(step.submittedAt ?? step.updatedAt);

/** The vendor tasks a step is followed by: its own, or (sent in batches) each batch the vendor accepted. */
export function followedVendorTaskIds(step: Pick<Step, 'batches' | 'vendorTaskId'>): string[] {
  return step.batches
    ? step.batches.filter((b) => b.status === 'SUBMITTED' && b.vendorTaskId).map((b) => b.vendorTaskId as string)
    : step.vendorTaskId
      ? [step.vendorTaskId]
      : [];
}

export interface PollCutoff {
  /** `qunfa.result_horizon`: the vendor stops updating results; `qunfa.poll_limit`: qunfa stops asking. */
  code: 'qunfa.result_horizon' | 'qunfa.poll_limit';
  why: string;
}

const days = (ms: number) => `${Math.round((ms / DAY_MS) * 100) / 100} days`;

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
  last: { stats?: DeliveryStats; waitingFor?: string[] },
  cut: PollCutoff,
  vendor: string,
  lastError?: string,
): { state: 'COMPLETED' | 'FAILED'; error?: { code: string; message: string }; cause: string } {
  const waiting = last.waitingFor?.length ? `; never confirmed by ${namedList(last.waitingFor)}` : '';
  const cause = `qunfa stopped following this step: ${cut.why}${lastError ? ` (the last ask failed: ${lastError})` : ''}; figures are final as of now${waiting}`;
  const sent = last.stats?.sent;
  if (sent !== undefined && sent > 0) return { state: 'COMPLETED', cause };
  const figures =
    sent === undefined ? `${vendor} reported no figures, so nothing is known to have been sent` : `${vendor} reported nothing sent (staff never confirmed)`;
  return { state: 'FAILED', error: { code: cut.code, message: `${cut.why}, and ${figures}` }, cause };
}

/** What a poll learnt of a step, in qunfa's terms. */
export interface PolledStatus {
  state: ReportedState;
  stats?: DeliveryStats;
  error?: { code: string; message: string };
  /** The staff the vendor still waits for (they have not confirmed), where it says. */
  waitingFor?: string[];
}

/** Up to ten names, then how many more: history entries stay short. */
const namedList = (names: string[]) => (names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', '));

/** The last thing known of a step whose last poll failed: its own state (a polled step is SUBMITTED or RUNNING) and figures. */
export const lastKnown = (step: Pick<Step, 'status' | 'stats'>): PolledStatus => ({
  state: step.status as ReportedState,
  ...(step.stats ? { stats: step.stats } : {}),
});

/**
 * What a poll records: the vendor's answer as it is, unless this was the last poll (`cut`) and the
 * answer is not final: then the final state qunfa gives the step (stoppedFollowing) and why.
 */
export function polledOutcome(status: PolledStatus, cut: PollCutoff | undefined, vendor: string, lastError?: string): { status: PolledStatus; cause: string } {
  if (isFinal(status.state) || !cut) return { status, cause: `${vendor} reports ${status.state.toLowerCase()}` };
  const end = stoppedFollowing(status, cut, vendor, lastError);
  return { status: { ...status, state: end.state, ...(end.error ? { error: end.error } : {}) }, cause: end.cause };
}

// ---- callbacks to the caller: one delivery per task at a time (a lease), retried for a while ----

/** Does a delivery hold the task's callback lease at `now` (epoch ms)? Then nobody else delivers. */
export const callbackLeaseHeld = (leaseUntil: number, now: number) => leaseUntil > now;

/** When a callback lease taken at `now` ends (epoch ms); a delivery that dies holding it is taken over after. */
export const callbackLeaseUntil = (now: number, leaseSeconds: number) => now + leaseSeconds * 1000;

/** Is a change that happened at `occurredAt` past its retry window (its callback is then abandoned)? */
export const callbackAbandoned = (occurredAt: string, now: number, giveUpSeconds: number) => now - Date.parse(occurredAt) > giveUpSeconds * 1000;

// ---- the sweeper's watch: by when each piece of waiting work must have happened ----

/** What a task item keeps for the watch (never shown by the API). */
export interface WatchState {
  /** Per step index: the next status poll's number and time (epoch ms), as scheduled. */
  nextPolls?: Record<string, { n: number; at: number }>;
  /** The history length up to which the sweeper found every callback delivered. */
  callbacksSweptThrough?: number;
}

export interface WatchRules {
  /** How late work may be before it counts as lost (schedulers fire late; retries take a while). */
  graceMs: number;
  /** DISPATCH_LEASE_SECONDS: a claim older than this belongs to a dispatcher that died. */
  leaseMs: number;
  /** The first status poll comes this long after a submit (STATUS_POLL_INTERVALS[0]). */
  firstPollMs: number;
  /** Is this vendor's progress learnt by polling (so a submitted step must be polled)? */
  polled: (vendor: string) => boolean;
  /** CALLBACK_GIVE_UP_SECONDS: past it a change's callback is abandoned, so no longer watched. */
  callbackGiveUpMs: number;
}

export type WatchedWork = { kind: 'dispatch'; step: number } | { kind: 'poll'; step: number; n: number } | { kind: 'callback' };

/** One piece of work the task waits for, and the moment after which it is overdue (epoch ms). */
export interface WatchTerm {
  at: number;
  work: WatchedWork;
  /** Past this moment the work is pointless (a callback past its retry window): no longer repaired or watched. */
  until?: number;
}

/** Where a task's callback delivery stands (its CB# item), when the caller has read it. */
export interface CallbackProgress {
  cursor: number;
  leaseUntil: number;
  retryAt?: number;
}

type Watched = Pick<Task, 'vendor' | 'steps' | 'history' | 'callbackUrl'> & WatchState;

/**
 * Every piece of work a task waits for and when it is overdue (pure). A step SCHEDULED must have
 * been claimed by its time (or its deferral's) plus the grace; a claimed step must have ended by
 * its lease; a submitted step of a polled vendor must have been asked by its next poll; callbacks
 * must have been delivered, or be waiting for a lease or a scheduled retry. Without `callbacks`
 * (a worker writing the task), a state change not yet seen delivered counts from its time.
 */
export function watchTerms(task: Watched, rules: WatchRules, callbacks?: CallbackProgress): WatchTerm[] {
  const terms: WatchTerm[] = [];
  const g = rules.graceMs;
  for (const s of task.steps) {
    if (s.status === 'SCHEDULED') terms.push({ at: Date.parse(s.nextAttemptAt ?? s.sendAt) + g, work: { kind: 'dispatch', step: s.index } });
    else if (s.status === 'DISPATCHING') {
      const by = s.nextAttemptAt ? Date.parse(s.nextAttemptAt) : Date.parse(s.claimedAt ?? s.updatedAt) + rules.leaseMs;
      terms.push({ at: by + g, work: { kind: 'dispatch', step: s.index } });
    } else if ((s.status === 'SUBMITTED' || s.status === 'RUNNING') && rules.polled(task.vendor) && followedVendorTaskIds(s).length) {
      // Without a noted poll (a task from before the watch), the count of polls made stands in for the chain's number.
      const next = task.nextPolls?.[String(s.index)] ?? { n: s.polls ?? 0, at: followedSince(s) + rules.firstPollMs };
      terms.push({ at: next.at + g, work: { kind: 'poll', step: s.index, n: next.n } });
    }
  }
  const cb = callbackTerm(task, g, rules.callbackGiveUpMs, callbacks);
  if (cb) terms.push(cb);
  return terms;
}

function callbackTerm(task: Watched, graceMs: number, giveUpMs: number, cb: CallbackProgress | undefined): WatchTerm | undefined {
  if (!task.callbackUrl) return undefined;
  let last = task.history.length - 1;
  while (last >= 0 && !isStateChange(task.history[last] as HistoryEntry)) last--;
  if (last < 0 || last < (task.callbacksSweptThrough ?? 0)) return undefined;
  if (cb && cb.cursor > last) return undefined; // all delivered (or abandoned)
  // Due after the change, after a delivery's lease (its backstop fires then), after a scheduled retry.
  const changedAt = Date.parse((task.history[last] as HistoryEntry).at);
  const by = Math.max(changedAt, cb?.leaseUntil ?? 0, cb?.retryAt ?? 0);
  // A delivery that never makes progress (its tenant gone) is not tried for ever: only within the retry window.
  return { at: by + graceMs, work: { kind: 'callback' }, until: changedAt + giveUpMs + graceMs };
}

/** When the task must next have moved (epoch ms), or undefined when it waits on nothing. */
export const nextWatchAt = (terms: readonly WatchTerm[]): number | undefined => (terms.length ? Math.min(...terms.map((t) => t.at)) : undefined);

/**
 * What the sweeper does with a task found overdue at `now`: the work to put back on its path, and
 * the task's next watch time (the overdue work is given the grace again to show progress).
 */
export function sweepDecision(terms: readonly WatchTerm[], now: number, graceMs: number): { overdue: WatchedWork[]; watchAt: number | undefined } {
  const live = terms.filter((t) => t.until === undefined || t.until >= now);
  const overdue = live.filter((t) => t.at <= now).map((t) => t.work);
  const later = live.filter((t) => t.at > now).map((t) => t.at);
  if (overdue.length) later.push(now + graceMs);
  return { overdue, watchAt: later.length ? Math.min(...later) : undefined };
}
