/**
 * The AWS SDK's DynamoDB client, loaded on first use rather than at module load: in the deployed
 * bundles (ES modules, split by esbuild) it is a chunk of its own, read and compiled when an
 * invocation first needs it, so a cold start does not pay for it before the handler runs and a
 * function that never reaches DynamoDB never pays for it. Every entry that builds an App awaits
 * `loadDynamoSdk()` first (the `dynamoSdkLoaded` middleware; the local runner and the tests call
 * it themselves); after that the client and the commands are there synchronously. Locally the
 * client points at dynalite.
 */
import type middy from '@middy/core';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

let sdk: { lib: typeof import('@aws-sdk/lib-dynamodb'); client: typeof import('@aws-sdk/client-dynamodb') } | undefined;

/** Loads the DynamoDB SDK once per process (both modules together: the document client needs the client). */
export async function loadDynamoSdk(): Promise<void> {
  if (sdk) return;
  const [lib, client] = await Promise.all([import('@aws-sdk/lib-dynamodb'), import('@aws-sdk/client-dynamodb')]);
  sdk = { lib, client };
}

function loaded() {
  if (!sdk) throw new Error('the DynamoDB SDK is not loaded yet: await loadDynamoSdk() before building the App');
  return sdk;
}

/** The document client's commands (GetCommand, PutCommand, …), once loaded. */
export const dynamoLib = () => loaded().lib;

/** A DynamoDB document client; `endpoint` points it at a local DynamoDB (dynalite, moto). */
export function createDynamo(endpoint: string | undefined): DynamoDBDocumentClient {
  const { client, lib } = loaded();
  const dynamo = new client.DynamoDBClient({
    ...(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: 3,
  });
  return lib.DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
}

/** First in the chain of every function that builds an App: the SDK is loaded before anything asks for the App. */
export const dynamoSdkLoaded = (): middy.MiddlewareObj => ({ before: () => loadDynamoSdk() });
