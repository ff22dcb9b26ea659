/**
 * HTTP plumbing shared by every API handler: a middy stack that normalises headers, checks the
 * Bearer key, parses a JSON body within the size limit, and renders every error as RFC 9457
 * problem+json in one place. Handlers stay thin: parse → call a service → map the result.
 */
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ServiceError, badRequest, payloadTooLarge, unsupportedMediaType } from '../core/errors';
import { problemResponse } from './problems';
import { logger, tagInvocation } from '../infra/logger';
import { observed } from '../infra/telemetry';
import type { Tenant, TenantDirectory } from '../infra/tenantDirectory';
import { authenticate } from './auth';

/** Documented in the README and the OpenAPI document; under Lambda's 6 MB invocation limit. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;
/** No task nests deeper than this; deeper bodies are refused before anything recursive sees them. */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of arrays and objects in a JSON text, counted without recursion. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export interface ApiRequest {
  method: string;
  tenant: Tenant;
  body: unknown;
  rawBody: string;
  params: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  context: Context;
}

export interface ApiResponse {
  statusCode: number;
  body: unknown;
  headers?: Record<string, string>;
  /** The body is already the exact bytes to send (a vendor's expected reply), not JSON to encode. */
  raw?: boolean;
}

export function json(statusCode: number, body: unknown, headers?: Record<string, string>): ApiResponse {
  return { statusCode, body, headers };
}

function rawBodyOf(event: APIGatewayProxyEventV2): string {
  if (event.body === undefined || event.body === null || event.body === '') return '';
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES)
    throw payloadTooLarge(`the body must be at most ${MAX_BODY_BYTES} bytes`, [{ path: '(body)', message: `must be at most ${MAX_BODY_BYTES} bytes` }]);
  return raw;
}

function parseBody(event: APIGatewayProxyEventV2): { body: unknown; rawBody: string } {
  const raw = rawBodyOf(event);
  if (raw === '') return { body: undefined, rawBody: '' };
  if (jsonDepth(raw) > MAX_JSON_DEPTH)
    throw badRequest(`the body nests deeper than ${MAX_JSON_DEPTH} levels`, [{ path: '(body)', message: `nests deeper than ${MAX_JSON_DEPTH} levels` }]);
  const type = event.headers?.['content-type'] ?? 'application/json';
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) throw unsupportedMediaType();
  try {
    return { body: JSON.parse(raw), rawBody: raw };
  } catch {
    throw badRequest('the body is not valid JSON', [{ path: '(body)', message: 'is not valid JSON' }]);
  }
}

/** body: true parses JSON; 'raw' keeps the exact bytes (signatures are computed over them). */
interface Options {
  auth?: boolean;
  body?: boolean | 'raw';
}

/**
 * An HTTP API handler: `deps` gives the services' dependencies for this invocation (from the
 * composition root; null for a public route that needs none), `fn` is the route (parse → call a
 * service → map the result).
 */
export function apiHandler<D extends { tenants: TenantDirectory }>(
  deps: ((context: Context) => D) | null,
  fn: (req: ApiRequest, deps: D) => Promise<ApiResponse>,
  opts: Options = {},
) {
  const { auth = true, body: wantsBody = false } = opts;
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observed())
    .use(httpHeaderNormalizer())
    .handler(async (event, context) => {
      try {
        const headers = (event.headers ?? {}) as Record<string, string | undefined>;
        // Authenticate before reading the body: an anonymous caller learns nothing about it.
        const d = deps?.(context);
        if (auth && !d) throw new Error('an authenticated route needs its dependencies');
        const tenant = auth && d ? await authenticate(d.tenants, headers.authorization) : ({ id: '' } as Tenant);
        tagInvocation({ tenantId: tenant.id, taskId: event.pathParameters?.taskId });
        const { body, rawBody } =
          wantsBody === 'raw' ? { body: undefined, rawBody: rawBodyOf(event) } : wantsBody ? parseBody(event) : { body: undefined, rawBody: '' };
        const res = await fn(
          {
            method: event.requestContext?.http?.method ?? 'GET',
            tenant,
            body,
            rawBody,
            params: event.pathParameters ?? {},
            query: event.queryStringParameters ?? {},
            headers,
            context,
          },
          d as D,
        );
        return {
          statusCode: res.statusCode,
          headers: { 'content-type': 'application/json', ...res.headers },
          body: res.raw ? String(res.body) : JSON.stringify(res.body),
        };
      } catch (err) {
        if (!(err instanceof ServiceError) || err.statusCode >= 500)
          logger.error('request failed', { errorName: (err as Error)?.name, errorMessage: (err as Error)?.message });
        return problemResponse(err);
      }
    });
}
