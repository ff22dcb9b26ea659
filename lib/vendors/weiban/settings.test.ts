import { describe, expect, it } from 'vitest';
import { weibanAdapter } from './adapter';
import { weibanSettings } from './settings';

describe('weiban settings', () => {
  it('reads only where Weiban is: WEIBAN_BASE_URL, deployed as its published endpoint', () => {
    expect(weibanAdapter.settings).toBe(weibanSettings);
    expect(weibanSettings.variables).toEqual([{ name: 'WEIBAN_BASE_URL', endpoint: true, baseUrl: true, deployDefault: 'https://open.weibanzhushou.com' }]);
  });

  it("parses to nothing more (its endpoint is the registry's): other variables are ignored", () => {
    expect(weibanSettings.parse({})).toEqual({});
    expect(weibanSettings.parse({ WEIBAN_BASE_URL: 'https://open.weibanzhushou.com', YOUMI_SCOPE: 'x' })).toEqual({});
  });
});
