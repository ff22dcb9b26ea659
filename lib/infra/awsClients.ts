/**
 * AWS SDK v3 clients, created on first use (a function that never schedules never loads the
 * Scheduler client) and pointed at local endpoints when configured (dynalite, moto, offline).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from './settings';

let doc: DynamoDBDocumentClient | undefined;

/** The document-client module, loaded on first use (not at module load: a cold start pays for it only when it calls DynamoDB). */
export const dynamoLib = () => require('@aws-sdk/lib-dynamodb') as typeof import('@aws-sdk/lib-dynamodb');

export function dynamo(): DynamoDBDocumentClient {
  if (!doc) {
    const { DynamoDBClient } = require('@aws-sdk/client-dynamodb') as typeof import('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient } = dynamoLib();
    const endpoint = config().DYNAMODB_ENDPOINT;
    const client = new DynamoDBClient({
      ...(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
      maxAttempts: 3,
    });
    doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }
  return doc;
}

export function resetAwsClients(): void {
  doc = undefined;
}

