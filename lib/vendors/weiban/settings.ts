/** Weiban's environment: only where it is (Weiban publishes its endpoint). */
import type { VendorSettingsSpec } from '../adapter';

export type WeibanSettings = Record<string, never>;

export const weibanSettings: VendorSettingsSpec<WeibanSettings> = {
  variables: [{ name: 'WEIBAN_BASE_URL', endpoint: true, baseUrl: true, deployDefault: 'https://open.weibanzhushou.com' }],
  parse: () => ({}),
};
