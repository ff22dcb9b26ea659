/**
 * The environment, validated: the composition root (lib/app.ts) reads it once per cold start, so a
 * misconfigured function fails at its first invocation with a message naming the variable, not
 * at some later vendor call. Services receive the result; none of them reads the environment.
 */
import * as z from 'zod/mini';

/** deliverCallback's timeout in serverless.yml (60 s) must stay below it: the template test checks. */
export const DEFAULT_CALLBACK_LEASE_SECONDS = 120;

const Env = z.object({
  STAGE: z._default(z.string(), 'dev'),
  SERVICE: z._default(z.string(), 'qunfa'),
  TABLE_NAME: z.string().check(z.minLength(1)),
  AWS_REGION: z._default(z.string(), 'us-east-1'),
  /**
   * `local`: the stack started by `npm start` (local scheduler, http callbacks, vendor sandboxes).
   * Never set by serverless.yml: only scripts/start.ts passes it (serverless-offline copies its
   * environment), and a Lambda running in AWS refuses it at cold start.
   */
  QUNFA_MODE: z._default(z.enum(['aws', 'local']), 'aws'),
  DYNAMODB_ENDPOINT: z.optional(z.string()),
  SCHEDULER_ENDPOINT: z.optional(z.string()),
  /** Lambda's Invoke API elsewhere than in AWS (the local stack's; lib/infra/workerInvoker.ts). */
  LAMBDA_ENDPOINT: z.optional(z.string().check(z.regex(/^https?:\/\//))),
  /**
   * The AWS Parameters and Secrets Lambda Extension's local endpoint, through which the two tenant
   * secrets are read in AWS (lib/infra/tenantDirectory.ts). Unset: http://localhost and the port
   * the extension itself listens on (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, its default 2773).
   */
  // Loopback only: the session token goes with every read, and the extension listens on the function's own host.
  SECRETS_EXTENSION_URL: z.optional(
    z.string().check(z.regex(/^http:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?\/?$/, 'must be http://localhost:<port> (or 127.x.x.x, [::1])')),
  ),
  PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive(), z.maximum(65535)), 2773),
  /**
   * The function's temporary credentials, which Lambda sets: the session token is also what the
   * extension requires of its callers (X-Aws-Parameters-Secrets-Token), and the three sign the direct
   * invokes (lib/infra/workerInvoker.ts). Never logged, never put in an error.
   */
  AWS_ACCESS_KEY_ID: z.optional(z.string()),
  AWS_SECRET_ACCESS_KEY: z.optional(z.string()),
  AWS_SESSION_TOKEN: z.optional(z.string()),
  SCHEDULE_GROUP: z._default(z.string(), 'qunfa-dev'),
  DISPATCH_FUNCTION_NAME: z._default(z.string(), 'qunfa-dev-dispatchStep'),
  DISPATCH_NOW_FUNCTION_NAME: z._default(z.string(), 'qunfa-dev-dispatchNow'),
  POLL_FUNCTION_NAME: z._default(z.string(), 'qunfa-dev-pollStatus'),
  CALLBACK_FUNCTION_NAME: z._default(z.string(), 'qunfa-dev-deliverCallback'),
  SCHEDULER_ROLE_NAME: z._default(z.string(), 'qunfa-dev-scheduler'),
  SCHEDULE_DLQ_NAME: z._default(z.string(), 'qunfa-dev-schedule-dlq'),
  LOCAL_SCHEDULES_TABLE: z._default(z.string(), 'qunfa-local-schedules'),
  /** Where tenants come from: a JSON file (local) or two Secrets Manager secrets (AWS): keys, and vendor credentials. */
  QUNFA_TENANTS_FILE: z.optional(z.string()),
  TENANT_KEYS_SECRET_ID: z.optional(z.string()),
  VENDOR_CREDENTIALS_SECRET_ID: z.optional(z.string()),
  /**
   * How long a function keeps the keys secret. A revoked API key is refused at most this long after
   * the secret changes (the extension's own cache is off, serverless.yml).
   */
  TENANT_KEYS_CACHE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive(), z.maximum(60)), 30),
  /** How long a function keeps the vendor credentials secret (a rotated credential takes effect within it). */
  VENDOR_CREDENTIALS_CACHE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive(), z.maximum(3600)), 300),
  /*
   * Each vendor's own variables (its endpoints and settings) are not here: they are in its folder
   * (lib/vendors/<vendor>/settings.ts), read and checked by lib/vendors/registry.ts loadVendorSettings.
   */
  /** Vendor call timeout; a timed-out create is ambiguous (UNKNOWN), so keep it generous. */
  VENDOR_TIMEOUT_MS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 10_000),
  /** How long a DISPATCHING claim may live before a later invocation calls the step UNKNOWN. */
  DISPATCH_LEASE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 90),
  /** Seconds between status polls after submit; the last one repeats until a final state. */
  STATUS_POLL_INTERVALS: z.pipe(
    z._default(z.string().check(z.regex(/^\d+(,\d+)*$/)), '60,300,900,1800,3600,7200,21600'),
    z.transform((s: string) => s.split(',').map(Number)),
  ),
  /** Polls per step, failed ones included; at the cap the step ends (COMPLETED if anything was sent, else FAILED qunfa.poll_limit). */
  STATUS_POLL_MAX_COUNT: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 100),
  /** How long after its submit a step is followed at most (any vendor; a vendor's own result horizon, capabilities.resultHorizonDays, also applies). */
  STATUS_POLL_MAX_AGE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 15 * 86_400),
  /** Pauses between attempts to deliver a callback to the caller; the last repeats until 24 h have passed. */
  CALLBACK_RETRY_SECONDS: z.pipe(
    z._default(z.string().check(z.regex(/^\d+(,\d+)*$/)), '10,30,60,300,900,1800,3600,7200,14400'),
    z.transform((s: string) => s.split(',').map(Number)),
  ),
  CALLBACK_GIVE_UP_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 24 * 3600),
  /** The most one delivery attempt takes, start to end of the answer (however slowly it trickles). */
  CALLBACK_TIMEOUT_MS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 5_000),
  /**
   * How long a delivery holds a task's callbacks. Longer than deliverCallback's timeout
   * (serverless.yml), so a timed-out invocation is over before anyone else takes them; an
   * invocation starts attempts only in the first half of it, each ending within CALLBACK_TIMEOUT_MS.
   */
  CALLBACK_LEASE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), DEFAULT_CALLBACK_LEASE_SECONDS),
  /** Vendor callbacks older (or newer) than this are stale: refused. */
  WEBHOOK_MAX_SKEW_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 300),
  /** A send-now step also gets a schedule this far ahead, in case the direct invoke is lost. */
  BACKSTOP_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 120),
  /** First pause before retrying a vendor call that provably did not land (doubles each time). */
  DISPATCH_BACKOFF_MS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.nonnegative()), 500),
  DISPATCH_MAX_RETRIES: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.nonnegative()), 4),
  /** A step's deadline when the task names no notAfter: its sendAt plus this (SPEC §1, 1 h). */
  NOT_AFTER_DEFAULT_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 3600),
  /** How long an in-flight slot of the flow limiter lives if its holder dies without releasing it. */
  LIMITER_LEASE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 30),
  /** How long a dispatcher waits in-process for an in-flight slot before deferring through the scheduler. */
  IN_FLIGHT_WAIT_MS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.nonnegative()), 2_000),
  /**
   * How late waiting work may be before the sweeper puts it back on its path: a step not claimed
   * this long after its time, a claim this long past its lease, a poll or a callback this late.
   * Longer than schedulers' usual lateness, so the sweeper repairs what was lost, not what is slow.
   */
  SWEEP_GRACE_SECONDS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 300),
  /** The most overdue tasks one sweep looks at (the next sweep takes the rest). */
  SWEEP_MAX_TASKS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.positive()), 500),
  /** The most a deferred step's next attempt is spread past the moment room is expected (no stampede). */
  DEFER_JITTER_MS: z._default(z.coerce.number().check(z.refine(Number.isInteger), z.nonnegative()), 3_000),
});
type ParsedEnv = z.infer<typeof Env>;
/** The environment as the services see it: SECRETS_EXTENSION_URL always resolved. */
export type Settings = Omit<ParsedEnv, 'SECRETS_EXTENSION_URL'> & { SECRETS_EXTENSION_URL: string };

