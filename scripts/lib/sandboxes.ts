/** Starts every vendor sandbox, each on its own port (base, base+1, …), knowing the tenants' credentials. */
import { startSandbox, type RunningSandbox, type SandboxSpec } from '../../lib/vendors/kit/sandboxServer';
import { tanmarketSandbox } from '../../lib/vendors/tanmarket/sandbox';
import { weibanSandbox } from '../../lib/vendors/weiban/sandbox';
import { wshotoSandbox } from '../../lib/vendors/wshoto/sandbox';
import { youmiSandbox } from '../../lib/vendors/youmi/sandbox';

type Tenants = () => Record<string, { vendors: Record<string, Record<string, string>> }>;

export interface NamedSandbox extends RunningSandbox { vendor: string }

export interface SandboxOptions {
  /** Where qunfa's API listens, for vendors that push callbacks (YouMi). */
  callbackBase?: () => string | undefined;
  progressMs?: number;
  /** How long each vendor call takes to answer (default QUNFA_SANDBOX_LATENCY_MS, else 0). */
  latencyMs?: number;
}

export async function startSandboxes(portBase: number, tenants: Tenants, o: SandboxOptions = {}): Promise<NamedSandbox[]> {
  // Each vendor credential, with the qunfa tenant it belongs to (where that vendor calls back).
  const creds = (vendor: string): Record<string, string>[] => Object.entries(tenants()).flatMap(([qunfaTenant, t]) => (t.vendors[vendor] ? [{ ...t.vendors[vendor], qunfaTenant }] : []));
  const progressMs = o.progressMs ?? (Number(process.env.QUNFA_SANDBOX_PROGRESS_MS) || 2000);
  const latencyMs = o.latencyMs ?? (Number(process.env.QUNFA_SANDBOX_LATENCY_MS) || 0);
  const s = (c: Record<string, string>, k: string) => c[k] ?? '';
  const specs: [string, SandboxSpec][] = [
    ['weiban', weibanSandbox({ credentials: () => creds('weiban').map((c) => ({ corpId: s(c, 'corpId'), secret: s(c, 'secret') })), progressMs })],
    ['youmi', youmiSandbox({
      credentials: () => creds('youmi').map((c) => ({ clientId: s(c, 'clientId'), clientSecret: s(c, 'clientSecret'), tenantId: s(c, 'qunfaTenant') })),
      deletePath: process.env.YOUMI_DELETE_PATH || undefined, callbackBase: o.callbackBase, progressMs,
    })],
    ['tanmarket', tanmarketSandbox({ credentials: () => creds('tanmarket').map((c) => ({ appId: s(c, 'appId'), appKey: s(c, 'appKey'), appSecret: s(c, 'appSecret') })), signer: process.env.TANMARKET_SIGNER || undefined })],
    ['wshoto', wshotoSandbox({ credentials: () => creds('wshoto').map((c) => ({ appId: s(c, 'appId'), appSecret: s(c, 'appSecret') })), progressMs })],
  ];
  const out: NamedSandbox[] = [];
  for (const [i, [vendor, spec]] of specs.entries()) {
    out.push({ ...(await startSandbox(spec, portBase === 0 ? 0 : portBase + i, '127.0.0.1', { latencyMs })), vendor });
  }
  return out;
}
