import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const VENDORS = join(__dirname, '..', '..', 'lib', 'vendors');

/** A vendor's own document (copied from shared/seeds into its folder, so a clone is self-contained). */
export function seed(prefix: string): string {
  for (const vendor of readdirSync(VENDORS, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    const dir = join(VENDORS, vendor.name);
    const file = readdirSync(dir, { withFileTypes: true }).find((f) => f.isFile() && f.name.startsWith(`seed-${prefix}`));
    if (file) return readFileSync(join(dir, file.name), 'utf8');
  }
  throw new Error(`no seed ${prefix} in lib/vendors/*/`);
}

/** The first JSON object that starts after `marker` in a seed, parsed. */
export function jsonAfter(text: string, marker: string): any {
  const start = text.indexOf('{', text.indexOf(marker));
  for (let end = text.indexOf('}', start); end !== -1; end = text.indexOf('}', end + 1)) {
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {
      // not closed yet
    }
  }
  throw new Error(`no JSON after ${marker}`);
}
