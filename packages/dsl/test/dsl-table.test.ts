import { createSparseOptimizer, InvalidArgumentError, Rng } from '@compactrec/core';
import { DslTable } from '@compactrec/dsl';
import { describe, expect, it } from 'vitest';

function countActive(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  return n;
}

function indicesWhere(mask: Uint8Array, v: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] === v) out.push(i);
  return out;
}

/** Fills active weights with distinct magnitudes (random signs) and inactive weights' scores with distinct values. */
function distinctState(t: DslTable, rng: Rng, scoreActive: boolean): void {
  const N = t.mask.length;
  const perm = new Int32Array(N);
  for (let i = 0; i < N; i++) perm[i] = i;
  rng.shuffle(perm);
  for (let i = 0; i < N; i++) {
    const mag = 0.001 + perm[i]! * 0.37;
    t.table.data[i] = t.mask[i] === 1 ? (rng.next() < 0.5 ? -mag : mag) : 0;
  }
  rng.shuffle(perm);
  for (let i = 0; i < N; i++) t.scores[i] = t.mask[i] === 1 && !scoreActive ? 0 : 1 + perm[i]!;
}

describe('DslTable mask', () => {
  it('should start with exactly round(density · rows · dim) active weights', () => {
    for (const [rows, dim, density] of [
      [100, 16, 0.5],
      [37, 13, 0.25],
      [1000, 8, 0.013],
      [3, 3, 1],
    ] as const) {
      const t = new DslTable(rows, dim, 100, { density, seed: 7 });
      expect(t.activeCount).toBe(Math.round(density * rows * dim));
      expect(countActive(t.mask)).toBe(t.activeCount);
    }
  });

  it('should spread the initial mask uniformly and depend on the seed', () => {
    const t = new DslTable(2000, 16, 100, { density: 0.25, seed: 1 });
    // Every column and both halves of the rows get about a quarter of their weights.
    for (let c = 0; c < 16; c++) {
      let n = 0;
      for (let r = 0; r < 2000; r++) n += t.mask[r * 16 + c]!;
      expect(n / 2000).toBeGreaterThan(0.2);
      expect(n / 2000).toBeLessThan(0.3);
    }
    const half = countActive(t.mask.subarray(0, 16_000));
    expect(half / 16_000).toBeGreaterThan(0.24);
    expect(half / 16_000).toBeLessThan(0.26);
    const same = new DslTable(2000, 16, 100, { density: 0.25, seed: 1 });
    const other = new DslTable(2000, 16, 100, { density: 0.25, seed: 2 });
    expect(same.mask).toEqual(t.mask);
    expect(other.mask).not.toEqual(t.mask);
  });

  it('should initialize only active weights', () => {
    const t = new DslTable(50, 8, 100, { density: 0.3 });
    t.initValues(0.1, new Rng(3));
    let sumSq = 0;
    for (let i = 0; i < t.mask.length; i++) {
      if (t.mask[i] === 0) expect(t.table.data[i]).toBe(0);
      else sumSq += t.table.data[i]! ** 2;
    }
    expect(Math.sqrt(sumSq / t.activeCount)).toBeGreaterThan(0.07);
    expect(Math.sqrt(sumSq / t.activeCount)).toBeLessThan(0.13);
    expect(() => t.initValues(-1, new Rng(1))).toThrow(InvalidArgumentError);
  });
});

