/**
 * Radix selection over 31-bit keys (non-negative float32 bit patterns, whose unsigned order is the
 * numeric order): two 16-bit histogram passes find the exact k-th smallest key in linear time with a
 * fixed 256 KiB histogram and no copy of the candidates. The callers own the passes over their data
 * (so they can fuse them with other work); this module only reads a histogram.
 */

/** Bins of one 16-bit histogram pass. */
export const RADIX_BINS = 65536;

/**
 * Finds the bin holding the k-th smallest (1-based) counted key: writes the bin to `out[0]` and the
 * number of keys in lower bins to `out[1]`. Requires 1 ≤ k ≤ Σ hist.
 */
export function locateRank(hist: Uint32Array, k: number, out: Float64Array): void {
  let before = 0;
  for (let b = 0; b < hist.length; b++) {
    const h = hist[b]!;
    if (before + h >= k) {
      out[0] = b;
      out[1] = before;
      return;
    }
    before += h;
  }
  // Unreachable for valid k; keep the result defined.
  out[0] = hist.length - 1;
  out[1] = before;
}

/** A Uint32Array view (no copy) of a float32 array's bits. */
export function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}
