import {
  alptRoundRow,
  alptStepGradient,
  codeBytesPerRow,
  type DenseTrainingView,
  denseRowStep,
  dequantizeRow,
  f16ToF32,
  f32ToF16,
  fakeQuantRow,
  quantizeRow,
  Rng,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';

function randomRows(rows: number, dim: number, seed: number): Float32Array {
  const a = new Float32Array(rows * dim);
  const rng = new Rng(seed);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * (1 + (i % 7)) * 0.05 + (i % 3) * 0.01;
  return a;
}

describe('row-wise integer codes', () => {
  for (const bits of [8, 4]) {
    it(`int${bits}: every dequantized value is within scale/2 of the original, and extremes are exact`, () => {
      const rows = 50;
      const dim = 63; // odd: exercises the last half-filled int4 byte
      const x = randomRows(rows, dim, bits);
      const cbr = codeBytesPerRow(dim, bits);
      const codes = new Uint8Array(rows * cbr);
      const sb = new Float32Array(2 * rows);
      const out = new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) quantizeRow(x, r * dim, dim, bits, codes, r * cbr, sb, r);
      for (let r = 0; r < rows; r++) dequantizeRow(codes, r * cbr, dim, bits, sb, r, out, r * dim);
      let worstRatio = 0;
      for (let r = 0; r < rows; r++) {
        const scale = sb[2 * r]!;
        expect(scale).toBeGreaterThan(0);
        let lo = Number.POSITIVE_INFINITY;
        for (let c = 0; c < dim; c++) lo = Math.min(lo, x[r * dim + c]!);
        expect(sb[2 * r + 1]).toBe(lo);
        for (let c = 0; c < dim; c++) {
          const err = Math.abs(out[r * dim + c]! - x[r * dim + c]!);
          // float32 arithmetic may add a few ulps of the row's magnitude to the scale/2 bound
          expect(err).toBeLessThanOrEqual(scale / 2 + 1e-6);
          worstRatio = Math.max(worstRatio, err / scale);
        }
      }
      // The bound is tight: some value lands near half a step away.
      expect(worstRatio).toBeGreaterThan(0.4);
    });
  }

  it('int4 packs two codes a byte and round-trips its own codes exactly', () => {
    const dim = 9;
    const cbr = codeBytesPerRow(dim, 4);
    expect(cbr).toBe(5);
    const x = Float32Array.from([0, 15, 3, 7, 1, 14, 8, 2, 15]);
    const codes = new Uint8Array(cbr);
    const sb = new Float32Array(2);
    quantizeRow(x, 0, dim, 4, codes, 0, sb, 0);
    expect(sb[0]).toBe(1);
    expect(Array.from(codes)).toEqual([0 | (15 << 4), 3 | (7 << 4), 1 | (14 << 4), 8 | (2 << 4), 15]);
    const out = new Float32Array(dim);
    dequantizeRow(codes, 0, dim, 4, sb, 0, out, 0);
    expect(Array.from(out)).toEqual(Array.from(x));
    // Quantizing the dequantized row gives the same codes.
    const again = new Uint8Array(cbr);
    quantizeRow(out, 0, dim, 4, again, 0, new Float32Array(2), 0);
    expect(Array.from(again)).toEqual(Array.from(codes));
  });

  it('a constant row has scale 0 and dequantizes exactly', () => {
    const x = new Float32Array(8).fill(0.25);
    const codes = new Uint8Array(8);
    const sb = new Float32Array(2);
    quantizeRow(x, 0, 8, 8, codes, 0, sb, 0);
    const out = new Float32Array(8);
    dequantizeRow(codes, 0, 8, 8, sb, 0, out, 0);
    expect(Array.from(out)).toEqual(Array.from(x));
  });

  it('fake quantization equals quantize + dequantize', () => {
    const dim = 32;
    const x = randomRows(1, dim, 3);
    for (const bits of [8, 4]) {
      const fq = new Float32Array(dim);
      fakeQuantRow(x, 0, dim, bits, fq);
      const codes = new Uint8Array(codeBytesPerRow(dim, bits));
      const sb = new Float32Array(2);
      quantizeRow(x, 0, dim, bits, codes, 0, sb, 0);
      const out = new Float32Array(dim);
      dequantizeRow(codes, 0, dim, bits, sb, 0, out, 0);
      expect(Array.from(fq)).toEqual(Array.from(out));
    }
  });
});

