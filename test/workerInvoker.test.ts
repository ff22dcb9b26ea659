/**
 * The direct invoke without a Lambda client: one POST to Lambda's Invoke API, asynchronous
 * (X-Amz-Invocation-Type: Event), signed with SigV4 for the `lambda` service with the function's
 * credentials. Against a local HTTP server standing for Lambda's endpoint, which checks the
 * signature with a SigV4 verifier of its own (node:crypto, written from AWS's description of the
 * algorithm) rather than trusting the signer's library. The local stack's Lambda API
 * (serverless-offline) is exercised end to end by test/e2e.local-stack.test.ts.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../lib/infra/settings';
import { createInvoker, lambdaEndpoint } from '../lib/infra/workerInvoker';

const ACCESS_KEY = 'AKIDQUNFATEST0000001';
const SECRET_KEY = 'qunfa/test/secret/key/never/in/an/error00';
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEqunfa-test-session-token';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let url: string;
const received: Received[] = [];
let answer: { status: number; headers?: Record<string, string> } = { status: 202 };

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answer.status, answer.headers).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const settings = (env: Record<string, string | undefined> = {}) =>
  loadSettings({
    TABLE_NAME: 'qunfa-test-tasks',
    AWS_REGION: 'ap-east-1',
    LAMBDA_ENDPOINT: url,
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_SESSION_TOKEN: SESSION_TOKEN,
    DISPATCH_FUNCTION_NAME: 'qunfa-test-dispatchStep',
    DISPATCH_NOW_FUNCTION_NAME: 'qunfa-test-dispatchNow',
    POLL_FUNCTION_NAME: 'qunfa-test-pollStatus',
    CALLBACK_FUNCTION_NAME: 'qunfa-test-deliverCallback',
    ...env,
  });

const last = () => received[received.length - 1] as Received;

/** SigV4 as AWS describes it: the signature the request should carry, for its signed headers. */
function expectedSignature(r: Received, signedHeaders: string[], date: string, region: string): string {
  const [path, query = ''] = r.url.split('?');
  // Services other than S3: each segment of the (already encoded) path is encoded once more.
  const canonicalPath = (path as string)
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
  const header = (h: string) => [r.headers[h]].flat().join(',').trim().replace(/\s+/g, ' ');
  const canonical = [
    r.method,
    canonicalPath,
    query,
    ...signedHeaders.map((h) => `${h}:${header(h)}`),
    '',
    signedHeaders.join(';'),
    createHash('sha256').update(r.body).digest('hex'),
  ].join('\n');
  const scope = `${date.slice(0, 8)}/${region}/lambda/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s).digest();
  const key = [region, 'lambda', 'aws4_request'].reduce((k, s) => hmac(k, s), hmac(`AWS4${SECRET_KEY}`, date.slice(0, 8)));
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('direct invoke over the Invoke API, signed (no Lambda client)', () => {
  it('POSTs the event to the worker, asynchronously, signed with SigV4 for lambda in the region, with the session token', async () => {
    const event = { kind: 'dispatch' as const, tenantId: 'a', taskId: 'tsk_01', step: 0 };
    await createInvoker(settings())(event, 'now');
    const r = last();
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/2015-03-31/functions/qunfa-test-dispatchNow/invocations');
    expect(JSON.parse(r.body)).toEqual(event);
    expect(r.headers['x-amz-invocation-type']).toBe('Event');
    expect(r.headers['x-amz-security-token']).toBe(SESSION_TOKEN);
    const date = r.headers['x-amz-date'] as string;
    expect(date).toMatch(/^\d{8}T\d{6}Z$/);
    const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/lambda\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      r.headers.authorization ?? '',
    );
    expect(auth, r.headers.authorization).not.toBeNull();
    const [, key, day, region, signed, signature] = auth as unknown as string[];
    expect([key, day, region]).toEqual([ACCESS_KEY, date.slice(0, 8), 'ap-east-1']);
    const signedHeaders = (signed as string).split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-invocation-type', 'x-amz-security-token']));
    expect(signature).toBe(expectedSignature(r, signedHeaders, date, 'ap-east-1'));
  });

  it('the scheduled lane and the other workers by their names; no session token, no token header', async () => {
    const invoke = createInvoker(settings({ AWS_SESSION_TOKEN: undefined }));
    await invoke({ kind: 'dispatch', tenantId: 'a', taskId: 'tsk_02', step: 1 });
    expect(last().url).toBe('/2015-03-31/functions/qunfa-test-dispatchStep/invocations');
    expect(last().headers['x-amz-security-token']).toBeUndefined();
    expect(last().headers.authorization).not.toContain('x-amz-security-token');
    await invoke({ kind: 'callback', tenantId: 'a', taskId: 'tsk_02' });
    const r = last();
    expect(r.url).toBe('/2015-03-31/functions/qunfa-test-deliverCallback/invocations');
    const signed = /SignedHeaders=([^,]+)/.exec(r.headers.authorization ?? '')?.[1]?.split(';') ?? [];
    expect(/Signature=([0-9a-f]{64})/.exec(r.headers.authorization ?? '')?.[1]).toBe(
      expectedSignature(r, signed, r.headers['x-amz-date'] as string, 'ap-east-1'),
    );
  });

  it('any answer but 202 is an error naming the function, the status and the error type, never the credentials', async () => {
    const invoke = createInvoker(settings());
    try {
      for (const [status, headers, says] of [
        [404, { 'x-amzn-ErrorType': 'ResourceNotFoundException' }, 'answered 404 ResourceNotFoundException'],
        [429, { 'x-amzn-ErrorType': 'TooManyRequestsException' }, 'answered 429 TooManyRequestsException'],
        [200, {}, 'answered 200'],
      ] as const) {
        answer = { status, headers };
        const err = (await invoke({ kind: 'poll', tenantId: 'a', taskId: 'tsk_03', step: 0, n: 1 }).then(
          () => undefined,
          (e: unknown) => e,
        )) as Error;
        expect(err).toBeInstanceOf(Error);
        expect(err.message).toContain('qunfa-test-pollStatus');
        expect(err.message).toContain(says);
        for (const secret of [SECRET_KEY, SESSION_TOKEN, ACCESS_KEY]) expect(err.message).not.toContain(secret);
      }
    } finally {
      answer = { status: 202 };
    }
    const unreachable = (await createInvoker(settings({ LAMBDA_ENDPOINT: 'http://127.0.0.1:9' }))({ kind: 'callback', tenantId: 'a', taskId: 't' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(unreachable.message).toContain('qunfa-test-deliverCallback');
    for (const secret of [SECRET_KEY, SESSION_TOKEN, ACCESS_KEY]) expect(unreachable.message).not.toContain(secret);
  });

  it("in AWS: Lambda's regional endpoint (the partition's DNS suffix), and no invoke without credentials", async () => {
    expect(lambdaEndpoint('ap-east-1')).toBe('https://lambda.ap-east-1.amazonaws.com');
    expect(lambdaEndpoint('cn-northwest-1')).toBe('https://lambda.cn-northwest-1.amazonaws.com.cn');
    expect(lambdaEndpoint('us-gov-west-1')).toBe('https://lambda.us-gov-west-1.amazonaws.com');
    // Another endpoint in a Lambda running in AWS: https only, since the invoke carries the session token.
    expect(() => settings({ AWS_LAMBDA_FUNCTION_NAME: 'qunfa-test-createTask' })).toThrow(/LAMBDA_ENDPOINT: must be https/);
    expect(
      settings({ AWS_LAMBDA_FUNCTION_NAME: 'qunfa-test-createTask', LAMBDA_ENDPOINT: 'https://vpce-0a1b.lambda.ap-east-1.vpce.amazonaws.com' }).LAMBDA_ENDPOINT,
    ).toMatch(/^https:/);
    expect(settings({ AWS_LAMBDA_FUNCTION_NAME: 'qunfa-test-createTask', IS_OFFLINE: 'true' }).LAMBDA_ENDPOINT).toBe(url); // serverless-offline
    const invoke = createInvoker(settings({ LAMBDA_ENDPOINT: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }));
    await expect(invoke({ kind: 'callback', tenantId: 'a', taskId: 't' })).rejects.toThrow(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/);
  });
});
