/**
 * The schedule dead-letter queue's consumer: work that could not be run lands in that queue, and
 * each message is taken from it and its worker invoked again (asynchronously, the way a schedule
 * invokes it), at most MAX_REDRIVES times per event. What cannot be re-driven is refused: it stays
 * in the queue, and the queue's redrive policy moves it to the parked queue, where a person looks.
 *
 * A message in the queue is one of two things:
 *
 * - EventBridge Scheduler's dead letter, for a schedule whose target could not be invoked after
 *   its retry policy (10 retries, 1 hour): the body is the schedule's target Input as it was sent
 *   (our WorkEvent JSON), and the failure is in message attributes. The AWS guide ("Configuring a
 *   schedule's dead-letter queue", Retrieve the dead-letter event) was found by the docs search
 *   but only its opening was readable; the attribute names below are what two independent
 *   emulators of Scheduler's dead letters send beside the Input as the body: ERROR_CODE,
 *   ERROR_MESSAGE, EXECUTION_ID, EXHAUSTED_RETRY_CONDITION (MaximumRetryAttempts or
 *   MaximumEventAgeInSeconds), IS_PAYLOAD_TRUNCATED, RETRY_ATTEMPTS, SCHEDULED_TIME, SCHEDULE_ARN,
 *   TARGET_ARN. Only ERROR_CODE, RETRY_ATTEMPTS and IS_PAYLOAD_TRUNCATED are read here, and none
 *   is required: the body alone decides.
 * - A Lambda asynchronous-invocation record from a worker's on-failure destination (the worker
 *   accepted the event and failed it on every attempt): `{version, timestamp, requestContext:
 *   {requestId, functionArn, condition: RetriesExhausted | EventAgeExceeded, approximateInvokeCount},
 *   requestPayload: <the WorkEvent>, responseContext: {statusCode, executedVersion, functionError},
 *   responsePayload}` (the Lambda guide's example invocation record, "Capturing records of Lambda
 *   asynchronous invocations"; for an SQS destination the record is the message body).
 *
 * Exactly once is not this module's business: a re-driven dispatch claims its step by a conditional
 * write like any other, so a step already SUBMITTED (or a message delivered twice: SQS is
 * at-least-once) is a dispatch that does nothing.
 */
import * as z from 'zod/mini';
import { TASK_ID } from '../core/ids';
import { logger, retagInvocation, tagInvocation } from '../infra/logger';
import { metric } from '../infra/metrics';
import type { WorkEvent } from '../infra/scheduler/scheduler';
import type { Invoker } from '../infra/workerInvoker';

/** An event re-driven this many times already is not re-driven again (it fails every time: a person must look). */
export const MAX_REDRIVES = 3;

export interface DeadLetterDeps {
  invoke: Invoker;
}

/** An SQS message's attributes as Lambda's SQS event gives them (only string values are read). */
export type DeadLetterAttributes = Readonly<Record<string, { readonly stringValue?: string } | undefined>>;

export type DeadLetterSource = 'scheduler' | 'lambda';

export type RedriveOutcome =
  { outcome: 'redriven'; source: DeadLetterSource; event: WorkEvent } | { outcome: 'refused'; reason: string; source?: DeadLetterSource; event?: WorkEvent };

// The shapes of DispatchEvent, PollEvent and CallbackEvent (lib/infra/scheduler/scheduler.ts), held
// strictly: ids as the tenant directory and the task ids are made, counters whole and not negative.
// Unknown fields are dropped: only what the worker reads is invoked again.
const TenantId = z.string().check(z.regex(/^[a-zA-Z0-9_-]{1,64}$/));
const TaskId = z.string().check(z.regex(TASK_ID));
const Count = z.int().check(z.nonnegative());
const Redrives = z.optional(Count);

const WorkEventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('dispatch'), tenantId: TenantId, taskId: TaskId, step: Count, redrives: Redrives }),
  z.object({ kind: z.literal('poll'), tenantId: TenantId, taskId: TaskId, step: Count, n: Count, redrives: Redrives }),
  z.object({ kind: z.literal('callback'), tenantId: TenantId, taskId: TaskId, redrives: Redrives }),
]);

