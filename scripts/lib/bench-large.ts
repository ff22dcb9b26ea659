/**
 * The bench's 100,000-customer task, in a process of its own so its peak memory is its own.
 * Uses the parent's dynalite and sandboxes (through the environment it inherits), and prints one
 * JSON line of figures. The dispatch is made to die half-way (the store refuses a write) and is
 * resumed, to show each batch still goes out exactly once.
 */
process.env.DISPATCH_LEASE_SECONDS = '1';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';

let peakRss = 0;
let peakHeap = 0;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
};

async function main() {
  const { fns, dynamo, startTestApp } = await import('../../test/helpers/testApp');
  startTestApp();
  const { createTask, dispatchStep } = fns;
  const { apiEvent, lambdaContext } = await import('../../test/helpers/env');
  const { dynamoFaults, throttling } = await import('../../test/reliability/faults');
  sample();
  const idleRss = peakRss;
  const timer = setInterval(sample, 10);

  const name = `bench-100k-${Date.now()}`;
  const customerIds = Array.from({ length: 100_000 }, (_, i) => `wmNbxMDAAA${String(i).padStart(8, '0')}Xq9aYwLf`);
  const body = JSON.stringify({
    vendor: 'weiban',
    name,
    audience: { kind: 'customers', customerIds },
    content: { text: '会员日' },
    sendAt: new Date(Date.now() + 4000).toISOString(),
    vendorOptions: { create_staff_ext_id: 'boss' },
  });
  let t0 = Date.now();
  const res = (await (createTask as any)(apiEvent({ method: 'POST', path: '/v1/tasks', rawBody: body }), lambdaContext('createTask'))) as {
    statusCode: number;
    body: string;
  };
  const createMs = Date.now() - t0;
  const id = JSON.parse(res.body).id as string;

  const all: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo().send(
      new QueryCommand({
        TableName: process.env.TABLE_NAME,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'T#a' },
        ExclusiveStartKey: start,
      }),
    );
    all.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const more = all.filter((i) => String(i.sk).includes(id));
  const sizes = more.map((i) => ({ sk: String(i.sk), bytes: Buffer.byteLength(JSON.stringify(i)) }));
  const chunks = sizes.filter((s) => s.sk.startsWith('AUD#'));

  t0 = Date.now();
  dynamoFaults(dynamo()).push({ command: /PutItemCommand/, count: 1, error: throttling, after: 5 });
  await (dispatchStep as any)({ kind: 'dispatch', tenantId: 'a', taskId: id, step: 0 }, lambdaContext('dispatchStep')).catch(() => undefined);
  const died = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 1100));
  const t1 = Date.now();
  await (dispatchStep as any)({ kind: 'dispatch', tenantId: 'a', taskId: id, step: 0 }, lambdaContext('dispatchStep'));
  const dispatchMs = died + (Date.now() - t1);
  clearInterval(timer);
  sample();

  const sent = ((await (await fetch(`${process.env.WEIBAN_BASE_URL}/__sandbox/tasks`)).json()) as any[]).filter((t) => t.request.name === name);
  const ids = sent.flatMap((t) => t.request.eu_ext_ids as string[]);
  const once = sent.length === 10 && ids.length === 100_000 && new Set(ids).size === 100_000;
  console.log(
    JSON.stringify({
      createStatus: res.statusCode,
      createMs,
      bodyBytes: Buffer.byteLength(body),
      taskItemBytes: sizes.find((s) => s.sk.startsWith('TASK#'))?.bytes ?? 0,
      chunks: chunks.length,
      largestChunkBytes: Math.max(...chunks.map((c) => c.bytes)),
      batches: sent.length,
      dispatchMs,
      sendsPerBatch: once ? 'exactly once' : `NOT once (${sent.length} calls, ${ids.length} ids)`,
      resumeCheck: once ? 'yes, 10 of 10 batches reached Weiban once' : 'no',
      peakRssMb: Math.round(peakRss / 2 ** 20),
      idleRssMb: Math.round(idleRss / 2 ** 20),
      peakHeapMb: Math.round(peakHeap / 2 ** 20),
    }),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
