import {
  type Combine,
  JS_ROW_KERNELS,
  PendingRowGrads,
  Rng,
  type RowKernels,
  type RowKernelView,
  rowStepParams,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { rowKernels, rowKernelsInfo } from '../src/index.js';

// The C++ row kernels (csrc/rows.cc) promise the JavaScript kernels' results bit for bit: the same
// double-precision operations in the same order, no fused multiply-add.
const previous = process.env.COMPACTREC_KERNELS;
delete process.env.COMPACTREC_KERNELS;
const NATIVE = rowKernels();
const info = rowKernelsInfo();
if (previous !== undefined) process.env.COMPACTREC_KERNELS = previous;
const haveNative = NATIVE.kind === 'native';
const NO_ADDON = haveNative ? '' : ` (skipped: ${info.reason})`;

/** Index of the first value whose bytes differ (−0 vs +0 and NaN payloads count), or −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

interface Run {
  gathered: Float32Array;
  view: RowKernelView;
  touchedPerStep: number[][];
}

/** Trains a table `steps` times through `k`: strided gather, accumulate (duplicates, −1 ids), lazy-Adam step. */
function run(k: RowKernels, rows: number, d: number, steps: number, weightDecay: number): Run {
  const rng = new Rng(11);
  const values = new Float32Array(rows * d);
  rng.fillNormal(values, 0.1);
  const view: RowKernelView = {
    values,
    m: new Float32Array(rows * d),
    v: new Float32Array(rows * d),
    quant: null,
    sparse: null,
  };
  const acc = new PendingRowGrads(rows, d);
  const n = 300;
  const F = 3;
  const stride = F * d + 5;
  const gathered = new Float32Array(steps * n * stride);
  const ids = new Int32Array(n);
  const g = new Float32Array(n * stride);
  const touchedPerStep: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    for (let j = 0; j < n; j++) ids[j] = j % 17 === 0 ? -1 : Math.floor(rng.next() ** 2 * rows);
    for (let i = 0; i < g.length; i++) g[i] = (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 6 - 3);
    const out = gathered.subarray((t - 1) * n * stride, t * n * stride);
    expect(k.gatherRows(view.values, d, ids, n, out, 2 + d, stride)).toBe(-1);
    expect(k.accumulateRows(acc, ids, n, g, 1 + d, stride, 1, 0)).toBe(-1);
    // more gradients into the same table (onto existing slots): items of 2 codes summed, then concatenated
    expect(k.accumulateRows(acc, ids, n >> 1, g, 3, stride, 2, 0)).toBe(-1);
    expect(k.accumulateRows(acc, ids, n >> 2, g, 2, stride, 2, d)).toBe(-1);
    touchedPerStep.push(Array.from(acc.touched.subarray(0, acc.count)));
    k.stepRows(view, acc, rowStepParams(0.05, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay }, t, false));
    expect(acc.count).toBe(0);
  }
  return { gathered, view, touchedPerStep };
}

