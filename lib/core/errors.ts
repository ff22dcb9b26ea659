/**
 * The service's typed errors. Each carries its status (middy's convention: `statusCode`, and
 * `expose` saying whether its detail may reach the caller); lib/api/problems.ts is the one place
 * they become HTTP answers. Anything else becomes a bare 500 with no detail, so no stack trace,
 * vendor message or secret can leak through an unexpected error.
 */
/** The part of a zod error that field paths are made from (zod/mini and classic alike). */
interface ZodError {
  issues: readonly { code: string; path: PropertyKey[]; message: string; keys?: string[] }[];
}

export interface FieldError {
  path: string;
  message: string;
}

export class ServiceError extends Error {
  readonly expose: boolean;
  constructor(
    readonly statusCode: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
    this.name = 'ServiceError';
    this.expose = statusCode < 500 || statusCode === 503;
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) => new ServiceError(400, 'Bad Request', detail, errors);
export const unauthorized = () =>
  new ServiceError(
    401,
    'Unauthorized',
    'a valid API key is required: Authorization: Bearer <key>',
    [{ path: 'Authorization', message: 'a valid Bearer API key is required' }],
    { 'www-authenticate': 'Bearer' },
  );
export const notFound = (what: string) => new ServiceError(404, 'Not Found', `${what} not found`);
export const conflict = (detail: string) => new ServiceError(409, 'Conflict', detail);
export const payloadTooLarge = (detail: string, errors: FieldError[]) => new ServiceError(413, 'Payload Too Large', detail, errors);
export const unsupportedMediaType = () =>
  new ServiceError(415, 'Unsupported Media Type', 'the body must be application/json', [{ path: 'Content-Type', message: 'must be application/json' }]);
export const unprocessable = (detail: string, errors?: FieldError[]) => new ServiceError(422, 'Unprocessable Content', detail, errors);
export const tooManyRequests = (detail: string, retryAfterSeconds: number) =>
  new ServiceError(429, 'Too Many Requests', detail, undefined, { 'retry-after': String(retryAfterSeconds) });
export const unavailable = (detail: string, retryAfterSeconds: number) =>
  new ServiceError(503, 'Service Unavailable', detail, undefined, { 'retry-after': String(retryAfterSeconds) });

/** zod issues → field paths like `content.attachments.2.url`; unknown keys name the key itself. */
export function fieldErrors(err: ZodError, prefix: (string | number)[] = []): FieldError[] {
  const out: FieldError[] = [];
  // A key that is empty or holds a dot is quoted, so every path names one field unambiguously.
  const seg = (k: PropertyKey) => {
    const s = String(k);
    return s === '' || s.includes('.') ? JSON.stringify(s) : s;
  };
  for (const issue of err.issues) {
    const base = [...prefix, ...issue.path].map(seg);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys ?? []) out.push({ path: [...base, seg(key)].join('.'), message: 'is not a known field' });
    } else {
      out.push({ path: base.join('.') || '(body)', message: issue.message });
    }
  }
  return out;
}

export function validationError(err: ZodError, prefix: (string | number)[] = [], status: 400 | 422 = 400): ServiceError {
  const errors = fieldErrors(err, prefix);
  const detail = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  return status === 400 ? badRequest(detail, errors) : unprocessable(detail, errors);
}
