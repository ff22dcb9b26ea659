/**
 * npm run add-tenant -- <tenantId>
 * Adds a tenant to the tenants file (QUNFA_TENANTS_FILE, default .data/tenants.json) and prints
 * its new API key, once: only the key's SHA-256 is stored. Its vendor credentials point at the
 * sandboxes; edit the file to give it real ones. For AWS, `npm run split-tenants` makes the two secrets from it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TenantsFile } from '../lib/infra/tenantDirectory';
import { newApiKey, newTenant } from './lib/tenant';

const id = process.argv[2];
if (!id || !/^[a-zA-Z0-9_-]{1,64}$/.test(id)) {
  console.error('usage: npm run add-tenant -- <tenantId>   (letters, digits, _ and -, at most 64)');
  process.exit(2);
}
const file = resolve(process.env.QUNFA_TENANTS_FILE ?? '.data/tenants.json');
const tenants = existsSync(file) ? TenantsFile.parse(JSON.parse(readFileSync(file, 'utf8'))) : {};
if (Object.hasOwn(tenants, id)) {
  console.error(`tenant ${id} already exists in ${file}`);
  process.exit(1);
}
const key = newApiKey();
void newTenant(key).then(
  (tenant) => {
    tenants[id] = tenant;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(tenants, null, 2)}\n`, { mode: 0o600 });
    console.log(`tenant ${id} added to ${file}\nAPI key (shown once): ${key}`);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
