/** Float64 reference implementations for the tests (deliberately naive: no bucket tricks). */

/**
 * Naive SDIM forward for one row with a fixed collision pattern: collide[j*S+s] = 1 if behaviour j
 * collides under s; `pooling` 'mean' / 'sum' pools each bucket by its mean / sum instead of its
 * ℓ2-normalised sum.
 */
export function sdimReference(
  beh: Float64Array,
  len: number,
  dim: number,
  S: number,
  collide: Uint8Array,
  pooling: 'l2' | 'mean' | 'sum' = 'l2',
): Float64Array {
  const out = new Float64Array(dim);
  for (let s = 0; s < S; s++) {
    const v = new Float64Array(dim);
    let count = 0;
    for (let j = 0; j < len; j++) {
      if (collide[j * S + s] !== 1) continue;
      count++;
      for (let d = 0; d < dim; d++) v[d]! += beh[j * dim + d]!;
    }
    if (pooling !== 'l2') {
      const div = pooling === 'mean' ? count : 1;
      if (count > 0) for (let d = 0; d < dim; d++) out[d]! += v[d]! / div / S;
      continue;
    }
    let n = 0;
    for (let d = 0; d < dim; d++) n += v[d]! * v[d]!;
    n = Math.sqrt(n);
    if (n > 1e-12) for (let d = 0; d < dim; d++) out[d]! += v[d]! / n / S;
  }
  return out;
}

/** Naive DIN attention forward for one row (pooling `values`, default the keys). */
export function dinReference(
  w1: Float64Array,
  b1: Float64Array,
  w2: Float64Array,
  b2: number,
  q: Float64Array,
  keys: Float64Array,
  len: number,
  dim: number,
  H: number,
  softmax: boolean,
  values: Float64Array = keys,
): Float64Array {
  const scores: number[] = [];
  for (let j = 0; j < len; j++) {
    const x: number[] = [];
    for (let d = 0; d < dim; d++) x.push(q[d]!);
    for (let d = 0; d < dim; d++) x.push(keys[j * dim + d]!);
    for (let d = 0; d < dim; d++) x.push(q[d]! - keys[j * dim + d]!);
    for (let d = 0; d < dim; d++) x.push(q[d]! * keys[j * dim + d]!);
    let score = b2;
    for (let h = 0; h < H; h++) {
      let z = b1[h]!;
      for (let i = 0; i < 4 * dim; i++) z += w1[h * 4 * dim + i]! * x[i]!;
      score += w2[h]! * Math.max(0, z);
    }
    scores.push(score);
  }
  let a = scores;
  if (softmax && len > 0) {
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((p, c) => p + c, 0);
    a = e.map((v) => v / z);
  }
  const out = new Float64Array(dim);
  for (let j = 0; j < len; j++) for (let d = 0; d < dim; d++) out[d]! += a[j]! * values[j * dim + d]!;
  return out;
}

/** Dot product of two equal-length arrays. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
