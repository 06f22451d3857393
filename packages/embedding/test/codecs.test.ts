import {
  alptGradScale,
  alptRange,
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
  it('the step-size gradient matches central finite differences of the straight-through quantizer (LSQ form, clamped values included)', () => {
    const dim = 16;
    const bits = 4; // qmax 7: a few values below are clamped
    const rng = new Rng(4);
    const step = 0.05;
    const w = new Float32Array(dim);
    for (let c = 0; c < dim; c++) w[c] = rng.normal() * 0.25;
    w[0] = 0.6; // 12 steps: clamped at qmax
    w[1] = -0.7; // clamped at qmin
    const y = new Float32Array(dim);
    for (let c = 0; c < dim; c++) y[c] = rng.normal() * 0.3;
    const { qmin, qmax } = alptRange(bits);
    // Q_Δ(w) with the rounding residual frozen at Δ0 (straight-through round): w + Δ·r̄ in range,
    // Δ·qmax / Δ·qmin where clamped. L(Δ) = Σ (Q_Δ(w) − y)², so g = ∂L/∂Q = 2(Q − y) at Δ0.
    const x0 = Array.from(w, (v) => v / step);
    const resid = x0.map((x) => Math.round(x) - x);
    const quant = (d: number): number[] =>
      x0.map((x, c) => (x >= qmax ? d * qmax : x <= qmin ? d * qmin : w[c]! + d * resid[c]!));
    const loss = (d: number): number => quant(d).reduce((s, qc, c) => s + (qc - y[c]!) ** 2, 0);
    const q0 = quant(step);
    const g = Float32Array.from(q0, (qc, c) => 2 * (qc - y[c]!));
    const analytic = alptStepGradient(g, 0, w, 0, dim, bits, step) / alptGradScale(dim, bits);
    const h = 1e-6;
    const numeric = (loss(step + h) - loss(step - h)) / (2 * h);
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-3 * Math.max(1, Math.abs(numeric)));
    expect(Math.abs(numeric)).toBeGreaterThan(1e-3);
    // the clamped values carry the gradient qmax·g and qmin·g
    const inRange = alptStepGradient(
      g.map((v, c) => (c < 2 ? 0 : v)),
      0,
      w,
      0,
      dim,
      bits,
      step,
    );
    expect((alptStepGradient(g, 0, w, 0, dim, bits, step) - inRange) / alptGradScale(dim, bits)).toBeCloseTo(
      g[0]! * qmax + g[1]! * qmin,
      4,
    );
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

  it("a training step moves the step by its own lr (not the values' lr) against its gradient, and leaves the row on the new grid", () => {
    const dim = 8;
    const run = (g0: number, stepLr: number) => {
      // Every value beyond the 4-bit range (qmax·0.05 = 0.35): the step's gradient is Σ g·qmax.
      const values = new Float32Array(dim).fill(0.5);
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
          stepLr,
          seed: 1,
        },
      };
      const g = new Float32Array(dim).fill(g0);
      denseRowStep(view, dim, 0, g, 0, {
        stepSize: 0.001,
        epsHat: 1e-8,
        beta1: 0.9,
        beta2: 0.999,
        weightDecay: 0,
        t: 1,
        score: false,
      });
      return { step: steps[0]!, values };
    };
    // The loss wants larger values (g < 0): the step grows; Adam's first step moves it by its lr.
    const up = run(-1, 1e-4);
    expect(up.step - 0.05).toBeCloseTo(1e-4, 7);
    expect(run(1, 1e-4).step - 0.05).toBeCloseTo(-1e-4, 7);
    expect(run(-1, 1e-5).step - 0.05).toBeCloseTo(1e-5, 8);
    for (const v of up.values) {
      const q = v / up.step;
      expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-4);
      expect(Math.round(q)).toBe(7); // clamped at qmax on the new grid
    }
  });
});
