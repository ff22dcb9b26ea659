/**
 * JSON for vendors whose ids are 64-bit integers (Tanmarket staff ids, WShoto template and
 * material ids). JavaScript numbers lose digits past 2^53, so such ids never become numbers:
 * outgoing, an `Int64` is written as its exact digits; incoming, an integer literal too long to
 * be exact is read as a string.
 */

/** A 64-bit integer carried as its decimal digits. */
export class Int64 {
  constructor(readonly digits: string) {
    if (!/^-?\d{1,19}$/.test(digits)) throw new Error(`not an int64: ${digits}`);
  }
  /** Plain JSON.stringify quotes it (never rounds it); stringifyExact writes it bare. */
  toJSON(): string {
    return this.digits;
  }
}

export const isInt64Text = (s: string) => /^-?\d{1,19}$/.test(s) && BigInt(s) <= 9223372036854775807n && BigInt(s) >= -9223372036854775808n;

/** JSON.stringify, with every Int64 written as a bare number of exactly its digits. */
export function stringifyExact(value: unknown): string {
  const marker = `@@int64:${Math.random().toString(36).slice(2)}:`;
  // The replacer sees toJSON's result; the holder (`this`) still has the Int64 itself.
  const text = JSON.stringify(value, function (this: Record<string, unknown>, k: string, v: unknown) {
    const raw = this[k];
    return raw instanceof Int64 ? `${marker}${raw.digits}` : v;
  });
  return text.replace(new RegExp(`"${marker}(-?\\d+)"`, 'g'), '$1');
}

/** JSON.parse, but integer literals beyond 2^53 come back as strings of their exact digits. */
export function parseExact(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const token = text.slice(i, j);
      out += /^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token)) ? `"${token}"` : token;
      i = j - 1;
      continue;
    }
    out += c;
  }
  return JSON.parse(out);
}
