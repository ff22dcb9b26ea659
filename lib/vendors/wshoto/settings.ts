/** WShoto's environment: only where it is (WShoto publishes its endpoint). */
import type { VendorSettingsSpec } from '../adapter';

export type WshotoSettings = Record<string, never>;

export const wshotoSettings: VendorSettingsSpec<WshotoSettings> = {
  variables: [{ name: 'WSHOTO_BASE_URL', endpoint: true, baseUrl: true, deployDefault: 'https://open.wshoto.com' }],
  parse: () => ({}),
};
