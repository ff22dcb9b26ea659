import { describe, expect, it } from 'vitest';
import { STEP_STATES, type StepState, type Task } from '../lib/schema';
import { aggregate, canMove, IllegalTransition, isFinal, moveStep } from '../lib/states';

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
