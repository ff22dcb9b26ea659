/**
 * AWS SDK v3 clients, loaded on first use (a function that never schedules never loads the
 * Scheduler client) and pointed at local endpoints when configured (dynalite, moto, offline).
 * The composition root (lib/app.ts) makes one of each per process.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The document-client module, loaded on first use (not at module load: a cold start pays for it only when it calls DynamoDB). */
export const dynamoLib = () => require('@aws-sdk/lib-dynamodb') as typeof import('@aws-sdk/lib-dynamodb');

/** A DynamoDB document client; `endpoint` points it at a local DynamoDB (dynalite, moto). */
export function createDynamo(endpoint: string | undefined): DynamoDBDocumentClient {
  const { DynamoDBClient } = require('@aws-sdk/client-dynamodb') as typeof import('@aws-sdk/client-dynamodb');
  const { DynamoDBDocumentClient } = dynamoLib();
  const client = new DynamoDBClient({
    ...(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: 3,
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}
