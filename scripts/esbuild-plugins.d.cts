/** Types of scripts/esbuild-plugins.cjs (serverless.yml's custom.esbuild.plugins), for the tests and the bench. */
import type * as esbuild from 'esbuild';
import type { ConsoleAssets } from '../lib/api/console';

declare function plugins(): esbuild.Plugin[];
declare namespace plugins {
  /** The `console-assets` virtual module. */
  function consoleAssets(): esbuild.Plugin;
  /** The console page's files (and the sources they were built from), built with the given esbuild. */
  function buildConsoleAssets(build: typeof esbuild): Promise<{ assets: ConsoleAssets; watchFiles: string[] }>;
}
export = plugins;
