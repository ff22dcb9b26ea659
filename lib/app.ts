/** Wiring, once per cold start: the store over the real DynamoDB client, the scheduler, the invoker. */
import type { Context } from 'aws-lambda';
import { dynamo } from './infra/awsClients';
import { config } from './infra/settings';
import { invokeWorker } from './infra/workerInvoker';
import { schedulerFor } from './infra/scheduler/scheduler';
import { FlowLimiter } from './infra/flowLimiter';
import { TaskStore } from './infra/taskStore';
import type { TaskDeps } from './tasks/taskService';
import { tenantDirectory, type TenantDirectory } from './infra/tenantDirectory';

let store: TaskStore | undefined;
let limiter: FlowLimiter | undefined;

export function taskStore(): TaskStore {
  store ??= new TaskStore(dynamo(), config().TABLE_NAME);
  return store;
}

export function taskDeps(context: Pick<Context, 'invokedFunctionArn'>): TaskDeps & { tenants: TenantDirectory } {
  return { store: taskStore(), scheduler: () => schedulerFor(context), invoke: invokeWorker, tenants: tenantDirectory(), limiter: flowLimiter() };
}

/** The flow limiter shares the task table (its items are keyed by tenant like every other). */
export function flowLimiter(): FlowLimiter {
  limiter ??= new FlowLimiter(dynamo(), config().TABLE_NAME, config().LIMITER_LEASE_SECONDS * 1000);
  return limiter;
}

/** What the worker functions (dispatch, poll, callbacks) and the webhook need. */
export function workerDeps(context: Pick<Context, 'invokedFunctionArn'>) {
  return { store: taskStore(), tenants: tenantDirectory(), scheduler: () => schedulerFor(context), invoke: invokeWorker, limiter: flowLimiter() };
}

export function resetDeps(): void {
  store = undefined;
  limiter = undefined;
}

/** For the benchmark: the same handlers over another store (e.g. one with no I/O). */
export function setTaskStore(s: TaskStore | undefined): void {
  store = s;
}
