/** Invoked by EventBridge Scheduler (or directly, for steps due now) with a DispatchEvent; no HTTP. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { app, type App } from '../lib/app';
import { tagInvocation } from '../lib/infra/logger';
import { observed } from '../lib/infra/telemetry';
import { tracing } from '../lib/infra/xray';
import { dispatchStep } from '../lib/delivery/dispatchStep';
import type { DispatchEvent } from '../lib/infra/scheduler/scheduler';

export const handlerFor = (root: () => App) =>
  middy<DispatchEvent, unknown, Error, Context>()
    .use(observed())
    .use(tracing(() => [root().dynamo]))
    .handler(async (event, context) => {
      if (event?.kind !== 'dispatch' || typeof event.taskId !== 'string' || !Number.isInteger(event.step)) {
        return { outcome: 'skipped', reason: 'not a dispatch event' };
      }
      tagInvocation({ tenantId: event.tenantId, taskId: event.taskId, step: event.step });
      return dispatchStep({ ...root().deps(context), remainingMs: () => context.getRemainingTimeInMillis?.() ?? 60_000 }, event);
    });

export const handler = handlerFor(app);
