/** WeCom's environment: only where it is (WeCom publishes its endpoint). */
import type { VendorSettingsSpec } from '../adapter';

export type WecomSettings = Record<string, never>;

export const wecomSettings: VendorSettingsSpec<WecomSettings> = {
  variables: [{ name: 'WECOM_BASE_URL', endpoint: true, baseUrl: true, deployDefault: 'https://qyapi.weixin.qq.com' }],
  parse: () => ({}),
};
