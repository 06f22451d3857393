import { createSparseOptimizer, Rng, SparseGradAccumulator } from '@compactrec/core';
import { type DslGrowth, DslTable, type DslUpdateStats } from '@compactrec/dsl';
import { describe, expect, it } from 'vitest';

/** A rank-3 rating matrix of 80 users × 60 items, 40% observed, plus noise. */
function ratings(seed: number): { u: Int32Array; i: Int32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const U = new Float32Array(80 * 3);
  const V = new Float32Array(60 * 3);
  rng.fillNormal(U, 1);
  rng.fillNormal(V, 1);
  const u: number[] = [];
  const i: number[] = [];
  const y: number[] = [];
  for (let a = 0; a < 80; a++) {
    for (let b = 0; b < 60; b++) {
      if (rng.next() >= 0.4) continue;
      let s = 0;
      for (let c = 0; c < 3; c++) s += U[a * 3 + c]! * V[b * 3 + c]!;
      u.push(a);
      i.push(b);
      y.push(s + 0.05 * rng.normal());
    }
  }
  return { u: Int32Array.from(u), i: Int32Array.from(i), y: Float32Array.from(y) };
}

/**
 * Matrix factorization with squared loss, both tables DSL-sparse at density 0.5; the loop calls the
 * hooks the way a trainer does. Returns the mean loss of the first and the last epoch.
 */
function trainMf(growth: DslGrowth): {
  first: number;
  last: number;
  updates: DslUpdateStats[];
  users: DslTable;
  items: DslTable;
} {
  const data = ratings(1);
  const dim = 16;
  const batch = 64;
  const epochs = 60;
  const stepsPerEpoch = Math.ceil(data.y.length / batch);
  const total = epochs * stepsPerEpoch;
  const opts = { density: 0.5, updateInterval: 40, growth };
  const users = new DslTable(80, dim, total, { ...opts, seed: 1 });
  const items = new DslTable(60, dim, total, { ...opts, seed: 2 });
  users.initValues(0.3, new Rng(3));
  items.initValues(0.3, new Rng(4));
  const optU = createSparseOptimizer(users.table, { kind: 'adam', lr: 0.02 });
  const optI = createSparseOptimizer(items.table, { kind: 'adam', lr: 0.02 });
  const gU = new SparseGradAccumulator(80, dim, batch);
  const gI = new SparseGradAccumulator(60, dim, batch);
  const U = users.table.data;
  const V = items.table.data;
  const order = new Int32Array(data.y.length).map((_, k) => k);
  const rng = new Rng(5);
  const updates: DslUpdateStats[] = [];
  let step = 0;
  let first = 0;
  let last = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    rng.shuffle(order);
    let loss = 0;
    for (let s = 0; s < order.length; s += batch) {
      const end = Math.min(order.length, s + batch);
      gU.reset();
      gI.reset();
      for (let k = s; k < end; k++) {
        const idx = order[k]!;
        const a = data.u[idx]! * dim;
        const b = data.i[idx]! * dim;
        let p = 0;
        for (let c = 0; c < dim; c++) p += U[a + c]! * V[b + c]!;
        const e = p - data.y[idx]!;
        loss += e * e;
        const scale = (2 * e) / (end - s);
        gU.add(data.u[idx]!, V, b, scale);
        gI.add(data.i[idx]!, U, a, scale);
      }
      step++;
      for (const [t, g, opt] of [
        [users, gU, optU],
        [items, gI, optI],
      ] as const) {
        t.observeGradients(g.touched, g.grads, g.count, step);
        opt.step(g.touched, g.grads, g.count);
        t.applyMask(g.touched, g.count);
        const st = t.maybeUpdate(step, opt.stateArrays());
        if (st) updates.push(st);
      }
    }
    loss /= order.length;
    if (epoch === 0) first = loss;
    last = loss;
  }
  return { first, last, updates, users, items };
}

describe('DSL end to end (matrix factorization)', () => {
  for (const growth of ['accumulated', 'batch'] as const) {
    it(`should converge at density 0.5 with ${growth} growth while keeping the active count`, () => {
      const { first, last, updates, users, items } = trainMf(growth);
      expect(last).toBeLessThan(0.1 * first);
      expect(updates.length).toBeGreaterThan(10);
      // The schedule anneals: early updates replace far more weights than late ones.
      expect(updates[0]!.pruned).toBeGreaterThan(10 * updates[updates.length - 1]!.pruned);
      for (const t of [users, items]) {
        let n = 0;
        for (let i = 0; i < t.mask.length; i++) {
          n += t.mask[i]!;
          if (t.mask[i] === 0) expect(t.table.data[i]).toBe(0);
        }
        expect(n).toBe(t.activeCount);
        expect(t.activeCount).toBe(t.mask.length / 2);
      }
    });
  }
});
