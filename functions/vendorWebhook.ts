/** Vendor callbacks: POST (events) and GET (URL verification) on /v1/webhooks/{vendor}/{tenantId}. */
import { app, type App } from '../lib/app';
import { tagInvocation } from '../lib/infra/logger';
import { apiHandler } from '../lib/api/handler';
import { handleVendorWebhook } from '../lib/delivery/vendorWebhooks';

export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => {
      tagInvocation({ tenantId: req.params.tenantId, vendor: req.params.vendor });
      const reply = await handleVendorWebhook(deps, req.params.vendor, req.params.tenantId, {
        method: req.method === 'GET' ? 'GET' : 'POST',
        query: req.query,
        headers: req.headers,
        rawBody: req.rawBody,
      });
      return { statusCode: reply.status, body: reply.body, headers: { 'content-type': reply.contentType }, raw: true };
    },
    { auth: false, body: 'raw' },
  );

export const handler = handlerFor(app);
