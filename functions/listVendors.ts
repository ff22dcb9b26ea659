import { apiHandler, json } from '../lib/api/handler';
import { vendorCatalogue } from '../lib/vendors/registry';

/** The capability matrix create-time validation enforces, published as it is enforced. */
export const handler = apiHandler(null, async () => json(200, { items: vendorCatalogue() }), { auth: false });
