import { apiHandler, json } from '../lib/http';
import { openApiDocument } from '../lib/openapi';

let doc: unknown;
export const handler = apiHandler(async () => json(200, (doc ??= openApiDocument())), { auth: false });
