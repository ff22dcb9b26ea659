/** Invoked after a task changes (and by the scheduler for retries): POSTs its pending callbacks, signed, in order. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { app, type App } from '../lib/app';
import { tagInvocation } from '../lib/infra/logger';
import { observed } from '../lib/infra/telemetry';
import { deliverCallbacks } from '../lib/delivery/callerCallbacks';
import type { CallbackEvent } from '../lib/infra/scheduler/scheduler';

export const handlerFor = (root: () => App) =>
  middy<CallbackEvent, unknown, Error, Context>()
    .use(observed())
    .handler(async (event, context) => {
      if (event?.kind !== 'callback' || typeof event.taskId !== 'string') return { outcome: 'not a callback event' };
      tagInvocation({ tenantId: event.tenantId, taskId: event.taskId });
      return deliverCallbacks(root().deps(context), event, { remainingMs: () => context.getRemainingTimeInMillis() });
    });

export const handler = handlerFor(app);
