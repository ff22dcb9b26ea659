/**
 * The composition root: the one place that reads the configuration (once per cold start) and
 * builds the parts every service is given: the store, the flow limiter, the tenant directory,
 * the scheduler, the worker invoker, and each vendor's settings. Services receive these and their settings as arguments;
 * none of them reads the environment or builds a client. A test or the bench builds an App of
 * its own (`buildApp(env, parts)`) rather than changing this one.
 */
import type { Context } from 'aws-lambda';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamo } from './infra/awsClients';
import { FlowLimiter } from './infra/flowLimiter';
import type { Scheduler } from './infra/scheduler/scheduler';
import { arnParts, loadSettings, type Settings } from './infra/settings';
import { TaskStore } from './infra/taskStore';
import { createTenantDirectory, type TenantDirectory } from './infra/tenantDirectory';
import { createInvoker, type Invoker } from './infra/workerInvoker';
import { loadVendorSettings, type VendorSettingsMap } from './vendors/registry';
import { watchRules } from './delivery/sweeper';

type FunctionContext = Pick<Context, 'invokedFunctionArn'>;

/** What every service is given for one invocation (each declares the subset it uses). */
export interface Deps {
  settings: Settings;
  /** Where each vendor is and its own settings (lib/vendors/<vendor>/settings.ts). */
  vendors: VendorSettingsMap;
  store: TaskStore;
  limiter: FlowLimiter;
  tenants: TenantDirectory;
  invoke: Invoker;
  scheduler: () => Promise<Scheduler>;
}

export interface App {
  readonly settings: Settings;
  readonly vendors: VendorSettingsMap;
  readonly dynamo: DynamoDBDocumentClient;
  readonly store: TaskStore;
  readonly limiter: FlowLimiter;
  readonly tenants: TenantDirectory;
  readonly invoke: Invoker;
  /** Made on first use: in AWS it needs the invoked function's ARN (account, region, partition). */
  scheduler(context: FunctionContext): Promise<Scheduler>;
  deps(context: FunctionContext): Deps;
}

/** Parts given instead of built (the bench's in-memory store, a test's faulty scheduler). */
export interface Parts {
  dynamo: DynamoDBDocumentClient;
  store: TaskStore;
  limiter: FlowLimiter;
  tenants: TenantDirectory;
  invoke: Invoker;
  scheduler: Scheduler;
}

export function buildApp(env: Record<string, string | undefined>, parts: Partial<Parts> = {}): App {
  const settings = loadSettings(env);
  // Every vendor's variables checked at cold start too (AWS mode: https endpoints or "disabled").
  const vendors = loadVendorSettings(env, settings.QUNFA_MODE);
  const dynamo = parts.dynamo ?? createDynamo(settings.DYNAMODB_ENDPOINT);
  let scheduler: Promise<Scheduler> | undefined = parts.scheduler && Promise.resolve(parts.scheduler);
  const app: App = {
    settings,
    vendors,
    dynamo,
    store: parts.store ?? new TaskStore(dynamo, settings.TABLE_NAME, watchRules(settings)),
    // The flow limiter shares the task table (its items are keyed by tenant like every other).
    limiter: parts.limiter ?? new FlowLimiter(dynamo, settings.TABLE_NAME, settings.LIMITER_LEASE_SECONDS * 1000),
    tenants: parts.tenants ?? createTenantDirectory(settings),
    invoke: parts.invoke ?? createInvoker(settings),
    scheduler(context) {
      scheduler ??= makeScheduler(settings, dynamo, context);
      scheduler.catch(() => {
        scheduler = undefined;
      });
      return scheduler;
    },
    deps(context) {
      return { settings, vendors, store: app.store, limiter: app.limiter, tenants: app.tenants, invoke: app.invoke, scheduler: () => app.scheduler(context) };
    },
  };
  return app;
}

/** The local scheduler (a DynamoDB table the local runner fires) or EventBridge Scheduler; each loaded only where used. */
async function makeScheduler(c: Settings, dynamo: DynamoDBDocumentClient, context: FunctionContext): Promise<Scheduler> {
  if (c.QUNFA_MODE === 'local') {
    const { LocalScheduler } = await import('./infra/scheduler/localScheduler');
    return new LocalScheduler(dynamo, c.LOCAL_SCHEDULES_TABLE);
  }
  const { EventBridgeScheduler } = await import('./infra/scheduler/eventBridgeScheduler');
  const { SchedulerClient } = await import('@aws-sdk/client-scheduler');
  // ARNs are built from the invoked function's own: serverless.yml passes plain names only.
  const { partition, region, account } = arnParts(context.invokedFunctionArn);
  return new EventBridgeScheduler(new SchedulerClient(c.SCHEDULER_ENDPOINT ? { endpoint: c.SCHEDULER_ENDPOINT } : {}), {
    group: c.SCHEDULE_GROUP,
    workers: c,
    functionArn: (name: string) => `arn:${partition}:lambda:${region}:${account}:function:${name}`,
    roleArn: `arn:${partition}:iam::${account}:role/${c.SCHEDULER_ROLE_NAME}`,
    deadLetterArn: `arn:${partition}:sqs:${region}:${account}:${c.SCHEDULE_DLQ_NAME}`,
  });
}

let root: App | undefined;

/** This process's App, built from the environment on first use: once per cold start. */
export function app(): App {
  root ??= buildApp(process.env);
  return root;
}
