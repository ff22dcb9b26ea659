import { describe, expect, it } from 'vitest';
import { wshotoAdapter } from './adapter';
import { wshotoSettings } from './settings';

describe('wshoto settings', () => {
  it('reads only where WShoto is: WSHOTO_BASE_URL, deployed as its published endpoint', () => {
    expect(wshotoAdapter.settings).toBe(wshotoSettings);
    expect(wshotoSettings.variables).toEqual([{ name: 'WSHOTO_BASE_URL', endpoint: true, baseUrl: true, deployDefault: 'https://open.wshoto.com' }]);
  });

  it("parses to nothing more (its endpoint is the registry's): other variables are ignored", () => {
    expect(wshotoSettings.parse({})).toEqual({});
    expect(wshotoSettings.parse({ WSHOTO_BASE_URL: 'https://open.wshoto.com', TANMARKET_SIGNER: 'x' })).toEqual({});
  });
});
