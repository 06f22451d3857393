import { Rng } from '@compactrec/core';
import {
  type BprTrainArgs,
  getKernels,
  JS_KERNELS,
  type Kernels,
  kernelInfo,
  type TowerArrays,
} from '@compactrec/native';
import { describe, expect, it } from 'vitest';

const native = getKernels();
const haveNative = native.kind === 'native';
/** Why the native-only tests are skipped (put in their titles). */
const NO_ADDON = haveNative ? '' : ` (skipped: the native addon is not built — ${kernelInfo().reason})`;

function tower(
  numIds: number,
  rows: number,
  K: number,
  combine: number,
  dim: number,
  seed: number,
  weights: boolean,
): TowerArrays {
  const rng = new Rng(seed);
  const rowDim = combine === 2 ? dim / K : dim;
  const codes = new Int32Array(numIds * K);
  for (let j = 0; j < codes.length; j++) codes[j] = rng.nextInt(rows);
  if (combine === 0 && K > 1) codes[1] = -1; // a "no row" code must be skipped
  const table = new Float32Array(rows * rowDim);
  rng.fillNormal(table, 0.3);
  const w = weights ? new Float32Array(numIds * K).fill(0.7) : null;
  return {
    codes,
    K,
    combine,
    weights: w,
    learnWeights: weights,
    table,
    m: new Float32Array(table.length),
    v: new Float32Array(table.length),
    weightM: w ? new Float32Array(w.length) : null,
    weightV: w ? new Float32Array(w.length) : null,
    sparse: null,
    quant: null,
  };
}

function cloneTower(t: TowerArrays): TowerArrays {
  const c = <T extends Float32Array | Int32Array | Uint8Array | null>(a: T): T => (a ? (a.slice() as T) : a);
  return {
    ...t,
    codes: c(t.codes),
    weights: c(t.weights),
    table: c(t.table),
    m: c(t.m),
    v: c(t.v),
    weightM: c(t.weightM),
    weightV: c(t.weightV),
    sparse: t.sparse ? { mask: t.sparse.mask.slice(), scores: t.sparse.scores.slice() } : null,
  };
}

function problem(combineU: number, combineI: number, K: number, weights: boolean): BprTrainArgs {
  const dim = 8;
  const numUsers = 30;
  const numItems = 50;
  const rng = new Rng(7);
  const offsets = new Uint32Array(numUsers + 1);
  const items: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const set = new Set<number>();
    const deg = 1 + rng.nextInt(6);
    while (set.size < deg) set.add(rng.nextInt(numItems));
    items.push(...[...set].sort((a, b) => a - b));
    offsets[u + 1] = items.length;
  }
  const trainItems = Int32Array.from(items);
  const pairUsers = new Int32Array(items.length);
  for (let u = 0; u < numUsers; u++) pairUsers.fill(u, offsets[u]!, offsets[u + 1]!);
  const perm = Int32Array.from(pairUsers, (_, i) => i);
  return {
    dim,
    user: tower(numUsers, 12, combineU === 0 ? K : 2, combineU, dim, 1, weights && combineU === 0),
    item: tower(numItems, 17, combineI === 0 ? K : 2, combineI, dim, 2, weights && combineI === 0),
    data: { numItems, trainOffsets: offsets, trainItems, pairUsers, pairItems: trainItems },
    batches: { perm, start: 0, end: perm.length, shuffle: true, batchSize: 16, rngState: new Rng(3).state() },
    optimizer: { lr: 0.01, weightLr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, reg: 1e-3, state: new Float64Array(1) },
  };
}

/** A fresh copy of the arguments' mutable state (towers, perm, random and Adam state). */
function fresh(p: BprTrainArgs): BprTrainArgs {
  return {
    ...p,
    user: cloneTower(p.user),
    item: cloneTower(p.item),
    batches: { ...p.batches, perm: p.batches.perm.slice(), rngState: p.batches.rngState.slice() },
    optimizer: { ...p.optimizer, state: p.optimizer.state.slice() },
  };
}

function run(k: Kernels, p: BprTrainArgs): BprTrainArgs & { loss: number } {
  const q = fresh(p);
  const r = k.bprTrain(q);
  return { ...q, loss: r.lossSum };
}

