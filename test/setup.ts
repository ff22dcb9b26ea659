/** Every test file: the DynamoDB SDK loaded, as each function's first middleware loads it before building its App (lib/infra/awsClients.ts). */
import { loadDynamoSdk } from '../lib/infra/awsClients';

await loadDynamoSdk();
