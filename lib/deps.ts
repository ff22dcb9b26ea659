/** Wiring, once per cold start: the store over the real DynamoDB client, the scheduler, the invoker. */
import type { Context } from 'aws-lambda';
import { dynamo } from './aws';
import { config } from './config';
import { invokeDispatch } from './invoke';
import { schedulerFor } from './scheduler/index';
import { TaskStore } from './store';
import type { TaskDeps } from './tasks';
import { tenantDirectory, type TenantDirectory } from './tenants';

let store: TaskStore | undefined;

export function taskStore(): TaskStore {
  store ??= new TaskStore(dynamo(), config().TABLE_NAME);
  return store;
}

export function taskDeps(context: Pick<Context, 'invokedFunctionArn'>): TaskDeps & { tenants: TenantDirectory } {
  return { store: taskStore(), scheduler: () => schedulerFor(context), invoke: invokeDispatch, tenants: tenantDirectory() };
}

export function resetDeps(): void {
  store = undefined;
}
