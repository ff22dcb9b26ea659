/**
 * Tanmarket's environment: its endpoint (comes with the contract: no default), and the sign
 * algorithm, which is not public: TANMARKET_SIGNER names one of adapter.ts SIGNERS (checked when
 * a call is signed).
 */
import * as z from 'zod/mini';
import type { VendorSettingsSpec } from '../adapter';
import { parseVariables } from '../kit/settings';

export const DEFAULT_SIGNER = 'md5(appId+timestamp+appSecret)';

const Env = z.object({
  TANMARKET_SIGNER: z._default(z.string(), DEFAULT_SIGNER),
});

export interface TanmarketSettings {
  /** The name of the sign algorithm (a key of SIGNERS). */
  signer: string;
}

export const tanmarketSettings: VendorSettingsSpec<TanmarketSettings> = {
  variables: [
    { name: 'TANMARKET_BASE_URL', endpoint: true, baseUrl: true },
    { name: 'TANMARKET_SIGNER', deployDefault: DEFAULT_SIGNER },
  ],
  parse: (env) => ({ signer: parseVariables(Env, env).TANMARKET_SIGNER }),
};
