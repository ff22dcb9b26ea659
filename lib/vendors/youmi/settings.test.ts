import { describe, expect, it } from 'vitest';
import { VendorSettingsError } from '../adapter';
import { youmiAdapter, youmiTokenEndpoint } from './adapter';
import { youmiSettings } from './settings';

describe('youmi settings', () => {
  it('reads its endpoint, its identity server, the delete path and the scope', () => {
    expect(youmiAdapter.settings).toBe(youmiSettings);
    expect(youmiSettings.variables).toEqual([
      { name: 'YOUMI_BASE_URL', endpoint: true, baseUrl: true },
      { name: 'YOUMI_TOKEN_URL', endpoint: true },
      { name: 'YOUMI_DELETE_PATH', deployDefault: '/v2/BulkSend/DeleteBulkSendTask' },
      { name: 'YOUMI_SCOPE', deployDefault: 'Ls.Qkl.PublicApi' },
    ]);
  });

  it('defaults: no token URL (the base URL serves), the documented delete path and scope', () => {
    const s = youmiSettings.parse({});
    expect(s).toEqual({ deletePath: '/v2/BulkSend/DeleteBulkSendTask', scope: 'Ls.Qkl.PublicApi' });
    expect(youmiTokenEndpoint(s.tokenUrl, 'https://api.youmi.example')).toBe('https://api.youmi.example/connect/token');
  });

  it('takes what is given', () => {
    expect(youmiSettings.parse({ YOUMI_TOKEN_URL: 'https://idp.youmi.example', YOUMI_DELETE_PATH: '/v3/Delete', YOUMI_SCOPE: 'Other.Scope' })).toEqual({
      tokenUrl: 'https://idp.youmi.example',
      deletePath: '/v3/Delete',
      scope: 'Other.Scope',
    });
  });

  it('a delete path that is not a path is refused naming the variable, never its value', () => {
    let err: unknown;
    try {
      youmiSettings.parse({ YOUMI_DELETE_PATH: 'https://secret.example/x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VendorSettingsError);
    expect((err as VendorSettingsError).problems).toHaveLength(1);
    expect((err as Error).message).toMatch(/^invalid environment: YOUMI_DELETE_PATH: /);
    expect((err as Error).message).not.toContain('secret.example');
  });
});
