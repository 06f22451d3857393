/** Unsigned typed arrays the mapping arrays are stored in, narrowest first. */
export type NarrowArray = Uint8Array | Uint16Array | Uint32Array;

/**
 * Copies `src` (values in [−1, maxValue]) into the narrowest unsigned array that holds
 * 0..maxValue plus one sentinel for −1 (the value maxValue + 1).
 */
export function narrowFrom(src: ArrayLike<number>, maxValue: number): NarrowArray {
  const sentinel = maxValue + 1;
  const out =
    sentinel <= 0xff
      ? new Uint8Array(src.length)
      : sentinel <= 0xffff
        ? new Uint16Array(src.length)
        : new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v < 0 ? sentinel : v;
  }
  return out;
}

/** Widens a narrow array back to Int32 (the sentinel maxValue + 1 becomes −1), for snapshots. */
export function widen(src: NarrowArray, maxValue: number): Int32Array {
  const sentinel = maxValue + 1;
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v === sentinel ? -1 : v;
  }
  return out;
}
