/**
 * The one normalisation both the training layer and the BSE read use, so the two agree bit for
 * bit: u = v / ‖v‖ when ‖v‖ > NORM_EPS, else 0 (an empty or vanishing bucket contributes nothing
 * and passes no gradient).
 */
export const NORM_EPS = 1e-12;

/**
 * Adds `scale · v / ‖v‖` to `out[outOffset .. + dim)` where v = `sums[offset .. + dim)`; stores
 * v/‖v‖ into `unit[unitOffset ..]` when `unit` is given. Returns ‖v‖ (0 when below NORM_EPS).
 */
export function addNormalized(
  sums: Float64Array,
  offset: number,
  dim: number,
  scale: number,
  out: Float64Array,
  outOffset: number,
  unit: Float64Array | null,
  unitOffset: number,
): number {
  let sq = 0;
  for (let d = 0; d < dim; d++) {
    const v = sums[offset + d]!;
    sq += v * v;
  }
  const norm = Math.sqrt(sq);
  if (!(norm > NORM_EPS)) {
    if (unit !== null) for (let d = 0; d < dim; d++) unit[unitOffset + d] = 0;
    return 0;
  }
  const inv = 1 / norm;
  if (unit !== null) {
    for (let d = 0; d < dim; d++) {
      const u = sums[offset + d]! * inv;
      unit[unitOffset + d] = u;
      out[outOffset + d]! += scale * u;
    }
  } else {
    for (let d = 0; d < dim; d++) out[outOffset + d]! += scale * sums[offset + d]! * inv;
  }
  return norm;
}
