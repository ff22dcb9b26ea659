import { describe, expect, it } from 'vitest';
import { STEP_STATES, type StepState, type Task } from '../lib/schema';
import { aggregate, canMove, IllegalTransition, isFinal, moveStep, pollCutoff, stoppedFollowing, type PollLimits } from '../lib/states';

const task = (...states: StepState[]): Task => ({
  id: 'tsk_1', vendor: 'weiban', name: 'n', status: 'SCHEDULED', audience: { kind: 'groups', senders: ['s'] },
  steps: states.map((status, index) => ({ index, sendAt: '', content: { text: 't' }, status, updatedAt: '' })),
  createdAt: '', updatedAt: '', history: [],
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
    expect(t.history.map((h) => [h.from, h.to, h.cause])).toEqual([['SCHEDULED', 'DISPATCHING', 'claimed'], ['DISPATCHING', 'SUBMITTED', 'accepted']]);
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
    expect(pollCutoff({ n: 100, since: t0, now: t0 + 1000 }, limits, 'wshoto')).toEqual({ code: 'qunfa.poll_limit', why: 'it was asked 100 times, the most qunfa asks about one step' });
    expect(pollCutoff({ n: 250, since: t0, now: t0 + 1000 }, limits, 'wshoto')?.code).toBe('qunfa.poll_limit');
  });

  it('past the maximum age, for a vendor with no horizon of its own', () => {
    expect(pollCutoff({ n: 3, since: t0, now: t0 + 15 * DAY + 1 }, limits, 'wshoto')).toEqual({ code: 'qunfa.poll_limit', why: 'it was submitted more than 15 days ago' });
  });

  it("a vendor's own result horizon comes first and is named as the vendor's", () => {
    const weiban = { ...limits, maxAgeMs: 30 * DAY, vendorHorizonMs: 15 * DAY };
    expect(pollCutoff({ n: 3, since: t0, now: t0 + 16 * DAY }, weiban, 'weiban')).toEqual({ code: 'qunfa.result_horizon', why: 'weiban keeps results for 15 days' });
    expect(pollCutoff({ n: 3, since: t0, now: t0 + 14 * DAY }, weiban, 'weiban')).toBeUndefined();
  });

  it('ends COMPLETED when the last figures show anything sent, else FAILED with the cutoff\'s code', () => {
    const cut = { code: 'qunfa.poll_limit' as const, why: 'it was asked 100 times, the most qunfa asks about one step' };
    expect(stoppedFollowing({ stats: { planned: 3, sent: 1 } }, cut, 'weiban')).toEqual({
      state: 'COMPLETED', cause: 'qunfa stopped following this step: it was asked 100 times, the most qunfa asks about one step; figures are final as of now',
    });
    expect(stoppedFollowing({ stats: { planned: 3, sent: 0 } }, cut, 'weiban')).toEqual({
      state: 'FAILED',
      error: { code: 'qunfa.poll_limit', message: 'it was asked 100 times, the most qunfa asks about one step, and weiban reported nothing sent (staff never confirmed)' },
      cause: 'qunfa stopped following this step: it was asked 100 times, the most qunfa asks about one step; figures are final as of now',
    });
    const noFigures = stoppedFollowing({}, cut, 'wshoto', 'http_500');
    expect(noFigures.state).toBe('FAILED');
    expect(noFigures.error?.message).toMatch(/wshoto reported no figures/);
    expect(noFigures.cause).toBe('qunfa stopped following this step: it was asked 100 times, the most qunfa asks about one step (the last ask failed: http_500); figures are final as of now');
  });
});
