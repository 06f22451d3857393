import {
  degrees,
  type EmbeddingStorage,
  generateRetrievalDataset,
  type MapperFitData,
  type QuantizeMode,
} from '@compactrec/core';
import { rowKernelsInfo } from '@compactrec/native';
import { describe, expect, it } from 'vitest';
import { createFeatureEmbedding, FeatureEmbedding } from '../src/index.js';

// On a dense storage an embedding hands whole batches to the storage: lookups of one row per ID,
// every gather of K rows, the scatter of sum / concat compositions (gatherStrided / accumulateStrided, C++ row
// kernels when built). Its training must be the
// per-row generic path's, bit for bit, with either kernel set.
const data = generateRetrievalDataset({ numUsers: 300, numItems: 700, communities: 6, meanDegree: 10, seed: 4 });
const deg = degrees(data.train);
const fit: MapperFitData = { numIds: data.train.numItems, counts: deg.items, interactions: data.train, side: 'item' };
const dim = 16;
const native = (() => {
  const before = process.env.COMPACTREC_KERNELS;
  delete process.env.COMPACTREC_KERNELS;
  const i = rowKernelsInfo();
  if (before !== undefined) process.env.COMPACTREC_KERNELS = before;
  return i;
})();
const NO_ADDON = native.kind === 'native' ? '' : ` (skipped: ${native.reason})`;

/** The storage seen only through the per-row contract methods (no batch forms): the generic path. */
function perRowOnly(s: EmbeddingStorage): EmbeddingStorage {
  return {
    get kind() {
      return s.kind;
    },
    rows: s.rows,
    rowDim: s.rowDim,
    get embeddingBytes() {
      return s.embeddingBytes;
    },
    get optimizerBytes() {
      return s.optimizerBytes;
    },
    get trainingBytes() {
      return s.trainingBytes;
    },
    get serving() {
      return s.serving;
    },
    get params() {
      return s.params;
    },
    get lr() {
      return s.lr;
    },
    set lr(v: number) {
      s.lr = v;
    },
    gather: (ids, out, n) => s.gather(ids, out, n),
    accumulate: (r, g, o, scale) => s.accumulate(r, g, o, scale),
    step: () => s.step(),
    trainingView: () => s.trainingView(),
    afterKernelSteps: (t) => s.afterKernelSteps(t),
    finishTraining: () => s.finishTraining(),
    snapshot: () => s.snapshot(),
  };
}

function make(method: string, quantize: QuantizeMode, kernels: 'native' | 'js', perRow: boolean): FeatureEmbedding {
  const before = process.env.COMPACTREC_KERNELS;
  if (kernels === 'js') process.env.COMPACTREC_KERNELS = 'js';
  else delete process.env.COMPACTREC_KERNELS;
  try {
    // sharing methods at a quarter of the full table (collisions: rows repeat within a batch); the rest at full size
    const sharing = method === 'modulo' || method.startsWith('double') || method.startsWith('qr');
    const budgetBytes = fit.numIds * dim * (sharing ? 1 : 4);
    const e = createFeatureEmbedding(method === 'qr-concat' ? 'qr' : method, fit, {
      dim,
      budgetBytes,
      seed: 9,
      quantize,
      ...(method === 'qr-concat' ? { extra: { combine: 'concat' } } : {}),
    });
    return perRow ? new FeatureEmbedding(e.method, e.mapper, perRowOnly(e.storage), dim) : e;
  } finally {
    if (before === undefined) delete process.env.COMPACTREC_KERNELS;
    else process.env.COMPACTREC_KERNELS = before;
  }
}

/** Index of the first value whose bytes differ (−0 vs +0 and NaN payloads count), or −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Lookups (strided, as a CTR model writes them) and the rows after 6 training steps. */
function train(e: FeatureEmbedding): { outs: Float32Array; values: Float32Array; m: Float32Array; v: Float32Array } {
  const n = 256;
  const stride = 3 * dim;
  const outs = new Float32Array(6 * n * stride);
  const grad = new Float32Array(n * stride);
  const ids = new Int32Array(n);
  for (let t = 0; t < 6; t++) {
    for (let j = 0; j < n; j++) ids[j] = (j * j * 31 + t * 7) % fit.numIds; // repeats within a batch
    for (let i = 0; i < grad.length; i++) grad[i] = Math.sin(i * 0.37 + t) * 0.01;
    const out = outs.subarray(t * n * stride, (t + 1) * n * stride);
    e.lookup(ids, out, n, dim, stride);
    e.backward(ids, grad, dim, stride);
    e.step();
  }
  const view = e.storage.trainingView()!;
  return { outs, values: view.values, m: view.m, v: view.v };
}

