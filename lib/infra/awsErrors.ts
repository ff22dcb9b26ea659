/** AWS errors by name (no SDK import needed to recognise them), and the local HTTP APIs' failures in the same terms. */
const THROTTLES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceQuotaExceededException',
  'ServiceUnavailable',
  'InternalServerError',
]);

/** An AWS dependency that throttles or is briefly down: the caller gets 503 with Retry-After. */
export const isThrottle = (err: unknown) => err instanceof Error && THROTTLES.has(err.name);

/** A conditional write that found the condition false. */
export const isConditionFailed = (err: unknown) => err instanceof Error && err.name === 'ConditionalCheckFailedException';

/**
 * Why a fetch to an AWS API (Lambda's Invoke API, the secrets extension) got no answer, in words
 * that quote nothing sent: not the error's message, which for a header fault quotes the header's
 * value (a session token, a signature).
 */
export function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: unknown } };
  return e?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : String(e?.cause?.code ?? e?.name);
}

/**
 * An AWS API's refusal as an error named by its type, so `isThrottle` sees a throttle as the SDK's
 * errors showed it: the type from X-Amzn-ErrorType or the body's `__type`, and 429 or 503 without
 * one a ThrottlingException. Only a bare identifier is kept (no text of the answer otherwise).
 */
export function answerError(message: string, status: number, type: string | undefined): Error {
  const named = type?.split('#').pop()?.split(':')[0];
  const name = named && /^[A-Za-z]{1,64}$/.test(named) ? named : undefined;
  const err = new Error(`${message} ${status}${name ? ` ${name}` : ''}`);
  err.name = name && THROTTLES.has(name) ? name : status === 429 || status === 503 ? 'ThrottlingException' : (name ?? 'Error');
  return err;
}
