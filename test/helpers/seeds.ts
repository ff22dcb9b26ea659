import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The vendors' own documents (copied from shared/seeds so a clone is self-contained). */
export function seed(prefix: string): string {
  const dir = join(__dirname, '..', 'fixtures', 'seeds');
  const file = require('node:fs').readdirSync(dir).find((f: string) => f.startsWith(prefix));
  return readFileSync(join(dir, file), 'utf8');
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
