/** Invoked after a task changes (and by the scheduler for retries): POSTs its pending callbacks, signed, in order. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { app, type App } from '../lib/app';
import { deliverCallbacks } from '../lib/delivery/callerCallbacks';
import type { CallbackEvent } from '../lib/infra/scheduler/scheduler';

export const handlerFor = (root: () => App) =>
  middy<CallbackEvent, unknown, Error, Context>().handler(async (event, context) => {
    if (event?.kind !== 'callback' || typeof event.taskId !== 'string') return { outcome: 'not a callback event' };
    return deliverCallbacks(root().deps(context), event, { remainingMs: () => context.getRemainingTimeInMillis() });
  });

export const handler = handlerFor(app);
