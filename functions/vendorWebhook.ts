/** Vendor callbacks: POST (events) and GET (URL verification) on /v1/webhooks/{vendor}/{tenantId}. */
import { workerDeps } from '../lib/app';
import { apiHandler } from '../lib/api/handler';
import { handleVendorWebhook } from '../lib/delivery/vendorWebhooks';

export const handler = apiHandler(async (req) => {
  const reply = await handleVendorWebhook(workerDeps(req.context), req.params.vendor, req.params.tenantId, {
    method: req.method === 'GET' ? 'GET' : 'POST',
    query: req.query,
    headers: req.headers,
    rawBody: req.rawBody,
  });
  return { statusCode: reply.status, body: reply.body, headers: { 'content-type': reply.contentType }, raw: true };
}, { auth: false, body: 'raw' });
