import {
  createSparseOptimizer,
  DEFAULT_SPARSE_OPTIMIZER_OPTIONS,
  EmbeddingTable,
  InvalidArgumentError,
  type OptimizerKind,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';

/** Rows [1, 2], [3, 4], [5, 6]. */
function table(): EmbeddingTable {
  return new EmbeddingTable(3, 2, Float32Array.of(1, 2, 3, 4, 5, 6));
}

/** Gradients for rows [2, 0]: row 2 gets [0.5, -1], row 0 gets [2, 0]. */
const ROWS = Int32Array.of(2, 0);
const GRADS = Float32Array.of(0.5, -1, 2, 0);

function expectRow(t: EmbeddingTable, r: number, want: number[], digits = 6): void {
  const got = Array.from(t.row(r));
  for (let c = 0; c < want.length; c++) expect(got[c]).toBeCloseTo(want[c]!, digits);
}

describe('createSparseOptimizer', () => {
  it('validates options', () => {
    expect(() => createSparseOptimizer(table(), { lr: 0 })).toThrow(InvalidArgumentError);
    expect(() => createSparseOptimizer(table(), { lr: Number.POSITIVE_INFINITY })).toThrow(InvalidArgumentError);
    expect(() => createSparseOptimizer(table(), { kind: 'lamb' as OptimizerKind })).toThrow(InvalidArgumentError);
    expect(createSparseOptimizer(table()).kind).toBe(DEFAULT_SPARSE_OPTIMIZER_OPTIONS.kind);
    expect(Object.isFrozen(DEFAULT_SPARSE_OPTIMIZER_OPTIONS)).toBe(true);
  });

  it('reports state bytes per kind', () => {
    expect(createSparseOptimizer(table(), { kind: 'sgd' }).stateBytes).toBe(0);
    expect(createSparseOptimizer(table(), { kind: 'adagrad' }).stateBytes).toBe(3 * 2 * 4);
    expect(createSparseOptimizer(table(), { kind: 'rowwise-adagrad' }).stateBytes).toBe(3 * 4);
    expect(createSparseOptimizer(table(), { kind: 'adam' }).stateBytes).toBe(2 * 3 * 2 * 4);
  });
});

describe('sparse SGD', () => {
  it('w -= lr (g + wd w) on touched rows only', () => {
    const t = table();
    createSparseOptimizer(t, { kind: 'sgd', lr: 0.1 }).step(ROWS, GRADS, 2);
    expectRow(t, 0, [0.8, 2]);
    expectRow(t, 2, [4.95, 6.1]);
    expect(Array.from(t.row(1))).toEqual([3, 4]);
    const w = table();
    createSparseOptimizer(w, { kind: 'sgd', lr: 0.1, weightDecay: 0.1 }).step(ROWS, GRADS, 2);
    expectRow(w, 0, [1 - 0.1 * (2 + 0.1), 2 - 0.1 * 0.2]); // [0.79, 1.98]
    expect(Array.from(w.row(1))).toEqual([3, 4]);
  });

  it('uses only the first n rows of the buffers', () => {
    const t = table();
    createSparseOptimizer(t, { kind: 'sgd', lr: 0.1 }).step(ROWS, GRADS, 1);
    expectRow(t, 2, [4.95, 6.1]);
    expect(Array.from(t.row(0))).toEqual([1, 2]);
  });
});

describe('sparse Adagrad', () => {
  it('accumulates g² per element: w -= lr g / (sqrt(acc) + eps)', () => {
    const t = table();
    const opt = createSparseOptimizer(t, { kind: 'adagrad', lr: 0.1 });
    opt.step(ROWS, GRADS, 2);
    expectRow(t, 0, [1 - (0.1 * 2) / 2, 2]); // acc [4, 0]; a zero gradient leaves w alone
    expectRow(t, 2, [5 - (0.1 * 0.5) / 0.5, 6 + (0.1 * 1) / 1]);
    opt.step(ROWS, GRADS, 2);
    expectRow(t, 0, [0.9 - 0.2 / Math.sqrt(8), 2]); // 0.8292893
    expect(Array.from(t.row(1))).toEqual([3, 4]);
    expect(Array.from(opt.stateArrays().accumulator!)).toEqual([8, 0, 0, 0, 0.5, 2]);
  });

  it('row-wise: one accumulator per row += mean(g²)', () => {
    const t = table();
    const opt = createSparseOptimizer(t, { kind: 'rowwise-adagrad', lr: 0.1 });
    opt.step(ROWS, GRADS, 2);
    // Row 0: acc = (4 + 0) / 2 = 2 → scale 0.1 / sqrt 2. Row 2: acc = (0.25 + 1) / 2 = 0.625.
    expectRow(t, 0, [1 - (0.1 * 2) / Math.sqrt(2), 2]); // 0.8585786
    const s2 = 0.1 / Math.sqrt(0.625);
    expectRow(t, 2, [5 - s2 * 0.5, 6 + s2]);
    expect(Array.from(t.row(1))).toEqual([3, 4]);
    expect(Array.from(opt.stateArrays().accumulator!)).toEqual([2, 0, 0.625]);
  });
});

describe('sparse Adam (lazy, bias-corrected)', () => {
  it('first step moves each touched element by lr · sign(g)', () => {
    const t = table();
    createSparseOptimizer(t, { kind: 'adam', lr: 0.1 }).step(ROWS, GRADS, 2);
    // m̂ = g, v̂ = g² after one step → update lr · g / (|g| + eps).
    expectRow(t, 0, [0.9, 2]);
    expectRow(t, 2, [4.9, 6.1]);
    expect(Array.from(t.row(1))).toEqual([3, 4]);
  });

  it('keeps a row’s moments frozen while untouched and bias-corrects with the global step', () => {
    const t = table();
    const opt = createSparseOptimizer(t, { kind: 'adam', lr: 0.1 });
    opt.step(ROWS, GRADS, 2); // t = 1: row 0 m = [0.2, 0], v = [0.004, 0]
    opt.step(Int32Array.of(2), Float32Array.of(0.5, -1), 1); // t = 2: row 0 untouched
    expectRow(t, 0, [0.9, 2]);
    opt.step(Int32Array.of(0), Float32Array.of(1, 0), 1); // t = 3
    const [b1, b2, eps, lr, step] = [0.9, 0.999, 1e-8, 0.1, 3];
    const m = b1 * 0.2 + (1 - b1) * 1; // 0.28
    const v = b2 * 0.004 + (1 - b2) * 1; // 0.004996
    const mHat = m / (1 - b1 ** step);
    const vHat = v / (1 - b2 ** step);
    expectRow(t, 0, [0.9 - (lr * mHat) / (Math.sqrt(vHat) + eps), 2]); // 0.8199759
    expect(t.row(0)[0]).toBeCloseTo(0.8199758691, 6);
    expect(Array.from(t.row(1))).toEqual([3, 4]);
    const st = opt.stateArrays();
    expect(st.t![0]).toBe(3);
    expect(st.m![0]).toBeCloseTo(0.28, 6);
    expect(st.v![0]).toBeCloseTo(0.004996, 8);
    expect(Array.from(st.m!.subarray(2, 4))).toEqual([0, 0]); // row 1 never touched
  });

  it('adds weight decay to the gradient of touched rows', () => {
    const t = table();
    createSparseOptimizer(t, { kind: 'adam', lr: 0.1, weightDecay: 0.5 }).step(
      Int32Array.of(0),
      Float32Array.of(0, 0),
      1,
    );
    // g = 0 + 0.5 w = [0.5, 1] > 0 → first step moves by −lr.
    expectRow(t, 0, [0.9, 1.9]);
    expect(Array.from(t.row(1))).toEqual([3, 4]);
  });
});
