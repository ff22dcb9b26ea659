/** Invoked after a task changes (and by the scheduler for retries): POSTs its pending callbacks, signed, in order. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { deliverCallbacks } from '../lib/delivery/callerCallbacks';
import { workerDeps } from '../lib/app';
import type { CallbackEvent } from '../lib/infra/scheduler/scheduler';

export const handler = middy<CallbackEvent, unknown, Error, Context>().handler(async (event, context) => {
  if (event?.kind !== 'callback' || typeof event.taskId !== 'string') return { outcome: 'not a callback event' };
  return deliverCallbacks(workerDeps(context), event, { remainingMs: () => context.getRemainingTimeInMillis() });
});
