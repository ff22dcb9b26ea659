/**
 * The tests' own composition root: an App built from the test environment (lib/app.ts buildApp),
 * and the functions' handlers bound to it (each function's `handlerFor`). A test that needs a
 * fault or another configuration builds a new App with that part (never by reaching into
 * production modules); the DynamoDB client is kept across rebuilds so fault middleware stays on.
 */
import type { Context } from 'aws-lambda';
import { buildApp, type App, type Parts } from '../../lib/app';
import type { Scheduler, DispatchLane, WorkEvent } from '../../lib/infra/scheduler/scheduler';
import type { TenantDirectory } from '../../lib/infra/tenantDirectory';
import * as createTask from '../../functions/createTask';
import * as deleteTask from '../../functions/deleteTask';
import * as deliverCallback from '../../functions/deliverCallback';
import * as dispatchStep from '../../functions/dispatchStep';
import * as getTask from '../../functions/getTask';
import * as listRecipients from '../../functions/listRecipients';
import * as listTasks from '../../functions/listTasks';
import * as listVendors from '../../functions/listVendors';
import * as openapi from '../../functions/openapi';
import * as patchTask from '../../functions/patchTask';
import * as pollStatus from '../../functions/pollStatus';
import * as redriveDeadLetters from '../../functions/redriveDeadLetters';
import * as remindStaff from '../../functions/remindStaff';
import * as vendorWebhook from '../../functions/vendorWebhook';

let current: App | undefined;
let overrides: Partial<Parts> = {};

/** A new App from process.env as it is now (a cold start), with the parts a test set. */
export function rebuildTestApp(parts: Partial<Parts> = overrides): App {
  overrides = parts;
  current = buildApp(process.env, { ...(current ? { dynamo: current.dynamo } : {}), ...parts });
  return current;
}

export function startTestApp(): App {
  current = undefined;
  overrides = {};
  return rebuildTestApp({});
}

export function testApp(): App {
  if (!current) throw new Error('no test app: start the test environment first');
  return current;
}

/** Runs on a scheduler of the test's (undefined: the configured one again). */
export const setScheduler = (s: Scheduler | undefined) => {
  const { scheduler: _, ...rest } = overrides;
  rebuildTestApp(s ? { ...rest, scheduler: s } : rest);
};
/** Runs on a tenant directory of the test's (undefined: the configured one again). */
export const setTenantDirectory = (d: TenantDirectory | undefined) => {
  const { tenants: _, ...rest } = overrides;
  rebuildTestApp(d ? { ...rest, tenants: d } : rest);
};

export const dynamo = () => testApp().dynamo;
export const taskStore = () => testApp().store;
export const flowLimiter = () => testApp().limiter;
export const tenantDirectory = () => testApp().tenants;
export const appSettings = () => testApp().settings;
export const appVendors = () => testApp().vendors;
export const invokeWorker = (event: WorkEvent, lane?: DispatchLane) => testApp().invoke(event, lane);

type Handler = (event: any, context: Context) => Promise<any>;
const bound = new WeakMap<App, Map<string, Handler>>();

/** A function's handler over the current test App (made once per App). */
function fn(name: string, make: (root: () => App) => unknown): Handler {
  return (event, context) => {
    const app = testApp();
    let forApp = bound.get(app);
    if (!forApp) bound.set(app, (forApp = new Map()));
    let h = forApp.get(name);
    if (!h) forApp.set(name, (h = make(() => app) as Handler));
    return h(event, context);
  };
}

export const fns = {
  createTask: fn('createTask', createTask.handlerFor),
  deleteTask: fn('deleteTask', deleteTask.handlerFor),
  deliverCallback: fn('deliverCallback', deliverCallback.handlerFor),
  dispatchStep: fn('dispatchStep', dispatchStep.handlerFor),
  getTask: fn('getTask', getTask.handlerFor),
  listTasks: fn('listTasks', listTasks.handlerFor),
  patchTask: fn('patchTask', patchTask.handlerFor),
  pollStatus: fn('pollStatus', pollStatus.handlerFor),
  redriveDeadLetters: fn('redriveDeadLetters', redriveDeadLetters.handlerFor),
  remindStaff: fn('remindStaff', remindStaff.handlerFor),
  listRecipients: fn('listRecipients', listRecipients.handlerFor),
  vendorWebhook: fn('vendorWebhook', vendorWebhook.handlerFor),
  // Public routes with no dependencies: the functions' own handlers.
  listVendors: listVendors.handler as Handler,
  openapi: openapi.handler as Handler,
};
