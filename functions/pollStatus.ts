/** Invoked by the scheduler with a PollEvent: asks the vendor how a submitted step is doing. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { app, type App } from '../lib/app';
import { tagInvocation } from '../lib/infra/logger';
import { observed } from '../lib/infra/telemetry';
import { tracing } from '../lib/infra/xray';
import { pollStep } from '../lib/delivery/pollStatus';
import type { PollEvent } from '../lib/infra/scheduler/scheduler';

export const handlerFor = (root: () => App) =>
  middy<PollEvent, unknown, Error, Context>()
    .use(observed())
    .use(tracing(() => [root().dynamo]))
    .handler(async (event, context) => {
      if (event?.kind !== 'poll' || typeof event.taskId !== 'string' || !Number.isInteger(event.step)) return { outcome: 'not a poll event' };
      tagInvocation({ tenantId: event.tenantId, taskId: event.taskId, step: event.step });
      return pollStep(root().deps(context), event);
    });

export const handler = handlerFor(app);
