/**
 * Direct asynchronous invocation of a worker function (dispatchStep for steps due now, which do
 * not wait for any scheduler; deliverCallback right after a change). Locally the endpoint is
 * serverless-offline's Lambda API, so it is the same call.
 *
 * One signed POST to Lambda's Invoke API (InvocationType Event), with no Lambda client: SigV4 from
 * @smithy/signature-v4 and SHA-256 from @smithy/core, both already in every bundle through the
 * DynamoDB client. Credentials are the function's own (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, which Lambda sets). Not retried here: each caller has its own fallback (the
 * backstop schedule, the next sweep, the dead-letter queue's redrive).
 */
import { fetchFailure } from './awsErrors';
import type { Settings } from './settings';
import { workerFunctionName, type DispatchLane, type WorkEvent, type WorkerNames } from './scheduler/scheduler';

export type Invoker = (event: WorkEvent, lane?: DispatchLane) => Promise<void>;

type InvokerSettings = Pick<Settings, 'LAMBDA_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY' | 'AWS_SESSION_TOKEN'> & WorkerNames;

/** How long one invoke may take: Lambda answers an asynchronous invoke as soon as the event is queued. */
const INVOKE_TIMEOUT_MS = 10_000;

/**
 * Lambda's regional endpoint. The DNS suffix is derived from the region's name alone: amazonaws.com.cn
 * for the China regions (cn-…), amazonaws.com for every other (the GovCloud regions included); the
 * isolated partitions are not served.
 */
export function lambdaEndpoint(region: string): string {
  return `https://lambda.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/** An invoker over Lambda's Invoke API (its signer made on the first invoke). */
export function createInvoker(settings: InvokerSettings): Invoker {
  const endpoint = new URL(settings.LAMBDA_ENDPOINT ?? lambdaEndpoint(settings.AWS_REGION));
  let signer: Promise<import('@smithy/signature-v4').SignatureV4> | undefined;
  return async (event, lane) => {
    if (!signer) {
      signer = makeSigner(settings);
      signer.catch(() => (signer = undefined));
    }
    const name = workerFunctionName(settings, event.kind, lane);
    const path = `${endpoint.pathname.replace(/\/+$/, '')}/2015-03-31/functions/${encodeURIComponent(name)}/invocations`;
    const body = JSON.stringify(event);
    const signed = await (
      await signer
    ).sign({
      method: 'POST',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
      path,
      query: {},
      headers: { host: endpoint.host, 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
      body,
    });
    // fetch sets Host itself, to the same value as the one signed.
    const { host: _host, ...headers } = signed.headers;
    let res: Response;
    try {
      res = await fetch(new URL(path, endpoint), { method: 'POST', headers, body, signal: AbortSignal.timeout(INVOKE_TIMEOUT_MS) });
    } catch (err) {
      throw new Error(`invoke of ${name} (${event.kind}) failed: ${fetchFailure(err, INVOKE_TIMEOUT_MS)}`);
    }
    await res.body?.cancel();
    if (res.status !== 202) {
      const type = res.headers.get('x-amzn-errortype');
      throw new Error(`invoke of ${name} (${event.kind}) answered ${res.status}${type ? ` ${type}` : ''}`);
    }
  };
}

/** The signer, with the function's credentials; the local stack's Lambda API checks none, so it may go without. */
async function makeSigner(c: InvokerSettings) {
  const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import('@smithy/signature-v4'), import('@smithy/core/checksum')]);
  let credentials = { accessKeyId: c.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: c.AWS_SECRET_ACCESS_KEY ?? '', sessionToken: c.AWS_SESSION_TOKEN };
  if (!credentials.accessKeyId || !credentials.secretAccessKey) {
    if (!c.LAMBDA_ENDPOINT) throw new Error('cannot invoke: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
    credentials = { accessKeyId: 'local', secretAccessKey: 'local', sessionToken: undefined };
  }
  return new SignatureV4({ service: 'lambda', region: c.AWS_REGION, credentials, sha256: Sha256 });
}
