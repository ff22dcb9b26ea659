/**
 * A campaign at 10:00 sharp: N group sends of one tenant due the same second, fired by the local
 * scheduler through the Lambda async-invoke queue, against the Weiban sandbox enforcing Weiban's
 * published limits (5 in flight, 300 bulk writes a minute with a 60 s ban, 15,000 an hour).
 * Meanwhile a second tenant sends one task now. Used by the flow-control test (which asserts) and
 * by `npm run bench` (which prints the figures).
 */
import { LocalScheduler, startLocalRunner } from '../../lib/infra/scheduler/localScheduler';
import { call, KEY_B, startTestEnv, type TestEnv } from './env';
import { dynamo, flowLimiter, fns, invokeWorker } from './testApp';
const createTask = fns.createTask;
const getTask = fns.getTask;

export interface CampaignFigures {
  tasks: number;
  /** Vendor tasks created per qunfa task name (each must be 1). */
  createdPerTask: Map<string, number>;
  finalStates: Record<string, number>;
  maxInFlight: number;
  /** The most sends Weiban accepted in any 60 s. */
  maxPerMinute: number;
  /** Weiban's throttle answers (10052/10053) to tenant A. */
  throttled: number;
  firstSendAt: number;
  lastSendAt: number;
  /** Seconds from the first send to the last. */
  drainSeconds: number;
  /** Bursts of sends (gaps over 20 s apart them): seconds after the first send, and how many. */
  waves: { from: number; to: number; sends: number }[];
  /** What the ideal pacing allows: ⌈N/300⌉ − 1 minutes. */
  idealSeconds: number;
  /** Tenant B's send-now task: from its create to Weiban having it. */
  otherTenantMs: number;
  limiter: { reads: number; writes: number; conflicts: number };
  deferrals: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCampaign(n: number, log: (s: string) => void = () => undefined): Promise<CampaignFigures> {
  const env: TestEnv = await startTestEnv(
    {
      QUNFA_SANDBOX_LATENCY_MS: '20',
      // The campaign is about sends: the first status poll comes after it.
      STATUS_POLL_INTERVALS: '3600',
      LOG_LEVEL: 'ERROR',
    },
    { dynamoProcess: true },
  );
  const runner = startLocalRunner({ scheduler: new LocalScheduler(dynamo(), 'qunfa-test-schedules'), invoke: invokeWorker, intervalMs: 250 });
  try {
    const corpA = env.tenants.a?.vendors.weiban?.corpId as string;
    const corpB = env.tenants.b?.vendors.weiban?.corpId as string;
    const at = new Date(Math.ceil((Date.now() + Math.max(15_000, n * 15)) / 1000) * 1000);
    const body = (i: number) => ({
      vendor: 'weiban',
      name: `campaign-${String(i).padStart(5, '0')}`,
      audience: { kind: 'groups', senders: ['zhangsan'], groupIds: [`wrOgQhDgAA${String(i).padStart(20, '0')}`] },
      content: { text: '10:00 开抢' },
      sendAt: at.toISOString(),
    });
    const ids: string[] = [];
    for (let i = 0; i < n; i += 25) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(25, n - i) }, (_, k) => call(createTask as never, { method: 'POST', path: '/v1/tasks', body: body(i + k) })),
      );
      for (const r of batch) {
        if (r.status !== 201) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body)}`);
        ids.push(r.body.id);
      }
    }
    log(`created ${n} tasks due at ${at.toISOString()} (${Math.round((at.getTime() - Date.now()) / 1000)} s from now)`);
    await sleep(at.getTime() - Date.now() + 1_000);

    // Tenant B, a second after the campaign fell due: its own limits, its own queue of deferred work.
    const bStart = Date.now();
    const b = await call(createTask as never, { method: 'POST', path: '/v1/tasks', key: KEY_B, body: { ...body(0), name: 'tenant-b-now', sendAt: undefined } });
    if (b.status !== 201) throw new Error(`tenant B create answered ${b.status}`);
    let otherTenantMs = Number.NaN;
    const vendorTasks = async () =>
      (await (await fetch(`${env.weiban.url}/__sandbox/tasks`)).json()) as { corp: string; createdAt: number; request: { name: string } }[];
    const deadline = Date.now() + 400_000;
    let created: Awaited<ReturnType<typeof vendorTasks>> = [];
    for (;;) {
      created = await vendorTasks();
      if (Number.isNaN(otherTenantMs) && created.some((t) => t.corp === corpB)) otherTenantMs = Date.now() - bStart;
      const mine = created.filter((t) => t.corp === corpA).length;
      if (mine >= n && !Number.isNaN(otherTenantMs)) break;
      if (Date.now() > deadline) break;
      await sleep(500);
    }
    // A moment for any late duplicate to show itself, and for the last outcomes to be written.
    await sleep(3_000);
    created = await vendorTasks();
    const mine = created.filter((t) => t.corp === corpA);
    const createdPerTask = new Map<string, number>();
    for (const t of mine) createdPerTask.set(t.request.name, (createdPerTask.get(t.request.name) ?? 0) + 1);
    const times = mine.map((t) => t.createdAt).sort((x, y) => x - y);
    let maxPerMinute = 0;
    for (let lo = 0, hi = 0; hi < times.length; hi++) {
      while ((times[hi] as number) - (times[lo] as number) >= 60_000) lo++;
      maxPerMinute = Math.max(maxPerMinute, hi - lo + 1);
    }
    const limits = (await (await fetch(`${env.weiban.url}/__sandbox/limits`)).json()) as {
      callers: Record<string, { maxInFlight: number; throttled: Record<string, number> }>;
    };
    const a = limits.callers[corpA];
    const finalStates: Record<string, number> = {};
    let deferrals = 0;
    for (const id of ids) {
      const t = (await call(getTask as never, { path: `/v1/tasks/${id}`, params: { taskId: id } })).body;
      finalStates[t.status] = (finalStates[t.status] ?? 0) + 1;
      deferrals += t.steps[0].deferrals ?? 0;
    }
    const waves: CampaignFigures['waves'] = [];
    for (const t of times) {
      const at = (t - (times[0] as number)) / 1000;
      const w = waves.at(-1);
      if (w && at - w.to <= 20) {
        w.to = at;
        w.sends++;
      } else waves.push({ from: at, to: at, sends: 1 });
    }
    return {
      waves,
      tasks: n,
      createdPerTask,
      finalStates,
      maxInFlight: a?.maxInFlight ?? 0,
      maxPerMinute,
      throttled: Object.values(a?.throttled ?? {}).reduce((x, y) => x + y, 0),
      firstSendAt: times[0] ?? Number.NaN,
      lastSendAt: times.at(-1) ?? Number.NaN,
      drainSeconds: ((times.at(-1) ?? Number.NaN) - (times[0] ?? Number.NaN)) / 1000,
      idealSeconds: (Math.ceil(n / 300) - 1) * 60,
      otherTenantMs,
      limiter: { ...flowLimiter().stats },
      deferrals,
    };
  } finally {
    await runner.stop();
    await env.close();
  }
}