/** The part of Lambda's invocation record that is read; its other fields (responsePayload: the error) are dropped. */
const InvocationRecord = z.object({
  version: z.string(),
  requestContext: z.object({
    requestId: z.optional(z.string()),
    functionArn: z.optional(z.string()),
    condition: z.string(),
    approximateInvokeCount: z.optional(z.number()),
  }),
  requestPayload: z.unknown(),
});

const isInvocationRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && 'requestContext' in v && 'requestPayload' in v;

function issues(error: z.core.$ZodError, prefix = ''): string {
  return error.issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || 'body'}: ${i.message}`).join('; ');
}

type Parsed = { ok: true; source: DeadLetterSource; event: WorkEvent; condition?: string } | { ok: false; source?: DeadLetterSource; reason: string };

/** Reads a message body: a bare WorkEvent (Scheduler's dead letter) or a Lambda invocation record around one. */
export function parseDeadLetter(body: string, attributes: DeadLetterAttributes = {}): Parsed {
  if (attributes.IS_PAYLOAD_TRUNCATED?.stringValue === 'true') return { ok: false, source: 'scheduler', reason: 'the scheduler truncated the payload' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'the body is not JSON' };
  }
  if (isInvocationRecord(json)) {
    const record = InvocationRecord.safeParse(json);
    if (!record.success) return { ok: false, source: 'lambda', reason: `not a Lambda invocation record: ${issues(record.error)}` };
    const condition = record.data.requestContext.condition;
    if (condition === 'Success') return { ok: false, source: 'lambda', reason: 'a record of a successful invocation is not a dead letter' };
    const event = WorkEventSchema.safeParse(record.data.requestPayload);
    if (!event.success) return { ok: false, source: 'lambda', reason: `not a work event: ${issues(event.error, 'requestPayload')}` };
    return { ok: true, source: 'lambda', event: event.data, condition };
  }
  const event = WorkEventSchema.safeParse(json);
  if (!event.success) return { ok: false, source: 'scheduler', reason: `not a work event: ${issues(event.error)}` };
  return { ok: true, source: 'scheduler', event: event.data };
}

/**
 * One message of the dead-letter queue: its work invoked again (with `redrives` one more), or
 * refused with the reason. A failed invoke throws: the message is delivered again later.
 */
export async function redriveDeadLetter(deps: DeadLetterDeps, body: string, attributes: DeadLetterAttributes = {}): Promise<RedriveOutcome> {
  // Each message is its own unit of work: its log lines carry its event's tags, not the last message's.
  retagInvocation({});
  const parsed = parseDeadLetter(body, attributes);
  // What Scheduler says about its failure (a code and a count: nothing of the payload).
  const scheduler = {
    ...(attributes.ERROR_CODE?.stringValue ? { errorCode: attributes.ERROR_CODE.stringValue } : {}),
    ...(attributes.RETRY_ATTEMPTS?.stringValue ? { retryAttempts: attributes.RETRY_ATTEMPTS.stringValue } : {}),
  };
  if (!parsed.ok) return refuse({ reason: parsed.reason, ...(parsed.source ? { source: parsed.source } : {}) }, scheduler);

  const { event, source } = parsed;
  tagInvocation({ tenantId: event.tenantId, taskId: event.taskId, step: 'step' in event ? event.step : undefined });
  const redrives = event.redrives ?? 0;
  const context = { kind: event.kind, source, redrives, ...scheduler, ...(parsed.condition ? { condition: parsed.condition } : {}) };
  if (redrives >= MAX_REDRIVES) return refuse({ reason: `already re-driven ${redrives} times`, source, event }, context);

  const again: WorkEvent = { ...event, redrives: redrives + 1 };
  await deps.invoke(again);
  metric('DeadLettersRedriven', { kind: event.kind });
  logger.info('dead letter re-driven', context);
  return { outcome: 'redriven', source, event: again };
}

function refuse(r: Omit<Extract<RedriveOutcome, { outcome: 'refused' }>, 'outcome'>, context: Record<string, unknown>): RedriveOutcome {
  metric('DeadLettersRefused', {});
  logger.warn('dead letter refused; it stays for the parked queue', { reason: r.reason, ...(r.source ? { source: r.source } : {}), ...context });
  return { outcome: 'refused', ...r };
}
