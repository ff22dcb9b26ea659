/** dynalite: a real DynamoDB implementation (LevelDB on disk, or memory) for the local stack and tests. */
import { BY_AT } from '../../lib/infra/scheduler/localScheduler';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { BY_WATCH } from '../../lib/infra/taskStore';
import dynalite from 'dynalite';
import type { AddressInfo } from 'node:net';

export interface RunningDynamo {
  url: string;
  close(): Promise<void>;
}

/** `path` undefined = in memory. Port 0 = any free port. */
export async function startDynalite(path: string | undefined, port = 0): Promise<RunningDynamo> {
  const server = dynalite({ ...(path ? { path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/** The sweeper's index exactly as serverless.yml declares it. */
const byWatch = {
  IndexName: BY_WATCH,
  KeySchema: [
    { AttributeName: 'watchShard', KeyType: 'HASH' as const },
    { AttributeName: 'watchAt', KeyType: 'RANGE' as const },
  ],
  Projection: { ProjectionType: 'KEYS_ONLY' as const },
};
const watchAttributes = [
  { AttributeName: 'watchShard', AttributeType: 'S' as const },
  { AttributeName: 'watchAt', AttributeType: 'N' as const },
];

/** The tasks table exactly as serverless.yml declares it (pk/sk, the byWatch index), and the local scheduler's table. */
/** Answers whether the tasks table has the sweeper's index (a table from an older version may not). */
export async function ensureTables(endpoint: string, tasksTable: string, schedulesTable?: string): Promise<{ indexed: boolean }> {
  let indexed = true;
  const client = new DynamoDBClient({ endpoint, region: 'ap-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  if (!existing.has(tasksTable)) {
    await client.send(
      new CreateTableCommand({
        TableName: tasksTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }, ...watchAttributes],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [byWatch],
      }),
    );
  } else {
    // A table made by an older version (.data/ from before the sweeper) lacks the index, and
    // dynalite cannot add an index to a table: the local stack runs without its sweeper then.
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tasksTable }));
    indexed = Table?.GlobalSecondaryIndexes?.some((i) => i.IndexName === BY_WATCH) ?? false;
  }
  if (schedulesTable && !existing.has(schedulesTable)) {
    await client.send(
      new CreateTableCommand({
        TableName: schedulesTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'name', AttributeType: 'S' },
          { AttributeName: 'queue', AttributeType: 'S' },
          { AttributeName: 'at', AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
        // Due schedules by time, so the runner's tick reads only what is due.
        GlobalSecondaryIndexes: [
          {
            IndexName: BY_AT,
            KeySchema: [
              { AttributeName: 'queue', KeyType: 'HASH' },
              { AttributeName: 'at', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  }
  client.destroy();
  return { indexed };
}

/**
 * dynalite in a process of its own, as DynamoDB is a service of its own: for runs where the
 * functions' CPU and the database's must not share one thread (the flow-control campaign).
 */
export async function startDynaliteProcess(path?: string): Promise<RunningDynamo> {
  const { spawn } = await import('node:child_process');
  const { createServer } = await import('node:net');
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const child = spawn(
    process.execPath,
    [
      require.resolve('dynalite/cli.js'),
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--createTableMs',
      '0',
      '--deleteTableMs',
      '0',
      '--updateTableMs',
      '0',
      ...(path ? ['--path', path] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dynalite exited (${code})`)));
    child.stdout?.on('data', (d: Buffer) => {
      if (/listening/.test(d.toString())) resolve();
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        child.removeAllListeners('exit');
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}
