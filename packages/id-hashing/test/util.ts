import type { IdMapper } from '@compactrec/core';

/** Codes of `ids` (`[ids.length × K]`). */
export function codesOf(mapper: IdMapper, ids: ArrayLike<number>): Int32Array {
  const out = new Int32Array(ids.length * mapper.codesPerId);
  mapper.mapInto(ids, out);
  return out;
}

/** Index of the first difference between two equal-length arrays, −1 if identical, −2 if lengths differ (fast for large arrays). */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** 0 .. n − 1 as an Int32Array. */
export function range(n: number): Int32Array {
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  return ids;
}
