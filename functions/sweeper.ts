/** Invoked on a schedule (serverless.yml: every 5 minutes): puts overdue work back on its path. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { app, type App } from '../lib/app';
import { sweep } from '../lib/delivery/sweeper';
import { observed } from '../lib/infra/telemetry';

export const handlerFor = (root: () => App) =>
  middy<unknown, unknown, Error, Context>()
    .use(observed())
    .handler(async (_event, context) => {
      const report = await sweep(root().deps(context));
      return { read: report.read, repaired: report.repaired.length, skipped: report.skipped };
    });

export const handler = handlerFor(app);