describe('DslTable.applyMask', () => {
  it('should zero the inactive weights of the given rows after an optimizer step', () => {
    const t = new DslTable(20, 8, 100, { density: 0.4, seed: 3 });
    t.initValues(0.1, new Rng(1));
    const opt = createSparseOptimizer(t.table, { kind: 'adam', lr: 0.1 });
    const rows = Int32Array.of(2, 5, 11);
    const grads = new Float32Array(3 * 8).fill(0.5);
    opt.step(rows, grads, 3);
    // Adam moved every weight of the rows, inactive ones included.
    expect(t.table.data[2 * 8 + indicesWhere(t.mask.subarray(16, 24), 0)[0]!]).not.toBe(0);
    t.applyMask(rows, 3);
    for (let i = 0; i < t.mask.length; i++) if (t.mask[i] === 0) expect(t.table.data[i]).toBe(0);
    new Rng(5).fillNormal(t.table.data, 1);
    t.applyMaskToAll();
    for (let i = 0; i < t.mask.length; i++) {
      if (t.mask[i] === 0) expect(Object.is(t.table.data[i], 0)).toBe(true);
      else expect(t.table.data[i]).not.toBe(0);
    }
    expect(() => t.applyMask(Int32Array.of(20), 1)).toThrow(InvalidArgumentError);
    expect(() => t.applyMask(rows, 4)).toThrow(InvalidArgumentError);
  });
});

describe('DslTable.observeGradients', () => {
  it('should accumulate |g| over every batch with accumulated growth', () => {
    const t = new DslTable(10, 4, 100, { updateInterval: 5, growth: 'accumulated' });
    const g = Float32Array.of(1, -2, 3, -4, 0.5, 0.5, -0.5, 0.5);
    t.observeGradients(Int32Array.of(3, 7), g, 2, 1);
    t.observeGradients(Int32Array.of(3), g, 1, 2);
    expect(Array.from(t.scores.subarray(12, 16))).toEqual([2, 4, 6, 8]);
    expect(Array.from(t.scores.subarray(28, 32))).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(t.wantsScoresForStep(3)).toBe(true);
    expect(() => t.observeGradients(Int32Array.of(10), g, 1, 1)).toThrow(InvalidArgumentError);
  });

  it('should keep only the update step batch with batch growth', () => {
    const t = new DslTable(10, 4, 100, { updateInterval: 5, growth: 'batch' });
    const g = Float32Array.of(1, -2, 3, -4);
    expect(t.wantsScoresForStep(4)).toBe(false);
    expect(t.wantsScoresForStep(5)).toBe(true);
    t.observeGradients(Int32Array.of(3), g, 1, 4);
    expect(Array.from(t.scores.subarray(12, 16))).toEqual([0, 0, 0, 0]);
    t.observeGradients(Int32Array.of(3), g, 1, 5);
    expect(Array.from(t.scores.subarray(12, 16))).toEqual([1, 2, 3, 4]);
    t.maybeUpdate(5);
    expect(t.scores.every((s) => s === 0)).toBe(true);
  });
});

