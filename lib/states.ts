/**
 * The step state machine. Transitions only move forward: a late or duplicate event can never
 * move a step back, and a final state is final. UNKNOWN is reachable only from DISPATCHING and is
 * left only by reconciliation with the vendor, never by re-sending.
 */
import type { HistoryEntry, Step, StepState, Task } from './schema';

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
