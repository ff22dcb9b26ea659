/** A new tenant record: only the API key's hash is kept; vendor credentials point at the sandboxes. */
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../lib/core/canonicalJson';
import type { TenantRecord } from '../../lib/infra/tenantDirectory';

const secret = (n = 24) => randomBytes(n).toString('base64url');

export function newTenant(apiKey: string): TenantRecord {
  return {
    apiKeySha256: sha256(apiKey),
    webhookSecret: secret(32),
    vendors: {
      weiban: { corpId: `ww${randomBytes(8).toString('hex')}`, secret: secret(), callbackToken: secret(16), callbackAesKey: randomBytes(32).toString('base64').slice(0, 43) },
      youmi: { clientId: `ym-${randomBytes(6).toString('hex')}`, clientSecret: secret() },
      tanmarket: { appId: `tm${randomBytes(6).toString('hex')}`, appKey: secret(12), appSecret: secret() },
      wshoto: { appId: `ws${randomBytes(6).toString('hex')}`, appSecret: secret() },
    },
  };
}

export const newApiKey = () => `qf_${randomBytes(24).toString('base64url')}`;