describe('DslTable prune/grow', () => {
  it('should prune exactly the smallest magnitudes and grow exactly the largest inactive scores', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const t = new DslTable(40, 12, 100, { density: 0.35, schedule: 'constant', pruneRateStart: 0.3, seed });
      const rng = new Rng(seed);
      distinctState(t, rng, false);
      const before = t.mask.slice();
      const W = t.table.data.slice();
      const S = t.scores.slice();
      const k = t.pruneCount(1);
      expect(k).toBe(Math.ceil(0.3 * t.activeCount));
      const active = indicesWhere(before, 1).sort((a, b) => Math.abs(W[a]!) - Math.abs(W[b]!));
      const expectPruned = new Set(active.slice(0, k));
      const inactive = indicesWhere(before, 0).sort((a, b) => S[b]! - S[a]!);
      const expectGrown = new Set(inactive.slice(0, k));

      const stats = t.update(1);
      expect(stats.pruned).toBe(k);
      expect(stats.grown).toBe(k);
      expect(stats.regrownPruned).toBe(0);
      expect(stats.pruneThreshold).toBe(Math.abs(W[active[k - 1]!]!));
      expect(stats.growThreshold).toBe(S[inactive[k - 1]!]!);
      for (let i = 0; i < before.length; i++) {
        const expected = before[i] === 1 ? (expectPruned.has(i) ? 0 : 1) : expectGrown.has(i) ? 1 : 0;
        expect(t.mask[i], `index ${i}`).toBe(expected);
        if (expectPruned.has(i) || expectGrown.has(i)) expect(t.table.data[i]).toBe(0);
        else expect(t.table.data[i]).toBe(W[i]);
      }
      expect(countActive(t.mask)).toBe(t.activeCount);
      expect(t.scores.every((s) => s === 0)).toBe(true);
    }
  });

  it('should select exactly within one 16-bit radix bucket (nearly equal magnitudes)', () => {
    // Magnitudes 1 + i·2^-23 share their top 16 bits, so the second radix pass decides alone.
    const t = new DslTable(30, 10, 100, { density: 0.5, schedule: 'constant', pruneRateStart: 0.2, seed: 9 });
    const act = indicesWhere(t.mask, 1);
    const order = new Int32Array(act.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    new Rng(4).shuffle(order);
    act.forEach((idx, j) => {
      t.table.data[idx] = 1 + order[j]! * 2 ** -23;
    });
    const k = t.pruneCount(1);
    const smallest = new Set(act.filter((_, j) => order[j]! < k));
    for (const i of indicesWhere(t.mask, 0)) t.scores[i] = 1 + i;
    t.update(1);
    for (const i of act) expect(t.mask[i]).toBe(smallest.has(i) ? 0 : 1);
  });

  it('should break ties uniformly at random while keeping the exact count', () => {
    const hits = new Float64Array(40);
    for (let seed = 0; seed < 60; seed++) {
      const t = new DslTable(20, 10, 100, { density: 0.5, schedule: 'constant', pruneRateStart: 0.1, seed });
      // 40 active weights tie at |w| = 0.25 (±), the rest are larger; k = 10 must come from the ties.
      const act = indicesWhere(t.mask, 1);
      const ties = act.slice(0, 40);
      const tieSet = new Set(ties);
      for (const i of act) t.table.data[i] = tieSet.has(i) ? (i % 2 ? 0.25 : -0.25) : 1 + i;
      // No gradient anywhere: growth picks k of the zero-score candidates at random.
      const stats = t.update(1);
      expect(stats.pruned).toBe(10);
      expect(stats.grownZeroScore).toBe(10);
      expect(stats.pruneThreshold).toBe(0.25);
      for (const i of act) if (!tieSet.has(i)) expect(t.table.data[i]).toBe(1 + i);
      // Pruned weights are 0 whether or not they were regrown: exactly 10 of the ties.
      let pruned = 0;
      ties.forEach((i, j) => {
        if (t.table.data[i] === 0) {
          pruned++;
          hits[j]!++;
        }
      });
      expect(pruned).toBe(10);
      expect(countActive(t.mask)).toBe(t.activeCount);
    }
    // Each tie is picked with probability 1/4: over 60 runs, about 15 times, and never by position alone.
    for (let j = 0; j < 40; j++) {
      expect(hits[j]).toBeGreaterThan(3);
      expect(hits[j]).toBeLessThan(30);
    }
  });

  it('should regrow at 0 and reset the Adam moments of regrown weights only', () => {
    const t = new DslTable(30, 8, 100, { density: 0.5, schedule: 'constant', pruneRateStart: 0.25, seed: 11 });
    t.initValues(0.1, new Rng(2));
    const opt = createSparseOptimizer(t.table, { kind: 'adam', lr: 0.01 });
    const rows = new Int32Array(30).map((_, i) => i);
    const grads = new Float32Array(30 * 8);
    new Rng(3).fillNormal(grads, 1);
    t.observeGradients(rows, grads, 30, 1);
    opt.step(rows, grads, 30);
    t.applyMask(rows, 30);
    const state = opt.stateArrays();
    const m0 = (state.m as Float32Array).slice();
    const v0 = (state.v as Float32Array).slice();
    expect(m0.every((x) => x !== 0)).toBe(true);
    const before = t.mask.slice();
    const W0 = t.table.data.slice();
    const stats = t.maybeUpdate(1, state);
    expect(stats).toBeNull(); // step 1 is not an update step (ΔT = 1000)
    const s = t.update(1, state);
    expect(s.grown).toBeGreaterThan(0);
    let regrown = 0;
    let prunedAndRegrown = 0;
    for (let i = 0; i < before.length; i++) {
      // Active before and after but now 0: pruned and regrown in the same update (fresh weight).
      const again = before[i] === 1 && t.mask[i] === 1 && W0[i] !== 0 && t.table.data[i] === 0;
      if ((before[i] === 0 && t.mask[i] === 1) || again) {
        if (again) prunedAndRegrown++;
        else regrown++;
        expect(t.table.data[i]).toBe(0);
        expect(state.m![i]).toBe(0);
        expect(state.v![i]).toBe(0);
      } else {
        if (t.mask[i] === 1) expect(t.table.data[i]).toBe(W0[i]);
        expect(state.m![i]).toBe(m0[i]);
        expect(state.v![i]).toBe(v0[i]);
      }
    }
    expect(regrown).toBe(s.grown - s.regrownPruned);
    expect(prunedAndRegrown).toBe(s.regrownPruned);
    expect(state.t![0]).toBe(1);
  });

  it('should update only every ΔT steps, once per step', () => {
    const t = new DslTable(20, 8, 1000, { updateInterval: 50, seed: 1 });
    for (let s = 1; s < 50; s++) expect(t.maybeUpdate(s)).toBeNull();
    expect(t.maybeUpdate(50)).not.toBeNull();
    expect(t.maybeUpdate(50)).toBeNull();
    expect(t.maybeUpdate(100)?.pruneRate).toBeCloseTo(t.pruneRate(100), 12);
    expect(t.updates).toBe(2);
  });

  it('should keep the active count invariant across many prune/grow updates', () => {
    const t = new DslTable(200, 16, 300, { density: 0.25, updateInterval: 1, seed: 21 });
    t.initValues(0.1, new Rng(1));
    const opt = createSparseOptimizer(t.table, { kind: 'adam', lr: 0.05 });
    const rng = new Rng(22);
    const n = 32;
    const rows = new Int32Array(n);
    const grads = new Float32Array(n * 16);
    for (let step = 1; step <= 300; step++) {
      // Distinct random rows per batch.
      for (let j = 0; j < n; j++) rows[j] = (j * 200) / n + rng.nextInt(200 / n);
      rng.fillNormal(grads, 1);
      t.observeGradients(rows, grads, n, step);
      opt.step(rows, grads, n);
      t.applyMask(rows, n);
      const s = t.maybeUpdate(step, opt.stateArrays());
      expect(s?.activeCount).toBe(t.activeCount);
      expect(countActive(t.mask)).toBe(t.activeCount);
      for (let i = 0; i < t.mask.length; i++) if (t.mask[i] !== 1 && t.mask[i] !== 0) throw new Error('bad mask value');
    }
    for (let i = 0; i < t.mask.length; i++) if (t.mask[i] === 0) expect(t.table.data[i]).toBe(0);
  });

  it('should not churn a dense table', () => {
    const t = new DslTable(5, 4, 10, { density: 1, updateInterval: 1 });
    t.initValues(1, new Rng(1));
    const W = t.table.data.slice();
    const s = t.maybeUpdate(1);
    expect(s?.pruned).toBe(0);
    expect(t.table.data).toEqual(W);
  });

  it('should report honest training bytes', () => {
    const t = new DslTable(1000, 32, 10, { density: 0.25 });
    expect(t.trainingBytes()).toBe(1000 * 32 * 4 + 1000 * 32 + 1000 * 32 * 4 + 65536 * 4);
    expect(t.compactBytes()).toBe(t.toCompact().bytes);
  });
});
