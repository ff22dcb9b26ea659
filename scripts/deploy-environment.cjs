/**
 * serverless.yml's vendor variables, from the vendor registry: every variable each registered
 * vendor's settings declare (lib/vendors/<vendor>/settings.ts), with its value from the deployer's
 * shell, else its deploy default, else '' (read as unset). serverless.yml uses it as
 *   custom.vendorEnvironment: ${file(./scripts/deploy-environment.cjs)}
 * and gives it to the functions that call vendors, so adding a vendor changes no line there.
 *
 * lib/vendors/registry.ts is TypeScript: it is bundled in memory with esbuild (a devDependency,
 * as the deployment's own bundler is) and deployEnvironment(process.env) is taken from it.
 */
'use strict';
const Module = require('node:module');
const path = require('node:path');

let resolved;

module.exports = () => {
  if (resolved) return resolved;
  const { buildSync } = require('esbuild');
  const entry = path.join(__dirname, '..', 'lib', 'vendors', 'registry.ts');
  const built = buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' });
  const registry = new Module(entry, module);
  registry.filename = entry;
  registry.paths = Module._nodeModulePaths(path.dirname(entry));
  registry._compile(built.outputFiles[0].text, entry);
  resolved = registry.exports.deployEnvironment(process.env);
  return resolved;
};
