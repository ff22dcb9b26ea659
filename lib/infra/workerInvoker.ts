/**
 * Direct asynchronous invocation of a worker function (dispatchStep for steps due now, which do
 * not wait for any scheduler; deliverCallback right after a change). Locally the endpoint is
 * serverless-offline's Lambda API, so it is the same call.
 */
import type { Settings } from './settings';
import { workerFunctionName, type DispatchLane, type WorkEvent, type WorkerNames } from './scheduler/scheduler';

export type Invoker = (event: WorkEvent, lane?: DispatchLane) => Promise<void>;

/** An invoker over the Lambda API (its client made on the first invoke). */
export function createInvoker(settings: Pick<Settings, 'LAMBDA_ENDPOINT'> & WorkerNames): Invoker {
  let client: import('@aws-sdk/client-lambda').LambdaClient | undefined;
  return async (event, lane) => {
    const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
    const endpoint = settings.LAMBDA_ENDPOINT;
    client ??= new LambdaClient(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {});
    const out = await client.send(
      new InvokeCommand({
        FunctionName: workerFunctionName(settings, event.kind, lane),
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    );
    if (out.StatusCode !== 202) throw new Error(`${event.kind} invoke answered ${out.StatusCode}`);
  };
}