describe('row kernels', () => {
  for (const [d, wd] of [
    [16, 0],
    [7, 1e-3],
  ] as const) {
    it.skipIf(!haveNative)(
      `C++ gather, accumulate (1 code an item, 2 summed, 2 concatenated) and lazy-Adam step give byte-identical rows, moments and gathers to JavaScript (rowDim ${d}, weight decay ${wd})${NO_ADDON}`,
      () => {
        const rows = 500;
        const a = run(NATIVE, rows, d, 6, wd);
        const b = run(JS_ROW_KERNELS, rows, d, 6, wd);
        expect(a.touchedPerStep).toEqual(b.touchedPerStep);
        expect(firstDiff(a.gathered, b.gathered), 'gathered rows').toBe(-1);
        expect(firstDiff(a.view.values, b.view.values), 'values').toBe(-1);
        expect(firstDiff(a.view.m, b.view.m), 'm').toBe(-1);
        expect(firstDiff(a.view.v, b.view.v), 'v').toBe(-1);
        // The steps moved the touched rows, and −1 ids gathered zeros.
        const init = new Float32Array(rows * d);
        new Rng(11).fillNormal(init, 0.1);
        let moved = 0;
        for (let i = 0; i < init.length; i++) moved = Math.max(moved, Math.abs(init[i]! - a.view.values[i]!));
        expect(moved).toBeGreaterThan(0.05);
        expect(Array.from(a.gathered.subarray(2 + d, 2 + 2 * d))).toEqual(new Array(d).fill(0));
      },
    );
  }

  it.skipIf(!haveNative)(`a row id past the table is reported, not read or written${NO_ADDON}`, () => {
    for (const k of [NATIVE, JS_ROW_KERNELS]) {
      const src = new Float32Array(4 * 2).fill(1);
      const out = new Float32Array(3 * 2);
      expect(k.gatherRows(src, 2, Int32Array.of(0, 4, 1), 3, out, 0, 2)).toBe(1);
      const acc = new PendingRowGrads(4, 2);
      expect(k.accumulateRows(acc, Int32Array.of(1, 2, 9), 3, new Float32Array(6).fill(1), 0, 2, 1, 0)).toBe(2);
      expect(k.accumulateRows(acc, Int32Array.of(1, 2, 3, 9), 2, new Float32Array(4).fill(1), 0, 2, 2, 0)).toBe(3);
      expect(acc.count).toBe(0);
    }
  });

  it.skipIf(!haveNative)(`arrays too short for the call are a TypeError naming the array${NO_ADDON}`, () => {
    const src = new Float32Array(4 * 2);
    expect(() => NATIVE.gatherRows(src, 2, Int32Array.of(0, 1, 2), 3, new Float32Array(4), 0, 2)).toThrow(
      /native\/gatherRows: out holds 4 values, too few for 3 rows/,
    );
    expect(() => NATIVE.gatherRows(src, 2, Int32Array.of(0), 2, new Float32Array(8), 0, 2)).toThrow(
      /n \(2\) exceeds rowIds' length/,
    );
    const acc = new PendingRowGrads(4, 2);
    expect(() => NATIVE.accumulateRows(acc, Int32Array.of(0, 1, 2), 2, new Float32Array(8), 0, 2, 2, 0)).toThrow(
      /native\/accumulateRows: rowIds holds 3 ids, too few for 2 items/,
    );
    expect(() => NATIVE.accumulateRows(acc, Int32Array.of(0, 1, 2, 3), 2, new Float32Array(6), 0, 2, 2, 3)).toThrow(
      /g holds 6 values, too few for 2 items/,
    );
  });

  /**
   * K-row lookups of `n` items through `k`: every composition, with −1 ids, a strided and offset
   * output and the kept rows. Rows of mixed magnitudes (and −0), so that a sum rounded once at the end
   * instead of after every add, or a product in another order, changes bits.
   */
  function combined(k: RowKernels, K: number, combine: Combine, keepRows: boolean) {
    const rng = new Rng(23);
    const rows = 300;
    const d = 9;
    const src = new Float32Array(rows * d);
    for (let i = 0; i < src.length; i++) src[i] = (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 8 - 4);
    src.fill(-0, 5 * d, 6 * d);
    const n = 200;
    const ids = new Int32Array(n * K);
    for (let i = 0; i < ids.length; i++) ids[i] = i % 13 === 4 ? -1 : Math.floor(rng.next() ** 2 * rows);
    ids[K] = 5; // an item whose first row is −0
    const width = combine === 'concat' ? K * d : d;
    const stride = width * 2 + 3;
    const out = new Float32Array(n * stride + 7).fill(Number.NaN); // untouched gaps stay NaN
    const kept = keepRows ? new Float32Array(n * K * d).fill(Number.NaN) : null;
    expect(k.gatherCombineRows(src, d, ids, n, K, combine, out, 7, stride, kept)).toBe(-1);
    return { src, ids, out, kept, d, stride, width };
  }

  for (const combine of ['sum', 'mult', 'concat'] as const) {
    for (const K of [1, 2, 3]) {
      it.skipIf(!haveNative)(
        `C++ gatherCombineRows (${combine}, K ${K}) writes byte-identical outputs and kept rows to JavaScript, which composes gatherRows' rows in float32 in code order${NO_ADDON}`,
        () => {
          const a = combined(NATIVE, K, combine, combine === 'mult');
          const b = combined(JS_ROW_KERNELS, K, combine, combine === 'mult');
          expect(firstDiff(a.out, b.out), 'out').toBe(-1);
          if (a.kept) expect(firstDiff(a.kept, b.kept!), 'kept rows').toBe(-1);
          // The definition, spelled out from gathered rows: float32 stores after every add / product.
          const { src, ids, out, d, stride, width } = b;
          const rowsBuf = new Float32Array(ids.length * d);
          expect(JS_ROW_KERNELS.gatherRows(src, d, ids, ids.length, rowsBuf, 0, d)).toBe(-1);
          const want = new Float32Array(width);
          let negZero = 0;
          for (let j = 0; j < ids.length / K; j++) {
            want.fill(0);
            for (let k = 0; k < K; k++) {
              const row = rowsBuf.subarray((j * K + k) * d, (j * K + k + 1) * d);
              for (let c = 0; c < d; c++) {
                if (combine === 'concat') want[k * d + c] = row[c]!;
                else if (combine === 'mult') want[c] = k === 0 ? row[c]! : want[c]! * row[c]!;
                else if (ids[j * K + k]! >= 0) want[c]! += row[c]!;
              }
            }
            const got = out.subarray(7 + j * stride, 7 + j * stride + width);
            expect(firstDiff(got, want), `item ${j}`).toBe(-1);
            expect(Number.isNaN(out[7 + j * stride + width]!), `gap after item ${j}`).toBe(true);
            for (let c = 0; c < width; c++) if (Object.is(got[c], -0)) negZero++;
          }
          if (combine !== 'sum') expect(negZero).toBeGreaterThan(0); // the −0 row reached the output
          if (b.kept) expect(firstDiff(b.kept, rowsBuf), 'kept rows = gathered rows').toBe(-1);
        },
      );
    }
  }

  it.skipIf(!haveNative)(`gatherCombineRows reports a row id past the table and writes nothing${NO_ADDON}`, () => {
    for (const k of [NATIVE, JS_ROW_KERNELS]) {
      const src = new Float32Array(4 * 2).fill(1);
      const out = new Float32Array(2 * 2).fill(7);
      const kept = new Float32Array(4 * 2).fill(7);
      expect(k.gatherCombineRows(src, 2, Int32Array.of(0, 1, 2, 4), 2, 2, 'sum', out, 0, 2, kept)).toBe(3);
      expect(Array.from(out)).toEqual([7, 7, 7, 7]);
      expect(Array.from(kept)).toEqual(new Array(8).fill(7));
    }
  });

  it.skipIf(!haveNative)(
    `gatherCombineRows: a too-short array or an unknown composition is an error naming it${NO_ADDON}`,
    () => {
      const src = new Float32Array(4 * 2);
      const ids = Int32Array.of(0, 1, 2, 3);
      expect(() => NATIVE.gatherCombineRows(src, 2, ids, 2, 2, 'concat', new Float32Array(7), 0, 4, null)).toThrow(
        /native\/gatherCombineRows: out holds 7 values, too few for 2 items/,
      );
      expect(() => NATIVE.gatherCombineRows(src, 2, ids, 3, 2, 'sum', new Float32Array(6), 0, 2, null)).toThrow(
        /native\/gatherCombineRows: rowIds holds 4 ids, too few for 3 items/,
      );
      expect(() =>
        NATIVE.gatherCombineRows(src, 2, ids, 2, 2, 'mult', new Float32Array(4), 0, 2, new Float32Array(7)),
      ).toThrow(/native\/gatherCombineRows: rowsOut holds 7 values, too few for 4 rows/);
      for (const k of [NATIVE, JS_ROW_KERNELS]) {
        expect(() => k.gatherCombineRows(src, 2, ids, 2, 2, 'max' as Combine, new Float32Array(4), 0, 2, null)).toThrow(
          /gatherCombineRows: combine 'max' is not sum, mult or concat/,
        );
      }
    },
  );

  for (const K of [2, 3, 4]) {
    it.skipIf(!haveNative)(
      `C++ multGradRows (K ${K}) writes byte-identical per-code gradients to JavaScript, the product of the other rows taken in double${NO_ADDON}`,
      () => {
        const rng = new Rng(29);
        const d = 11;
        const n = 150;
        const rows = new Float32Array(n * K * d);
        for (let i = 0; i < rows.length; i++) rows[i] = (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 6 - 3);
        const stride = d + 4;
        const g = new Float32Array(3 + n * stride);
        for (let i = 0; i < g.length; i++) g[i] = (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 6 - 3);
        const a = new Float32Array(n * K * d);
        const b = new Float32Array(n * K * d);
        NATIVE.multGradRows(rows, d, n, K, g, 3, stride, a);
        JS_ROW_KERNELS.multGradRows(rows, d, n, K, g, 3, stride, b);
        expect(firstDiff(a, b)).toBe(-1);
        // item 0, code 0 spelled out: g times the other rows, in double, stored as float32
        for (let c = 0; c < d; c++) {
          let p = g[3 + c]!;
          for (let l = 1; l < K; l++) p *= rows[l * d + c]!;
          expect(Object.is(a[c], Math.fround(p))).toBe(true);
        }
      },
    );
  }

  it.skipIf(!haveNative)(`multGradRows: a too-short array is a TypeError naming it${NO_ADDON}`, () => {
    const rows = new Float32Array(2 * 2 * 3);
    expect(() => NATIVE.multGradRows(rows, 3, 2, 2, new Float32Array(6), 0, 3, new Float32Array(11))).toThrow(
      /native\/multGradRows: out holds 11 values, too few for 4 rows/,
    );
    expect(() => NATIVE.multGradRows(rows, 3, 3, 2, new Float32Array(9), 0, 3, new Float32Array(18))).toThrow(
      /native\/multGradRows: rows holds 12 values, too few for 6 rows/,
    );
    expect(() => NATIVE.multGradRows(rows, 3, 2, 2, new Float32Array(5), 0, 3, new Float32Array(12))).toThrow(
      /native\/multGradRows: g holds 5 values, too few for 2 items/,
    );
  });

  it('COMPACTREC_KERNELS=js selects the JavaScript row kernels at call time', () => {
    const before = process.env.COMPACTREC_KERNELS;
    process.env.COMPACTREC_KERNELS = 'js';
    try {
      expect(rowKernels()).toBe(JS_ROW_KERNELS);
      expect(rowKernelsInfo()).toEqual({ kind: 'js', reason: 'COMPACTREC_KERNELS=js' });
    } finally {
      if (before === undefined) delete process.env.COMPACTREC_KERNELS;
      else process.env.COMPACTREC_KERNELS = before;
    }
  });
});
