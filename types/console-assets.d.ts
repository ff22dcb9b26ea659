/** The activity page's files, built from console/ when the console function is bundled (scripts/esbuild-plugins.cjs). */
declare module 'console-assets' {
  interface ConsoleAsset {
    type: string;
    /** The file as UTF-8 text. */
    body: string;
    /** The same, gzipped, in base64. */
    gzip: string;
    /** A strong ETag from the content's hash. */
    etag: string;
    /** Named by its hash: cacheable for ever. */
    immutable: boolean;
  }
  const assets: { index: ConsoleAsset; files: Record<string, ConsoleAsset> };
  export default assets;
}
