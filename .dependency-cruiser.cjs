// dependency-cruiser: no import cycles, and the layers of lib/ depend only downward.
//   core      the model, state machine, errors, ids: imports no other layer
//   vendors   adapters, registry, kit: core (and vendors)
//   infra     settings, AWS clients, store, scheduler, ...: core (and infra)
//   delivery  dispatch, poll, webhooks, callbacks, flow control: core, vendors, infra
//   tasks     task use cases (create, cancel at the vendor, PATCH): core, vendors, infra, delivery
//   api       handler plumbing, problems, openapi: anything in lib but the composition root
//   lib/app.ts  the composition root: anything in lib
//   functions/  Lambda entry points: anything in lib
//   console/    the activity page (a browser bundle): itself, and lib/ for types only
// Run: npx depcruise lib functions console --config .dependency-cruiser.cjs

/** A layer's rule: from lib/<name> (tests aside), no other layer but the allowed ones, and never the composition root. */
const layer = (name, allowed) => {
  const all = ['core', 'vendors', 'infra', 'tasks', 'delivery', 'api'];
  return {
    name: `${name}-imports-only-${allowed.length ? allowed.join('-') : 'itself'}`,
    comment: `lib/${name} may import ${allowed.length ? allowed.map((l) => `lib/${l}`).join(', ') : 'no other layer'} (and itself); layers depend only downward.`,
    severity: 'error',
    from: { path: `^lib/${name}/`, pathNot: '[.]test[.]ts$' },
    to: { path: [...all.filter((l) => l !== name && !allowed.includes(l)).map((l) => `^lib/${l}/`), '^lib/app[.]ts$'] },
  };
};

/** Modules that only tests and the local stack may load: the vendor sandboxes. */
const SANDBOX = ['^lib/vendors/[^/]+/sandbox[.]ts$', '^lib/vendors/kit/sandboxServer[.]ts$'];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Import cycles make load order matter and layers meaningless; type-only imports count too.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('core', []),
    layer('vendors', ['core']),
    layer('infra', ['core']),
    layer('delivery', ['core', 'vendors', 'infra']),
    layer('tasks', ['core', 'vendors', 'infra', 'delivery']),
    {
      name: 'api-not-to-app',
      comment: 'lib/api is plumbing the composition root wires; it must not import lib/app.ts.',
      severity: 'error',
      from: { path: '^lib/api/' },
      to: { path: '^lib/app[.]ts$' },
    },
    {
      name: 'lib-not-to-entry-points-or-tooling',
      comment: 'lib/ never imports the Lambda entry points or the scripts.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: ['^functions/', '^scripts/'] },
    },
    {
      name: 'lib-not-to-tests',
      comment: 'Only tests import test/ (its helpers): the mapping tests beside each vendor may, the rest of lib/ may not.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '[.]test[.]ts$' },
      to: { path: '^test/' },
    },
    {
      name: 'functions-not-to-tooling',
      comment: 'Lambda entry points import lib/ only, never the scripts or the tests.',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: ['^scripts/', '^test/'] },
    },
    {
      name: 'production-not-to-sandbox',
      comment: 'The vendor sandboxes are test doubles: production code (lib but tests and sandboxes; functions) never imports them.',
      severity: 'error',
      from: { path: ['^lib/', '^functions/'], pathNot: ['[.]test[.]ts$', ...SANDBOX] },
      to: { path: SANDBOX },
    },
    {
      name: 'console-only-types-from-lib',
      comment: 'The activity page runs in a browser: from lib/ it may take types (erased from its bundle), never code.',
      severity: 'error',
      from: { path: '^console/' },
      to: { path: '^lib/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'console-self-contained',
      comment: 'The activity page imports only itself (and lib/ types): no package, no entry point, no script or test.',
      severity: 'error',
      from: { path: '^console/' },
      to: { pathNot: ['^console/', '^lib/'] },
    },
    {
      name: 'nothing-imports-console',
      comment: 'The page reaches the console function only through the `console-assets` module its bundler builds (scripts/esbuild-plugins.cjs).',
      severity: 'error',
      from: { path: ['^lib/', '^functions/'] },
      to: { path: '^console/' },
    },
    {
      name: 'production-not-to-dev-dependency',
      comment: 'A devDependency is not in the deployed bundle: production code may use one for types only.',
      severity: 'error',
      from: { path: ['^lib/', '^functions/'], pathNot: ['[.]test[.]ts$', ...SANDBOX] },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // See type-only imports too (they are erased from the build but are still dependencies).
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    progress: { type: 'none' },
  },
};
