/**
 * Direct asynchronous invocation of a worker function (dispatchStep for steps due now, which do
 * not wait for any scheduler; deliverCallback right after a change). Locally the endpoint is
 * serverless-offline's Lambda API, so it is the same call.
 */
import { config } from './settings';
import { workerFunctionName, type DispatchLane, type WorkEvent } from './scheduler/scheduler';

let client: import('@aws-sdk/client-lambda').LambdaClient | undefined;

export type Invoker = (event: WorkEvent, lane?: DispatchLane) => Promise<void>;

export const invokeWorker: Invoker = async (event, lane) => {
  const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
  const c = config();
  client ??= new LambdaClient(c.LAMBDA_ENDPOINT ? { endpoint: c.LAMBDA_ENDPOINT, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {});
  const out = await client.send(new InvokeCommand({
    FunctionName: workerFunctionName(event.kind, lane),
    InvocationType: 'Event',
    Payload: new TextEncoder().encode(JSON.stringify(event)),
  }));
  if (out.StatusCode !== 202) throw new Error(`${event.kind} invoke answered ${out.StatusCode}`);
};
