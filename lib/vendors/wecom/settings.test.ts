import { describe, expect, it } from 'vitest';
import { wecomAdapter } from './adapter';
import { wecomSettings } from './settings';

describe('wecom settings', () => {
  it('reads only where WeCom is: WECOM_BASE_URL, deployed as its published endpoint', () => {
    expect(wecomAdapter.settings).toBe(wecomSettings);
    expect(wecomSettings.variables).toEqual([{ name: 'WECOM_BASE_URL', endpoint: true, baseUrl: true, deployDefault: 'https://qyapi.weixin.qq.com' }]);
    expect(wecomAdapter.productionBaseUrl).toBe('https://qyapi.weixin.qq.com');
  });

  it("parses to nothing more (its endpoint is the registry's): other variables are ignored", () => {
    expect(wecomSettings.parse({})).toEqual({});
    expect(wecomSettings.parse({ WECOM_BASE_URL: 'https://qyapi.weixin.qq.com', WEIBAN_BASE_URL: 'x' })).toEqual({});
  });
});
