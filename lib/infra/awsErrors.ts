/** AWS SDK errors by name (no SDK import needed to recognise them). */
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
