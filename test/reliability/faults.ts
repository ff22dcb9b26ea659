/**
 * Fault injection at the boundaries qunfa does not own, using each boundary's own extension
 * point: an AWS SDK middleware on the real DynamoDB client (throttling, errors before any
 * request leaves), and a Scheduler that wraps the real local scheduler.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Scheduler, WorkEvent } from '../../lib/infra/scheduler/scheduler';

export interface DynamoFault {
  command?: RegExp;
  count: number;
  error: () => Error;
  after?: number;
}

/** Adds (once) a middleware that fails matching commands while faults remain. */
export function dynamoFaults(doc: DynamoDBDocumentClient): DynamoFault[] {
  const faults: DynamoFault[] = [];
  const key = '__qunfaFaults';
  const holder = doc as unknown as Record<string, DynamoFault[] | undefined>;
  if (holder[key]) return holder[key];
  holder[key] = faults;
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String((context as { commandName?: string }).commandName ?? '');
      const f = faults.find((x) => x.count > 0 && (!x.command || x.command.test(name)));
      if (f) {
        if (f.after && f.after > 0) f.after--;
        else {
          f.count--;
          throw f.error();
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'qunfaFaultInjection' },
  );
  return faults;
}

/** Counts the commands a client sends whose name matches (reset `count` between measurements). */
export function countCommands(doc: DynamoDBDocumentClient, command: RegExp): { count: number } {
  const counter = { count: 0 };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      if (command.test(String((context as { commandName?: string }).commandName ?? ''))) counter.count++;
      return next(args);
    },
    { step: 'initialize', name: `qunfaCount${Math.random().toString(36).slice(2)}` },
  );
  return counter;
}

export const throttling = () =>
  Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), { name: 'ProvisionedThroughputExceededException', $fault: 'client' });

export class FaultyScheduler implements Scheduler {
  createFaults: (() => Error)[] = [];
  deleteFaults: (() => Error)[] = [];
  constructor(private readonly real: Scheduler) {}
  async schedule(name: string, at: Date, event: WorkEvent): Promise<void> {
    const f = this.createFaults.shift();
    if (f) throw f();
    return this.real.schedule(name, at, event);
  }
  async cancel(name: string): Promise<void> {
    const f = this.deleteFaults.shift();
    if (f) throw f();
    return this.real.cancel(name);
  }
}

export const schedulerThrottle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
export const schedulerRefusal = () =>
  Object.assign(new Error('User is not authorized to perform: scheduler:CreateSchedule'), { name: 'AccessDeniedException' });