export function loadSettings(source: Record<string, string | undefined>): Settings {
  // serverless.yml passes unset local-only variables as '': treat them as unset.
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid environment: ${names}`);
  }
  const problems = [...modeProblems(parsed.data, env), ...timingProblems(parsed.data)];
  if (problems.length) throw new Error(`invalid environment: ${problems.join('; ')}`);
  const c = parsed.data;
  return { ...c, SECRETS_EXTENSION_URL: c.SECRETS_EXTENSION_URL ?? `http://localhost:${c.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT}` };
}

/** Settings that together would stop every callback: no attempt could ever start within its lease. */
function timingProblems(c: ParsedEnv): string[] {
  return (c.CALLBACK_LEASE_SECONDS * 1000) / 2 > c.CALLBACK_TIMEOUT_MS
    ? []
    : ['CALLBACK_LEASE_SECONDS: half of it must exceed CALLBACK_TIMEOUT_MS (an attempt starts only if it can end within the first half of the lease)'];
}

/**
 * AWS mode fails closed: no local mode inside a real Lambda. (Vendor endpoints, unset or not
 * https, are refused by lib/vendors/registry.ts loadVendorSettings, in the same words.) Names
 * variables, never values.
 */
function modeProblems(c: ParsedEnv, env: Record<string, string | undefined>): string[] {
  const inRealLambda = Boolean(env.AWS_LAMBDA_FUNCTION_NAME) && !env.IS_OFFLINE;
  if (!inRealLambda) return [];
  return [
    ...(c.QUNFA_MODE === 'local'
      ? ['QUNFA_MODE: local mode is refused in a Lambda running in AWS (only the local stack under serverless-offline runs it)']
      : []),
    // The function's own credentials sign the invoke and its session token travels with it.
    ...(c.LAMBDA_ENDPOINT?.startsWith('http://') ? ['LAMBDA_ENDPOINT: must be https in a Lambda running in AWS (the invoke carries the session token)'] : []),
  ];
}

/**
 * ARNs are built at run time from the invoked function's own ARN, so serverless.yml passes only
 * plain names (serverless-offline does not resolve !Ref/!GetAtt) and `package` needs no account.
 */
export function arnParts(invokedFunctionArn: string): { partition: string; region: string; account: string } {
  const [, partition = 'aws', , region = '', account = ''] = invokedFunctionArn.split(':');
  return { partition, region, account };
}
