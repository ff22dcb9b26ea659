/**
 * YouMi's environment: its endpoint and its identity server's (both come with the contract: no
 * default; YOUMI_TOKEN_URL defaults to YOUMI_BASE_URL), the path of "删除RPA群发" (the seed names
 * the endpoint but not its path) and the OAuth2 scope.
 */
import * as z from 'zod/mini';
import type { VendorSettingsSpec } from '../adapter';
import { parseVariables } from '../kit/settings';

export const DEFAULT_DELETE_PATH = '/v2/BulkSend/DeleteBulkSendTask';
export const DEFAULT_SCOPE = 'Ls.Qkl.PublicApi';

const Env = z.object({
  YOUMI_TOKEN_URL: z.optional(z.string()),
  YOUMI_DELETE_PATH: z._default(z.string().check(z.startsWith('/')), DEFAULT_DELETE_PATH),
  YOUMI_SCOPE: z._default(z.string(), DEFAULT_SCOPE),
});

export interface YoumiSettings {
  /** The identity server (its base, or the full …/connect/token URL); unset: the API's base URL. */
  tokenUrl?: string;
  deletePath: string;
  scope: string;
}

export const youmiSettings: VendorSettingsSpec<YoumiSettings> = {
  variables: [
    { name: 'YOUMI_BASE_URL', endpoint: true, baseUrl: true },
    { name: 'YOUMI_TOKEN_URL', endpoint: true },
    { name: 'YOUMI_DELETE_PATH', deployDefault: DEFAULT_DELETE_PATH },
    { name: 'YOUMI_SCOPE', deployDefault: DEFAULT_SCOPE },
  ],
  parse(env) {
    const e = parseVariables(Env, env);
    return { ...(e.YOUMI_TOKEN_URL === undefined ? {} : { tokenUrl: e.YOUMI_TOKEN_URL }), deletePath: e.YOUMI_DELETE_PATH, scope: e.YOUMI_SCOPE };
  },
};
