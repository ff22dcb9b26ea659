/**
 * One interface, two implementations: EventBridge Scheduler in AWS, and a local scheduler (a
 * DynamoDB table of due times, fired by the runner that `npm start` runs). Schedule names are
 * deterministic, so a retried create never makes a second schedule for the same step.
 */
import type { Settings } from '../settings';

/** Fire one step at the vendor (dispatchStep). */
export interface DispatchEvent {
  kind: 'dispatch';
  tenantId: string;
  taskId: string;
  step: number;
}
/** Ask the vendor about a submitted step, the n-th time (pollStatus). */
export interface PollEvent {
  kind: 'poll';
  tenantId: string;
  taskId: string;
  step: number;
  n: number;
}
/** Deliver a task's pending callbacks to the caller, in order (deliverCallback). */
export interface CallbackEvent {
  kind: 'callback';
  tenantId: string;
  taskId: string;
}

/**
 * What a schedule (or a direct invoke) delivers: the same shape from either scheduler. `redrives`
 * counts how many times the event was taken from the dead-letter queue and invoked again
 * (lib/delivery/deadLetters.ts), so a poison event cannot circle for ever.
 */
export type WorkEvent = (DispatchEvent | PollEvent | CallbackEvent) & { redrives?: number };
export type WorkKind = WorkEvent['kind'];

/** Which function each kind of work runs in. */
/** Which lane a dispatch takes: scheduled work, or a send-now fired straight from the API. */
export type DispatchLane = 'scheduled' | 'now';

/**
 * The worker for an event. A send-now dispatch has a function (and queue, and reserved
 * concurrency) of its own, the same code as dispatchStep: a campaign's due steps queued there
 * never delay a send-now.
 */
export type WorkerNames = Pick<Settings, 'DISPATCH_FUNCTION_NAME' | 'DISPATCH_NOW_FUNCTION_NAME' | 'POLL_FUNCTION_NAME' | 'CALLBACK_FUNCTION_NAME'>;

export function workerFunctionName(c: WorkerNames, kind: WorkKind, lane: DispatchLane = 'scheduled'): string {
  if (kind === 'dispatch' && lane === 'now') return c.DISPATCH_NOW_FUNCTION_NAME;
  return { dispatch: c.DISPATCH_FUNCTION_NAME, poll: c.POLL_FUNCTION_NAME, callback: c.CALLBACK_FUNCTION_NAME }[kind];
}

export interface Scheduler {
  /** Creates the one-time schedule; an existing schedule of that name counts as success. */
  schedule(name: string, at: Date, event: WorkEvent): Promise<void>;
  /** Deletes it; a schedule that already fired or never existed counts as success. */
  cancel(name: string): Promise<void>;
}

/** A step's first schedule (made at create). */
export const scheduleName = (taskId: string, step: number) => `${taskId}-s${step}`;
/**
 * A schedule that replaced it (a move by PATCH, or a deferral) for version `rev` of the step, named
 * with the time it is for: two dispatchers deferring one version at once make two schedules — the
 * loser's fires, finds the step waiting for the winner's time, and does nothing — never one
 * schedule holding the loser's time while the step waits for the winner's.
 */
export const revScheduleName = (taskId: string, step: number, rev: number, at: Date) => `${taskId}-s${step}-r${rev}-${at.getTime().toString(36)}`;
/** The schedule a step waits for now (the one a cancel or a move deletes). */
export const stepScheduleName = (taskId: string, s: { index: number; rev?: number; nextAttemptAt?: string; sendAt: string }) =>
  s.rev ? revScheduleName(taskId, s.index, s.rev, new Date(s.nextAttemptAt ?? s.sendAt)) : scheduleName(taskId, s.index);
export const pollScheduleName = (taskId: string, step: number, n: number) => `${taskId}-s${step}-p${n}`;
export const callbackScheduleName = (taskId: string, cursor: number, attempt: number) => `${taskId}-c${cursor}-${attempt}`;
/** Made as a callback delivery takes lease `lease` (its version): fires after that lease, in case its holder dies. */
export const callbackBackstopName = (taskId: string, lease: number) => `${taskId}-cb${lease}`;
/** Made when the holder of lease `lease` runs out of time with callbacks still to deliver. */
export const callbackContinueName = (taskId: string, lease: number) => `${taskId}-cn${lease}`;
