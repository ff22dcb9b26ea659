/**
 * Times as a person reads them: in the viewer's own time zone, with its UTC offset shown, e.g.
 * `2026-12-01 10:00:00 (UTC+08:00)`; and back from a datetime-local input to the API's form, an
 * ISO 8601 instant carrying that offset.
 */
const pad = (n: number) => String(n).padStart(2, '0');

/** The viewer's offset from UTC at that instant (daylight saving included): `+08:00`. */
export function offsetOf(d: Date): string {
  const m = -d.getTimezoneOffset();
  const a = Math.abs(m);
  return `${m < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** The viewer's zone, as Intl names it (`Asia/Shanghai`). */
export const zoneName = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

let cached: [string, Intl.DateTimeFormat] | undefined;
/** Digits in the viewer's zone, made again should the zone change (a test, a travelling laptop). */
function digits(): Intl.DateTimeFormat {
  const zone = zoneName();
  if (cached?.[0] !== zone) {
    const opts = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' } as const;
    cached = [zone, new Intl.DateTimeFormat('en-US', { ...opts, timeZone: zone })];
  }
  return cached[1];
}

/** `2026-12-01 10:00:00 (UTC+08:00)` in the viewer's zone; an unreadable value is shown as it is. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = Object.fromEntries(
    digits()
      .formatToParts(d)
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} (UTC${offsetOf(d)})`;
}

/** A datetime-local value (`2026-12-01T10:00`, the viewer's wall clock) as an instant with the viewer's offset; null if incomplete. */
export function localInputToIso(value: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
  if (!m) return null;
  const [y, mo, d, hh, mi, ss] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const at = new Date(y, mo - 1, d, hh, mi, ss);
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}${offsetOf(at)}`;
}

/** An instant as a datetime-local value in the viewer's zone (minutes), to prefill an input. */
export function isoToLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
