/**
 * Vendor callbacks. The route is in place; verifying and applying each vendor's events is the
 * work of issue 4. Until then every callback is refused as unverifiable, changing nothing.
 */
import { HttpError } from '../lib/errors';
import { apiHandler } from '../lib/http';

export const handler = apiHandler(async () => {
  throw new HttpError(401, 'Unauthorized', 'vendor callbacks are not accepted by this deployment yet');
}, { auth: false });
