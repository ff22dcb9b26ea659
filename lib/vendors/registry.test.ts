/**
 * The registry is the one list of vendors: what adding a vendor takes (its folder, one entry in
 * VENDORS) is checked here, and so is what the registry derives for everyone else (the
 * environment check, the deployment's variables, the local sandboxes' ports).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { VendorSandbox } from './kit/sandboxServer';
import { adapterFor, baseUrlVariable, deployEnvironment, loadVendorSettings, SANDBOX_PORT_BASE, vendorCatalogue, vendorIds, VENDORS } from './registry';
import { TEST_VENDORS } from '../../test/helpers/bodies';

const here = __dirname;
const root = join(here, '..', '..');

/** Every registered vendor at once: https endpoints for each base URL variable. */
const httpsEverywhere = () => Object.fromEntries(VENDORS.map((a) => [baseUrlVariable(a.id), `https://${a.id}.example`]));

describe('every registered vendor is one whole folder', () => {
  it.each(vendorIds())('%s: adapter, settings, sandbox, mapping test, settings test and seed fixture in lib/vendors/%s/', async (id) => {
    const dir = join(here, id);
    for (const f of ['adapter.ts', 'settings.ts', 'sandbox.ts', 'mapping.test.ts', 'settings.test.ts'])
      expect(existsSync(join(dir, f)), `${id}/${f}`).toBe(true);
    expect(
      readdirSync(dir).filter((f) => /^seed-\d{3}\.txt$/.test(f)),
      `${id}: a seed-NNN.txt document fixture`,
    ).not.toEqual([]);

    const adapter = adapterFor(id);
    expect(adapter?.id).toBe(id);
    const settings = await import(/* @vite-ignore */ `./${id}/settings`);
    expect(Object.values(settings), `${id}/settings.ts exports the adapter's settings`).toContain(adapter?.settings);

    const { sandbox } = (await import(/* @vite-ignore */ `./${id}/sandbox`)) as { sandbox?: VendorSandbox };
    expect(typeof sandbox?.spec, `${id}/sandbox.ts exports sandbox.spec`).toBe('function');
    const creds = sandbox?.demoCredentials();
    expect(adapter?.credentials.safeParse(creds).success, `${id}: the sandbox's demo credentials are what the adapter takes`).toBe(true);
    const spec = sandbox?.spec({ credentials: () => [{ ...creds, qunfaTenant: 'demo' }], progressMs: 1000, env: {} });
    expect(spec?.name).toBe(id);
  });

  it.each(vendorIds())('%s: one base URL variable; every variable is named after the vendor and no other vendor uses it', (id) => {
    const variables = adapterFor(id)?.settings.variables ?? [];
    expect(variables.filter((v) => v.baseUrl)).toHaveLength(1);
    for (const v of variables) expect(v.name.startsWith(`${id.toUpperCase()}_`), v.name).toBe(true);
    const all = VENDORS.flatMap((a) => a.settings.variables.map((v) => v.name));
    expect(new Set(all).size).toBe(all.length);
  });

  it('the ids are the folders the tests know, in registry order, each once; unknown ids have no adapter', () => {
    expect(vendorIds()).toEqual([...TEST_VENDORS]);
    expect(new Set(vendorIds()).size).toBe(VENDORS.length);
    for (const id of ['wechat', '__proto__', 'toString', '', 'WEIBAN']) expect(adapterFor(id)).toBeUndefined();
    expect(vendorCatalogue().map((v) => v.id)).toEqual(vendorIds());
  });
});

describe('nothing vendor-specific outside lib/vendors', () => {
  /** Production code and the template: lib/ (but lib/vendors/), functions/, serverless.yml. */
  function productionFiles(): string[] {
    const out: string[] = [join(root, 'serverless.yml')];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) {
          if (p !== here) walk(p);
        } else if (/\.ts$/.test(f) && !/\.test\.ts$/.test(f)) out.push(p);
      }
    };
    walk(join(root, 'lib'));
    walk(join(root, 'functions'));
    return out;
  }

  it("no registered vendor is named (id or its variables' prefix) in production code outside its folder", () => {
    const found: string[] = [];
    for (const file of productionFiles()) {
      const text = readFileSync(file, 'utf8');
      for (const id of vendorIds()) if (text.includes(id) || text.includes(`${id.toUpperCase()}_`)) found.push(`${relative(root, file)}: ${id}`);
    }
    expect(found).toEqual([]);
  });

  it('no production module imports sandbox code (the Lambda bundles stay as they are)', () => {
    const found = productionFiles().filter((f) => /from '[^']*\/sandbox(Server)?'|import\([^)]*sandbox/.test(readFileSync(f, 'utf8')));
    expect(found.map((f) => relative(root, f))).toEqual([]);
  });
});

