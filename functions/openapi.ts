import { apiHandler, json } from '../lib/api/handler';
import { openApiDocument } from '../lib/api/openapi';

let doc: unknown;
export const handler = apiHandler(null, async () => json(200, (doc ??= openApiDocument())), { auth: false });
