/**
 * Direct asynchronous invocation of dispatchStep, for steps due now: they do not wait for any
 * scheduler. Locally the endpoint is serverless-offline's Lambda API, so it is the same call.
 */
import { config } from './config';
import type { DispatchEvent } from './scheduler/index';

let client: import('@aws-sdk/client-lambda').LambdaClient | undefined;

export type Invoker = (event: DispatchEvent) => Promise<void>;

export const invokeDispatch: Invoker = async (event) => {
  const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
  const c = config();
  client ??= new LambdaClient(c.LAMBDA_ENDPOINT ? { endpoint: c.LAMBDA_ENDPOINT, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {});
  const out = await client.send(new InvokeCommand({
    FunctionName: c.DISPATCH_FUNCTION_NAME,
    InvocationType: 'Event',
    Payload: new TextEncoder().encode(JSON.stringify(event)),
  }));
  if (out.StatusCode !== 202) throw new Error(`dispatch invoke answered ${out.StatusCode}`);
};
