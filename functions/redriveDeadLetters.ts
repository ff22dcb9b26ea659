/**
 * Consumes the schedule dead-letter queue (an SQS event source with ReportBatchItemFailures): each
 * message's work is invoked again, or refused. A refused message, or one whose invoke failed, is
 * reported as a batch item failure: SQS delivers it again later, and after the queue's
 * maxReceiveCount moves it to the parked queue.
 */
import middy from '@middy/core';
import sqsPartialBatchFailure from '@middy/sqs-partial-batch-failure';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { app, type App } from '../lib/app';
import { redriveDeadLetter, type RedriveOutcome } from '../lib/delivery/deadLetters';
import { logger } from '../lib/infra/logger';
import { observed } from '../lib/infra/telemetry';

/** A record's failure already logged (a refusal, by the service; a failed invoke, here), as the rejection the middleware reports. */
class Reported extends Error {}

export const handlerFor = (root: () => App) =>
  middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(observed())
    // Its results, one per record in order, become { batchItemFailures } (each rejection is one). It
    // logs only a failure of the whole batch (the App could not be built): every record fails then.
    .use(
      sqsPartialBatchFailure({
        logger: (reason: unknown) => {
          if (!(reason instanceof Reported)) logger.error('dead letter not handled; SQS delivers it again', { error: (reason as Error)?.message });
        },
      }),
    )
    .handler(async (event, context) => {
      const deps = root().deps(context);
      const results: PromiseSettledResult<RedriveOutcome>[] = [];
      // One record at a time: each one's log lines and metrics carry its own event's tags.
      for (const record of event.Records ?? []) {
        logger.appendKeys({ sqsMessageId: record.messageId });
        try {
          const out = await redriveDeadLetter(deps, record.body, record.messageAttributes ?? {});
          results.push(out.outcome === 'refused' ? { status: 'rejected', reason: new Reported(out.reason) } : { status: 'fulfilled', value: out });
        } catch (err) {
          logger.error('dead letter not re-driven; SQS delivers it again', { error: (err as Error)?.message });
          results.push({ status: 'rejected', reason: new Reported((err as Error)?.message) });
        }
      }
      // The middleware turns this into the SQSBatchResponse.
      return results as unknown as SQSBatchResponse;
    });

export const handler = handlerFor(app);
