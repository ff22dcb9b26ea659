import { describe, expect, it } from 'vitest';
import { STEP_STATES, type Batch, type HistoryEntry, type Step, type StepState, type Task } from '../lib/core/task';
import {
  aggregate,
  allFinal,
  batchesDone,
  batchesOutcome,
  callbackAbandoned,
  callbackLeaseHeld,
  callbackLeaseUntil,
  cancelAction,
  cancelledAtVendor,
  cancelsHere,
  cancelUnsent,
  canMove,
  canMoveBatch,
  canPatch,
  claimNextCall,
  combinedState,
  dispatchDecision,
  expireStep,
  followedSince,
  followedVendorTaskIds,
  IllegalBatchTransition,
  IllegalTransition,
  isBatchFinal,
  isFinal,
  isStateChange,
  lastKnown,
  loseClaim,
  missesDeadline,
  moveBatch,
  moveStep,
  noteDeferral,
  nothingCancelled,
  pastDeadline,
  pollCutoff,
  polledOutcome,
  pollLimits,
  redateUnsent,
  refuseUnsent,
  releaseUnsent,
  retriesUntil,
  stateAfterError,
  stepDeadline,
  stillClaimed,
  stoppedFollowing,
  type BatchState,
  type CallClaim,
  type PollLimits,
  type ReportedState,
  remindTargets,
  nothingToRemind,
  remindedAtVendor,
  sweepDecision,
  watchTerms,
  type WatchRules,
} from '../lib/core/states';

const task = (...states: StepState[]): Task => ({
  id: 'tsk_1',
  vendor: 'weiban',
  name: 'n',
  status: 'SCHEDULED',
  audience: { kind: 'groups', senders: ['s'] },
  steps: states.map((status, index) => ({ index, sendAt: '', content: { text: 't' }, status, updatedAt: '' })),
  createdAt: '',
  updatedAt: '',
  history: [],
});

describe('step state machine', () => {
  it('final states have no way out', () => {
    for (const from of ['COMPLETED', 'FAILED', 'CANCELLED'] as const) {
      for (const to of STEP_STATES) expect(canMove(from, to)).toBe(false);
    }
  });

  it('nothing moves back to SCHEDULED or DISPATCHING, and UNKNOWN is never re-dispatched', () => {
    for (const from of STEP_STATES) {
      expect(canMove(from, 'SCHEDULED')).toBe(false);
      if (from !== 'SCHEDULED') expect(canMove(from, 'DISPATCHING')).toBe(false);
    }
    expect(canMove('RUNNING', 'SUBMITTED')).toBe(false);
    expect(canMove('SCHEDULED', 'SUBMITTED')).toBe(false); // only through a claim
  });

  it('a cancel is possible before sending and at a vendor, not mid-dispatch', () => {
    expect(canMove('SCHEDULED', 'CANCELLED')).toBe(true);
    expect(canMove('SUBMITTED', 'CANCELLED')).toBe(true);
    expect(canMove('DISPATCHING', 'CANCELLED')).toBe(false);
  });

  it('moveStep records history with cause and refuses an illegal move', () => {
    const t = task('SCHEDULED');
    moveStep(t, 0, 'DISPATCHING', 'claimed');
    moveStep(t, 0, 'SUBMITTED', 'accepted', { vendorTaskId: '42' });
    expect(t.history.map((h) => [h.from, h.to, h.cause])).toEqual([
      ['SCHEDULED', 'DISPATCHING', 'claimed'],
      ['DISPATCHING', 'SUBMITTED', 'accepted'],
    ]);
    expect(t.steps[0]?.vendorTaskId).toBe('42');
    expect(t.status).toBe('SUBMITTED');
    expect(() => moveStep(t, 0, 'SCHEDULED', 'late event')).toThrow(IllegalTransition);
    expect(t.history).toHaveLength(2);
  });

  it.each<[StepState[], StepState]>([
    [['SCHEDULED'], 'SCHEDULED'],
    [['COMPLETED', 'SCHEDULED'], 'SCHEDULED'],
    [['SUBMITTED', 'SCHEDULED'], 'SUBMITTED'],
    [['COMPLETED', 'UNKNOWN', 'SCHEDULED'], 'UNKNOWN'],
    [['COMPLETED', 'CANCELLED'], 'COMPLETED'],
    [['COMPLETED', 'FAILED'], 'FAILED'],
    [['CANCELLED', 'CANCELLED'], 'CANCELLED'],
  ])('aggregate of %j is %s', (states, expected) => {
    expect(aggregate(states.map((status) => ({ status })))).toBe(expected);
  });

  it('isFinal', () => {
    expect(STEP_STATES.filter(isFinal)).toEqual(['COMPLETED', 'FAILED', 'CANCELLED']);
  });

  it('allFinal: a task is over only when every step is final (what the store gives a TTL)', () => {
    for (const s of STEP_STATES) {
      expect(allFinal([{ status: 'COMPLETED' }, { status: s }])).toBe(isFinal(s));
    }
    expect(allFinal([{ status: 'FAILED' }, { status: 'CANCELLED' }])).toBe(true);
  });

  it.each<[ReportedState[], ReportedState]>([
    [['SUBMITTED', 'SUBMITTED'], 'SUBMITTED'],
    [['SUBMITTED', 'RUNNING'], 'RUNNING'],
    [['SUBMITTED', 'COMPLETED'], 'RUNNING'], // one finished, one not yet started: under way
    [['FAILED', 'SUBMITTED'], 'SUBMITTED'],
    [['CANCELLED', 'RUNNING'], 'RUNNING'],
    [['COMPLETED', 'FAILED'], 'COMPLETED'], // final: any completed is COMPLETED (unlike a task's steps)
    [['FAILED', 'CANCELLED'], 'FAILED'],
    [['CANCELLED', 'CANCELLED'], 'CANCELLED'],
    [['COMPLETED'], 'COMPLETED'],
  ])('batches reported %j combine to %s', (states, expected) => {
    expect(combinedState(states)).toBe(expected);
  });
});

