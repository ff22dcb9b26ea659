/** Invoked by the scheduler with a PollEvent: asks the vendor how a submitted step is doing. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { workerDeps } from '../lib/app';
import { pollStep } from '../lib/delivery/pollStatus';
import type { PollEvent } from '../lib/infra/scheduler/scheduler';

export const handler = middy<PollEvent, unknown, Error, Context>().handler(async (event, context) => {
  if (event?.kind !== 'poll' || typeof event.taskId !== 'string' || !Number.isInteger(event.step)) return { outcome: 'not a poll event' };
  return pollStep(workerDeps(context), event);
});
