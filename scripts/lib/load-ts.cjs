/**
 * Loads a TypeScript module of this repository from a CommonJS file that serverless.yml reads
 * (`${file(./scripts/<x>.cjs)}`): bundled in memory with esbuild (a devDependency, as the
 * deployment's own bundler is) and compiled as a module, so the template is made from the same
 * code the functions run (the vendor registry, the metric catalog), never a copy of it.
 */
'use strict';
const Module = require('node:module');
const path = require('node:path');

module.exports = function loadTs(file) {
  const { buildSync } = require('esbuild');
  const entry = path.join(__dirname, '..', '..', file);
  const built = buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' });
  const loaded = new Module(entry, module);
  loaded.filename = entry;
  loaded.paths = Module._nodeModulePaths(path.dirname(entry));
  loaded._compile(built.outputFiles[0].text, entry);
  return loaded.exports;
};
