/** Byte-level token helpers shared by the readers (no string per token on the fast paths). */

export const SPACE = 32;
export const TAB = 9;

/** The text of the token starting at `start` (up to the next space/tab or `end`), shortened for messages. */
export function tokenText(buf: Buffer, start: number, end: number, tabOnly = false): string {
  let e = start;
  while (e < end && buf[e] !== TAB && (tabOnly || buf[e] !== SPACE)) e++;
  const s = buf.toString('utf8', start, Math.min(e, start + 40));
  return e - start > 40 ? `${s}…` : s;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses a finite decimal number from `buf[start .. end)`; NaN when the bytes are not one
 * (empty, garbage, `nan`, `inf`). `[-]digits[.digits]` up to 15 significant digits is parsed
 * directly and is exactly what `Number()` gives (one correctly rounded division); the rest
 * falls back to `Number()`.
 */
export function parseDecimal(buf: Buffer, start: number, end: number): number {
  let p = start;
  let neg = false;
  const c0 = buf[p];
  if (c0 === 45 || c0 === 43) {
    neg = c0 === 45;
    p++;
  }
  let mant = 0;
  let digits = 0;
  let scale = 1;
  let sawDot = false;
  let ok = p < end;
  for (; p < end; p++) {
    const c = buf[p]!;
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      mant = mant * 10 + d;
      digits++;
      if (sawDot) scale *= 10;
    } else if (c === 46 && !sawDot) {
      sawDot = true;
    } else {
      ok = false;
      break;
    }
  }
  if (ok && digits > 0 && digits <= 15) {
    const v = mant / scale;
    return neg ? -v : v;
  }
  const s = buf.toString('latin1', start, end);
  return DECIMAL.test(s) ? Number(s) : Number.NaN;
}
