/**
 * The one place errors become HTTP answers: RFC 9457 problem+json. A typed error whose detail may
 * be shown keeps its status and detail; an AWS throttle is 503 with Retry-After; anything else is
 * a bare 500.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ServiceError, unavailable } from '../core/errors';
import { isThrottle } from '../infra/awsErrors';

export function problemResponse(err: unknown): APIGatewayProxyStructuredResultV2 {
  // A throttling dependency (DynamoDB, the scheduler) is the caller's cue to retry, not a 500.
  const e =
    err instanceof ServiceError && err.expose
      ? err
      : isThrottle(err)
        ? unavailable('a dependency is throttling; retry after Retry-After (with the same Idempotency-Key for a create)', 2)
        : new ServiceError(500, 'Internal Server Error', 'an unexpected error occurred; it has been logged');
  const body = {
    type: 'about:blank',
    title: e.title,
    status: e.statusCode,
    ...(e.detail ? { detail: e.detail } : {}),
    ...(e.errors?.length ? { errors: e.errors } : {}),
  };
  return {
    statusCode: e.statusCode,
    headers: { 'content-type': 'application/problem+json', ...e.headers },
    body: JSON.stringify(body),
  };
}
