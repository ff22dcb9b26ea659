/**
 * AWS SDK v3 clients, created on first use (a function that never schedules never loads the
 * Scheduler client) and pointed at local endpoints when configured (dynalite, moto, offline).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from './config';

let doc: DynamoDBDocumentClient | undefined;

export function dynamo(): DynamoDBDocumentClient {
  if (!doc) {
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

const THROTTLES = new Set([
  'ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded',
  'TooManyRequestsException', 'ServiceQuotaExceededException', 'ServiceUnavailable', 'InternalServerError',
]);

/** A dependency that throttles or is briefly down: the caller gets 503 with Retry-After. */
export const isThrottle = (err: unknown) => err instanceof Error && THROTTLES.has(err.name);