describe('@compactrec/native', () => {
  it('reports which kernels it loaded and why', () => {
    const info = kernelInfo();
    expect(['native', 'js']).toContain(info.kind);
    expect(info.reason.length).toBeGreaterThan(0);
  });

  // CI builds the addon (scripts/setup.sh): there a missing addon is a failure, not a skip.
  it.runIf(process.env.CI === 'true')('in CI the native addon is loaded (CI builds it)', () => {
    expect(kernelInfo().kind, kernelInfo().reason).toBe('native');
  });

  it.skipIf(!haveNative)(`rejects malformed arguments with a TypeError naming the problem${NO_ADDON}`, () => {
    const p = problem(0, 0, 1, false);
    expect(() => native.bprTrain({ ...p, batches: { ...p.batches, end: p.batches.perm.length + 1 } })).toThrow(
      /batches: need 0 <= start <= end/,
    );
    const bad = cloneTower(p.item);
    bad.codes[0] = 1000;
    expect(() => native.bprTrain({ ...p, item: bad })).toThrow(/item\.codes holds a row outside the table/);
    // A group's problem is named with its path.
    expect(() => native.bprTrain({ ...p, optimizer: { ...p.optimizer, state: new Float64Array(0) } })).toThrow(
      /optimizer\.state/,
    );
    const { data: _data, ...noData } = p;
    expect(() => native.bprTrain(noData as BprTrainArgs)).toThrow(/missing group 'data'/);
    const alpt = cloneTower(p.item);
    const rows = alpt.table.length / 8;
    alpt.quant = {
      mode: 2,
      bits: 8,
      forward: null,
      steps: new Float32Array(rows).fill(0.01),
      stepM: new Float32Array(rows),
      stepV: new Float32Array(rows),
      stepLr: 0,
      seed: 1,
    };
    expect(() => native.bprTrain({ ...fresh(p), item: alpt })).toThrow(/item\.quant\.stepLr must be positive/);
  });

  for (const [name, cu, ci, K, w] of [
    ['sum, K=1', 0, 0, 1, false],
    ['sum, K=2 with a -1 code and learnable weights', 0, 0, 2, true],
    ['mult (QR)', 1, 1, 2, false],
    ['concat', 2, 2, 2, false],
  ] as const) {
    it.skipIf(!haveNative)(`BPR training: native equals JavaScript (${name})${NO_ADDON}`, () => {
      const p = problem(cu, ci, K, w);
      const a = run(native, p);
      const b = run(JS_KERNELS, p);
      // Same sampled triples (same random stream) and same arithmetic up to float rounding.
      expect(Array.from(a.batches.perm)).toEqual(Array.from(b.batches.perm));
      expect(Array.from(a.batches.rngState)).toEqual(Array.from(b.batches.rngState));
      expect(a.optimizer.state[0]).toBe(b.optimizer.state[0]);
      expect(a.loss).toBeCloseTo(b.loss, 3);
      let maxDiff = 0;
      for (const [x, y] of [
        [a.user.table, b.user.table],
        [a.item.table, b.item.table],
      ] as const)
        for (let j = 0; j < x.length; j++) maxDiff = Math.max(maxDiff, Math.abs(x[j]! - y[j]!));
      expect(maxDiff).toBeLessThan(1e-4);
      // Training moved the parameters.
      let moved = 0;
      for (let j = 0; j < p.item.table.length; j++)
        moved = Math.max(moved, Math.abs(a.item.table[j]! - p.item.table[j]!));
      expect(moved).toBeGreaterThan(1e-3);
      if (w) expect(Array.from(a.user.weights!)).not.toEqual(Array.from(p.user.weights!));
    });
  }

  it.skipIf(!haveNative)(`dynamic negative sampling: native equals JavaScript${NO_ADDON}`, () => {
    const p = { ...problem(0, 0, 1, false), sampling: { negativeCandidates: 4 } };
    const a = run(native, p);
    const b = run(JS_KERNELS, p);
    expect(Array.from(a.batches.rngState)).toEqual(Array.from(b.batches.rngState));
    expect(a.loss).toBeCloseTo(b.loss, 3);
    let maxDiff = 0;
    for (let j = 0; j < a.item.table.length; j++)
      maxDiff = Math.max(maxDiff, Math.abs(a.item.table[j]! - b.item.table[j]!));
    expect(maxDiff).toBeLessThan(1e-4);
    // Four candidates per triple consume more of the random stream than one.
    expect(Array.from(a.batches.rngState)).not.toEqual(
      Array.from(run(native, problem(0, 0, 1, false)).batches.rngState),
    );
  });

  it('dynamic negative sampling trains on negatives the model scores higher', () => {
    for (const k of haveNative ? [native, JS_KERNELS] : [JS_KERNELS]) {
      // Fit a model with uniform negatives, then score one more epoch (lr ≈ 0) both ways: the
      // highest-scored of 8 candidates is a harder negative, so its BPR loss is larger.
      const p = problem(0, 0, 1, false);
      const q = { ...p, user: cloneTower(p.user), item: cloneTower(p.item) };
      for (let e = 0; e < 30; e++) k.bprTrain(q);
      const lossWith = (negativeCandidates: number) =>
        k.bprTrain({
          ...q,
          batches: { ...q.batches, rngState: q.batches.rngState.slice() },
          optimizer: { ...q.optimizer, lr: 1e-12, reg: 0, state: q.optimizer.state.slice() },
          sampling: { negativeCandidates },
        }).lossSum;
      expect(lossWith(8)).toBeGreaterThan(lossWith(1) * 1.5);
      expect(() => k.bprTrain({ ...q, sampling: { negativeCandidates: 0 } })).toThrow(/negativeCandidates/);
    }
  });

  it('BPR training lowers the loss (JavaScript kernels)', () => {
    const p = problem(0, 0, 1, false);
    p.batches.shuffle = true;
    const losses: number[] = [];
    const q = { ...p, user: cloneTower(p.user), item: cloneTower(p.item) };
    for (let e = 0; e < 30; e++) losses.push(JS_KERNELS.bprTrain(q).lossSum);
    expect(losses[29]!).toBeLessThan(losses[0]! * 0.7);
  });

  it('DSL hooks: masked weights stay zero and scores accumulate |gradient|', () => {
    for (const k of haveNative ? [native, JS_KERNELS] : [JS_KERNELS]) {
      const p = problem(0, 0, 1, false);
      const mask = new Uint8Array(p.item.table.length);
      for (let j = 0; j < mask.length; j += 2) mask[j] = 1;
      const scores = new Float32Array(p.item.table.length);
      const item = { ...cloneTower(p.item), sparse: { mask, scores } };
      k.bprTrain({ ...fresh(p), item });
      for (let j = 1; j < mask.length; j += 2) expect(item.table[j]).toBe(0);
      expect(scores.reduce((s, x) => s + x, 0)).toBeGreaterThan(0);
    }
  });

  it.skipIf(!haveNative)(
    `sparse rows (DSL's sparse form): native equals JavaScript, only active entries move, scores accumulate${NO_ADDON}`,
    () => {
      const p = problem(0, 0, 1, false);
      const dense = p.item;
      const rowDim = 8;
      const rows = dense.table.length / rowDim;
      const rng = new Rng(11);
      const pos: number[] = [];
      const rowStart = new Int32Array(rows + 1);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < rowDim; c++) if (rng.next() < 0.5) pos.push(r * rowDim + c);
        rowStart[r + 1] = pos.length;
      }
      const values = Float32Array.from(pos, (q) => dense.table[q]!);
      const none = new Float32Array(0);
      const csrTower = (): TowerArrays => ({
        ...dense,
        table: none,
        m: none,
        v: none,
        csr: {
          rowStart,
          pos: Int32Array.from(pos),
          values: values.slice(),
          m: new Float32Array(pos.length),
          v: new Float32Array(pos.length),
          scores: new Float32Array(rows * rowDim),
        },
      });
      const a = { ...fresh(p), item: csrTower() };
      const b = { ...fresh(p), item: csrTower() };
      const ra = native.bprTrain(a);
      const rb = JS_KERNELS.bprTrain(b);
      expect(Array.from(a.batches.rngState)).toEqual(Array.from(b.batches.rngState));
      expect(ra.lossSum).toBeCloseTo(rb.lossSum, 3);
      const ca = a.item.csr!;
      const cb = b.item.csr!;
      let maxDiff = 0;
      for (const [x, y] of [
        [ca.values, cb.values],
        [ca.m, cb.m],
        [ca.scores, cb.scores],
      ] as const)
        for (let j = 0; j < x.length; j++) maxDiff = Math.max(maxDiff, Math.abs(x[j]! - y[j]!));
      expect(maxDiff).toBeLessThan(1e-4);
      let moved = 0;
      for (let j = 0; j < values.length; j++) moved = Math.max(moved, Math.abs(ca.values[j]! - values[j]!));
      expect(moved).toBeGreaterThan(1e-3);
      // Scores cover every weight of a touched row, active or not.
      let inactiveScored = 0;
      const active = new Set(pos);
      for (let q = 0; q < rows * rowDim; q++) if (!active.has(q) && ca.scores[q]! > 0) inactiveScored++;
      expect(inactiveScored).toBeGreaterThan(0);
      // A sparse tower must compose by sum without learnable weights.
      expect(() => native.bprTrain({ ...fresh(p), item: { ...csrTower(), combine: 1, K: 1 } })).toThrow(
        /item\.csr needs the sum composition/,
      );
    },
  );

  it('top-K ranking: the best unmasked items, best first, ties to the smaller id', () => {
    const dim = 16;
    const nu = 37;
    const ni = 301;
    const rng = new Rng(5);
    const ue = new Float32Array(nu * dim);
    const ie = new Float32Array(ni * dim);
    rng.fillNormal(ue);
    rng.fillNormal(ie);
    // Items 0 and 1 identical: a tie the kernel must break toward 0.
    ie.copyWithin(dim, 0, dim);
    const mo = new Uint32Array(nu + 1);
    const mi: number[] = [];
    for (let u = 0; u < nu; u++) {
      for (let t = 0; t < 5; t++) mi.push(rng.nextInt(ni));
      mo[u + 1] = mi.length;
    }
    const maskItems = Int32Array.from(mi);
    const k = 10;
    for (const kern of haveNative ? [native, JS_KERNELS] : [JS_KERNELS]) {
      const out = new Int32Array(nu * k);
      kern.rankTopK({ dim, k, userEmb: ue, itemEmb: ie, maskOffsets: mo, maskItems, out });
      for (let u = 0; u < nu; u++) {
        const masked = new Set(mi.slice(mo[u]!, mo[u + 1]!));
        const scored: [number, number][] = [];
        for (let i = 0; i < ni; i++) {
          if (masked.has(i)) continue;
          let s = 0;
          for (let c = 0; c < dim; c++) s += ue[u * dim + c]! * ie[i * dim + c]!;
          scored.push([s, i]);
        }
        scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
        const got = Array.from(out.subarray(u * k, u * k + k));
        // Equal up to float rounding: every returned item scores within 1e-4 of the exact k-th best.
        const kth = scored[k - 1]![0];
        for (const it of got) {
          expect(masked.has(it)).toBe(false);
          const s = scored.find((x) => x[1] === it)![0];
          expect(s).toBeGreaterThan(kth - 1e-4);
        }
        expect(new Set(got).size).toBe(k);
        if (got.includes(1)) expect(got).toContain(0);
      }
    }
  });

  it('top-K pads with -1 when fewer than k items are unmasked, and ranks a user subset', () => {
    const dim = 4;
    const ue = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0]);
    const ie = Float32Array.from([1, 0, 0, 0, 0.5, 0, 0, 0, 0, 2, 0, 0]);
    for (const kern of haveNative ? [native, JS_KERNELS] : [JS_KERNELS]) {
      const out = new Int32Array(4);
      kern.rankTopK({
        dim,
        k: 4,
        userEmb: ue,
        itemEmb: ie,
        maskOffsets: Uint32Array.from([0, 1, 1]),
        maskItems: Int32Array.of(0),
        users: Int32Array.of(0),
        out,
      });
      expect(Array.from(out)).toEqual([1, 2, -1, -1]);
    }
  });

  it('sparse × dense product equals the dense computation', () => {
    const offsets = Uint32Array.from([0, 2, 3, 3]);
    const indices = Int32Array.from([0, 2, 1]);
    const values = Float32Array.from([0.5, 2, -1]);
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    for (const kern of haveNative ? [native, JS_KERNELS] : [JS_KERNELS]) {
      const y = new Float32Array(6).fill(9);
      kern.spmm({ dim: 2, offsets, indices, values, x, y });
      expect(Array.from(y)).toEqual([0.5 * 1 + 2 * 5, 0.5 * 2 + 2 * 6, -3, -4, 0, 0]);
    }
  });

  it('composes embeddings by sum (weighted, -1 skipped), mult and concat', () => {
    const table = Float32Array.from([1, 2, 3, 4, 5, 6]); // 3 rows × 2
    for (const kern of haveNative ? [native, JS_KERNELS] : [JS_KERNELS]) {
      const out = new Float32Array(2);
      kern.composeEmbeddings({
        dim: 2,
        codes: Int32Array.of(0, 2),
        K: 2,
        combine: 0,
        weights: Float32Array.of(2, 0.5),
        table,
        out,
      });
      expect(Array.from(out)).toEqual([2 + 2.5, 4 + 3]);
      kern.composeEmbeddings({ dim: 2, codes: Int32Array.of(1, -1), K: 2, combine: 0, weights: null, table, out });
      expect(Array.from(out)).toEqual([3, 4]);
      kern.composeEmbeddings({ dim: 2, codes: Int32Array.of(1, 2), K: 2, combine: 1, weights: null, table, out });
      expect(Array.from(out)).toEqual([15, 24]);
      const cat = new Float32Array(2);
      kern.composeEmbeddings({ dim: 2, codes: Int32Array.of(1, 4), K: 2, combine: 2, weights: null, table, out: cat });
      expect(Array.from(cat)).toEqual([2, 5]);
    }
  });
});
