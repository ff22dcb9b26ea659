import { CreateScheduleGroupCommand, GetScheduleCommand, ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atExpression, EventBridgeScheduler } from '../lib/infra/scheduler/eventBridgeScheduler';
import { scheduleName } from '../lib/infra/scheduler/scheduler';
import { requireTool, startMoto } from './helpers/external';
import { fns } from './helpers/testApp';

const run = requireTool('moto_server', 'the EventBridge Scheduler adapter tests');

/** AWS mode refuses unset or non-https vendor endpoints at cold start; these tests call no vendor. */
const AWS_VENDOR_ENV = {
  WEIBAN_BASE_URL: 'https://open.weibanzhushou.com',
  YOUMI_BASE_URL: 'disabled',
  YOUMI_TOKEN_URL: '',
  TANMARKET_BASE_URL: 'disabled',
  WSHOTO_BASE_URL: 'https://open.wshoto.com',
  WECOM_BASE_URL: 'https://qyapi.weixin.qq.com',
};

describe.runIf(run)('EventBridge Scheduler adapter against moto_server', () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let client: SchedulerClient;
  let scheduler: EventBridgeScheduler;
  const target = {
    group: 'qunfa-test',
    functionArn: (name: string) => `arn:aws:lambda:ap-east-1:123456789012:function:${name}`,
    roleArn: 'arn:aws:iam::123456789012:role/qunfa-test-scheduler',
    deadLetterArn: 'arn:aws:sqs:ap-east-1:123456789012:qunfa-test-schedule-dlq',
    workers: {
      DISPATCH_FUNCTION_NAME: 'qunfa-dev-dispatchStep',
      DISPATCH_NOW_FUNCTION_NAME: 'qunfa-dev-dispatchNow',
      POLL_FUNCTION_NAME: 'qunfa-dev-pollStatus',
      CALLBACK_FUNCTION_NAME: 'qunfa-dev-deliverCallback',
    },
  };

  beforeAll(async () => {
    Object.assign(process.env, AWS_VENDOR_ENV);
    moto = await startMoto();
    client = new SchedulerClient({ endpoint: moto.url, region: 'ap-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await client.send(new CreateScheduleGroupCommand({ Name: target.group }));
    scheduler = new EventBridgeScheduler(client, target);
  });
  afterAll(() => moto?.stop());

  it('creates one one-time schedule per step: at() in UTC, OFF window, DELETE after completion, retries and DLQ', async () => {
    const name = scheduleName('tsk_01JDQ8Z5V3C0000000000000AB', 0);
    const at = new Date('2026-12-01T02:00:00.250Z');
    const event = { kind: 'dispatch' as const, tenantId: 'demo', taskId: 'tsk_01JDQ8Z5V3C0000000000000AB', step: 0 };
    await scheduler.schedule(name, at, event);
    const s = await client.send(new GetScheduleCommand({ Name: name, GroupName: target.group }));
    expect(s.ScheduleExpression).toBe('at(2026-12-01T02:00:01)'); // rounded up: never early
    expect(s.ScheduleExpressionTimezone).toBe('UTC');
    expect(s.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
    expect(s.ActionAfterCompletion).toBe('DELETE');
    expect(s.State).toBe('ENABLED');
    expect(s.Target?.Arn).toBe('arn:aws:lambda:ap-east-1:123456789012:function:qunfa-dev-dispatchStep');
    expect(s.Target?.RoleArn).toBe(target.roleArn);
    expect(s.Target?.DeadLetterConfig?.Arn).toBe(target.deadLetterArn);
    expect(s.Target?.RetryPolicy).toEqual({ MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 });
    expect(JSON.parse(s.Target?.Input ?? '{}')).toEqual(event);
  });

  it('a retried create of the same step makes no second schedule', async () => {
    const name = scheduleName('tsk_01JDQ8Z5V3C0000000000000CD', 1);
    const event = { kind: 'dispatch' as const, tenantId: 'demo', taskId: 'tsk_01JDQ8Z5V3C0000000000000CD', step: 1 };
    await scheduler.schedule(name, new Date('2026-12-02T00:00:00Z'), event);
    await scheduler.schedule(name, new Date('2026-12-02T00:00:00Z'), event);
    const all = await client.send(new ListSchedulesCommand({ GroupName: target.group, NamePrefix: 'tsk_01JDQ8Z5V3C0000000000000CD' }));
    expect(all.Schedules?.map((s) => s.Name)).toEqual([name]);
  });

  it('cancel deletes the schedule and tolerates one already gone', async () => {
    const name = scheduleName('tsk_01JDQ8Z5V3C0000000000000EF', 0);
    await scheduler.schedule(name, new Date('2026-12-03T00:00:00Z'), { kind: 'dispatch', tenantId: 'demo', taskId: 'tsk_01JDQ8Z5V3C0000000000000EF', step: 0 });
    await scheduler.cancel(name);
    await expect(client.send(new GetScheduleCommand({ Name: name, GroupName: target.group }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(scheduler.cancel(name)).resolves.toBeUndefined();
    await expect(scheduler.cancel('never-made')).resolves.toBeUndefined();
  });

  it('at() formats whole UTC seconds', () => {
    expect(atExpression(new Date('2026-12-01T10:00:00+08:00'))).toBe('at(2026-12-01T02:00:00)');
  });
});

describe.runIf(run)('createTask and deleteTask with EventBridge Scheduler (moto) and dynalite', () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let env: Awaited<ReturnType<typeof import('./helpers/env').startTestEnv>>;
  let client: SchedulerClient;

  beforeAll(async () => {
    moto = await startMoto();
    client = new SchedulerClient({ endpoint: moto.url, region: 'ap-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await client.send(new CreateScheduleGroupCommand({ Name: 'qunfa-test' }));
    const { startTestEnv } = await import('./helpers/env');
    env = await startTestEnv({
      QUNFA_MODE: 'aws',
      SCHEDULER_ENDPOINT: moto.url,
      SCHEDULE_GROUP: 'qunfa-test',
      ...AWS_VENDOR_ENV,
      DISPATCH_FUNCTION_NAME: 'qunfa-test-dispatchStep',
      SCHEDULER_ROLE_NAME: 'qunfa-test-scheduler',
      SCHEDULE_DLQ_NAME: 'qunfa-test-schedule-dlq',
    });
  });
  afterAll(async () => {
    await env?.close();
    moto?.stop();
  });

  it('a created SOP has one schedule per step, targeting dispatchStep by ARN; cancel deletes them', async () => {
    const { call, inSeconds } = await import('./helpers/env');
    const createTask = fns.createTask;
    const deleteTask = fns.deleteTask;
    const content = { text: '提醒' };
    const res = await call(
      createTask as never,
      {
        method: 'POST',
        path: '/v1/tasks',
        body: {
          vendor: 'weiban',
          name: 'sop',
          audience: { kind: 'groups', senders: ['s'], groupIds: ['g'] },
          steps: [
            { sendAt: inSeconds(3600), content },
            { sendAt: inSeconds(7200), content },
          ],
        },
      },
      'createTask',
    );
    expect(res.status).toBe(201);
    const listed = await client.send(new ListSchedulesCommand({ GroupName: 'qunfa-test', NamePrefix: res.body.id }));
    expect(listed.Schedules?.map((s) => s.Name).sort()).toEqual([`${res.body.id}-s0`, `${res.body.id}-s1`]);
    const s0 = await client.send(new GetScheduleCommand({ Name: `${res.body.id}-s0`, GroupName: 'qunfa-test' }));
    expect(s0.Target?.Arn).toBe('arn:aws:lambda:ap-east-1:123456789012:function:qunfa-test-dispatchStep');
    expect(s0.Target?.RoleArn).toBe('arn:aws:iam::123456789012:role/qunfa-test-scheduler');

    const c = await call(deleteTask as never, { method: 'DELETE', path: `/v1/tasks/${res.body.id}`, params: { taskId: res.body.id } }, 'deleteTask');
    expect(c.status).toBe(200);
    const after = await client.send(new ListSchedulesCommand({ GroupName: 'qunfa-test', NamePrefix: res.body.id }));
    expect(after.Schedules ?? []).toEqual([]);
  });
});