describe('batch row path of dense storages', () => {
  for (const [method, quantize] of [
    ['full', 'after'],
    ['modulo', 'after'],
    ['int8', 'after'],
    ['int8', 'during'],
    ['double', 'after'], // K = 2, sum: batch gather and scatter
    ['double-frequency', 'after'], // K = 2, sum with code −1 for frequent IDs (skipped by the composition)
    ['qr', 'after'], // K = 2, mult: batch gather, per-row scatter (products of the other rows)
    ['qr-concat', 'after'], // K = 2, concat: batch gather and scatter (each row its slice)
  ] as const) {
    it.skipIf(native.kind !== 'native')(
      `${method} (${quantize}): C++ row kernels, JavaScript row kernels and the per-row generic path give byte-identical lookups, rows and moments (and C++/JavaScript the same trainingBytes)${NO_ADDON}`,
      () => {
        const a = make(method, quantize, 'native', false);
        const b = make(method, quantize, 'js', false);
        const c = make(method, quantize, 'native', true);
        expect(a.mapper.codesPerId).toBe(method.startsWith('double') || method.startsWith('qr') ? 2 : 1);
        if (method === 'qr-concat') expect(a.combine).toBe('concat');
        const init = Float32Array.from(a.storage.trainingView()!.values);
        const ra = train(a);
        const rb = train(b);
        const rc = train(c);
        for (const k of ['outs', 'values', 'm', 'v'] as const) {
          expect(firstDiff(ra[k], rb[k]), `${k}: C++ vs JavaScript kernels`).toBe(-1);
          expect(firstDiff(ra[k], rc[k]), `${k}: batch vs per-row path`).toBe(-1);
        }
        // Same memory accounting with either kernel set (same accumulator capacity).
        expect(a.trainingBytes).toBe(b.trainingBytes);
        let moved = 0;
        for (let i = 0; i < init.length; i++) moved = Math.max(moved, Math.abs(init[i]! - ra.values[i]!));
        expect(moved).toBeGreaterThan(1e-3);
      },
    );
  }

  for (const [method, kind] of [
    ['double', 'fp16'],
    ['qr', 'int8'],
    ['double-frequency', 'float32'],
  ] as const) {
    it(`${method}+${kind} serving form: the composed K-row lookup (gatherCombined) is byte-identical to composing gather's rows`, () => {
      const e = createFeatureEmbedding(`${method}+${kind}`, fit, { dim, budgetBytes: fit.numIds * dim, seed: 3 });
      expect(e.mapper.codesPerId).toBe(2);
      e.finishTraining(); // fp16 / int8 decode row by row into the storage's buffer; float32 serves its table
      expect(e.storage.serving).toBe(true);
      const p = new FeatureEmbedding(e.method, e.mapper, perRowOnly(e.storage), dim);
      const n = 300;
      const ids = Int32Array.from({ length: n }, (_, j) => (j * 37) % fit.numIds);
      const stride = 2 * dim + 1;
      const a = new Float32Array(n * stride).fill(Number.NaN);
      const b = new Float32Array(n * stride).fill(Number.NaN);
      e.lookup(ids, a, n, 1, stride);
      p.lookup(ids, b, n, 1, stride);
      expect(firstDiff(a, b)).toBe(-1);
      expect(a.slice(1, 1 + dim).some((x) => x !== 0)).toBe(true);
    });
  }

  it('a row outside the table is an error naming the storage and the row', () => {
    const e = make('full', 'after', 'native', false);
    const out = new Float32Array(2 * dim);
    expect(() => e.storage.gatherStrided!(Int32Array.of(0, fit.numIds + 3), 2, out, 0, dim)).toThrow(
      new RegExp(`embedding/float32.gatherStrided: row ${fit.numIds + 3} is outside \\[0, ${fit.numIds}\\)`),
    );
    expect(() => e.storage.accumulateStrided!(Int32Array.of(fit.numIds), 1, out, 0, dim)).toThrow(
      /accumulateStrided: row \d+ is outside/,
    );
    const ids = Int32Array.of(1, -1, 2, fit.numIds + 5);
    const before = Float32Array.from(out);
    expect(() => e.storage.gatherCombined!(ids, 2, 2, 'sum', out, 0, dim)).toThrow(
      new RegExp(`embedding/float32.gatherCombined: row ${fit.numIds + 5} is outside \\[0, ${fit.numIds}\\)`),
    );
    expect(firstDiff(out, before)).toBe(-1); // nothing written
    expect(() => e.storage.gatherCombined!(ids, 2, 0, 'sum', out, 0, dim)).toThrow(
      /embedding\/float32.gatherCombined: codesPerItem \(0\) must be a positive integer/,
    );
    e.finishTraining();
    const fp = createFeatureEmbedding('fp16', fit, { dim, budgetBytes: fit.numIds * dim * 4, seed: 1 });
    fp.finishTraining();
    expect(() => fp.storage.gatherCombined!(ids, 2, 2, 'sum', out, 0, dim)).toThrow(
      new RegExp(`embedding/fp16.gatherCombined: row ${fit.numIds + 5} is outside`),
    );
  });
});
