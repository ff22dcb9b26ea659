/**
 * Metrics (Powertools, CloudWatch embedded metric format): one namespace, `qunfa`, and the catalog
 * below is every metric qunfa emits, with its dimensions. Each is written as its own EMF line at
 * the moment it happens (a single metric, so each gets its own dimensions), carrying the
 * invocation's tenant, task and step (and its Lambda request id) as metadata: searchable in Logs Insights, never dimensions
 * (a tenant or task id as a dimension would make a metric per task). The alarms in serverless.yml
 * name these metrics with the same dimensions.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { invocationRequestId, invocationTags } from './logger';

export const METRICS_NAMESPACE = 'qunfa';
/** Powertools adds `service` to every metric's dimensions; the alarms name it too. */
export const METRICS_SERVICE = 'qunfa';

/** Every metric, its unit and its dimensions (in this order). */
export const METRIC_CATALOG = {
  /** A task accepted by POST /v1/tasks. */
  TasksCreated: { unit: MetricUnit.Count, dimensions: ['vendor'] },
  /** A step's vendor call(s) ended: outcome SUBMITTED, FAILED or UNKNOWN. */
  StepsDispatched: { unit: MetricUnit.Count, dimensions: ['vendor', 'outcome'] },
  /** A step became UNKNOWN (a call that may have reached the vendor; a person must look): at dispatch or when its claim was lost. */
  StepsUnknown: { unit: MetricUnit.Count, dimensions: ['vendor'] },
  /** A step reached its notAfter before the vendor: FAILED qunfa.expired. */
  StepsExpired: { unit: MetricUnit.Count, dimensions: ['vendor'] },
  /** A step waits for room (reason noRoom: qunfa's own limits; throttled: the vendor asked us to wait; unreachable). */
  StepsDeferred: { unit: MetricUnit.Count, dimensions: ['vendor', 'reason'] },
  /** A vendor answered "too many requests" (its throttle codes). */
  VendorThrottles: { unit: MetricUnit.Count, dimensions: ['vendor'] },
  /** One vendor call, start to answer (operation write: create, cancel, remind; read: status). */
  VendorCallLatency: { unit: MetricUnit.Milliseconds, dimensions: ['vendor', 'operation'] },
  /** A status poll (result ok, failed, or noRoom: asked again later). */
  StatusPolls: { unit: MetricUnit.Count, dimensions: ['vendor', 'result'] },
  /** A callback the caller's receiver answered 2xx. */
  CallbacksDelivered: { unit: MetricUnit.Count, dimensions: [] },
  /** A delivery attempt that failed (it is retried). */
  CallbackAttemptsFailed: { unit: MetricUnit.Count, dimensions: [] },
  /** A callback given up on after the retry window (CALLBACK_GIVE_UP_SECONDS). */
  CallbacksAbandoned: { unit: MetricUnit.Count, dimensions: [] },
  /** The sweeper put lost work back on its path (kind dispatch, poll, callback). */
  WorkRepaired: { unit: MetricUnit.Count, dimensions: ['kind'] },
  /** Items the sweeper read from the index in one run (its cost). */
  SweepItemsRead: { unit: MetricUnit.Count, dimensions: [] },
  /** Work taken from the schedule dead-letter queue and invoked again (kind dispatch, poll, callback). */
  DeadLettersRedriven: { unit: MetricUnit.Count, dimensions: ['kind'] },
  /** A dead letter not re-driven: unreadable, or re-driven too often already (left for the parked queue). */
  DeadLettersRefused: { unit: MetricUnit.Count, dimensions: [] },
} as const;

export type MetricName = keyof typeof METRIC_CATALOG;
type DimensionsOf<N extends MetricName> = { [K in (typeof METRIC_CATALOG)[N]['dimensions'][number]]: string };

/** One instance in single-metric mode: each addMetric is written at once, and its dimensions and metadata cleared with it. */
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE, singleMetric: true });

/** Emits one metric now, as its own EMF line, with the invocation's tenant, task and step as metadata. */
export function metric<N extends MetricName>(name: N, dimensions: DimensionsOf<N>, value = 1): void {
  metrics.addDimensions(dimensions);
  for (const [k, v] of Object.entries(invocationTags())) if (v !== undefined && !(k in dimensions)) metrics.addMetadata(k, String(v));
  const requestId = invocationRequestId();
  if (requestId) metrics.addMetadata('function_request_id', requestId);
  metrics.addMetric(name, METRIC_CATALOG[name].unit, value);
}
