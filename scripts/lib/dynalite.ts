/** dynalite: a real DynamoDB implementation (LevelDB on disk, or memory) for the local stack and tests. */
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { AddressInfo } from 'node:net';

export interface RunningDynamo { url: string; close(): Promise<void> }

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
    close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** The tasks table exactly as serverless.yml declares it (pk/sk), and the local scheduler's table. */
export async function ensureTables(endpoint: string, tasksTable: string, schedulesTable?: string): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: 'ap-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  if (!existing.has(tasksTable)) {
    await client.send(new CreateTableCommand({
      TableName: tasksTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }));
  }
  if (schedulesTable && !existing.has(schedulesTable)) {
    await client.send(new CreateTableCommand({
      TableName: schedulesTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'name', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
    }));
  }
  client.destroy();
}