describe("cancel (what the caller's cancel does to each step)", () => {
  const able = { id: 'youmi', displayName: 'YouMi', canCancel: true };
  const unable = { id: 'weiban', displayName: 'Weiban', canCancel: false };
  const s = (status: StepState, vendorTaskId?: string) => ({ index: 2, status, ...(vendorTaskId ? { vendorTaskId } : {}) });

  it('only a step nothing of which was claimed is cancelled here', () => {
    expect(STEP_STATES.filter((status) => cancelsHere({ status }))).toEqual(['SCHEDULED']);
    expect(cancelAction(s('SCHEDULED'), unable)).toEqual({ kind: 'here' });
  });

  it('a final step has nothing to cancel; one being sent cannot be cancelled mid-call', () => {
    for (const status of ['COMPLETED', 'FAILED', 'CANCELLED'] as const) expect(cancelAction(s(status, 'v'), able)).toEqual({ kind: 'none' });
    expect(cancelAction(s('DISPATCHING', 'v'), able)).toEqual({ kind: 'refused', reason: 'step 2 is being sent to youmi right now' });
  });

  it('a step at the vendor is cancelled there only where the vendor can, and only with its id', () => {
    for (const status of ['SUBMITTED', 'RUNNING', 'UNKNOWN'] as const) {
      expect(cancelAction(s(status, 'v9'), able)).toEqual({ kind: 'at-vendor', vendorTaskIds: ['v9'] });
      expect(cancelAction(s(status, 'v9'), unable)).toEqual({
        kind: 'refused',
        reason: `step 2 is already at weiban (${status}), and Weiban cannot cancel a task it has accepted`,
      });
    }
    expect(cancelAction(s('UNKNOWN'), able)).toEqual({ kind: 'refused', reason: 'step 2 is UNKNOWN with no youmi task id to cancel' });
  });

  it('cancelUnsent: every SCHEDULED step, and only those, becomes CANCELLED with its cause', () => {
    const t = task('SUBMITTED', 'SCHEDULED', 'SCHEDULED');
    expect(cancelUnsent(t, new Date('2026-12-01T00:00:00Z'))).toEqual([1, 2]);
    expect(t.steps.map((x) => x.status)).toEqual(['SUBMITTED', 'CANCELLED', 'CANCELLED']);
    expect(t.history.map((h) => [h.step, h.from, h.to, h.cause])).toEqual([
      [1, 'SCHEDULED', 'CANCELLED', 'cancelled by the caller before it was sent'],
      [2, 'SCHEDULED', 'CANCELLED', 'cancelled by the caller before it was sent'],
    ]);
    expect(t.status).toBe('SUBMITTED');
    expect(cancelUnsent(t)).toEqual([]);
  });

  it('cancelledAtVendor: CANCELLED unless the step moved on meanwhile to a final state', () => {
    const t = task('RUNNING', 'COMPLETED');
    expect(cancelledAtVendor(t, 0)).toBe(true);
    expect(t.steps[0]?.status).toBe('CANCELLED');
    expect(t.history.at(-1)?.cause).toBe('cancelled at weiban by the caller');
    expect(cancelledAtVendor(t, 1)).toBeUndefined();
    expect(cancelledAtVendor(t, 7)).toBeUndefined();
    expect(t.history).toHaveLength(1);
  });

  it("a cancel that cancelled nothing says why: the task is over, or each step's reason", () => {
    expect(nothingCancelled({ status: 'COMPLETED', steps: [{ status: 'COMPLETED' } as Step] }, ['x'])).toBe(
      'the task is already COMPLETED; there is nothing left to cancel',
    );
    expect(nothingCancelled({ status: 'RUNNING', steps: [{ status: 'RUNNING' } as Step] }, ['a', 'b'])).toBe('nothing could be cancelled: a; b');
  });
});

