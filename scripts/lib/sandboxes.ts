/** Starts every vendor sandbox, each on its own port, knowing the credentials in the tenants file. */
import { startSandbox, type RunningSandbox } from '../../sandbox/base';
import { weibanSandbox } from '../../sandbox/weiban';
import type { Vendor } from '../../lib/schema';

type Tenants = () => Record<string, { vendors: Record<string, Record<string, string>> }>;

export interface NamedSandbox extends RunningSandbox { vendor: Vendor }

const credsOf = (tenants: Tenants, vendor: Vendor) =>
  Object.values(tenants()).map((t) => t.vendors[vendor]).filter((c): c is Record<string, string> => !!c);

export async function startSandboxes(portBase: number, tenants: Tenants): Promise<NamedSandbox[]> {
  const weiban = await startSandbox(
    weibanSandbox({ credentials: () => credsOf(tenants, 'weiban').map((c) => ({ corpId: c.corpId ?? '', secret: c.secret ?? '' })) }),
    portBase === 0 ? 0 : portBase,
  );
  return [{ ...weiban, vendor: 'weiban' }];
}
