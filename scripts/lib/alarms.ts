/**
 * The deployment's CloudWatch alarms, as CloudFormation resources (serverless.yml reads them
 * through scripts/alarms.cjs). Each notifies the AlarmTopic (serverless.yml; an email subscription
 * from the `alarmEmail` deploy parameter) when it fires and when it clears. What each means and
 * what to do: docs/operations.md, "Alarms". qunfa's own metrics are named from the catalog
 * (lib/infra/metrics.ts), with the dimensions Powertools writes (`service` and the catalog's).
 */
import { METRIC_CATALOG, METRICS_NAMESPACE, METRICS_SERVICE, type MetricName } from '../../lib/infra/metrics';
import { vendorIds } from '../../lib/vendors/registry';

type Cfn = Record<string, unknown>;

const name = (suffix: string) => ({ 'Fn::Sub': `\${AWS::StackName}-${suffix}` });
const notify = { AlarmActions: [{ Ref: 'AlarmTopic' }], OKActions: [{ Ref: 'AlarmTopic' }], TreatMissingData: 'notBreaching' };

/** One of qunfa's metrics with its dimensions' values, summed over `period` seconds, as a metric-math input. */
function own(id: string, metric: MetricName, dims: Record<string, string>, period: number): Cfn {
  const expected = METRIC_CATALOG[metric].dimensions as readonly string[];
  if (Object.keys(dims).sort().join() !== [...expected].sort().join()) throw new Error(`${metric} has dimensions ${expected.join(', ')}`);
  return {
    Id: id,
    ReturnData: false,
    MetricStat: {
      Metric: {
        Namespace: METRICS_NAMESPACE,
        MetricName: metric,
        Dimensions: [{ Name: 'service', Value: METRICS_SERVICE }, ...Object.entries(dims).map(([Name, Value]) => ({ Name, Value }))],
      },
      Period: period,
      Stat: 'Sum',
    },
  };
}

/** An AWS service metric (Lambda, SQS) as a metric-math input. */
function aws(id: string, namespace: string, metric: string, dims: Record<string, unknown>, period: number, stat = 'Sum'): Cfn {
  return {
    Id: id,
    ReturnData: false,
    MetricStat: {
      Metric: { Namespace: namespace, MetricName: metric, Dimensions: Object.entries(dims).map(([Name, Value]) => ({ Name, Value })) },
      Period: period,
      Stat: stat,
    },
  };
}

function alarm(suffix: string, description: string, metrics: Cfn[], expression: string, o: { threshold: number; periods?: number; operator?: string }): Cfn {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: name(suffix),
      AlarmDescription: `${description} See docs/operations.md, "Alarms".`,
      Metrics: [...metrics, { Id: 'alarmed', Expression: expression, ReturnData: true, Label: suffix }],
      Threshold: o.threshold,
      ComparisonOperator: o.operator ?? 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: o.periods ?? 1,
      DatapointsToAlarm: o.periods ?? 1,
      ...notify,
    },
  };
}

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const FIVE_MINUTES = 300;
const FIFTEEN_MINUTES = 900;

export function alarmResources(vendors: readonly string[] = vendorIds()): { Resources: Record<string, Cfn> } {
  const perVendor = (prefix: string, metric: MetricName, extra: Record<string, string> = {}, period = FIVE_MINUTES) =>
    vendors.map((v, i) => own(`${prefix}${i}`, metric, { vendor: v, ...extra }, period));
  const sum = (prefix: string) => `SUM([${vendors.map((_, i) => `${prefix}${i}`).join(', ')}])`;
  const dispatchers = (metric: string) => [
    aws('step', 'AWS/Lambda', metric, { FunctionName: { Ref: 'DispatchStepLambdaFunction' } }, FIVE_MINUTES),
    aws('now', 'AWS/Lambda', metric, { FunctionName: { Ref: 'DispatchNowLambdaFunction' } }, FIVE_MINUTES),
  ];
  const queue = (logicalId: string) =>
    aws('visible', 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: { 'Fn::GetAtt': [logicalId, 'QueueName'] } }, FIVE_MINUTES, 'Maximum');

  const Resources: Record<string, Cfn> = {
    ScheduleDlqBacklogAlarm: alarm(
      'schedule-dlq-backlog',
      'Work that could not be delivered to its worker has waited in the schedule dead-letter queue for 15 minutes: redriveDeadLetters is failing or throttled.',
      [queue('ScheduleDeadLetterQueue')],
      'visible',
      { threshold: 1, periods: 3 },
    ),
    ParkedWorkAlarm: alarm(
      'parked-work',
      'A dead letter could not be re-driven and was parked: a person must look at it.',
      [queue('ScheduleParkedQueue')],
      'visible',
      { threshold: 1 },
    ),
    UnknownStepsAlarm: alarm(
      'unknown-steps',
      'A step ended UNKNOWN: it may have reached its vendor and is never re-sent; a person must check the vendor console.',
      perVendor('u', 'StepsUnknown'),
      sum('u'),
      { threshold: 1 },
    ),
    CallbacksAbandonedAlarm: alarm(
      'callbacks-abandoned',
      "A callback to a caller's callbackUrl was given up after its retry window.",
      [own('abandoned', 'CallbacksAbandoned', {}, FIVE_MINUTES)],
      'abandoned',
      { threshold: 1 },
    ),
    // FILL: Lambda publishes a function's figures only for periods it ran in (dispatchNow is often idle).
    DispatchErrorsAlarm: alarm('dispatch-errors', 'dispatchStep or dispatchNow invocations failed.', dispatchers('Errors'), 'FILL(step, 0) + FILL(now, 0)', {
      threshold: 1,
    }),
    DispatchThrottlesAlarm: alarm(
      'dispatch-throttles',
      'dispatchStep or dispatchNow have been throttled for 15 minutes: due work waits longer than a burst should make it.',
      dispatchers('Throttles'),
      'FILL(step, 0) + FILL(now, 0)',
      { threshold: 1, periods: 3 },
    ),
    VendorThrottlesAlarm: alarm(
      'vendor-throttles',
      "Vendors answered 'too many requests' 10 or more times in 5 minutes: qunfa's limits for a vendor are above what it allows.",
      perVendor('t', 'VendorThrottles'),
      sum('t'),
      { threshold: 10 },
    ),
    SweeperErrorsAlarm: alarm(
      'sweeper-errors',
      'The sweeper failed: lost work is not being put back on its path.',
      [aws('errors', 'AWS/Lambda', 'Errors', { FunctionName: { Ref: 'SweeperLambdaFunction' } }, FIVE_MINUTES)],
      'errors',
      { threshold: 1 },
    ),
  };
  // One per vendor: of the steps dispatched to it in 15 minutes (at least 5), more than 20% FAILED.
  for (const v of vendors) {
    Resources[`FailedRate${pascal(v)}Alarm`] = alarm(
      `failed-rate-${v}`,
      `More than 20% of the steps dispatched to ${v} in 15 minutes FAILED (at least 5 dispatched).`,
      ['FAILED', 'SUBMITTED', 'UNKNOWN'].map((outcome) => own(outcome.toLowerCase(), 'StepsDispatched', { vendor: v, outcome }, FIFTEEN_MINUTES)),
      'IF(FILL(failed, 0) + FILL(submitted, 0) + FILL(unknown, 0) >= 5, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(submitted, 0) + FILL(unknown, 0)), 0)',
      { threshold: 20, operator: 'GreaterThanThreshold' },
    );
  }
  return { Resources };
}
