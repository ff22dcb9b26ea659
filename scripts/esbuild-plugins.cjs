/**
 * serverless-esbuild's plugins (custom.esbuild.plugins in serverless.yml), for `osls package` and
 * for serverless-offline under `npm start` alike: `console-assets`, a virtual module that the
 * console function (functions/console.ts) imports. Loading it builds the activity page from
 * console/ in memory — one JS bundle and one stylesheet, each named by its content's hash, and
 * index.html naming them — so the page is embedded in that function's bundle and no built file
 * is ever written to the repository.
 */
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { gzipSync } = require('node:zlib');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'console');

/** @param {string | Uint8Array} body @param {string} type @param {boolean} immutable */
function asset(body, type, immutable) {
  const bytes = Buffer.from(body);
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 16);
  return {
    type,
    body: bytes.toString('utf8'),
    gzip: gzipSync(bytes, { level: 9 }).toString('base64'),
    etag: `"${hash}"`,
    hash,
    immutable,
  };
}

/**
 * The page's files, built with the given esbuild (a plugin's own `build.esbuild`, or the package).
 * @param {typeof import('esbuild')} esbuild
 */
async function buildConsoleAssets(esbuild) {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { app: path.join(dir, 'main.ts') },
    tsconfig: path.join(dir, 'tsconfig.json'),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    // Browsers of the last few years (dialog, :focus-visible, optional chaining all work there).
    target: ['chrome105', 'edge105', 'firefox104', 'safari15.4'],
    charset: 'utf8',
    legalComments: 'none',
    write: false,
    outdir: path.join(dir, '.out'),
    metafile: true,
    logLevel: 'silent',
  });
  const out = (ext) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (!file) throw new Error(`console build produced no ${ext}`);
    return file.contents;
  };
  const js = asset(out('.js'), 'text/javascript; charset=utf-8', true);
  const css = asset(out('.css'), 'text/css; charset=utf-8', true);
  const jsName = `app.${js.hash}.js`;
  const cssName = `app.${css.hash}.css`;
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8').replace('%APP_JS%', jsName).replace('%APP_CSS%', cssName).replace(/\n\s*/g, '');
  return {
    assets: { index: asset(html, 'text/html; charset=utf-8', false), files: { [jsName]: js, [cssName]: css } },
    watchFiles: [...Object.keys(result.metafile.inputs).map((f) => path.resolve(root, f)), path.join(dir, 'index.html')],
  };
}

/** @returns {import('esbuild').Plugin} */
function consoleAssets() {
  return {
    name: 'console-assets',
    setup(build) {
      build.onResolve({ filter: /^console-assets$/ }, () => ({ path: 'console-assets', namespace: 'console-assets' }));
      build.onLoad({ filter: /.*/, namespace: 'console-assets' }, async () => {
        const { assets, watchFiles } = await buildConsoleAssets(build.esbuild);
        return { contents: `export default ${JSON.stringify(assets)};`, loader: 'js', watchFiles };
      });
    },
  };
}

module.exports = () => [consoleAssets()];
module.exports.consoleAssets = consoleAssets;
module.exports.buildConsoleAssets = buildConsoleAssets;
