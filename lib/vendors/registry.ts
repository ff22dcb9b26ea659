/**
 * THE registry of vendors. A vendor is one folder, lib/vendors/<id>/: adapter.ts (what it can
 * carry, its requests, its outcomes), settings.ts (its own environment variables and their
 * validation), sandbox.ts (its local stand-in, exporting `sandbox`; scripts find it by the id),
 * mapping.test.ts and its seed-NNN.txt document fixture. Adding a vendor is that folder plus one
 * entry in VENDORS (and its import): nothing vendor-specific lives anywhere else — the task
 * schema, the environment check, the deployment's variables (serverless.yml, through
 * scripts/deploy-environment.cjs), the local sandboxes and the demo tenant all come from here.
 * lib/vendors/registry.test.ts checks that every registered vendor has its whole folder.
 *
 * Where each vendor is: its base URL variable; locally, if unset, its sandbox on
 * 127.0.0.1:(SANDBOX_PORT_BASE + its index here). In AWS mode loadVendorSettings refuses an unset
 * or non-https endpoint: there is no fallback to a loopback sandbox.
 */
import { publishedLimits } from './batches';
import { VendorSettingsError, type VendorAdapter, type VendorVariable } from './adapter';
import { tanmarketAdapter } from './tanmarket/adapter';
import { weibanAdapter } from './weiban/adapter';
import { wshotoAdapter } from './wshoto/adapter';
import { youmiAdapter } from './youmi/adapter';
import { wecomAdapter } from './wecom/adapter';

/** Every vendor: one line each (and its import above). The order gives each its local sandbox port. */
export const VENDORS = [weibanAdapter, youmiAdapter, tanmarketAdapter, wshotoAdapter, wecomAdapter] as const;

/** The ids tasks may name in `vendor`, in registry order. */
export function vendorIds(): string[] {
  return VENDORS.map((a) => a.id);
}

/** Any registered adapter: each has its own credential and settings types, unknown to the caller. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds adapters of different Cred and S
export type AnyAdapter = VendorAdapter<any, any>;

export function adapterFor(id: string): AnyAdapter | undefined {
  return (VENDORS as readonly AnyAdapter[]).find((a) => a.id === id);
}

/** What GET /v1/vendors publishes: each adapter's capability matrix. */
export function vendorCatalogue() {
  return VENDORS.map((a) => {
    // `batches` shapes what create accepts (its refusals say so); the published matrix is as it was.
    const { batches: _notPublished, ...capabilities } = a.capabilities;
    return {
      id: a.id,
      name: a.displayName,
      productionBaseUrl: a.productionBaseUrl,
      capabilities: { ...capabilities, limits: publishedLimits(a.capabilities) },
    };
  });
}

/** The value that says a deployment does not use a vendor (its calls are refused, not redirected). */
export const VENDOR_DISABLED = 'disabled';

/** The first local sandbox port: VENDORS[i]'s sandbox listens on SANDBOX_PORT_BASE + i. */
export const SANDBOX_PORT_BASE = 4601;

/** The variable that holds a vendor's API base (each vendor's settings name exactly one). */
export function baseUrlVariable(id: string): string {
  const adapter = adapterFor(id);
  const v = adapter?.settings.variables.find((x: VendorVariable) => x.baseUrl);
  if (!v) throw new Error(`no vendor ${id} with a base URL variable`);
  return v.name;
}

/** Each vendor's endpoint, whether the deployment disabled it, and its own parsed settings. */
export type VendorSettingsMap = Record<string, { baseUrl: string; disabled: boolean; settings: unknown }>;

/**
 * Every vendor's settings from the environment ('' reads as unset: serverless.yml passes unset
 * variables so). Throws `invalid environment: NAME: …; NAME2: …`, naming variables, never values:
 * first what no vendor's parse accepts; then, in AWS mode, every endpoint that is not an https
 * URL without credentials or "disabled", and every unset base URL.
 */
export function loadVendorSettings(env: Record<string, string | undefined>, mode: 'aws' | 'local'): VendorSettingsMap {
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string>;
  const parsed: unknown[] = [];
  const parseProblems: string[] = [];
  for (const a of VENDORS) {
    try {
      parsed.push(a.settings.parse(set));
    } catch (err) {
      if (!(err instanceof VendorSettingsError)) throw err;
      parseProblems.push(...err.problems);
    }
  }
  if (parseProblems.length) throw new VendorSettingsError(parseProblems);

  const problems = mode === 'aws' ? VENDORS.flatMap((a) => a.settings.variables.flatMap((v: VendorVariable) => endpointProblem(v, set[v.name]))) : [];
  if (problems.length) throw new VendorSettingsError(problems);

  const out: VendorSettingsMap = {};
  VENDORS.forEach((a, i) => {
    const value = set[baseUrlVariable(a.id)];
    const disabled = value === VENDOR_DISABLED;
    out[a.id] = {
      baseUrl: disabled ? '' : (value ?? `http://127.0.0.1:${SANDBOX_PORT_BASE + i}`),
      disabled,
      settings: parsed[i],
    };
  });
  return out;
}

/** AWS mode fails closed: an endpoint is https without credentials, or "disabled"; a base URL must be given. */
function endpointProblem(v: VendorVariable, value: string | undefined): string[] {
  if (!v.endpoint && !v.baseUrl) return [];
  if (value === undefined) return v.baseUrl ? [`${v.name}: required in AWS mode (an https URL, or "${VENDOR_DISABLED}")`] : [];
  if (value === VENDOR_DISABLED) return [];
  let ok = false;
  try {
    const u = new URL(value);
    ok = u.protocol === 'https:' && u.hostname !== '' && !u.username && !u.password;
  } catch {
    /* not a URL */
  }
  return ok ? [] : [`${v.name}: must be an https URL without credentials in AWS mode (or "${VENDOR_DISABLED}")`];
}

/**
 * The vendors' variables for serverless.yml (scripts/deploy-environment.cjs): each with its value
 * in `env` (the deployer's shell), else its deployDefault, else '' (read as unset: in AWS mode
 * loadVendorSettings then refuses an unset base URL, naming it).
 */
export function deployEnvironment(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(VENDORS.flatMap((a) => a.settings.variables.map((v: VendorVariable) => [v.name, env[v.name] ?? v.deployDefault ?? ''])));
}
