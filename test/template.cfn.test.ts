import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CALLBACK_LEASE_SECONDS } from '../lib/infra/settings';
import { deployEnvironment, vendorIds } from '../lib/vendors/registry';
import { requireTool } from './helpers/external';

const root = join(__dirname, '..');
let out: string;
/** Local-stack settings in the deployer's shell: none may reach the template. */
const LOCAL_ONLY = {
  QUNFA_MODE: 'local',
  QUNFA_TENANTS_FILE: '/tmp/tenants.json',
  DYNAMODB_ENDPOINT: 'http://127.0.0.1:4569',
  LAMBDA_ENDPOINT: 'http://127.0.0.1:3002',
  LOCAL_SCHEDULES_TABLE: 'qunfa-local-schedules',
};
let template: any;

describe('serverless package (offline, no credentials)', () => {
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'qunfa-pkg-'));
    const res = spawnSync(process.execPath, [join(root, 'node_modules/osls/bin/serverless.js'), 'package', '--stage', 'ci', '--package', out], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        ...LOCAL_ONLY,
        QUNFA_ESBUILD_DIR: '.esbuild-pkg',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_PROFILE: 'qunfa-none',
        SLS_TELEMETRY_DISABLED: '1',
      },
      timeout: 240_000,
    });
    if (res.status !== 0) throw new Error(`serverless package failed:\n${res.stdout}\n${res.stderr}`);
    template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  }, 240_000);

  const resources = (): [string, any][] => Object.entries<any>(template.Resources);

  it('every function is nodejs22.x on arm64, with a role of its own kind', () => {
    const fns = resources().filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(fns.map(([k]) => k).sort()).toEqual(
      [
        'Console',
        'CreateTask',
        'DeleteTask',
        'DeliverCallback',
        'DispatchNow',
        'DispatchStep',
        'GetTask',
        'ListRecipients',
        'ListTasks',
        'ListVendors',
        'Openapi',
        'PatchTask',
        'PollStatus',
        'RedriveDeadLetters',
        'RemindStaff',
        'Sweeper',
        'VendorWebhook',
      ].map((n) => `${n}LambdaFunction`),
    );
    for (const [, fn] of fns) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Role['Fn::GetAtt'][0]).toMatch(/Role$/);
    }
  });

  it('the table is on-demand with point-in-time recovery and TTL, keyed pk/sk', () => {
    const t = template.Resources.TasksTable.Properties;
    expect(t.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled).toBe(true);
    expect(t.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(t.KeySchema.map((k: any) => k.AttributeName)).toEqual(['pk', 'sk']);
  });

  it('has the schedule group, the DLQ, and a scheduler role that may only invoke dispatchStep', () => {
    expect(template.Resources.ScheduleGroup.Type).toBe('AWS::Scheduler::ScheduleGroup');
    expect(template.Resources.ScheduleDeadLetterQueue.Type).toBe('AWS::SQS::Queue');
    const role = template.Resources.SchedulerRole.Properties;
    expect(role.AssumeRolePolicyDocument.Statement[0].Principal.Service).toBe('scheduler.amazonaws.com');
    const stmts = role.Policies[0].PolicyDocument.Statement;
    expect(stmts.map((s: any) => s.Action)).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
    expect(stmts[0].Resource.map((r: any) => r['Fn::Sub'].split(':function:')[1])).toEqual([
      'qunfa-ci-dispatchStep',
      'qunfa-ci-pollStatus',
      'qunfa-ci-deliverCallback',
    ]);
    const fnNames = resources()
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      .map(([, r]) => r.Properties.FunctionName);
    for (const n of ['qunfa-ci-dispatchStep', 'qunfa-ci-pollStatus', 'qunfa-ci-deliverCallback']) expect(fnNames).toContain(n);
  });

  it('no function role grants a wildcard action or resource; only the schedulers may schedule, only delete and patch may unschedule', () => {
    for (const [name, r] of resources().filter(([k, r]) => r.Type === 'AWS::IAM::Role' && k !== 'SchedulerRole')) {
      for (const s of r.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)) {
        const actions = [s.Action].flat();
        expect(
          actions.every((a: string) => !a.includes('*')),
          `${name} ${actions.join(',')}`,
        ).toBe(true);
        // X-Ray's two calls take no resource (AWS documents no resource-level permission for them).
        if (!actions.every((a: string) => a === 'xray:PutTraceSegments' || a === 'xray:PutTelemetryRecords')) expect(s.Resource, name).not.toBe('*');
        if (actions.includes('scheduler:CreateSchedule'))
          expect(['CreateTaskRole', 'PatchTaskRole', 'DispatchStepRole', 'PollStatusRole', 'DeliverCallbackRole']).toContain(name);
        // Delete: a cancelled task's schedules, a moved step's old one, and a callback delivery's own
        // backstop once what comes next is arranged (the backstop only covers a delivery that dies).
        if (actions.includes('scheduler:DeleteSchedule')) expect(['DeleteTaskRole', 'PatchTaskRole', 'DeliverCallbackRole']).toContain(name);
      }
    }
  });

  it('each function reads only the secret it needs: vendor credentials only where a vendor is called or verified', () => {
    const statements = (role: string): any[] => template.Resources[role].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const secretStatements = (role: string) => statements(role).filter((s) => [s.Action].flat().some((a: string) => a.startsWith('secretsmanager:')));
    const fns = resources().filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const readable = Object.fromEntries(
      fns.map(([k, r]) => {
        const role = r.Properties.Role['Fn::GetAtt'][0] as string;
        for (const s of secretStatements(role)) expect([s.Action].flat(), role).toEqual(['secretsmanager:GetSecretValue']);
        return [
          k.replace(/LambdaFunction$/, ''),
          secretStatements(role)
            .flatMap((s) => [s.Resource].flat().map((x: any) => x.Ref ?? JSON.stringify(x)))
            .sort(),
        ];
      }),
    );
    expect(readable).toEqual({
      CreateTask: ['TenantKeysSecret'], // checks the tenant has the vendor from the names kept beside the key hashes
      GetTask: ['TenantKeysSecret'],
      ListTasks: ['TenantKeysSecret'],
      PatchTask: ['TenantKeysSecret'],
      ListRecipients: ['TenantKeysSecret'],
      DeleteTask: ['TenantKeysSecret', 'VendorCredentialsSecret'], // cancels at YouMi
      RemindStaff: ['TenantKeysSecret', 'VendorCredentialsSecret'], // reminds at WeCom
      DeliverCallback: ['TenantKeysSecret'], // signs with the webhookSecret
      DispatchStep: ['VendorCredentialsSecret'],
      DispatchNow: ['VendorCredentialsSecret'], // the send-now lane: dispatchStep's code and role
      PollStatus: ['VendorCredentialsSecret'],
      VendorWebhook: ['VendorCredentialsSecret'],
      RedriveDeadLetters: [], // builds the App (its tenant directory reads nothing until asked) and only invokes workers
      Sweeper: [], // reads tasks and invokes workers
      Openapi: [],
      ListVendors: [],
      Console: [], // static files: reads nothing
    });
    expect(template.Resources.TenantKeysSecret.Properties.Name).toBe('qunfa-ci-tenant-keys');
    expect(template.Resources.VendorCredentialsSecret.Properties.Name).toBe('qunfa-ci-vendor-credentials');
    expect(
      resources()
        .filter(([, r]) => r.Type === 'AWS::SecretsManager::Secret')
        .map(([k]) => k)
        .sort(),
    ).toEqual(['TenantKeysSecret', 'VendorCredentialsSecret']);
    for (const [, fn] of fns) {
      expect(fn.Properties.Environment.Variables.TENANT_KEYS_SECRET_ID).toBe('qunfa-ci-tenant-keys');
      expect(fn.Properties.Environment.Variables.VENDOR_CREDENTIALS_SECRET_ID).toBe('qunfa-ci-vendor-credentials');
    }
  });

  it("the Parameters and Secrets extension's layer is on exactly the functions that may read a tenants secret, its own cache off", () => {
    const fns = resources().filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const readsSecret = ([, r]: [string, any]) =>
      template.Resources[r.Properties.Role['Fn::GetAtt'][0]].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).some((s: any) =>
        [s.Action].flat().includes('secretsmanager:GetSecretValue'),
      );
    const name = ([k]: [string, any]) => k.replace(/LambdaFunction$/, '');
    const layered = fns.filter(([, r]) => r.Properties.Layers).map(name);
    expect(layered.sort()).toEqual(fns.filter(readsSecret).map(name).sort());
    expect(layered).toHaveLength(12);
    // ap-east-1, the template's default region, on arm64 (the AWS CDK's map of the extension's layers).
    const arn = 'arn:aws:lambda:ap-east-1:768336418462:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:1';
    for (const [k, r] of fns.filter(readsSecret)) {
      expect(r.Properties.Layers, k).toEqual([arn]);
      // The function's own cache (TENANT_KEYS_CACHE_SECONDS) is the revocation bound: a second cache in the
      // extension would add its TTL to it. Off, and no TTL set that would suggest otherwise.
      const vars = r.Properties.Environment.Variables;
      expect(vars.PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED, k).toBe('false');
      expect(vars, k).not.toHaveProperty('SECRETS_MANAGER_TTL');
    }
  });

  it('concurrency: dispatchStep has 20 of its own, the send-now lane 10; pollStatus and deliverCallback at most 10 each, the dead-letter consumer 2; the API functions share the rest', () => {
    const fns = resources().filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const reserved = Object.fromEntries(fns.map(([k, r]) => [k.replace(/LambdaFunction$/, ''), r.Properties.ReservedConcurrentExecutions ?? null]));
    expect(reserved).toEqual({
      DispatchStep: 20,
      DispatchNow: 10,
      PollStatus: 10,
      DeliverCallback: 10,
      RedriveDeadLetters: 2,
      Sweeper: 1,
      CreateTask: null,
      GetTask: null,
      ListTasks: null,
      DeleteTask: null,
      PatchTask: null,
      RemindStaff: null,
      ListRecipients: null,
      VendorWebhook: null,
      Openapi: null,
      ListVendors: null,
      Console: null,
    });
  });

  it("each role allows the DynamoDB calls its function's store makes (dynalite does not check IAM: this does)", () => {
    const actions = (role: string): string[] =>
      template.Resources[role].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)
        .flatMap((st: any) => [st.Action].flat())
        .filter((a: string) => a.startsWith('dynamodb:'));
    expect(actions('CreateTaskRole')).toEqual(expect.arrayContaining(['dynamodb:BatchWriteItem'])); // a large audience's chunk items
    expect(actions('DispatchStepRole')).toEqual(expect.arrayContaining(['dynamodb:Query'])); // read back at dispatch
    expect(actions('PollStatusRole')).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:BatchWriteItem'])); // recipients kept
    expect(actions('ReadTasksRole')).toEqual(expect.arrayContaining(['dynamodb:Query'])); // lists, recipients
    expect(actions('RemindStaffRole')).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem']));
  });

  it('createTask and patchTask invoke only the send-now lane; the scheduler invokes only the scheduled workers', () => {
    const invokes = (role: string) =>
      template.Resources[role].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)
        .filter((s: any) => [s.Action].flat().includes('lambda:InvokeFunction'))
        .flatMap((s: any) => [s.Resource].flat().map((r: any) => r['Fn::GetAtt']?.[0]));
    expect(invokes('CreateTaskRole')).toEqual(['DispatchNowLambdaFunction']);
    expect(invokes('PatchTaskRole')).toEqual(['DispatchNowLambdaFunction']);
    // The dead-letter consumer invokes what a schedule would have: the scheduled workers.
    expect(invokes('RedriveDeadLettersRole')).toEqual(['DispatchStepLambdaFunction', 'PollStatusLambdaFunction', 'DeliverCallbackLambdaFunction']);
  });

  it('the HTTP API throttles every route of its default stage: a burst of 200, then 100 requests a second', () => {
    const stage = template.Resources.HttpApiStage;
    expect(stage.Type).toBe('AWS::ApiGatewayV2::Stage');
    expect(stage.Properties.StageName).toBe('$default');
    expect(stage.Properties.DefaultRouteSettings).toEqual({ DetailedMetricsEnabled: false, ThrottlingBurstLimit: 200, ThrottlingRateLimit: 100 });
  });

  it('the console (GET /console, /console/{asset}) is public, builds no App, and its role may only write its logs', () => {
    const r = template.Resources;
    const routes = resources()
      .filter(([, x]) => x.Type === 'AWS::ApiGatewayV2::Route' && /^GET \/console/.test(x.Properties.RouteKey))
      .map(([, x]) => x.Properties);
    expect(routes.map((x) => x.RouteKey).sort()).toEqual(['GET /console', 'GET /console/{asset}']);
    for (const route of routes) {
      expect(route.AuthorizationType ?? 'NONE').toBe('NONE');
      expect(JSON.stringify(route.Target)).toContain('HttpApiIntegrationConsole');
    }
    const fn = r.ConsoleLambdaFunction.Properties;
    expect(fn.Role).toEqual({ 'Fn::GetAtt': ['ConsoleRole', 'Arn'] });
    const vendorVars = Object.keys(deployEnvironment({}));
    expect(Object.keys(fn.Environment.Variables).filter((v) => vendorVars.includes(v))).toEqual([]);
    const statements = r.ConsoleRole.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    expect(statements.flatMap((st: any) => [st.Action].flat())).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(JSON.stringify(statements[0].Resource)).toContain('log-group:/aws/lambda/qunfa-ci-console:*');
  });

  it("deliverCallback's timeout is shorter than its lease, so a timed-out delivery is over before anyone else takes its callbacks", () => {
    const timeout = template.Resources.DeliverCallbackLambdaFunction.Properties.Timeout;
    expect(timeout).toBe(60);
    expect(timeout).toBeLessThan(DEFAULT_CALLBACK_LEASE_SECONDS);
  });

  it('bundles each function separately (middy and the SDK inside, nothing installed at deploy)', () => {
    const zips = readdirSync(out).filter((f) => f.endsWith('.zip'));
    expect(zips.sort()).toEqual([
      'console.zip',
      'createTask.zip',
      'deleteTask.zip',
      'deliverCallback.zip',
      'dispatchNow.zip',
      'dispatchStep.zip',
      'getTask.zip',
      'listRecipients.zip',
      'listTasks.zip',
      'listVendors.zip',
      'openapi.zip',
      'patchTask.zip',
      'pollStatus.zip',
      'redriveDeadLetters.zip',
      'remindStaff.zip',
      'sweeper.zip',
      'vendorWebhook.zip',
    ]);
    for (const z of zips) expect(statSync(join(out, z)).size).toBeGreaterThan(1000);
  });

  it('the schedule dead-letter queue is consumed by redriveDeadLetters (batch item failures), and what it refuses is parked after 5 receives', () => {
    const r = template.Resources;
    const mappings = resources().filter(([, x]) => x.Type === 'AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(1);
    const [, mapping] = mappings[0] as [string, any];
    expect(mapping.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'Arn'] },
      FunctionName: { 'Fn::GetAtt': ['RedriveDeadLettersLambdaFunction', 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      Enabled: true,
    });
    // The mapping never invokes more than the function's reserved concurrency: a throttled batch
    // would go back to the queue and count as a receive towards the parked queue.
    const fn = r.RedriveDeadLettersLambdaFunction.Properties;
    expect(mapping.Properties.ScalingConfig.MaximumConcurrency).toBeLessThanOrEqual(fn.ReservedConcurrentExecutions);
    expect(fn.Timeout).toBe(60);
    expect(fn.Role).toEqual({ 'Fn::GetAtt': ['RedriveDeadLettersRole', 'Arn'] });

    const dlq = r.ScheduleDeadLetterQueue.Properties;
    expect(dlq.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Timeout); // AWS's advice for a queue a function consumes
    expect(dlq.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': ['ScheduleParkedQueue', 'Arn'] }, maxReceiveCount: 5 });
    expect(r.ScheduleParkedQueue).toMatchObject({
      Type: 'AWS::SQS::Queue',
      Properties: { QueueName: 'qunfa-ci-schedule-parked', MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true },
    });
    expect(dlq.MessageRetentionPeriod).toBe(1209600);

    const statements = r.RedriveDeadLettersRole.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    expect(statements.find((s: any) => [s.Action].flat().includes('sqs:ReceiveMessage'))).toEqual({
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      Resource: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'Arn'] },
    });
    expect(JSON.stringify(statements.find((s: any) => [s.Action].flat().includes('logs:PutLogEvents')).Resource)).toContain(
      'log-group:/aws/lambda/qunfa-ci-redriveDeadLetters:*',
    );
    // Only this function reads the queue; nobody reads the parked queue (a person does).
    for (const [name, role] of resources().filter(([k, x]) => x.Type === 'AWS::IAM::Role' && k !== 'RedriveDeadLettersRole')) {
      const actions = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).flatMap((s: any) => [s.Action].flat());
      expect(
        actions.filter((a: string) => a.startsWith('sqs:') && a !== 'sqs:SendMessage'),
        name,
      ).toEqual([]);
    }
    expect(JSON.stringify(template.Resources)).not.toContain('"sqs:*"');
  });

  it("the workers' failed asynchronous invocations (after Lambda's retries) go to the same dead-letter queue, which their roles may send to", () => {
    const configs = resources().filter(([, x]) => x.Type === 'AWS::Lambda::EventInvokeConfig');
    expect(Object.fromEntries(configs.map(([, c]) => [c.Properties.FunctionName.Ref, c.Properties.DestinationConfig]))).toEqual(
      Object.fromEntries(
        ['DispatchStep', 'DispatchNow', 'PollStatus', 'DeliverCallback'].map((f) => [
          `${f}LambdaFunction`,
          { OnFailure: { Destination: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'Arn'] } } },
        ]),
      ),
    );
    for (const [, c] of configs) expect(c.Properties.Qualifier).toBe('$LATEST');
    const sends = (role: string) =>
      template.Resources[role].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).filter((s: any) =>
        [s.Action].flat().includes('sqs:SendMessage'),
      );
    const workerRoles = ['DispatchStepRole', 'PollStatusRole', 'DeliverCallbackRole'];
    for (const f of ['DispatchStep', 'DispatchNow', 'PollStatus', 'DeliverCallback'])
      expect(workerRoles).toContain(template.Resources[`${f}LambdaFunction`].Properties.Role['Fn::GetAtt'][0]);
    for (const role of workerRoles)
      expect(sends(role), role).toEqual([{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'Arn'] } }]);
    // Nobody else sends to it but the scheduler.
    for (const [name] of resources().filter(([k, x]) => x.Type === 'AWS::IAM::Role' && !workerRoles.includes(k) && k !== 'SchedulerRole'))
      expect(sends(name), name).toEqual([]);
  });

  it.runIf(requireTool('cfn-lint', 'the CloudFormation template lint'))('cfn-lint finds no error in the template', () => {
    const res = spawnSync('cfn-lint', [join(out, 'cloudformation-template-update-stack.json')], { encoding: 'utf8' });
    // Exit code bits: 2 = errors, 4 = warnings, 8 = informational. Warnings are reported, errors fail.
    if (res.stdout.trim())
      console.log(
        res.stdout
          .split('\n')
          .filter((l) => /^[EW]\d/.test(l))
          .join('\n'),
      );
    expect(res.status! & 2, res.stdout).toBe(0);
    expect(res.status! & 1, res.stderr).toBe(0);
  });

  it('the sweeper runs every 5 minutes, one at a time, reading the byWatch index (sparse, keys only) and invoking only the scheduled workers', () => {
    const rule = resources().find(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === 'SweeperLambdaFunction')?.[1];
    expect(rule?.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    expect(rule?.Properties.State).toBe('ENABLED');
    expect(template.Resources.SweeperLambdaFunction.Properties.ReservedConcurrentExecutions).toBe(1);
    const t = template.Resources.TasksTable.Properties;
    expect(t.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byWatch',
        KeySchema: [
          { AttributeName: 'watchShard', KeyType: 'HASH' },
          { AttributeName: 'watchAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
    const statements = template.Resources.SweeperRole.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const query = statements.find((s: any) => [s.Action].flat().includes('dynamodb:Query'));
    expect(query.Resource).toEqual({ 'Fn::Sub': '${TasksTable.Arn}/index/byWatch' });
    const invoked = statements.filter((s: any) => [s.Action].flat().includes('lambda:InvokeFunction')).flatMap((s: any) => [s.Resource].flat());
    expect(invoked.map((r: any) => r['Fn::GetAtt'][0]).sort()).toEqual([
      'DeliverCallbackLambdaFunction',
      'DispatchStepLambdaFunction',
      'PollStatusLambdaFunction',
    ]);
  });

  it('alarms go to one SNS topic (emailed when alarmEmail is given): DLQ backlog, parked work, UNKNOWN steps, FAILED rate per vendor, abandoned callbacks, dispatch errors and throttles', () => {
    expect(template.Resources.AlarmTopic.Type).toBe('AWS::SNS::Topic');
    const sub = template.Resources.AlarmEmailSubscription;
    expect(sub.Condition).toBe('HasAlarmEmail');
    expect(sub.Properties).toMatchObject({ Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' }, TopicArn: { Ref: 'AlarmTopic' } });
    expect(template.Parameters.AlarmEmail.Default).toBe('');
    const alarms = Object.fromEntries(resources().filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm'));
    expect(Object.keys(alarms).sort()).toEqual(
      [
        'CallbacksAbandonedAlarm',
        'DispatchErrorsAlarm',
        'DispatchThrottlesAlarm',
        'ParkedWorkAlarm',
        'ScheduleDlqBacklogAlarm',
        'SweeperErrorsAlarm',
        'UnknownStepsAlarm',
        'VendorThrottlesAlarm',
        ...vendorIds().map((v) => `FailedRate${v.charAt(0).toUpperCase()}${v.slice(1)}Alarm`),
      ].sort(),
    );
    for (const [name, a] of Object.entries<any>(alarms)) {
      expect(a.Properties.AlarmActions, name).toEqual([{ Ref: 'AlarmTopic' }]);
      expect(
        a.Properties.Metrics.filter((m: any) => m.ReturnData),
        name,
      ).toHaveLength(1);
    }
    const inputs = (name: string) => alarms[name].Properties.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
    const dims = (m: any) => Object.fromEntries(m.Dimensions.map((d: any) => [d.Name, d.Value]));
    expect(inputs('ScheduleDlqBacklogAlarm')).toEqual([
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'QueueName'] } }],
      }),
    ]);
    expect(inputs('ParkedWorkAlarm')[0].Dimensions[0].Value).toEqual({ 'Fn::GetAtt': ['ScheduleParkedQueue', 'QueueName'] });
    // qunfa's metrics exactly as Powertools writes them: namespace qunfa, service plus the catalog's dimensions.
    expect(inputs('UnknownStepsAlarm').map((m: any) => [m.Namespace, m.MetricName, dims(m)])).toEqual(
      vendorIds().map((v) => ['qunfa', 'StepsUnknown', { service: 'qunfa', vendor: v }]),
    );
    expect(inputs('FailedRateWecomAlarm').map(dims)).toEqual(
      ['FAILED', 'SUBMITTED', 'UNKNOWN'].map((outcome) => ({ service: 'qunfa', vendor: 'wecom', outcome })),
    );
    expect(alarms.FailedRateWecomAlarm.Properties.Threshold).toBe(20);
    expect(inputs('CallbacksAbandonedAlarm')).toEqual([
      expect.objectContaining({ MetricName: 'CallbacksAbandoned', Dimensions: [{ Name: 'service', Value: 'qunfa' }] }),
    ]);
    for (const [alarm, metric] of [
      ['DispatchErrorsAlarm', 'Errors'],
      ['DispatchThrottlesAlarm', 'Throttles'],
    ] as const)
      expect(inputs(alarm).map((m: any) => [m.Namespace, m.MetricName, m.Dimensions[0].Value.Ref])).toEqual([
        ['AWS/Lambda', metric, 'DispatchStepLambdaFunction'],
        ['AWS/Lambda', metric, 'DispatchNowLambdaFunction'],
      ]);
  });

  it('tracing is active only on the functions that call vendors, and their roles may write traces', () => {
    const traced = resources()
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.TracingConfig?.Mode === 'Active')
      .map(([k]) => k.replace(/LambdaFunction$/, ''));
    expect(traced.sort()).toEqual(['DispatchNow', 'DispatchStep', 'PollStatus']);
    for (const role of ['DispatchStepRole', 'PollStatusRole']) {
      const actions = template.Resources[role].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).flatMap((s: any) => [s.Action].flat());
      expect(actions, role).toEqual(expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']));
    }
  });

  it("no local-only setting from the deployer's shell reaches a function's environment", () => {
    const fns = resources().filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(fns.length).toBeGreaterThan(0);
    for (const [name, fn] of fns) {
      const vars = Object.keys(fn.Properties.Environment?.Variables ?? {});
      expect(
        vars.filter((v) => v in LOCAL_ONLY),
        name,
      ).toEqual([]);
    }
  });

  it("the vendors' own variables (from the registry) reach every function that builds the App (it checks them at cold start), and only those", () => {
    const vendorVars = Object.keys(deployEnvironment({}));
    expect(vendorVars).toContain('WEIBAN_BASE_URL');
    // All but the two public routes that need no dependencies (openapi, listVendors).
    const callers = [
      'CreateTask',
      'GetTask',
      'ListTasks',
      'DeleteTask',
      'PatchTask',
      'DispatchStep',
      'DispatchNow',
      'PollStatus',
      'DeliverCallback',
      'VendorWebhook',
      'RemindStaff',
      'ListRecipients',
      'RedriveDeadLetters',
      'Sweeper',
    ];
    for (const [name, fn] of resources().filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
      const vars = fn.Properties.Environment.Variables;
      if (callers.includes(name.replace(/LambdaFunction$/, ''))) {
        expect(Object.keys(vars), name).toEqual(expect.arrayContaining(vendorVars));
        expect(vars.WEIBAN_BASE_URL, name).toMatch(/^https:\/\//);
      } else {
        expect(
          Object.keys(vars).filter((v) => vendorVars.includes(v)),
          name,
        ).toEqual([]);
      }
    }
  });
});