describe('loadVendorSettings', () => {
  it("locally an unset base URL is that vendor's sandbox, on SANDBOX_PORT_BASE + its index", () => {
    const s = loadVendorSettings({}, 'local');
    expect(Object.keys(s)).toEqual(vendorIds());
    vendorIds().forEach((id, i) => expect(s[id]).toMatchObject({ baseUrl: `http://127.0.0.1:${SANDBOX_PORT_BASE + i}`, disabled: false }));
    expect(SANDBOX_PORT_BASE).toBe(4601);
    expect(s.youmi?.settings).toEqual({ deletePath: '/v2/BulkSend/DeleteBulkSendTask', scope: 'Ls.Qkl.PublicApi' });
    expect(s.tanmarket?.settings).toEqual({ signer: 'md5(appId+timestamp+appSecret)' });
  });

  it('a set base URL is used as given (any scheme locally); \'\' reads as unset; "disabled" disables', () => {
    const s = loadVendorSettings({ WEIBAN_BASE_URL: 'http://127.0.0.1:9999', YOUMI_BASE_URL: '', WSHOTO_BASE_URL: 'disabled' }, 'local');
    expect(s.weiban).toMatchObject({ baseUrl: 'http://127.0.0.1:9999', disabled: false });
    expect(s.youmi).toMatchObject({ baseUrl: `http://127.0.0.1:${SANDBOX_PORT_BASE + 1}`, disabled: false });
    expect(s.wshoto).toMatchObject({ disabled: true });
  });

  it('AWS mode: https endpoints pass, and each vendor gets its own settings', () => {
    const s = loadVendorSettings({ ...httpsEverywhere(), YOUMI_TOKEN_URL: 'https://idp.youmi.example', TANMARKET_BASE_URL: 'disabled' }, 'aws');
    expect(s.weiban).toEqual({ baseUrl: 'https://weiban.example', disabled: false, settings: {} });
    expect(s.youmi?.settings).toEqual({ tokenUrl: 'https://idp.youmi.example', deletePath: '/v2/BulkSend/DeleteBulkSendTask', scope: 'Ls.Qkl.PublicApi' });
    expect(s.tanmarket?.disabled).toBe(true);
  });

  it.each<[string, Record<string, string | undefined>, string]>([
    ['an unset base URL', { WEIBAN_BASE_URL: undefined }, 'WEIBAN_BASE_URL: required in AWS mode (an https URL, or "disabled")'],
    ["an empty base URL (serverless.yml's unset)", { YOUMI_BASE_URL: '' }, 'YOUMI_BASE_URL: required in AWS mode (an https URL, or "disabled")'],
    [
      'an http base URL',
      { WSHOTO_BASE_URL: 'http://open.wshoto.com' },
      'WSHOTO_BASE_URL: must be an https URL without credentials in AWS mode (or "disabled")',
    ],
    [
      'a loopback sandbox',
      { TANMARKET_BASE_URL: 'http://127.0.0.1:4603' },
      'TANMARKET_BASE_URL: must be an https URL without credentials in AWS mode (or "disabled")',
    ],
    [
      'credentials in the URL',
      { WEIBAN_BASE_URL: 'https://user:pw@open.weibanzhushou.com' },
      'WEIBAN_BASE_URL: must be an https URL without credentials in AWS mode (or "disabled")',
    ],
    ['not a URL', { WEIBAN_BASE_URL: 'open.weibanzhushou.com' }, 'WEIBAN_BASE_URL: must be an https URL without credentials in AWS mode (or "disabled")'],
    [
      'an http token URL',
      { YOUMI_TOKEN_URL: 'http://idp.youmi.example' },
      'YOUMI_TOKEN_URL: must be an https URL without credentials in AWS mode (or "disabled")',
    ],
  ])('AWS mode refuses %s, naming the variable, never its value', (_what, over, problem) => {
    expect(() => loadVendorSettings({ ...httpsEverywhere(), ...over }, 'aws')).toThrow(`invalid environment: ${problem}`);
    try {
      loadVendorSettings({ ...httpsEverywhere(), ...over }, 'aws');
    } catch (err) {
      expect((err as Error).message).not.toMatch(/https?:\/\/|open\./);
    }
  });

  it('AWS mode names every problem at once, in registry order; an unset token URL is fine', () => {
    expect(() => loadVendorSettings({ WEIBAN_BASE_URL: 'http://x.example', TANMARKET_BASE_URL: 'https://t.example' }, 'aws')).toThrow(
      'invalid environment: WEIBAN_BASE_URL: must be an https URL without credentials in AWS mode (or "disabled"); YOUMI_BASE_URL: required in AWS mode (an https URL, or "disabled"); WSHOTO_BASE_URL: required in AWS mode (an https URL, or "disabled")',
    );
  });

  it('a vendor setting that does not parse is refused in either mode, named', () => {
    for (const mode of ['local', 'aws'] as const) {
      expect(() => loadVendorSettings({ ...httpsEverywhere(), YOUMI_DELETE_PATH: 'no-slash' }, mode)).toThrow(/^invalid environment: YOUMI_DELETE_PATH: /);
    }
  });
});

describe('deployEnvironment', () => {
  it("every vendor variable, from the shell or its deploy default, else ''", () => {
    const all = VENDORS.flatMap((a) => a.settings.variables.map((v) => v.name));
    const env = deployEnvironment({ YOUMI_BASE_URL: 'https://api.youmi.example', WEIBAN_BASE_URL: 'disabled', UNRELATED: 'x' });
    expect(Object.keys(env)).toEqual(all);
    expect(env).toMatchObject({
      WEIBAN_BASE_URL: 'disabled',
      YOUMI_BASE_URL: 'https://api.youmi.example',
      YOUMI_TOKEN_URL: '',
      YOUMI_DELETE_PATH: '/v2/BulkSend/DeleteBulkSendTask',
      TANMARKET_BASE_URL: '',
      TANMARKET_SIGNER: 'md5(appId+timestamp+appSecret)',
      WSHOTO_BASE_URL: 'https://open.wshoto.com',
    });
    expect(deployEnvironment({}).WEIBAN_BASE_URL).toBe('https://open.weibanzhushou.com');
  });
});
