/**
 * serverless.yml's vendor variables, from the vendor registry: every variable each registered
 * vendor's settings declare (lib/vendors/<vendor>/settings.ts), with its value from the deployer's
 * shell, else its deploy default, else '' (read as unset). serverless.yml uses it as
 *   custom.vendorEnvironment: ${file(./scripts/deploy-environment.cjs)}
 * and gives it to the functions that call vendors, so adding a vendor changes no line there.
 */
'use strict';
const loadTs = require('./lib/load-ts.cjs');

let resolved;

module.exports = () => {
  resolved ??= loadTs('lib/vendors/registry.ts').deployEnvironment(process.env);
  return resolved;
};
