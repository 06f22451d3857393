import { InvalidArgumentError, Rng, UsageError } from '@compactrec/core';
import { SdimLayer, SimHasher } from '@compactrec/sdim';
import { describe, expect, it } from 'vitest';
import { dot, sdimReference } from './reference.js';

const dim = 8;
const hasher = new SimHasher({ dim, numHashes: 12, bitsPerSignature: 2, seed: 21 });
const S = hasher.numSignatures;

/** A batch whose behaviours are noisy copies of the candidate, so that many collide. */
function makeBatch(seed: number, B: number, L: number) {
  const rng = new Rng(seed);
  const candidates = new Float32Array(B * dim);
  rng.fillNormal(candidates);
  const behaviours = new Float32Array(B * L * dim);
  rng.fillNormal(behaviours, 0.8);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < L; j++)
      for (let d = 0; d < dim; d++) behaviours[(b * L + j) * dim + d]! += candidates[b * dim + d]!;
  }
  const lengths = Int32Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? L : 1 + rng.nextInt(L)));
  return { candidates, behaviours, lengths };
}

/** Collision pattern of row b from the hasher: collide[j*S+s]. */
function collisions(behaviours: Float32Array, candidates: Float32Array, b: number, L: number, len: number): Uint8Array {
  const cs = new Uint8Array(S);
  hasher.signatures(candidates.subarray(b * dim), 1, cs);
  const bs = new Uint8Array(L * S);
  hasher.signatures(behaviours.subarray(b * L * dim), len, bs);
  const out = new Uint8Array(L * S);
  for (let j = 0; j < len; j++) for (let s = 0; s < S; s++) out[j * S + s] = bs[j * S + s] === cs[s] ? 1 : 0;
  return out;
}

