import { InvalidArgumentError, Rng, UsageError } from '@compactrec/core';
import { DenseAdam, DinAttention } from '@compactrec/sdim';
import { describe, expect, it } from 'vitest';
import { dinReference, dot } from './reference.js';

const dim = 6;
const H = 7;

function batch(seed: number, B: number, L: number) {
  const rng = new Rng(seed);
  const keys = new Float32Array(B * L * dim);
  rng.fillNormal(keys);
  const queries = new Float32Array(B * dim);
  rng.fillNormal(queries);
  const lengths = Int32Array.from({ length: B }, (_, b) => (b === 0 ? 0 : 1 + rng.nextInt(L)));
  return { keys, queries, lengths };
}

const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

describe('DinAttention', () => {
  it('validates options and call order', () => {
    expect(() => new DinAttention({ dim: 0 })).toThrow(InvalidArgumentError);
    expect(() => new DinAttention({ dim: 4, hiddenUnits: 0 })).toThrow(InvalidArgumentError);
    expect(() => new DinAttention({ dim: 4, normalization: 'max' as 'none' })).toThrow(InvalidArgumentError);
    const layer = new DinAttention({ dim: 4 });
    expect(layer.hiddenUnits).toBe(36);
    expect(() => layer.backward(new Float32Array(4), new Float32Array(4), new Float32Array(4))).toThrow(UsageError);
  });

  it('initialises deterministically from the seed', () => {
    expect(new DinAttention({ dim, seed: 3 }).w1).toEqual(new DinAttention({ dim, seed: 3 }).w1);
    expect(new DinAttention({ dim, seed: 3 }).w1).not.toEqual(new DinAttention({ dim, seed: 4 }).w1);
  });

  for (const normalization of ['none', 'softmax'] as const) {
    it(`(${normalization}) forward matches the reference and backward matches finite differences`, () => {
      const B = 4;
      const L = 5;
      const layer = new DinAttention({ dim, hiddenUnits: H, normalization, seed: 9 });
      layer.b1.fill(0.1); // make some units active for sure
      layer.b2[0] = 0.3;
      const { keys, queries, lengths } = batch(10, B, L);
      const out = new Float32Array(B * dim);
      layer.forward(keys, lengths, queries, B, L, out);
      const softmax = normalization === 'softmax';
      const W1 = f64(layer.w1);
      const B1 = f64(layer.b1);
      const W2 = f64(layer.w2);
      const K = f64(keys);
      const Q = f64(queries);
      const g = new Float32Array(B * dim);
      new Rng(11).fillNormal(g);
      // loss = Σ_b g_b · out_b, in float64 from the reference
      const loss = (
        w1: Float64Array,
        b1: Float64Array,
        w2: Float64Array,
        b2: number,
        k: Float64Array,
        q: Float64Array,
      ): number => {
        let s = 0;
        for (let b = 0; b < B; b++) {
          const o = dinReference(
            w1,
            b1,
            w2,
            b2,
            q.subarray(b * dim, (b + 1) * dim),
            k.subarray(b * L * dim),
            lengths[b]!,
            dim,
            H,
            softmax,
          );
          s += dot(g.subarray(b * dim, (b + 1) * dim), o);
        }
        return s;
      };
      for (let b = 0; b < B; b++) {
        const o = dinReference(
          W1,
          B1,
          W2,
          layer.b2[0]!,
          Q.subarray(b * dim, (b + 1) * dim),
          K.subarray(b * L * dim),
          lengths[b]!,
          dim,
          H,
          softmax,
        );
        for (let d = 0; d < dim; d++) expect(out[b * dim + d]).toBeCloseTo(o[d]!, 5);
      }
      const gradKeys = new Float32Array(B * L * dim).fill(Number.NaN);
      const gradQueries = new Float32Array(B * dim).fill(Number.NaN);
      layer.backward(g, gradKeys, gradQueries);
      const h = 1e-6;
      const check = (analytic: number, bump: (delta: number) => number): void => {
        const numeric = (bump(h) - bump(-h)) / (2 * h);
        expect(Math.abs(analytic - numeric)).toBeLessThan(2e-4 * (1 + Math.abs(numeric)));
      };
      const b2 = layer.b2[0]!;
      for (let i = 0; i < W1.length; i += 3) {
        check(layer.gradW1[i]!, (e) => {
          const w = W1.slice();
          w[i]! += e;
          return loss(w, B1, W2, b2, K, Q);
        });
      }
      for (let i = 0; i < H; i++) {
        check(layer.gradB1[i]!, (e) => {
          const w = B1.slice();
          w[i]! += e;
          return loss(W1, w, W2, b2, K, Q);
        });
        check(layer.gradW2[i]!, (e) => {
          const w = W2.slice();
          w[i]! += e;
          return loss(W1, B1, w, b2, K, Q);
        });
      }
      check(layer.gradB2[0]!, (e) => loss(W1, B1, W2, b2 + e, K, Q));
      for (let i = 0; i < K.length; i++) {
        const b = Math.floor(i / (L * dim));
        const j = Math.floor((i % (L * dim)) / dim);
        if (j >= lengths[b]!) {
          expect(gradKeys[i]).toBe(0);
          continue;
        }
        check(gradKeys[i]!, (e) => {
          const k = K.slice();
          k[i]! += e;
          return loss(W1, B1, W2, b2, k, Q);
        });
      }
      for (let i = 0; i < Q.length; i++) {
        check(gradQueries[i]!, (e) => {
          const q = Q.slice();
          q[i]! += e;
          return loss(W1, B1, W2, b2, K, q);
        });
      }
      expect(Array.from(gradQueries.subarray(0, dim))).toEqual(new Array(dim).fill(0)); // empty history
      expect(layer.gradW1.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    });
  }
});

describe('DinAttention with values', () => {
  it('scores with the keys, pools the values, and splits the gradient between them', () => {
    const B = 3;
    const L = 4;
    const layer = new DinAttention({ dim, hiddenUnits: H, normalization: 'softmax', seed: 12 });
    layer.b1.fill(0.1);
    const { keys, queries, lengths } = batch(13, B, L);
    const values = new Float32Array(B * L * dim);
    new Rng(14).fillNormal(values);
    const out = new Float32Array(B * dim);
    layer.forward(keys, lengths, queries, B, L, out, values);
    const W1 = f64(layer.w1);
    const B1 = f64(layer.b1);
    const W2 = f64(layer.w2);
    const b2 = layer.b2[0]!;
    const g = new Float32Array(B * dim);
    new Rng(15).fillNormal(g);
    const loss = (k: Float64Array, v: Float64Array, q: Float64Array): number => {
      let s = 0;
      for (let b = 0; b < B; b++) {
        const o = dinReference(
          W1,
          B1,
          W2,
          b2,
          q.subarray(b * dim, (b + 1) * dim),
          k.subarray(b * L * dim),
          lengths[b]!,
          dim,
          H,
          true,
          v.subarray(b * L * dim),
        );
        s += dot(g.subarray(b * dim, (b + 1) * dim), o);
      }
      return s;
    };
    const K = f64(keys);
    const V = f64(values);
    const Q = f64(queries);
    for (let b = 0; b < B; b++) {
      const o = dinReference(
        W1,
        B1,
        W2,
        b2,
        Q.subarray(b * dim, (b + 1) * dim),
        K.subarray(b * L * dim),
        lengths[b]!,
        dim,
        H,
        true,
        V.subarray(b * L * dim),
      );
      for (let d = 0; d < dim; d++) expect(out[b * dim + d]).toBeCloseTo(o[d]!, 5);
    }
    const gradKeys = new Float32Array(B * L * dim).fill(Number.NaN);
    const gradValues = new Float32Array(B * L * dim).fill(Number.NaN);
    const gradQueries = new Float32Array(B * dim).fill(Number.NaN);
    expect(() => layer.backward(g, gradKeys, gradQueries)).toThrow(UsageError);
    layer.backward(g, gradKeys, gradQueries, gradValues);
    const h = 1e-6;
    const check = (analytic: number, bump: (delta: number) => number): void => {
      const numeric = (bump(h) - bump(-h)) / (2 * h);
      expect(Math.abs(analytic - numeric)).toBeLessThan(2e-4 * (1 + Math.abs(numeric)));
    };
    for (let i = 0; i < K.length; i++) {
      const b = Math.floor(i / (L * dim));
      const j = Math.floor((i % (L * dim)) / dim);
      if (j >= lengths[b]!) {
        expect(gradKeys[i]).toBe(0);
        expect(gradValues[i]).toBe(0);
        continue;
      }
      check(gradKeys[i]!, (e) => {
        const k = K.slice();
        k[i]! += e;
        return loss(k, V, Q);
      });
      check(gradValues[i]!, (e) => {
        const v = V.slice();
        v[i]! += e;
        return loss(K, v, Q);
      });
    }
    for (let i = 0; i < Q.length; i++) {
      check(gradQueries[i]!, (e) => {
        const q = Q.slice();
        q[i]! += e;
        return loss(K, V, q);
      });
    }
    expect(gradValues.some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });
});

describe('DenseAdam', () => {
  it('validates options', () => {
    expect(() => new DenseAdam([new Float32Array(2)], { lr: 0 })).toThrow(InvalidArgumentError);
    expect(() => new DenseAdam([new Float32Array(2)], { beta1: 1 })).toThrow(InvalidArgumentError);
    const adam = new DenseAdam([new Float32Array(2)]);
    expect(() => adam.step([new Float32Array(3)])).toThrow(InvalidArgumentError);
    expect(adam.stateBytes).toBe(16);
  });

  it('moves each weight by lr against the gradient sign on the first step', () => {
    const p = Float32Array.of(1, 1, 1);
    new DenseAdam([p], { lr: 0.01 }).step([Float32Array.of(5, -0.001, 0)]);
    expect(p[0]).toBeCloseTo(0.99, 6);
    expect(p[1]).toBeCloseTo(1.01, 5);
    expect(p[2]).toBe(1);
  });

  it('trains the attention MLP to fit a planted attention pattern', () => {
    // Target: out = mean of the keys closest to the query (a soft version via a fixed teacher).
    const teacher = new DinAttention({ dim, hiddenUnits: 16, normalization: 'softmax', seed: 1 });
    for (let i = 0; i < teacher.w1.length; i++) teacher.w1[i]! *= 3;
    const student = new DinAttention({ dim, hiddenUnits: 16, normalization: 'softmax', seed: 2 });
    const adam = new DenseAdam(student.params(), { lr: 0.01 });
    const B = 32;
    const L = 8;
    const target = new Float32Array(B * dim);
    const out = new Float32Array(B * dim);
    const gOut = new Float32Array(B * dim);
    const gk = new Float32Array(B * L * dim);
    const gq = new Float32Array(B * dim);
    const lossAt = (step: number): number => {
      const { keys, queries, lengths } = batch(1000 + step, B, L);
      lengths.fill(L);
      teacher.forward(keys, lengths, queries, B, L, target);
      student.forward(keys, lengths, queries, B, L, out);
      let loss = 0;
      for (let i = 0; i < out.length; i++) {
        const e = out[i]! - target[i]!;
        loss += e * e;
        gOut[i] = (2 * e) / B;
      }
      return loss / B;
    };
    const first = lossAt(-1);
    for (let step = 0; step < 300; step++) {
      lossAt(step);
      student.backward(gOut, gk, gq);
      adam.step(student.grads());
    }
    expect(lossAt(-1)).toBeLessThan(0.6 * first);
  });
});
