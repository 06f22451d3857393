import { Rng, sparseRowStep } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DslTable } from '../src/dsl-table.js';
import { SparseDslTraining } from '../src/sparse-training.js';

function activeSet(t: SparseDslTraining): Set<number> {
  return new Set(Array.from(t.pos));
}

describe('SparseDslTraining (DSL in its sparse form)', () => {
  it('holds exactly nnz sorted positions, consistent row starts and bitmap, through updates', () => {
    const t = new SparseDslTraining(
      50,
      16,
      100,
      { density: 0.3, seed: 4, updateInterval: 5, pruneRateStart: 0.5 },
      0.1,
    );
    const rng = new Rng(1);
    const g = new Float32Array(16);
    for (let step = 1; step <= 20; step++) {
      for (let r = 0; r < 50; r += 3) {
        for (let c = 0; c < 16; c++) g[c] = rng.normal();
        sparseRowStep(t.rowsView(), 16, r, g, 0, {
          stepSize: 0.01,
          epsHat: 1e-8,
          beta1: 0.9,
          beta2: 0.999,
          weightDecay: 0,
          t: step,
          score: t.wantsScores(step),
        });
      }
      t.maybeUpdate(step);
    }
    expect(t.updates).toBe(4);
    expect(t.pos.length).toBe(t.nnz);
    expect(t.nnz).toBe(Math.round(0.3 * 50 * 16));
    for (let e = 1; e < t.nnz; e++) expect(t.pos[e]!).toBeGreaterThan(t.pos[e - 1]!);
    let bits = 0;
    for (let i = 0; i < 50 * 16; i++) bits += (t.activeBits[i >>> 3]! >>> (i & 7)) & 1;
    expect(bits).toBe(t.nnz);
    for (let r = 0; r < 50; r++)
      for (let e = t.rowStart[r]!; e < t.rowStart[r + 1]!; e++) expect(Math.floor(t.pos[e]! / 16)).toBe(r);
  });

  it('an update prunes the k smallest |w| and grows the k largest scores among the inactive, at 0', () => {
    const rows = 20;
    const dim = 8;
    const t = new SparseDslTraining(
      rows,
      dim,
      1000,
      { density: 0.25, seed: 2, updateInterval: 10, pruneRateStart: 0.5, schedule: 'constant' },
      0.1,
    );
    const rng = new Rng(3);
    for (let e = 0; e < t.nnz; e++) t.val[e] = rng.normal();
    for (let i = 0; i < rows * dim; i++) t.scores[i] = rng.next();
    const before = activeSet(t);
    const vals = new Map(Array.from(t.pos, (p, e) => [p, t.val[e]!]));
    const k = Math.ceil(0.5 * t.nnz - 1e-9);
    const pruneExpected = Array.from(before)
      .sort((a, b) => Math.abs(vals.get(a)!) - Math.abs(vals.get(b)!))
      .slice(0, k);
    const survivors = new Set(Array.from(before).filter((p) => !pruneExpected.includes(p)));
    const growCands = [];
    for (let i = 0; i < rows * dim; i++) if (!survivors.has(i)) growCands.push(i);
    const growExpected = growCands.sort((a, b) => t.scores[b]! - t.scores[a]!).slice(0, k);
    t.maybeUpdate(10);
    const after = activeSet(t);
    expect(after).toEqual(new Set([...survivors, ...growExpected]));
    for (let e = 0; e < t.nnz; e++) {
      const p = t.pos[e]!;
      if (survivors.has(p)) expect(t.val[e]).toBe(Math.fround(vals.get(p)!));
      else expect(t.val[e]).toBe(0);
    }
    expect(t.scores.every((s) => s === 0)).toBe(true);
  });

  it('holds much less than the dense-masked table at low density', () => {
    const rows = 1000;
    const dim = 64;
    const sparse = new SparseDslTraining(rows, dim, 100, { density: 0.2, seed: 1 }, 0.1);
    const dense = new DslTable(rows, dim, 100, { density: 0.2, seed: 1 });
    // Dense-masked: values + mask + scores + histogram, plus Adam m and v over every weight.
    const denseBytes = dense.trainingBytes() + 2 * rows * dim * 4;
    expect(sparse.bytes).toBeLessThan(0.6 * denseBytes);
  });
});