describe('SdimLayer', () => {
  it('validates inputs and call order', () => {
    const layer = new SdimLayer(hasher);
    expect(() => layer.backward(new Float32Array(8), new Float32Array(8))).toThrow(UsageError);
    const { candidates, behaviours } = makeBatch(1, 2, 4);
    const out = new Float32Array(2 * dim);
    expect(() => layer.forward(behaviours, Int32Array.of(1, 5), candidates, 2, 4, out)).toThrow(InvalidArgumentError);
    expect(() => layer.forward(behaviours, Int32Array.of(1, 2), candidates, 2, 5, out)).toThrow(InvalidArgumentError);
    expect(() => layer.forward(behaviours, Int32Array.of(1, 2), candidates, 2, 4, new Float32Array(3))).toThrow(
      InvalidArgumentError,
    );
  });

  it('matches the naive float64 definition, ignores padding and gives 0 for empty histories', () => {
    const B = 6;
    const L = 30;
    const { candidates, behaviours, lengths } = makeBatch(2, B, L);
    const layer = new SdimLayer(hasher);
    const out = new Float32Array(B * dim);
    layer.forward(behaviours, lengths, candidates, B, L, out);
    let collided = 0;
    for (let b = 0; b < B; b++) {
      const len = lengths[b]!;
      const col = collisions(behaviours, candidates, b, L, len);
      collided += col.reduce((p, c) => p + c, 0);
      const ref = sdimReference(
        Float64Array.from(behaviours.subarray(b * L * dim, (b + 1) * L * dim)),
        len,
        dim,
        S,
        col,
      );
      for (let d = 0; d < dim; d++) expect(out[b * dim + d]).toBeCloseTo(ref[d]!, 6);
    }
    expect(collided).toBeGreaterThan(50);
    expect(Array.from(out.subarray(0, dim))).toEqual(new Array(dim).fill(0));
    // Garbage in the padding changes nothing.
    const noisy = behaviours.slice();
    for (let b = 0; b < B; b++) for (let i = (b * L + lengths[b]!) * dim; i < (b + 1) * L * dim; i++) noisy[i] = 1e3;
    const out2 = new Float32Array(B * dim);
    layer.forward(noisy, lengths, candidates, B, L, out2);
    expect(out2).toEqual(out);
  });

  it('backward matches finite differences of the float64 reference (hashes held fixed)', () => {
    const B = 5;
    const L = 12;
    const { candidates, behaviours, lengths } = makeBatch(3, B, L);
    const layer = new SdimLayer(hasher);
    const out = new Float32Array(B * dim);
    layer.forward(behaviours, lengths, candidates, B, L, out);
    const gradOut = new Float32Array(B * dim);
    new Rng(4).fillNormal(gradOut);
    const gradBeh = new Float32Array(B * L * dim).fill(Number.NaN);
    const gradCand = new Float32Array(B * dim).fill(Number.NaN);
    layer.backward(gradOut, gradBeh, gradCand);
    expect(gradCand.every((v) => v === 0)).toBe(true);
    const h = 1e-6;
    let checked = 0;
    for (let b = 0; b < B; b++) {
      const len = lengths[b]!;
      const col = collisions(behaviours, candidates, b, L, len);
      const base = Float64Array.from(behaviours.subarray(b * L * dim, (b + 1) * L * dim));
      const g = gradOut.subarray(b * dim, (b + 1) * dim);
      for (let i = 0; i < L * dim; i++) {
        const analytic = gradBeh[b * L * dim + i]!;
        if (i >= len * dim) {
          expect(analytic).toBe(0);
          continue;
        }
        const plus = base.slice();
        plus[i]! += h;
        const minus = base.slice();
        minus[i]! -= h;
        const numeric =
          (dot(g, sdimReference(plus, len, dim, S, col)) - dot(g, sdimReference(minus, len, dim, S, col))) / (2 * h);
        expect(Math.abs(analytic - numeric)).toBeLessThan(1e-4 * (1 + Math.abs(numeric)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(gradBeh.filter((v) => Math.abs(v) > 1e-3).length).toBeGreaterThan(50);
  });

  it('with values: hashes the behaviours, sums the values, and passes the gradient to the values', () => {
    const B = 5;
    const L = 12;
    const { candidates, behaviours, lengths } = makeBatch(6, B, L);
    const values = new Float32Array(B * L * dim);
    new Rng(7).fillNormal(values);
    const layer = new SdimLayer(hasher);
    expect(() =>
      layer.forward(behaviours, lengths, candidates, B, L, new Float32Array(B * dim), new Float32Array(3)),
    ).toThrow(InvalidArgumentError);
    const out = new Float32Array(B * dim);
    layer.forward(behaviours, lengths, candidates, B, L, out, values);
    const gradOut = new Float32Array(B * dim);
    new Rng(8).fillNormal(gradOut);
    const gradValues = new Float32Array(B * L * dim).fill(Number.NaN);
    layer.backward(gradOut, gradValues);
    const h = 1e-6;
    let checked = 0;
    for (let b = 0; b < B; b++) {
      const len = lengths[b]!;
      const col = collisions(behaviours, candidates, b, L, len); // from the keys, not the values
      const base = Float64Array.from(values.subarray(b * L * dim, (b + 1) * L * dim));
      const ref = sdimReference(base, len, dim, S, col);
      for (let d = 0; d < dim; d++) expect(out[b * dim + d]).toBeCloseTo(ref[d]!, 6);
      const g = gradOut.subarray(b * dim, (b + 1) * dim);
      for (let i = 0; i < L * dim; i++) {
        const analytic = gradValues[b * L * dim + i]!;
        if (i >= len * dim) {
          expect(analytic).toBe(0);
          continue;
        }
        const plus = base.slice();
        plus[i]! += h;
        const minus = base.slice();
        minus[i]! -= h;
        const numeric =
          (dot(g, sdimReference(plus, len, dim, S, col)) - dot(g, sdimReference(minus, len, dim, S, col))) / (2 * h);
        expect(Math.abs(analytic - numeric)).toBeLessThan(1e-4 * (1 + Math.abs(numeric)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // Without values the same keys give another interest: the values really are what is summed.
    const plain = new Float32Array(B * dim);
    layer.forward(behaviours, lengths, candidates, B, L, plain);
    expect(plain).not.toEqual(out);
  });

  for (const pooling of ['mean', 'sum'] as const) {
    it(`pooling '${pooling}': bucket ${pooling}s, matching the reference and finite differences`, () => {
      expect(() => new SdimLayer(hasher, 'max' as 'l2')).toThrow(InvalidArgumentError);
      const B = 5;
      const L = 12;
      const { candidates, behaviours, lengths } = makeBatch(9, B, L);
      const values = new Float32Array(B * L * dim);
      new Rng(10).fillNormal(values);
      const layer = new SdimLayer(hasher, pooling);
      expect(layer.pooling).toBe(pooling);
      const out = new Float32Array(B * dim);
      layer.forward(behaviours, lengths, candidates, B, L, out, values);
      const gradOut = new Float32Array(B * dim);
      new Rng(11).fillNormal(gradOut);
      const gradValues = new Float32Array(B * L * dim).fill(Number.NaN);
      layer.backward(gradOut, gradValues);
      const h = 1e-6;
      let checked = 0;
      for (let b = 0; b < B; b++) {
        const len = lengths[b]!;
        const col = collisions(behaviours, candidates, b, L, len);
        const base = Float64Array.from(values.subarray(b * L * dim, (b + 1) * L * dim));
        const ref = sdimReference(base, len, dim, S, col, pooling);
        for (let d = 0; d < dim; d++) expect(out[b * dim + d]).toBeCloseTo(ref[d]!, 6);
        const g = gradOut.subarray(b * dim, (b + 1) * dim);
        for (let i = 0; i < len * dim; i++) {
          const plus = base.slice();
          plus[i]! += h;
          const minus = base.slice();
          minus[i]! -= h;
          const numeric =
            (dot(g, sdimReference(plus, len, dim, S, col, pooling)) -
              dot(g, sdimReference(minus, len, dim, S, col, pooling))) /
            (2 * h);
          expect(Math.abs(gradValues[b * L * dim + i]! - numeric)).toBeLessThan(1e-4 * (1 + Math.abs(numeric)));
          checked++;
        }
        for (let i = len * dim; i < L * dim; i++) expect(gradValues[b * L * dim + i]).toBe(0);
      }
      expect(checked).toBeGreaterThan(100);
      expect(Array.from(out.subarray(0, dim))).toEqual(new Array(dim).fill(0)); // empty history
    });
  }

  it('candidate perturbations that keep its signatures leave the output unchanged (zero gradient)', () => {
    const B = 3;
    const L = 20;
    const { candidates, behaviours, lengths } = makeBatch(5, B, L);
    const layer = new SdimLayer(hasher);
    const a = new Float32Array(B * dim);
    layer.forward(behaviours, lengths, candidates, B, L, a);
    const moved = candidates.map((v) => v * 1.001);
    const before = new Uint8Array(B * S);
    const after = new Uint8Array(B * S);
    hasher.signatures(candidates, B, before);
    hasher.signatures(moved, B, after);
    expect(after).toEqual(before);
    const b = new Float32Array(B * dim);
    layer.forward(behaviours, lengths, moved, B, L, b);
    expect(b).toEqual(a);
  });
});