describe('batch state machine (a step sent as several vendor calls)', () => {
  const BATCH_STATES: BatchState[] = ['PENDING', 'SENDING', 'SUBMITTED', 'FAILED', 'UNKNOWN'];
  const allowed = (from: BatchState) => BATCH_STATES.filter((to) => canMoveBatch(from, to));

  it('each batch is sent at most once: SUBMITTED, FAILED and UNKNOWN are final, and nothing returns to SENDING but a PENDING batch', () => {
    expect(BATCH_STATES.filter(isBatchFinal)).toEqual(['SUBMITTED', 'FAILED', 'UNKNOWN']);
    for (const from of ['SUBMITTED', 'FAILED', 'UNKNOWN'] as const) expect(allowed(from)).toEqual([]);
    expect(allowed('PENDING')).toEqual(['SENDING', 'FAILED']); // FAILED: expired before it was sent
    expect(allowed('SENDING')).toEqual(['PENDING', 'SUBMITTED', 'FAILED', 'UNKNOWN']); // PENDING: given back provably unsent
    expect(BATCH_STATES.filter((from) => canMoveBatch(from, 'SENDING'))).toEqual(['PENDING']);
  });

  it('moveBatch records the move with what goes with it, and refuses an illegal one', () => {
    const b: Batch = { index: 0, size: 3, status: 'PENDING' };
    moveBatch(b, 'SENDING');
    moveBatch(b, 'SUBMITTED', { vendorTaskId: 'v1' });
    expect(b).toEqual({ index: 0, size: 3, status: 'SUBMITTED', vendorTaskId: 'v1' });
    expect(() => moveBatch(b, 'SENDING')).toThrow(IllegalBatchTransition);
    expect(() => moveBatch({ index: 1, size: 1, status: 'UNKNOWN' }, 'PENDING')).toThrow(IllegalBatchTransition);
    expect(() => moveBatch({ index: 1, size: 1, status: 'PENDING' }, 'UNKNOWN')).toThrow(IllegalBatchTransition);
  });

  const bs = (...states: BatchState[]) => states.map((status, index) => ({ index, size: 1, status }));

  it('the step has its outcome once no batch is PENDING or SENDING', () => {
    expect(batchesDone(bs('SUBMITTED', 'FAILED', 'UNKNOWN'))).toBe(true);
    expect(batchesDone(bs('SUBMITTED', 'PENDING'))).toBe(false);
    expect(batchesDone(bs('SENDING', 'SUBMITTED'))).toBe(false);
  });

  it.each<[BatchState[], string]>([
    [['SUBMITTED', 'SUBMITTED'], 'SUBMITTED'],
    [['SUBMITTED', 'FAILED'], 'SUBMITTED'], // partly refused: qunfa.partial, still SUBMITTED
    [['FAILED', 'FAILED'], 'FAILED'],
    [['SUBMITTED', 'UNKNOWN'], 'UNKNOWN'],
    [['FAILED', 'UNKNOWN'], 'UNKNOWN'],
  ])('batches ending %j make the step %s', (states, expected) => {
    expect(batchesOutcome(bs(...states))).toBe(expected);
  });

  it('a call that may have reached the vendor is UNKNOWN, one it refused is FAILED', () => {
    expect(stateAfterError('ambiguous')).toBe('UNKNOWN');
    expect(stateAfterError('refused')).toBe('FAILED');
  });
});

