/**
 * npm run split-tenants -- <tenants.json> [outDir]
 * Splits a tenants file (SPEC §3, the one file the local stack uses) into the two secrets an AWS
 * deployment keeps apart: `tenant-keys.json` (API-key hashes, webhook secrets, names of configured
 * vendors) and `vendor-credentials.json`. Every vendor's credentials are checked against that
 * vendor's adapter first; a problem is named (tenant, vendor, field), never printed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { splitTenants, TenantsFile } from '../lib/infra/tenantDirectory';
import { adapterFor } from '../lib/vendors/registry';

const [input, outDir = '.'] = process.argv.slice(2);
if (!input) {
  console.error('usage: npm run split-tenants -- <tenants.json> [outDir]');
  process.exit(2);
}
const tenants = TenantsFile.parse(JSON.parse(readFileSync(resolve(input), 'utf8')));
const problems: string[] = [];
for (const [id, t] of Object.entries(tenants)) {
  for (const [vendor, creds] of Object.entries(t.vendors)) {
    const adapter = adapterFor(vendor);
    if (!adapter) {
      problems.push(`${id}.vendors.${vendor}: no such vendor`);
      continue;
    }
    const parsed = adapter.credentials.safeParse(creds);
    if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `${id}.vendors.${vendor}.${i.path.join('.')}: ${i.message}`));
  }
}
if (problems.length) {
  console.error(`not split: ${problems.join('; ')}`);
  process.exit(1);
}
const { keys, credentials } = splitTenants(tenants);
mkdirSync(resolve(outDir), { recursive: true });
const keysFile = join(resolve(outDir), 'tenant-keys.json');
const credentialsFile = join(resolve(outDir), 'vendor-credentials.json');
writeFileSync(keysFile, `${JSON.stringify(keys)}\n`, { mode: 0o600 });
writeFileSync(credentialsFile, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
console.log(`${Object.keys(keys).length} tenants → ${keysFile}, ${credentialsFile}
aws secretsmanager put-secret-value --secret-id qunfa-<stage>-tenant-keys --secret-string file://${keysFile}
aws secretsmanager put-secret-value --secret-id qunfa-<stage>-vendor-credentials --secret-string file://${credentialsFile}`);
