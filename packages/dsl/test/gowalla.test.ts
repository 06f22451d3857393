import { fileURLToPath } from 'node:url';
import { createSparseOptimizer, Rng, readInteractionsFile, SparseGradAccumulator } from '@compactrec/core';
import { DslTable } from '@compactrec/dsl';
import { describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';

const TRAIN = fileURLToPath(new URL('../../../../shared/datasets/gowalla/train.txt', import.meta.url));

describe('DSL on a Gowalla slice (BPR)', () => {
  it.skipIf(missingData('gowalla/train.txt'))(
    `should lower the BPR loss at density 0.25 and export identical scores (${DATASETS_REASON})`,
    async () => {
      const full = await readInteractionsFile(TRAIN);
      // The first 500 users and the items they touched, remapped densely.
      const numUsers = 500;
      const remap = new Int32Array(full.numItems).fill(-1);
      let numItems = 0;
      const pu: number[] = [];
      const pi: number[] = [];
      for (let u = 0; u < numUsers; u++) {
        for (let k = full.offsets[u]!; k < full.offsets[u + 1]!; k++) {
          const it = full.items[k]!;
          if (remap[it] === -1) remap[it] = numItems++;
          pu.push(u);
          pi.push(remap[it]!);
        }
      }
      const n = pu.length;
      const dim = 32;
      const batch = 1024;
      const epochs = 12;
      const total = epochs * Math.ceil(n / batch);
      const opts = { density: 0.25, updateInterval: 10 };
      const users = new DslTable(numUsers, dim, total, { ...opts, seed: 1 });
      const items = new DslTable(numItems, dim, total, { ...opts, seed: 2 });
      users.initValues(0.1, new Rng(3));
      items.initValues(0.1, new Rng(4));
      const optU = createSparseOptimizer(users.table, { kind: 'adam', lr: 0.01 });
      const optI = createSparseOptimizer(items.table, { kind: 'adam', lr: 0.01 });
      const gU = new SparseGradAccumulator(numUsers, dim, batch);
      const gI = new SparseGradAccumulator(numItems, dim, 2 * batch);
      const U = users.table.data;
      const V = items.table.data;
      const diff = new Float32Array(dim);
      const order = new Int32Array(n).map((_, k) => k);
      const rng = new Rng(5);
      const losses: number[] = [];
      let step = 0;
      let updates = 0;
      for (let epoch = 0; epoch < epochs; epoch++) {
        rng.shuffle(order);
        let loss = 0;
        for (let s = 0; s < n; s += batch) {
          const end = Math.min(n, s + batch);
          gU.reset();
          gI.reset();
          for (let k = s; k < end; k++) {
            const u = pu[order[k]!]!;
            const i = pi[order[k]!]!;
            const j = rng.nextInt(numItems);
            let x = 0;
            for (let c = 0; c < dim; c++) {
              diff[c] = V[i * dim + c]! - V[j * dim + c]!;
              x += U[u * dim + c]! * diff[c]!;
            }
            const sig = 1 / (1 + Math.exp(-x));
            loss += -Math.log(Math.max(sig, 1e-12));
            const g = (sig - 1) / (end - s);
            gU.add(u, diff, 0, g);
            gI.add(i, U, u * dim, g);
            gI.add(j, U, u * dim, -g);
          }
          step++;
          for (const [t, acc, opt] of [
            [users, gU, optU],
            [items, gI, optI],
          ] as const) {
            t.observeGradients(acc.touched, acc.grads, acc.count, step);
            opt.step(acc.touched, acc.grads, acc.count);
            t.applyMask(acc.touched, acc.count);
            if (t.maybeUpdate(step, opt.stateArrays())) updates++;
          }
        }
        losses.push(loss / n);
      }
      expect(updates).toBeGreaterThan(10);
      expect(losses[epochs - 1]!).toBeLessThan(0.8 * losses[0]!);
      for (const t of [users, items]) {
        let active = 0;
        for (const m of t.mask) active += m;
        expect(active).toBe(t.activeCount);
      }
      // Scores from the compact tables equal the dense masked ones.
      const cu = users.toCompact();
      const ci = items.toCompact();
      expect(cu.bytes).toBeLessThan(users.table.bytes / 2);
      const a = new Float32Array(dim);
      const b = new Float32Array(dim);
      for (let q = 0; q < 200; q++) {
        const u = rng.nextInt(numUsers);
        const i = rng.nextInt(numItems);
        cu.lookupRow(u, a);
        ci.lookupRow(i, b);
        expect(a).toEqual(users.table.row(u));
        expect(b).toEqual(items.table.row(i));
      }
    },
  );
});
