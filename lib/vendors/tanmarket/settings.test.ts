import { describe, expect, it } from 'vitest';
import { SIGNERS, tanmarketAdapter } from './adapter';
import { DEFAULT_SIGNER, tanmarketSettings } from './settings';

describe('tanmarket settings', () => {
  it('reads TANMARKET_BASE_URL (no default: it comes with the contract) and TANMARKET_SIGNER', () => {
    expect(tanmarketAdapter.settings).toBe(tanmarketSettings);
    expect(tanmarketSettings.variables).toEqual([
      { name: 'TANMARKET_BASE_URL', endpoint: true, baseUrl: true },
      { name: 'TANMARKET_SIGNER', deployDefault: 'md5(appId+timestamp+appSecret)' },
    ]);
  });

  it('the signer defaults to the common convention, one of SIGNERS; a given one is taken as named', () => {
    expect(tanmarketSettings.parse({})).toEqual({ signer: DEFAULT_SIGNER });
    expect(Object.keys(SIGNERS)).toContain(DEFAULT_SIGNER);
    expect(tanmarketSettings.parse({ TANMARKET_SIGNER: 'hmac-sha256(appSecret, appId+timestamp)' })).toEqual({
      signer: 'hmac-sha256(appSecret, appId+timestamp)',
    });
  });
});
