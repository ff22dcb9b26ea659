/**
 * The bench's floor for a function that reads DynamoDB (section 1): nothing but the AWS SDK's
 * document client, made on the first request and sending one GetItem, built as the functions
 * are built. What a qunfa function costs above this is qunfa's own; this much is the SDK's.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';

let client: DynamoDBDocumentClient | undefined;

export const handler = async () => {
  client ??= DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: process.env.DYNAMODB_ENDPOINT, maxAttempts: 3 }));
  const out = await client.send(new GetCommand({ TableName: process.env.TABLE_NAME, Key: { pk: 'T#floor', sk: 'TASK#floor' } }));
  return { statusCode: out.Item ? 200 : 404, body: '' };
};