describe('flow-control rules (pure: no store, no clock but the one given)', () => {
  const T = Date.parse('2026-12-01T02:00:00.000Z');
  const iso = (ms: number) => new Date(T + ms).toISOString();
  const o = { leaseMs: 90_000, earlyMs: 5_000 };
  const step = (over: Partial<Step> = {}): Step => ({
    index: 0,
    sendAt: iso(0),
    content: { text: 't' },
    status: 'SCHEDULED',
    notAfter: iso(3_600_000),
    updatedAt: iso(0),
    ...over,
  });

  it('a SCHEDULED step: early → wait; due → send; deferred → wait until its next attempt; past notAfter → expire', () => {
    expect(dispatchDecision(step(), T - 10_000, o)).toEqual({ kind: 'wait', reason: 'not yet due' });
    expect(dispatchDecision(step(), T - 4_000, o)).toEqual({ kind: 'send' });
    expect(dispatchDecision(step({ nextAttemptAt: iso(60_000) }), T + 59_000, o).kind).toBe('wait');
    expect(dispatchDecision(step({ nextAttemptAt: iso(60_000) }), T + 60_000, o).kind).toBe('send');
    expect(dispatchDecision(step({ notAfter: iso(1_000) }), T + 1_001, o)).toEqual({ kind: 'expire' });
    // A schedule that fires long after notAfter (an outage) still only expires it.
    expect(dispatchDecision(step({ notAfter: iso(1_000), nextAttemptAt: iso(500) }), T + 86_400_000, o)).toEqual({ kind: 'expire' });
  });

  it('a claimed step: being sent → wait; lease over → lost; between batches → send only when deferred time came or its dispatcher is gone', () => {
    const claimed = step({ status: 'DISPATCHING', claimedAt: iso(0) });
    expect(dispatchDecision(claimed, T + 10_000, o).kind).toBe('wait');
    expect(dispatchDecision(claimed, T + 91_000, o)).toEqual({ kind: 'lost' });
    const between = step({
      status: 'DISPATCHING',
      claimedAt: iso(0),
      batches: [
        { index: 0, size: 1, status: 'SUBMITTED' },
        { index: 1, size: 1, status: 'PENDING' },
      ],
    });
    expect(dispatchDecision(between, T + 10_000, o).kind).toBe('wait');
    expect(dispatchDecision(between, T + 91_000, o)).toEqual({ kind: 'send' });
    expect(dispatchDecision({ ...between, nextAttemptAt: iso(20_000) }, T + 20_000, o)).toEqual({ kind: 'send' });
    expect(dispatchDecision({ ...between, nextAttemptAt: iso(20_000), notAfter: iso(15_000) }, T + 20_000, o)).toEqual({ kind: 'expire' });
    for (const status of ['SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'UNKNOWN'] as const) {
      expect(dispatchDecision(step({ status }), T + 10_000_000, o).kind).toBe('wait');
    }
  });

  it('a claim given back unsent returns the step to SCHEDULED with its next attempt; events can never do that', () => {
    const t = task('SCHEDULED');
    const claim = claimNextCall(t, 0, [{ size: 1 }], new Date(T));
    expect(claim).toEqual({});
    expect(stillClaimed(t, 0, claim as CallClaim, iso(0))).toBe(true);
    releaseUnsent(t, 0, claim as CallClaim, 'weiban throttled the call', new Date(T + 60_000), new Date(T + 100));
    expect(t.steps[0]).toMatchObject({ status: 'SCHEDULED', nextAttemptAt: iso(60_000), deferrals: 1, rev: 1 });
    expect(t.history.at(-1)).toMatchObject({ from: 'DISPATCHING', to: 'SCHEDULED' });
    expect(isStateChange(t.history.at(-1) as HistoryEntry)).toBe(true);
    expect(canMove('DISPATCHING', 'SCHEDULED')).toBe(false);
  });

  it('a lost claim (dispatch lease over): a step of one call is UNKNOWN qunfa.dispatch_lost, never re-sent', () => {
    const t = task('SCHEDULED');
    claimNextCall(t, 0, [{ size: 1 }], new Date(T));
    loseClaim(t, 0, { leaseSeconds: 90, advice: 'look in the console' }, new Date(T + 91_000));
    expect(t.steps[0]).toMatchObject({ status: 'UNKNOWN', error: { code: 'qunfa.dispatch_lost', message: 'no outcome recorded within 90 s of the claim' } });
    expect(t.history.at(-1)).toMatchObject({
      from: 'DISPATCHING',
      to: 'UNKNOWN',
      at: iso(91_000),
      cause: 'the dispatch that claimed this step did not finish; the vendor may have received it, so it is not re-sent. look in the console',
    });
    expect(t.status).toBe('UNKNOWN');
  });

  it('a lost claim in a step of batches: the batch being sent is UNKNOWN, the unsent ones may go at once', () => {
    const t = task('SCHEDULED');
    claimNextCall(t, 0, [{ size: 10 }, { size: 10 }, { size: 5 }], new Date(T));
    loseClaim(t, 0, { leaseSeconds: 90, advice: '' }, new Date(T + 91_000));
    const s = t.steps[0] as Step;
    expect(s.status).toBe('DISPATCHING');
    expect(s.batches?.map((b) => b.status)).toEqual(['UNKNOWN', 'PENDING', 'PENDING']);
    expect(s.batches?.[0]?.error).toEqual({ code: 'qunfa.dispatch_lost', message: 'the dispatcher died while sending this batch' });
    expect(s.nextAttemptAt).toBe(iso(91_000));
    expect(dispatchDecision(s, T + 91_000, o)).toEqual({ kind: 'send' });
  });

  it('a batch given back unsent is PENDING again and is the next one claimed', () => {
    const t = task('SCHEDULED');
    const shapes = [{ size: 10 }, { size: 10 }];
    const claim = claimNextCall(t, 0, shapes, new Date(T)) as CallClaim;
    releaseUnsent(t, 0, claim, 'throttled', new Date(T + 60_000), new Date(T));
    expect(t.steps[0]?.batches?.map((b) => b.status)).toEqual(['PENDING', 'PENDING']);
    expect(claimNextCall(t, 0, shapes, new Date(T + 60_000))).toEqual({ batch: 0 });
  });

  it('a step that cannot be sent at all (no usable credentials) fails only if nothing of it was claimed', () => {
    const t = task('SCHEDULED', 'DISPATCHING');
    const err = { code: 'qunfa.no_credentials', message: 'no weiban credentials for this tenant', kind: 'refused' };
    expect(refuseUnsent(t, 0, err, new Date(T))).toBe(true);
    expect(t.steps[0]).toMatchObject({ status: 'FAILED', error: { code: 'qunfa.no_credentials', message: 'no weiban credentials for this tenant' } });
    expect(t.steps[0]?.error).toEqual({ code: 'qunfa.no_credentials', message: 'no weiban credentials for this tenant' });
    expect(t.history.at(-1)?.cause).toBe('weiban refused: qunfa.no_credentials no weiban credentials for this tenant');
    expect(refuseUnsent(t, 1, err, new Date(T))).toBeUndefined();
    expect(t.steps[1]?.status).toBe('DISPATCHING');
  });

  it('deferral notes stay bounded however long a step waits', () => {
    const t = task('SCHEDULED');
    for (let i = 0; i < 500; i++) noteDeferral(t, 0, 'no room', new Date(T + i * 60_000), new Date(T + i));
    expect(t.steps[0]?.deferrals).toBe(500);
    expect(t.history.length).toBeLessThanOrEqual(10);
    expect(t.history.at(-1)?.cause).toMatch(/^deferred \(500\): no room; next try at /);
    expect(t.history.every((h) => !isStateChange(h))).toBe(true);
  });

  it('batches: the first claim takes batch 0, the next the next PENDING; expiry fails what was never sent', () => {
    const t = task('SCHEDULED');
    expect(claimNextCall(t, 0, [{ size: 10 }, { size: 10 }, { size: 5 }], new Date(T))).toEqual({ batch: 0 });
    expect(t.steps[0]?.batches?.map((b) => b.status)).toEqual(['SENDING', 'PENDING', 'PENDING']);
    (t.steps[0]?.batches?.[0] as { status: string }).status = 'SUBMITTED';
    expect(claimNextCall(t, 0, [{ size: 10 }, { size: 10 }, { size: 5 }], new Date(T + 1))).toEqual({ batch: 1 });
    (t.steps[0]?.batches?.[1] as { status: string }).status = 'SUBMITTED';
    expireStep(t, 0);
    expect(t.steps[0]?.batches?.map((b) => b.status)).toEqual(['SUBMITTED', 'SUBMITTED', 'FAILED']);
    expect(t.steps[0]?.batches?.[2]?.error?.code).toBe('qunfa.expired');
  });

  it('deadlines: the task notAfter if given, else sendAt + the window; only SCHEDULED steps can be changed', () => {
    expect(stepDeadline(iso(0), undefined, 3600)).toBe(iso(3_600_000));
    expect(stepDeadline(iso(0), iso(90_000), 3600)).toBe(iso(90_000));
    expect(STEP_STATES.filter((status) => canPatch({ status }))).toEqual(['SCHEDULED']);
  });

  it('a new notAfter re-dates only the steps not yet claimed', () => {
    const steps = [
      step({ status: 'SUBMITTED', notAfter: iso(1_000) }),
      step({ index: 1, sendAt: iso(60_000), notAfter: iso(2_000) }),
      step({ index: 2, sendAt: iso(120_000), notAfter: iso(3_000) }),
    ];
    redateUnsent(steps, iso(600_000), 3600);
    expect(steps.map((s) => s.notAfter)).toEqual([iso(1_000), iso(600_000), iso(600_000)]);
    redateUnsent(steps, undefined, 3600); // notAfter taken away: each sendAt + the window
    expect(steps.map((s) => s.notAfter)).toEqual([iso(1_000), iso(3_660_000), iso(3_720_000)]);
  });

  it('past the deadline means after it, not at it; a step without one never is', () => {
    expect(pastDeadline({ notAfter: iso(1_000) }, T + 1_000)).toBe(false);
    expect(pastDeadline({ notAfter: iso(1_000) }, T + 1_001)).toBe(true);
    expect(pastDeadline({}, T + 1e12)).toBe(false);
    expect(dispatchDecision(step({ notAfter: iso(1_000) }), T + 1_000, o)).toEqual({ kind: 'send' });
    expect(dispatchDecision(step({ notAfter: iso(1_000) }), T + 1_001, o)).toEqual({ kind: 'expire' });
  });

  it('a step not yet claimed must be due strictly before the deadline; a claimed one is not held to it again', () => {
    expect(missesDeadline({ status: 'SCHEDULED' }, T, T + 1)).toBe(false);
    expect(missesDeadline({ status: 'SCHEDULED' }, T, T)).toBe(true);
    for (const status of STEP_STATES.filter((x) => x !== 'SCHEDULED')) expect(missesDeadline({ status }, T + 10, T)).toBe(false);
  });

  it("connect retries stop a second before the permit's lease ends, or at the step's deadline if sooner", () => {
    expect(retriesUntil({}, T + 30_000)).toBe(T + 29_000);
    expect(retriesUntil({ notAfter: iso(60_000) }, T + 30_000)).toBe(T + 29_000);
    expect(retriesUntil({ notAfter: iso(10_000) }, T + 30_000)).toBe(T + 10_000);
  });
});

describe('when qunfa stops following a step (pollCutoff, stoppedFollowing)', () => {
  const DAY = 86_400_000;
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  const limits: PollLimits = { maxPolls: 100, maxAgeMs: 15 * DAY };

  it('keeps asking below every cap', () => {
    expect(pollCutoff({ n: 1, since: t0, now: t0 + 60_000 }, limits, 'wshoto')).toBeUndefined();
    expect(pollCutoff({ n: 99, since: t0, now: t0 + 15 * DAY }, limits, 'wshoto')).toBeUndefined(); // exactly at the age: not past it
  });

  it('the 100th poll is the last, whatever the age (failed polls are numbered like the others)', () => {
    expect(pollCutoff({ n: 100, since: t0, now: t0 + 1000 }, limits, 'wshoto')).toEqual({
      code: 'qunfa.poll_limit',
      why: 'it was asked 100 times, the most qunfa asks about one step',
    });
    expect(pollCutoff({ n: 250, since: t0, now: t0 + 1000 }, limits, 'wshoto')?.code).toBe('qunfa.poll_limit');
  });

  it('past the maximum age, for a vendor with no horizon of its own', () => {
    expect(pollCutoff({ n: 3, since: t0, now: t0 + 15 * DAY + 1 }, limits, 'wshoto')).toEqual({
      code: 'qunfa.poll_limit',
      why: 'it was submitted more than 15 days ago',
    });
  });

  it("a vendor's own result horizon comes first and is named as the vendor's", () => {
    const weiban = { ...limits, maxAgeMs: 30 * DAY, vendorHorizonMs: 15 * DAY };
    expect(pollCutoff({ n: 3, since: t0, now: t0 + 16 * DAY }, weiban, 'weiban')).toEqual({
      code: 'qunfa.result_horizon',
      why: 'weiban keeps results for 15 days',
    });
    expect(pollCutoff({ n: 3, since: t0, now: t0 + 14 * DAY }, weiban, 'weiban')).toBeUndefined();
  });

  it("limits from the settings and the vendor's horizon in days (none when the vendor documents none)", () => {
    expect(pollLimits(100, 15 * 86_400)).toEqual({ maxPolls: 100, maxAgeMs: 15 * DAY });
    expect(pollLimits(100, 30 * 86_400, 15)).toEqual({ maxPolls: 100, maxAgeMs: 30 * DAY, vendorHorizonMs: 15 * DAY });
    expect(pollLimits(100, 30 * 86_400, 0)).toEqual({ maxPolls: 100, maxAgeMs: 30 * DAY });
  });

  it('a step is followed from its submit (else its last change), by its own vendor task or each batch the vendor accepted', () => {
    expect(followedSince({ submittedAt: '2026-11-01T00:00:00Z', updatedAt: '2026-11-02T00:00:00Z' })).toBe(t0);
    expect(followedSince({ updatedAt: '2026-11-01T00:00:00Z' })).toBe(t0);
    expect(followedVendorTaskIds({ vendorTaskId: 'v' })).toEqual(['v']);
    expect(followedVendorTaskIds({})).toEqual([]);
    expect(
      followedVendorTaskIds({
        vendorTaskId: 'v0',
        batches: [
          { index: 0, size: 1, status: 'SUBMITTED', vendorTaskId: 'v0' },
          { index: 1, size: 1, status: 'FAILED', vendorTaskId: 'v1' },
          { index: 2, size: 1, status: 'UNKNOWN', vendorTaskId: 'v2' },
          { index: 3, size: 1, status: 'SUBMITTED' },
          { index: 4, size: 1, status: 'SUBMITTED', vendorTaskId: 'v4' },
        ],
      }),
    ).toEqual(['v0', 'v4']);
  });

  it("a poll records the vendor's answer as it is, unless it was the last and the answer is not final", () => {
    const cut = { code: 'qunfa.result_horizon' as const, why: 'weiban keeps results for 15 days' };
    expect(polledOutcome({ state: 'RUNNING', stats: { sent: 2 } }, undefined, 'weiban')).toEqual({
      status: { state: 'RUNNING', stats: { sent: 2 } },
      cause: 'weiban reports running',
    });
    expect(polledOutcome({ state: 'FAILED' }, cut, 'weiban')).toEqual({ status: { state: 'FAILED' }, cause: 'weiban reports failed' });
    expect(polledOutcome({ state: 'RUNNING', stats: { sent: 2 } }, cut, 'weiban')).toEqual({
      status: { state: 'COMPLETED', stats: { sent: 2 } },
      cause: 'qunfa stopped following this step: weiban keeps results for 15 days; figures are final as of now',
    });
    const failed = polledOutcome(lastKnown({ status: 'SUBMITTED' }), cut, 'weiban', 'http_502');
    expect(failed.status).toEqual({
      state: 'FAILED',
      error: {
        code: 'qunfa.result_horizon',
        message: 'weiban keeps results for 15 days, and weiban reported no figures, so nothing is known to have been sent',
      },
    });
    expect(failed.cause).toMatch(/\(the last ask failed: http_502\)/);
    expect(lastKnown({ status: 'RUNNING', stats: { sent: 1 } })).toEqual({ state: 'RUNNING', stats: { sent: 1 } });
  });

  it("ends COMPLETED when the last figures show anything sent, else FAILED with the cutoff's code", () => {
    const cut = { code: 'qunfa.poll_limit' as const, why: 'it was asked 100 times, the most qunfa asks about one step' };
    expect(stoppedFollowing({ stats: { planned: 3, sent: 1 } }, cut, 'weiban')).toEqual({
      state: 'COMPLETED',
      cause: 'qunfa stopped following this step: it was asked 100 times, the most qunfa asks about one step; figures are final as of now',
    });
    expect(stoppedFollowing({ stats: { planned: 3, sent: 0 } }, cut, 'weiban')).toEqual({
      state: 'FAILED',
      error: {
        code: 'qunfa.poll_limit',
        message: 'it was asked 100 times, the most qunfa asks about one step, and weiban reported nothing sent (staff never confirmed)',
      },
      cause: 'qunfa stopped following this step: it was asked 100 times, the most qunfa asks about one step; figures are final as of now',
    });
    const noFigures = stoppedFollowing({}, cut, 'wshoto', 'http_500');
    expect(noFigures.state).toBe('FAILED');
    expect(noFigures.error?.message).toMatch(/wshoto reported no figures/);
    expect(noFigures.cause).toBe(
      'qunfa stopped following this step: it was asked 100 times, the most qunfa asks about one step (the last ask failed: http_500); figures are final as of now',
    );
  });
});

describe('callbacks to the caller: the delivery lease and the retry window', () => {
  const T = Date.parse('2026-12-01T02:00:00.000Z');

  it('a lease is held until the instant it ends, then anyone may take it', () => {
    expect(callbackLeaseUntil(T, 120)).toBe(T + 120_000);
    expect(callbackLeaseHeld(T + 120_000, T + 119_999)).toBe(true);
    expect(callbackLeaseHeld(T + 120_000, T + 120_000)).toBe(false);
    expect(callbackLeaseHeld(0, T)).toBe(false); // never taken, or given back
  });

  it('a change is abandoned only once its retry window has passed', () => {
    const at = new Date(T).toISOString();
    expect(callbackAbandoned(at, T + 86_400_000, 86_400)).toBe(false);
    expect(callbackAbandoned(at, T + 86_400_001, 86_400)).toBe(true);
  });
});

describe('reminders (issue 12)', () => {
  const base = { vendor: 'wecom', history: [] as any[], updatedAt: '' };
  const step = (index: number, status: string, extra: Record<string, unknown> = {}) => ({
    index,
    status,
    sendAt: '2026-12-01T02:00:00.000Z',
    content: { text: 'x' },
    updatedAt: '',
    ...extra,
  });

  it('remindTargets: steps the vendor holds and still reports in progress, with the ids of their submitted calls', () => {
    const task = {
      ...base,
      steps: [
        step(0, 'SCHEDULED'),
        step(1, 'SUBMITTED', { vendorTaskId: 'm1' }),
        step(2, 'RUNNING', {
          batches: [
            { index: 0, size: 1, status: 'SUBMITTED', vendorTaskId: 'm2' },
            { index: 1, size: 1, status: 'UNKNOWN', vendorTaskId: 'm3' },
            { index: 2, size: 1, status: 'SUBMITTED', vendorTaskId: 'm4' },
          ],
        }),
        step(3, 'COMPLETED', { vendorTaskId: 'm5' }),
        step(4, 'UNKNOWN', { vendorTaskId: 'm6' }),
        step(5, 'SUBMITTED'),
      ],
    } as any;
    expect(remindTargets(task)).toEqual([
      { step: 1, vendorTaskIds: ['m1'] },
      { step: 2, vendorTaskIds: ['m2', 'm4'] },
    ]);
  });

  it('nothingToRemind says whether the task is over or nothing waits', () => {
    expect(nothingToRemind({ status: 'COMPLETED', steps: [step(0, 'COMPLETED')] } as any)).toMatch(/already COMPLETED/);
    expect(nothingToRemind({ status: 'SCHEDULED', steps: [step(0, 'SCHEDULED')] } as any)).toMatch(/no step waits for staff/);
  });

  it('remindedAtVendor notes the reminder in history without a state change', () => {
    const task = { ...base, steps: [step(0, 'RUNNING', { vendorTaskId: 'm1' })], history: [] as any[] } as any;
    expect(remindedAtVendor(task, 0, 2, new Date('2026-12-01T03:00:00Z'))).toBe(true);
    expect(task.steps[0].status).toBe('RUNNING');
    expect(task.history).toEqual([
      {
        at: '2026-12-01T03:00:00.000Z',
        step: 0,
        from: 'RUNNING',
        to: 'RUNNING',
        cause: "wecom reminded the staff of 2 sends not yet confirmed, at the caller's request",
      },
    ]);
    expect(isStateChange(task.history[0])).toBe(false);
  });

  it('stoppedFollowing names the staff the vendor still waits for', () => {
    const cut = { code: 'qunfa.result_horizon', why: "past wecom's 3-day result horizon" } as any;
    expect(stoppedFollowing({ stats: { sent: 3 }, waitingFor: ['lazy1', 'lazy2'] }, cut, 'wecom').cause).toMatch(/never confirmed by lazy1, lazy2$/);
    expect(stoppedFollowing({ stats: { sent: 3 } }, cut, 'wecom').cause).not.toMatch(/never confirmed/);
    const many = Array.from({ length: 12 }, (_, i) => `s${i}`);
    expect(stoppedFollowing({ stats: { sent: 1 }, waitingFor: many }, cut, 'wecom').cause).toMatch(/never confirmed by s0, .*, s9 and 2 more$/);
  });
});

describe("the sweeper's watch: by when each piece of waiting work must have happened (watchTerms, sweepDecision)", () => {
  const T0 = Date.parse('2026-12-01T02:00:00Z');
  const iso = (ms: number) => new Date(T0 + ms).toISOString();
  const rules: WatchRules = { graceMs: 300_000, leaseMs: 90_000, firstPollMs: 60_000, polled: (v) => v === 'weiban', callbackGiveUpMs: 86_400_000 };
  const withStep = (patch: Partial<Step>, over: Partial<Task> = {}): Task => {
    const t = task('SCHEDULED');
    Object.assign(t.steps[0] as Step, { sendAt: iso(0), updatedAt: iso(0) }, patch);
    return Object.assign(t, over);
  };

  it('a SCHEDULED step is overdue a grace after its time, or after its deferral', () => {
    expect(watchTerms(withStep({}), rules)).toEqual([{ at: T0 + 300_000, work: { kind: 'dispatch', step: 0 } }]);
    expect(watchTerms(withStep({ nextAttemptAt: iso(60_000) }), rules)[0]?.at).toBe(T0 + 360_000);
  });

  it('a claimed step is overdue a grace after its lease; between deferred batches, a grace after the deferral', () => {
    expect(watchTerms(withStep({ status: 'DISPATCHING', claimedAt: iso(10_000) }), rules)).toEqual([
      { at: T0 + 10_000 + 90_000 + 300_000, work: { kind: 'dispatch', step: 0 } },
    ]);
    expect(watchTerms(withStep({ status: 'DISPATCHING', claimedAt: iso(0), nextAttemptAt: iso(5_000) }), rules)[0]?.at).toBe(T0 + 305_000);
  });

  it("a submitted step of a polled vendor is overdue a grace after its next poll (the first: after the submit), with that poll's number", () => {
    const submitted = { status: 'SUBMITTED' as const, vendorTaskId: 'v1', submittedAt: iso(0) };
    expect(watchTerms(withStep(submitted), rules)).toEqual([{ at: T0 + 60_000 + 300_000, work: { kind: 'poll', step: 0, n: 0 } }]);
    const later = { ...withStep(submitted), nextPolls: { '0': { n: 4, at: T0 + 3_600_000 } } };
    expect(watchTerms(later, rules)).toEqual([{ at: T0 + 3_900_000, work: { kind: 'poll', step: 0, n: 4 } }]);
    // A task from before the watch: its count of polls stands in for the chain's number.
    expect(watchTerms(withStep({ ...submitted, polls: 3 }), rules)[0]?.work).toEqual({ kind: 'poll', step: 0, n: 3 });
    // A vendor that reports by callback (or not at all), a step with no vendor id, a final step: nothing to poll.
    expect(watchTerms(withStep(submitted, { vendor: 'youmi' }), rules)).toEqual([]);
    expect(watchTerms(withStep({ status: 'SUBMITTED' }), rules)).toEqual([]);
    for (const status of ['COMPLETED', 'FAILED', 'CANCELLED', 'UNKNOWN'] as const) expect(watchTerms(withStep({ ...submitted, status }), rules)).toEqual([]);
  });

  it('callbacks: a state change not seen delivered is due a grace after it, or after the lease or retry that covers it', () => {
    const change: HistoryEntry = { at: iso(1_000), step: 0, from: 'SCHEDULED', to: 'CANCELLED', cause: 'c' };
    const note: HistoryEntry = { at: iso(2_000), step: 0, from: 'CANCELLED', to: 'CANCELLED', cause: 'note' };
    const t = withStep({ status: 'CANCELLED' }, { callbackUrl: 'https://x/h', history: [{ ...change, from: null, to: 'SCHEDULED' }, change, note] });
    expect(watchTerms(t, rules)).toEqual([{ at: T0 + 1_000 + 300_000, work: { kind: 'callback' }, until: T0 + 1_000 + 86_400_000 + 300_000 }]);
    expect(watchTerms(t, rules, { cursor: 1, leaseUntil: T0 + 120_000 })[0]?.at).toBe(T0 + 420_000);
    expect(watchTerms(t, rules, { cursor: 1, leaseUntil: 0, retryAt: T0 + 600_000 })[0]?.at).toBe(T0 + 900_000);
    expect(watchTerms(t, rules, { cursor: 2, leaseUntil: 0 })).toEqual([]); // delivered through the change
    expect(watchTerms({ ...t, callbacksSweptThrough: 3 }, rules)).toEqual([]); // the sweeper saw it delivered
    expect(watchTerms({ ...t, callbackUrl: undefined }, rules)).toEqual([]);
  });

  it('the sweeper repairs what is overdue and watches the rest; repaired work gets the grace again', () => {
    const terms = [
      { at: 100, work: { kind: 'dispatch' as const, step: 0 } },
      { at: 5_000, work: { kind: 'dispatch' as const, step: 1 } },
    ];
    expect(sweepDecision(terms, 200, 1_000)).toEqual({ overdue: [{ kind: 'dispatch', step: 0 }], watchAt: 1_200 });
    expect(sweepDecision(terms, 50, 1_000)).toEqual({ overdue: [], watchAt: 100 });
    expect(sweepDecision([terms[0]!], 200, 10_000)).toEqual({ overdue: [{ kind: 'dispatch', step: 0 }], watchAt: 10_200 });
    expect(sweepDecision([], 200, 1_000)).toEqual({ overdue: [], watchAt: undefined });
    // Work past its point (a callback past its retry window) is neither repaired nor watched.
    expect(sweepDecision([{ at: 100, work: { kind: 'callback' }, until: 150 }], 200, 1_000)).toEqual({ overdue: [], watchAt: undefined });
  });
});
