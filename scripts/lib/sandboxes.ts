/**
 * Starts every vendor sandbox, each on its own port (base, base+1, … in registry order), knowing
 * the tenants' credentials. No list of its own: each registered vendor's lib/vendors/<id>/sandbox.ts
 * exports `sandbox`, imported here by the id (so no production module imports sandbox code).
 */
import { startSandbox, type RunningSandbox, type VendorSandbox } from '../../lib/vendors/kit/sandboxServer';
import { vendorIds } from '../../lib/vendors/registry';

type Tenants = () => Record<string, { vendors: Record<string, Record<string, string>> }>;

export interface NamedSandbox extends RunningSandbox {
  vendor: string;
}

export interface SandboxOptions {
  /** Where qunfa's API listens, for vendors that push callbacks (YouMi). */
  callbackBase?: () => string | undefined;
  progressMs?: number;
  /** How long each vendor call takes to answer (default QUNFA_SANDBOX_LATENCY_MS, else 0). */
  latencyMs?: number;
}

/** Each registered vendor's sandbox module, in registry order. */
export async function vendorSandboxes(): Promise<{ vendor: string; sandbox: VendorSandbox }[]> {
  return Promise.all(
    vendorIds().map(async (vendor) => {
      const mod = (await import(/* @vite-ignore */ `../../lib/vendors/${vendor}/sandbox`)) as { sandbox?: VendorSandbox };
      if (!mod.sandbox) throw new Error(`lib/vendors/${vendor}/sandbox.ts exports no sandbox`);
      return { vendor, sandbox: mod.sandbox };
    }),
  );
}

export async function startSandboxes(portBase: number, tenants: Tenants, o: SandboxOptions = {}): Promise<NamedSandbox[]> {
  // Each vendor credential, with the qunfa tenant it belongs to (where that vendor calls back).
  const creds = (vendor: string): Record<string, string>[] =>
    Object.entries(tenants()).flatMap(([qunfaTenant, t]) => (t.vendors[vendor] ? [{ ...t.vendors[vendor], qunfaTenant }] : []));
  const progressMs = o.progressMs ?? (Number(process.env.QUNFA_SANDBOX_PROGRESS_MS) || 2000);
  const latencyMs = o.latencyMs ?? (Number(process.env.QUNFA_SANDBOX_LATENCY_MS) || 0);
  const out: NamedSandbox[] = [];
  for (const [i, { vendor, sandbox }] of (await vendorSandboxes()).entries()) {
    const spec = sandbox.spec({ credentials: () => creds(vendor), callbackBase: o.callbackBase, progressMs, env: process.env });
    out.push({ ...(await startSandbox(spec, portBase === 0 ? 0 : portBase + i, '127.0.0.1', { latencyMs })), vendor });
  }
  return out;
}
