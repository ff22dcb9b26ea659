/**
 * What qunfa keeps of a vendor's answer (step.vendorResponse, returned by GET and in callbacks):
 * only the fields its adapter names (dotted paths for nested ones), each value bounded, the whole
 * bounded. A vendor that answers megabytes, or echoes what it should not, stores none of it.
 */
export const MAX_VALUE_CHARS = 256;
export const MAX_RESPONSE_BYTES = 2048;

const bound = (s: string) => (s.length > MAX_VALUE_CHARS ? `${s.slice(0, MAX_VALUE_CHARS - 1)}…` : s);

function value(v: unknown): unknown {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string') return bound(v);
  return bound(JSON.stringify(v) ?? String(v)); // an object or array is kept as bounded text
}

export function keepResponse(raw: unknown, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (raw === null || typeof raw !== 'object') return out;
  for (const path of fields) {
    const parts = path.split('.');
    let v: unknown = raw;
    for (const p of parts) v = v !== null && typeof v === 'object' && Object.hasOwn(v, p) ? (v as Record<string, unknown>)[p] : undefined;
    if (v === undefined) continue;
    const copy = structuredClone(out);
    let at = copy;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[parts.at(-1) as string] = value(v);
    if (Buffer.byteLength(JSON.stringify(copy)) > MAX_RESPONSE_BYTES) break; // the fields come in order of importance
    Object.assign(out, copy);
  }
  return out;
}

/** A vendor's own error text, bounded the same way wherever it lands (step.error.message, history). */
export const MAX_MESSAGE_CHARS = 512;
export const boundMessage = (m: string) => (m.length > MAX_MESSAGE_CHARS ? `${m.slice(0, MAX_MESSAGE_CHARS - 1)}…` : m);
