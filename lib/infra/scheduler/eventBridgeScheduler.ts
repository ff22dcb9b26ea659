import { ConflictException, CreateScheduleCommand, DeleteScheduleCommand, ResourceNotFoundException, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { workerFunctionName, type Scheduler, type WorkEvent, type WorkerNames } from './scheduler';

export interface EventBridgeTarget {
  group: string;
  workers: WorkerNames;
  functionArn: (name: string) => string;
  roleArn: string;
  deadLetterArn: string;
}

/** `at()` takes whole seconds in the named zone; round up so a step never fires before its time. */
export function atExpression(at: Date): string {
  const ceil = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return `at(${ceil.toISOString().slice(0, 19)})`;
}

export class EventBridgeScheduler implements Scheduler {
  constructor(
    private readonly client: SchedulerClient,
    private readonly target: EventBridgeTarget,
  ) {}

  async schedule(name: string, at: Date, event: WorkEvent): Promise<void> {
    try {
      await this.client.send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: this.target.group,
          ScheduleExpression: atExpression(at),
          ScheduleExpressionTimezone: 'UTC',
          FlexibleTimeWindow: { Mode: 'OFF' },
          ActionAfterCompletion: 'DELETE',
          State: 'ENABLED',
          Target: {
            Arn: this.target.functionArn(workerFunctionName(this.target.workers, event.kind)),
            RoleArn: this.target.roleArn,
            Input: JSON.stringify(event),
            RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
            DeadLetterConfig: { Arn: this.target.deadLetterArn },
          },
        }),
      );
    } catch (err) {
      if (err instanceof ConflictException) return; // made by an earlier attempt of this same create
      throw err;
    }
  }

  async cancel(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteScheduleCommand({ Name: name, GroupName: this.target.group }));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return; // fired (and self-deleted) or never made
      throw err;
    }
  }
}
