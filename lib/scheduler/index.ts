/**
 * One interface, two implementations: EventBridge Scheduler in AWS, and a local scheduler (a
 * DynamoDB table of due times, fired by the runner that `npm start` runs). Schedule names are
 * deterministic, so a retried create never makes a second schedule for the same step.
 */
import type { Context } from 'aws-lambda';
import { arnParts, config } from '../config';

/** What a schedule delivers to dispatchStep: the same shape from either scheduler, or a direct invoke. */
export interface DispatchEvent {
  kind: 'dispatch';
  tenantId: string;
  taskId: string;
  step: number;
}

export interface Scheduler {
  /** Creates the one-time schedule; an existing schedule of that name counts as success. */
  schedule(name: string, at: Date, event: DispatchEvent): Promise<void>;
  /** Deletes it; a schedule that already fired or never existed counts as success. */
  cancel(name: string): Promise<void>;
}

export const scheduleName = (taskId: string, step: number) => `${taskId}-s${step}`;

let cached: Scheduler | undefined;

export async function schedulerFor(context: Pick<Context, 'invokedFunctionArn'>): Promise<Scheduler> {
  if (cached) return cached;
  const c = config();
  if (c.QUNFA_MODE === 'local') {
    const { LocalScheduler } = await import('./local');
    const { dynamo } = await import('../aws');
    cached = new LocalScheduler(dynamo(), c.LOCAL_SCHEDULES_TABLE);
  } else {
    const { EventBridgeScheduler } = await import('./eventbridge');
    const { SchedulerClient } = await import('@aws-sdk/client-scheduler');
    const { partition, region, account } = arnParts(context.invokedFunctionArn);
    cached = new EventBridgeScheduler(
      new SchedulerClient(c.SCHEDULER_ENDPOINT ? { endpoint: c.SCHEDULER_ENDPOINT } : {}),
      {
        group: c.SCHEDULE_GROUP,
        targetArn: `arn:${partition}:lambda:${region}:${account}:function:${c.DISPATCH_FUNCTION_NAME}`,
        roleArn: `arn:${partition}:iam::${account}:role/${c.SCHEDULER_ROLE_NAME}`,
        deadLetterArn: `arn:${partition}:sqs:${region}:${account}:${c.SCHEDULE_DLQ_NAME}`,
      },
    );
  }
  return cached;
}

export function setScheduler(s: Scheduler | undefined): void {
  cached = s;
}
