/**
 * A stand-in for the AWS Parameters and Secrets Lambda Extension, written from its documented
 * contract (Lambda Developer Guide, "Use Secrets Manager secrets in Lambda functions"): an HTTP
 * server on localhost that answers `GET /secretsmanager/get?secretId=<id>` with GetSecretValue's
 * JSON, and only to a caller that sends the function's session token in
 * `X-Aws-Parameters-Secrets-Token` (no token: 400; another token: 403). The secrets are a map the
 * test writes (`put`), read afresh on every request, as the extension does with its own cache off
 * (PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED=false in serverless.yml): a test sees the function's
 * cache alone, the only one in AWS too.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SecretsExtensionMimic {
  url: string;
  /** The session token it requires (what the function's AWS_SESSION_TOKEN must be). */
  token: string;
  put(secretId: string, secretString: string): void;
  /** The next `count` requests are answered `status` with the AWS error `type` (a fault of the extension or of Secrets Manager behind it). */
  fail(status: number, count?: number, type?: string): void;
  /** Every request as it arrived: the secret asked for and the token header sent (undefined: none). */
  requests: { method: string; secretId: string | null; token: string | undefined }[];
  close(): Promise<void>;
}

const REGION = 'ap-east-1';
const ACCOUNT = '123456789012';

export async function startSecretsExtension(token = `IQoJb3JpZ2luX2VjE-test-${randomUUID()}`): Promise<SecretsExtensionMimic> {
  const secrets = new Map<string, { secretString: string; versionId: string; createdAt: number; arn: string }>();
  let failures: { status: number; left: number; type: string } | undefined;
  const requests: SecretsExtensionMimic['requests'] = [];

  const answer = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const sent = req.headers['x-aws-parameters-secrets-token'];
    const secretId = url.searchParams.get('secretId');
    requests.push({ method: req.method ?? '', secretId, token: Array.isArray(sent) ? sent.join(',') : sent });
    req.resume();
    if (url.pathname !== '/secretsmanager/get') return answer(res, 404, 'not found');
    if (req.method !== 'GET') return answer(res, 405, 'method not allowed');
    if (sent === undefined) return answer(res, 400, 'missing X-Aws-Parameters-Secrets-Token header');
    if (sent !== token) return answer(res, 403, 'forbidden: the token does not match');
    if (failures && failures.left > 0) {
      failures.left--;
      return answer(res, failures.status, { __type: failures.type, message: 'injected by the test' });
    }
    if (!secretId) return answer(res, 400, { __type: 'InvalidParameterException', message: 'secretId is required' });
    const s = secrets.get(secretId);
    if (!s) return answer(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
    answer(res, 200, {
      ARN: s.arn,
      Name: secretId,
      SecretString: s.secretString,
      VersionId: s.versionId,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: new Date(s.createdAt).toISOString(),
      ResultMetadata: {},
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    put(secretId, secretString) {
      const arn = secrets.get(secretId)?.arn ?? `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretId}-${randomUUID().slice(0, 6)}`;
      secrets.set(secretId, { secretString, versionId: randomUUID(), createdAt: Date.now(), arn });
    },
    fail(status, count = 1, type = 'InternalServiceError') {
      failures = { status, left: count, type };
    },
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
