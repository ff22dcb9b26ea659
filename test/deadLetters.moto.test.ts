/**
 * The schedule dead-letter queue's consumer (functions/redriveDeadLetters.ts) against an SQS queue
 * in moto_server, with a real dispatch behind it: dynalite, the vendor sandbox, and dispatchStep
 * run in this process by the App's invoker. Everything is real but Lambda itself.
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_REDRIVES, parseDeadLetter, redriveDeadLetter } from '../lib/delivery/deadLetters';
import type { WorkEvent } from '../lib/infra/scheduler/scheduler';
import type { Invoker } from '../lib/infra/workerInvoker';
import { VALID } from './helpers/bodies';
import { call, clearLimits, inSeconds, lambdaContext, startTestEnv, type TestEnv } from './helpers/env';
import { requireTool, startMoto } from './helpers/external';
import { fns, rebuildTestApp, taskStore } from './helpers/testApp';

const run = requireTool('moto_server', 'the schedule dead-letter queue tests');

const TASK = 'tsk_01JDQ8Z5V3C0000000000000AB';
const dispatchEvent = { kind: 'dispatch', tenantId: 'a', taskId: TASK, step: 0 } as const;

describe('reading a dead letter', () => {
  it("takes Scheduler's body (the schedule's Input) as the event, dropping unknown fields", () => {
    expect(parseDeadLetter(JSON.stringify({ ...dispatchEvent, extra: 'x', redrives: 1 }))).toEqual({
      ok: true,
      source: 'scheduler',
      event: { ...dispatchEvent, redrives: 1 },
    });
    expect(parseDeadLetter(JSON.stringify({ kind: 'callback', tenantId: 'a', taskId: TASK }))).toMatchObject({ ok: true, event: { kind: 'callback' } });
    expect(parseDeadLetter(JSON.stringify({ kind: 'poll', tenantId: 'a', taskId: TASK, step: 1, n: 2 }))).toMatchObject({ ok: true, event: { n: 2 } });
  });

  it("takes a Lambda on-failure record's requestPayload", () => {
    expect(parseDeadLetter(JSON.stringify(lambdaRecord(dispatchEvent)))).toEqual({
      ok: true,
      source: 'lambda',
      event: dispatchEvent,
      condition: 'RetriesExhausted',
    });
  });

  it('refuses what is not a work event, naming what is wrong', () => {
    const reason = (body: string, attributes = {}) => {
      const p = parseDeadLetter(body, attributes);
      return p.ok ? 'accepted' : p.reason;
    };
    expect(reason('{not json')).toBe('the body is not JSON');
    expect(reason(JSON.stringify({ ...dispatchEvent, step: 'zero' }))).toMatch(/^not a work event: step: /);
    expect(reason(JSON.stringify({ ...dispatchEvent, step: -1 }))).toMatch(/^not a work event: step: /);
    expect(reason(JSON.stringify({ ...dispatchEvent, taskId: '../x' }))).toMatch(/^not a work event: taskId: /);
    expect(reason(JSON.stringify({ ...dispatchEvent, tenantId: '' }))).toMatch(/^not a work event: tenantId: /);
    expect(reason(JSON.stringify({ ...dispatchEvent, kind: 'delete' }))).toMatch(/^not a work event: kind: /);
    expect(reason(JSON.stringify({ ...dispatchEvent, redrives: 1.5 }))).toMatch(/^not a work event: redrives: /);
    expect(reason(JSON.stringify({ kind: 'poll', tenantId: 'a', taskId: TASK, step: 0 }))).toMatch(/^not a work event: n: /);
    expect(reason('null')).toMatch(/^not a work event: /);
    expect(reason(JSON.stringify(lambdaRecord({ ...dispatchEvent, step: 'zero' })))).toMatch(/^not a work event: requestPayload\.step: /);
    expect(reason(JSON.stringify({ ...lambdaRecord(dispatchEvent), requestContext: {} }))).toMatch(
      /^not a Lambda invocation record: requestContext\.condition: /,
    );
    expect(reason(JSON.stringify({ ...lambdaRecord(dispatchEvent), requestContext: { condition: 'Success' } }))).toBe(
      'a record of a successful invocation is not a dead letter',
    );
    expect(reason(JSON.stringify(dispatchEvent), { IS_PAYLOAD_TRUNCATED: { stringValue: 'true' } })).toBe('the scheduler truncated the payload');
  });

  it(`re-drives with redrives + 1, and refuses an event re-driven ${MAX_REDRIVES} times already`, async () => {
    const invoked: WorkEvent[] = [];
    const deps = { invoke: (async (e) => void invoked.push(e)) as Invoker };
    expect(await redriveDeadLetter(deps, JSON.stringify(dispatchEvent))).toMatchObject({ outcome: 'redriven', event: { redrives: 1 } });
    expect(await redriveDeadLetter(deps, JSON.stringify({ ...dispatchEvent, redrives: MAX_REDRIVES - 1 }))).toMatchObject({ outcome: 'redriven' });
    expect(await redriveDeadLetter(deps, JSON.stringify({ ...dispatchEvent, redrives: MAX_REDRIVES }))).toEqual({
      outcome: 'refused',
      reason: `already re-driven ${MAX_REDRIVES} times`,
      source: 'scheduler',
      event: { ...dispatchEvent, redrives: MAX_REDRIVES },
    });
    expect(invoked).toEqual([
      { ...dispatchEvent, redrives: 1 },
      { ...dispatchEvent, redrives: MAX_REDRIVES },
    ]);
  });
});

describe.runIf(run)('the schedule dead-letter queue, consumed from moto SQS, re-driving a real dispatch', () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let env: TestEnv;
  let sqs: SQSClient;
  let dlqUrl: string;
  let dlqArn: string;
  let parkedUrl: string;
  /** Every event the App invoked (each then ran in this process), in order. */
  let invoked: WorkEvent[] = [];

  const workers: Record<WorkEvent['kind'], (e: any, c: Context) => Promise<unknown>> = {
    dispatch: fns.dispatchStep,
    poll: fns.pollStatus,
    callback: fns.deliverCallback,
  };
  /**
   * Lambda's asynchronous invoke, in this process: accepted, then the worker run to its end (so a
   * test sees its effects when the re-drive returns); a worker's failure is not the invoker's, as
   * with an async invoke.
   */
  const inProcess: Invoker = async (event) => {
    invoked.push(event);
    await workers[event.kind](event, lambdaContext({ dispatch: 'dispatchStep', poll: 'pollStatus', callback: 'deliverCallback' }[event.kind])).catch(
      (err: unknown) => console.error('worker failed', err),
    );
  };

  beforeAll(async () => {
    moto = await startMoto();
    env = await startTestEnv();
    rebuildTestApp({ invoke: inProcess });
    sqs = new SQSClient({ endpoint: moto.url, region: 'ap-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    parkedUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'qunfa-test-schedule-parked' }))).QueueUrl!;
    const parkedArn = await queueArn(parkedUrl);
    // maxReceiveCount 2 here (5 in serverless.yml), so a refused message is parked after two receives.
    dlqUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: 'qunfa-test-schedule-dlq',
          Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: parkedArn, maxReceiveCount: 2 }), VisibilityTimeout: '360' },
        }),
      )
    ).QueueUrl!;
    dlqArn = await queueArn(dlqUrl);
  }, 60_000);
  afterAll(async () => {
    await env?.close();
    moto?.stop();
  });
  beforeEach(async () => {
    invoked = [];
    await fetch(`${env.weiban.url}/__sandbox/reset`, { method: 'POST' });
    await clearLimits();
  });

  async function queueArn(url: string): Promise<string> {
    return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  }
  async function depth(url: string): Promise<number> {
    const a = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))
    ).Attributes!;
    return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
  }
  const str = (v: string): MessageAttributeValue => ({ DataType: 'String', StringValue: v });
  /** A dead letter as EventBridge Scheduler sends it: the schedule's Input as the body, the failure in attributes. */
  const schedulerDeadLetter = (event: unknown) =>
    sqs.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: JSON.stringify(event),
        MessageAttributes: {
          ERROR_CODE: str('Lambda.TooManyRequestsException'),
          ERROR_MESSAGE: str('Rate Exceeded.'),
          EXHAUSTED_RETRY_CONDITION: str('MaximumRetryAttempts'),
          RETRY_ATTEMPTS: str('10'),
          SCHEDULE_ARN: str(`arn:aws:scheduler:ap-east-1:123456789012:schedule/qunfa-test/${TASK}-s0`),
          TARGET_ARN: str('arn:aws:lambda:ap-east-1:123456789012:function:qunfa-test-dispatchStep'),
        },
      }),
    );
  const send = (body: string) => sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: body }));

  /**
   * What Lambda's SQS event source mapping does, the only stand-in here (it cannot run outside
   * Lambda): receive a batch, call the function with it as an SQSEvent, delete the records it did
   * not report as failures. A reported failure is left in the queue; its visibility timeout is
   * ended at once (as if the 360 s had passed) so the next round receives it again.
   */
  async function pollOnce(): Promise<{ received: Message[]; failed: string[] }> {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
    );
    const received = out.Messages ?? [];
    if (!received.length) return { received, failed: [] };
    const event: SQSEvent = {
      Records: received.map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: {
          ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
          SentTimestamp: m.Attributes?.SentTimestamp ?? '0',
          SenderId: m.Attributes?.SenderId ?? 'test',
          ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? '0',
        },
        messageAttributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
            k,
            { dataType: v.DataType!, stringValue: v.StringValue, stringListValues: [], binaryListValues: [] },
          ]),
        ),
        md5OfBody: m.MD5OfBody!,
        eventSource: 'aws:sqs',
        eventSourceARN: dlqArn,
        awsRegion: 'ap-east-1',
      })),
    };
    const res = (await fns.redriveDeadLetters(event, lambdaContext('redriveDeadLetters'))) as SQSBatchResponse;
    const failed = res.batchItemFailures.map((f) => f.itemIdentifier);
    const done = received.filter((m) => !failed.includes(m.MessageId!));
    if (done.length)
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: dlqUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    for (const m of received.filter((r) => failed.includes(r.MessageId!)))
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
    return { received, failed };
  }

  const vendorCreates = async (name: string) =>
    ((await (await fetch(`${env.weiban.url}/__sandbox/tasks`)).json()) as any[]).filter((t) => t.request?.name === name).length;
  /** A one-step task due in 4 s: not fired at create (only a schedule is made, which nothing fires here), inside dispatch's early tolerance. */
  async function createStep(): Promise<{ id: string; name: string }> {
    const name = `dlq-${randomUUID().slice(0, 8)}`;
    const res = await call(fns.createTask as never, {
      method: 'POST',
      path: '/v1/tasks',
      body: { vendor: 'weiban', name, sendAt: inSeconds(4), ...VALID.weiban },
    });
    expect(res.status).toBe(201);
    return { id: res.body.id, name };
  }

  it('a Scheduler dead letter and a Lambda on-failure record of one step: re-driven, the step sent once, the queue empty; a second delivery sends nothing', async () => {
    const { id, name } = await createStep();
    const event = { kind: 'dispatch', tenantId: 'a', taskId: id, step: 0 } as const;
    await schedulerDeadLetter(event);
    await send(JSON.stringify(lambdaRecord(event)));

    const first = await pollOnce();
    expect(first.received).toHaveLength(2);
    expect(first.failed).toEqual([]);
    // Each dead letter invoked its worker once, counted as a re-drive; the claim let one through.
    expect(invoked.filter((e) => e.kind === 'dispatch')).toEqual([
      { ...event, redrives: 1 },
      { ...event, redrives: 1 },
    ]);
    expect(await vendorCreates(name)).toBe(1);
    expect((await taskStore().get('a', id))?.steps[0]?.status).toBe('SUBMITTED');
    expect(await depth(dlqUrl)).toBe(0);

    // SQS is at-least-once: the same message again.
    await schedulerDeadLetter(event);
    const again = await pollOnce();
    expect(again.received).toHaveLength(1);
    expect(again.failed).toEqual([]);
    expect(invoked.filter((e) => e.kind === 'dispatch')).toHaveLength(3);
    expect(await vendorCreates(name)).toBe(1);
    expect((await taskStore().get('a', id))?.steps[0]?.status).toBe('SUBMITTED');
    expect(await depth(dlqUrl)).toBe(0);
  });

  it(`poison messages (not JSON, not a work event, re-driven ${MAX_REDRIVES} times) are reported failed, never invoked, and parked after maxReceiveCount`, async () => {
    const { id, name } = await createStep();
    const poison = [
      '{not json',
      JSON.stringify({ kind: 'dispatch', tenantId: 'a', taskId: id, step: 'zero' }),
      JSON.stringify({ ...dispatchEvent, taskId: id, redrives: MAX_REDRIVES }),
    ];
    for (const body of poison) await send(body);

    const rounds: { received: number; failed: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await pollOnce();
      rounds.push({ received: r.received.length, failed: r.failed.length });
    }
    // Received and refused twice (maxReceiveCount 2), then moved by SQS's redrive policy on the next receive.
    expect(rounds).toEqual([
      { received: 3, failed: 3 },
      { received: 3, failed: 3 },
      { received: 0, failed: 0 },
      { received: 0, failed: 0 },
    ]);
    expect(invoked).toEqual([]);
    expect(await vendorCreates(name)).toBe(0);
    expect(await depth(dlqUrl)).toBe(0);
    const parked = await sqs.send(new ReceiveMessageCommand({ QueueUrl: parkedUrl, MaxNumberOfMessages: 10 }));
    expect((parked.Messages ?? []).map((m) => m.Body).sort()).toEqual([...poison].sort());
  });

  it('a failed invoke is a batch item failure (delivered again), beside a record that succeeds', async () => {
    const failing: Invoker = async (event) => {
      if (event.kind === 'callback') throw new Error('Lambda answered 500');
      await inProcess(event);
    };
    rebuildTestApp({ invoke: failing });
    try {
      const { id } = await createStep();
      await send(JSON.stringify({ kind: 'callback', tenantId: 'a', taskId: id }));
      await send(JSON.stringify({ kind: 'poll', tenantId: 'a', taskId: id, step: 0, n: 0 }));
      const r = await pollOnce();
      expect(r.received).toHaveLength(2);
      expect(r.failed).toEqual([r.received.find((m) => m.Body!.includes('callback'))!.MessageId]);
      expect(invoked).toEqual([{ kind: 'poll', tenantId: 'a', taskId: id, step: 0, n: 0, redrives: 1 }]);
      expect(await depth(dlqUrl)).toBe(1);
      // Delivered again, and this time the invoke works.
      rebuildTestApp({ invoke: inProcess });
      const again = await pollOnce();
      expect(again.failed).toEqual([]);
      expect(invoked.at(-1)).toEqual({ kind: 'callback', tenantId: 'a', taskId: id, redrives: 1 });
      expect(await depth(dlqUrl)).toBe(0);
    } finally {
      rebuildTestApp({ invoke: inProcess });
    }
  });
});

/** Lambda's record of an asynchronous invocation that failed every attempt (an on-failure destination's message body). */
function lambdaRecord(event: unknown) {
  return {
    version: '1.0',
    timestamp: '2026-11-23T10:00:00.000Z',
    requestContext: {
      requestId: 'e4b46cbf-b738-4c2a-8880-a18cdf61200e',
      functionArn: 'arn:aws:lambda:ap-east-1:123456789012:function:qunfa-test-dispatchStep:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorMessage: 'Task timed out after 60.00 seconds' },
  };
}