describe('fp16', () => {
  it('round-trips to within half an ulp of fp16 (relative 2^-11) and keeps exact halves', () => {
    const x = randomRows(1, 2000, 9);
    for (const v of x) {
      const back = f16ToF32(f32ToF16(v));
      expect(Math.abs(back - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
    }
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -24]) expect(f16ToF32(f32ToF16(v))).toBe(v);
    expect(f16ToF32(f32ToF16(1e6))).toBe(Number.POSITIVE_INFINITY);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});

describe('ALPT', () => {
  it('the step-size gradient matches central finite differences of the loss with the codes held fixed', () => {
    const dim = 16;
    const bits = 8;
    const rng = new Rng(4);
    const step = 0.013;
    const w = new Float32Array(dim);
    for (let c = 0; c < dim; c++) w[c] = step * Math.round(rng.normal() * 40);
    const y = new Float32Array(dim);
    for (let c = 0; c < dim; c++) y[c] = rng.normal() * 0.3;
    const q = Array.from(w, (v) => Math.round(v / step));
    // L(Δ) = Σ (Δ·q_c − y_c)², g_c = ∂L/∂w_c = 2(w_c − y_c)
    const loss = (d: number): number => q.reduce((s, qc, c) => s + (d * qc - y[c]!) ** 2, 0);
    const g = Float32Array.from(w, (v, c) => 2 * (v - y[c]!));
    const analytic = alptStepGradient(g, 0, w, 0, dim, step);
    const h = 1e-6;
    const numeric = (loss(step + h) - loss(step - h)) / (2 * h);
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-3 * Math.max(1, Math.abs(numeric)));
    expect(Math.abs(numeric)).toBeGreaterThan(1e-3);
    void bits;
  });

  it('stochastic rounding is unbiased and keeps values on the grid', () => {
    const n = 20000;
    const w = new Float32Array(n).fill(0.3);
    alptRoundRow(w, 0, n, 8, 1, 7, 0, 1);
    let mean = 0;
    for (const v of w) {
      expect(v === 0 || v === 1).toBe(true);
      mean += v / n;
    }
    expect(Math.abs(mean - 0.3)).toBeLessThan(0.02);
  });

  it('a training step moves the step size against its gradient and leaves the row on the new grid', () => {
    const dim = 8;
    const values = Float32Array.from([0.1, -0.2, 0.3, 0.05, 0.0, -0.1, 0.2, 0.15]);
    const steps = Float32Array.of(0.05);
    const view: DenseTrainingView = {
      values,
      m: new Float32Array(dim),
      v: new Float32Array(dim),
      sparse: null,
      quant: {
        mode: 'alpt',
        bits: 4,
        forward: null,
        steps,
        stepM: new Float32Array(1),
        stepV: new Float32Array(1),
        seed: 1,
      },
    };
    const g = Float32Array.from(values, (x) => x); // ∂L/∂step = Σ g q > 0
    denseRowStep(view, dim, 0, g, 0, {
      stepSize: 0.001,
      epsHat: 1e-8,
      beta1: 0.9,
      beta2: 0.999,
      weightDecay: 0,
      t: 1,
      score: false,
    });
    expect(steps[0]!).toBeLessThan(0.05);
    for (const v of values) {
      const q = v / steps[0]!;
      expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-4);
      expect(Math.round(q)).toBeGreaterThanOrEqual(-8);
      expect(Math.round(q)).toBeLessThanOrEqual(7);
    }
  });
});
