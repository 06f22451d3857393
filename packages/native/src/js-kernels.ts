import {
  type DenseTrainingView,
  denseRowStep,
  InvalidArgumentError,
  type QuantHook,
  Rng,
  type SparseRowsView,
  sparseRowStep,
  UsageError,
} from '@compactrec/core';
import type {
  BprTrainArgs,
  BprTrainResult,
  ComposeArgs,
  Kernels,
  RankTopKArgs,
  SpmmArgs,
  TowerArrays,
} from './types.js';

// JavaScript versions of the native kernels: the same algorithms and the same random stream
// (xoshiro128**), used when the addon is not built and as the reference in tests.

function rowDimOf(t: { combine: number; K: number }, dim: number): number {
  return t.combine === 2 ? dim / t.K : dim;
}

/** The values forward/backward read: fake-quantized rows when the tower has them. */
function readTable(t: TowerArrays | ComposeArgs): Float32Array {
  return (t as TowerArrays).quant?.forward ?? t.table;
}

function compose(t: TowerArrays | ComposeArgs, id: number, e: Float32Array, eo: number, dim: number): void {
  const { codes, K, combine, weights } = t;
  const csr = (t as TowerArrays).csr;
  if (csr) {
    // Sparse rows (sum, no learnable weights): add each active entry of each row.
    e.fill(0, eo, eo + dim);
    const base = id * K;
    for (let k = 0; k < K; k++) {
      const r = codes[base + k]!;
      if (r < 0) continue;
      const w = weights ? weights[base + k]! : 1;
      const ro = r * dim;
      for (let q = csr.rowStart[r]!; q < csr.rowStart[r + 1]!; q++) e[eo + csr.pos[q]! - ro]! += w * csr.values[q]!;
    }
    return;
  }
  const table = readTable(t);
  const rd = rowDimOf(t, dim);
  const base = id * K;
  if (combine === 0) {
    e.fill(0, eo, eo + dim);
    for (let k = 0; k < K; k++) {
      const r = codes[base + k]!;
      if (r < 0) continue;
      const w = weights ? weights[base + k]! : 1;
      const o = r * rd;
      for (let c = 0; c < dim; c++) e[eo + c]! += w * table[o + c]!;
    }
  } else if (combine === 1) {
    e.fill(1, eo, eo + dim);
    for (let k = 0; k < K; k++) {
      const o = codes[base + k]! * rd;
      for (let c = 0; c < dim; c++) e[eo + c]! *= table[o + c]!;
    }
  } else {
    for (let k = 0; k < K; k++) {
      const o = codes[base + k]! * rd;
      for (let c = 0; c < rd; c++) e[eo + k * rd + c] = table[o + c]!;
    }
  }
}

/** De-duplicating gradient accumulator (the JS twin of the C++ one). */
class Acc {
  readonly slot: Int32Array;
  readonly touched: Int32Array;
  readonly grad: Float32Array;
  count = 0;
  constructor(
    n: number,
    readonly width: number,
    cap: number,
  ) {
    this.slot = new Int32Array(n).fill(-1);
    this.touched = new Int32Array(cap);
    this.grad = new Float32Array(cap * width);
  }
  at(r: number): number {
    let s = this.slot[r]!;
    if (s < 0) {
      s = this.count++;
      this.slot[r] = s;
      this.touched[s] = r;
      this.grad.fill(0, s * this.width, (s + 1) * this.width);
    }
    return s * this.width;
  }
  reset(): void {
    for (let s = 0; s < this.count; s++) this.slot[this.touched[s]!] = -1;
    this.count = 0;
  }
}

function backward(t: TowerArrays, acc: Acc, wacc: Acc | null, id: number, d: Float32Array, dim: number): void {
  const { codes, K, combine, weights } = t;
  const table = readTable(t);
  const rd = rowDimOf(t, dim);
  const base = id * K;
  const G = acc.grad;
  if (combine === 0) {
    const gw = wacc ? wacc.at(id) : -1;
    for (let k = 0; k < K; k++) {
      const r = codes[base + k]!;
      if (r < 0) continue;
      const g = acc.at(r);
      const w = weights ? weights[base + k]! : 1;
      for (let c = 0; c < dim; c++) G[g + c]! += w * d[c]!;
      if (wacc) {
        let s = 0;
        for (let c = 0; c < dim; c++) s += d[c]! * table[r * rd + c]!;
        wacc.grad[gw + k]! += s;
      }
    }
  } else if (combine === 1) {
    for (let k = 0; k < K; k++) {
      const g = acc.at(codes[base + k]!);
      for (let c = 0; c < dim; c++) {
        let p = d[c]!;
        for (let l = 0; l < K; l++) if (l !== k) p *= table[codes[base + l]! * rd + c]!;
        G[g + c]! += p;
      }
    }
  } else {
    for (let k = 0; k < K; k++) {
      const g = acc.at(codes[base + k]!);
      for (let c = 0; c < rd; c++) G[g + c]! += d[k * rd + c]!;
    }
  }
}

/** Plain lazy Adam over the touched entries of an accumulator (learnable per-ID weights). */
function adamRows(
  W: Float32Array,
  M: Float32Array,
  V: Float32Array,
  acc: Acc,
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  t: number,
): void {
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  const stepSize = Math.fround((lr * Math.sqrt(c2)) / c1);
  const epsHat = Math.fround(eps * Math.sqrt(c2));
  const w = acc.width;
  for (let s = 0; s < acc.count; s++) {
    const o = acc.touched[s]! * w;
    const go = s * w;
    for (let j = 0; j < w; j++) {
      const g = acc.grad[go + j]!;
      const m = b1 * M[o + j]! + (1 - b1) * g;
      const v = b2 * V[o + j]! + (1 - b2) * g * g;
      M[o + j] = m;
      V[o + j] = v;
      W[o + j] = W[o + j]! - (stepSize * m) / (Math.sqrt(v) + epsHat);
    }
  }
}

/** The storage view of a tower, for the shared row step. */
function viewOf(t: TowerArrays): DenseTrainingView {
  const tq = t.quant;
  const mode = tq?.mode ?? 0;
  if (mode !== 0 && mode !== 1 && mode !== 2) {
    throw new InvalidArgumentError(`native/bprTrain: quant.mode (${mode}) must be 0 (none), 1 (ste) or 2 (alpt)`);
  }
  const quant: QuantHook | null =
    tq === null || mode === 0
      ? null
      : {
          mode: mode === 1 ? 'ste' : 'alpt',
          bits: tq.bits,
          forward: tq.forward,
          steps: tq.steps,
          stepM: tq.stepM,
          stepV: tq.stepV,
          stepLr: tq.stepLr,
          seed: tq.seed,
        };
  return {
    values: t.table,
    m: t.m,
    v: t.v,
    quant,
    sparse: t.sparse ? { ...t.sparse, updateInterval: 0, growth: 'accumulated' } : null,
  };
}

/** One step of every touched row of a tower: core's denseRowStep (Adam + storage hooks) or, on sparse rows, sparseRowStep. */
function stepTower(
  view: DenseTrainingView | SparseRowsView,
  acc: Acc,
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  step: number,
  score: boolean,
): void {
  const c1 = 1 - b1 ** step;
  const c2 = 1 - b2 ** step;
  const p = {
    stepSize: Math.fround((lr * Math.sqrt(c2)) / c1),
    epsHat: Math.fround(eps * Math.sqrt(c2)),
    beta1: b1,
    beta2: b2,
    weightDecay: 0,
    t: step,
    score,
  };
  const w = acc.width;
  if ('rowStart' in view)
    for (let s = 0; s < acc.count; s++) sparseRowStep(view, w, acc.touched[s]!, acc.grad, s * w, p);
  else for (let s = 0; s < acc.count; s++) denseRowStep(view, w, acc.touched[s]!, acc.grad, s * w, p);
}

/** The rows a tower's step updates: its sparse rows, or the dense view with its hooks. */
function stepViewOf(t: TowerArrays): DenseTrainingView | SparseRowsView {
  const c = t.csr;
  if (!c) return viewOf(t);
  if (t.combine !== 0 || t.learnWeights) {
    throw new InvalidArgumentError(
      'native/bprTrain: sparse rows (csr) need the sum composition without learnable weights',
    );
  }
  return { ...c, updateInterval: 0, growth: 'accumulated' };
}

/** Rows of a tower's table. */
function rowsOf(t: TowerArrays, dim: number): number {
  return t.csr ? t.csr.rowStart.length - 1 : t.table.length / rowDimOf(t, dim);
}

function dotAt(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let c = 0; c < dim; c++) s += a[ao + c]! * b[bo + c]!;
  return Math.fround(s);
}

function softplus(x: number): number {
  return x > 20 ? x : x < -20 ? Math.exp(x) : Math.log1p(Math.exp(x));
}

function bprTrain(a: BprTrainArgs): BprTrainResult {
  if (a.lightgcn) {
    throw new UsageError(
      'native/bprTrain: LightGCN training needs the native kernels (`npm rebuild @compactrec/native`, or `npm run setup` in the CompactRec repository); the JavaScript kernels implement MF only',
    );
  }
  const { dim, user: U, item: I } = a;
  const { numItems, trainOffsets: off, trainItems, pairUsers, pairItems } = a.data;
  const { perm, start, end, batchSize: B } = a.batches;
  const opt = a.optimizer;
  const rng = new Rng(0);
  rng.setState(a.batches.rngState);
  const su = a.sampling?.sampleUsers;
  if (a.batches.shuffle && !su) {
    for (let i = perm.length - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
  }
  const cap = B * 12;
  const uRows = rowsOf(U, dim);
  const iRows = rowsOf(I, dim);
  const uAcc = new Acc(uRows, rowDimOf(U, dim), Math.min(cap, uRows));
  const uView = stepViewOf(U);
  const iView = stepViewOf(I);
  const iAcc = new Acc(iRows, rowDimOf(I, dim), Math.min(cap, iRows));
  const uN = U.codes.length / U.K;
  const uW = U.learnWeights ? new Acc(uN, U.K, Math.min(cap, uN)) : null;
  const iW = I.learnWeights ? new Acc(numItems, I.K, Math.min(cap, numItems)) : null;
  const eu = new Float32Array(B * dim);
  const ei = new Float32Array(B * dim);
  const ej = new Float32Array(B * dim);
  const d = new Float32Array(dim);
  const bu = new Int32Array(B);
  const bi = new Int32Array(B);
  const bj = new Int32Array(B);
  const negK = a.sampling?.negativeCandidates ?? 1;
  if (!(Number.isInteger(negK) && negK >= 1 && negK <= 1024)) {
    throw new InvalidArgumentError(`native/bprTrain: negativeCandidates (${negK}) must be an integer from 1 to 1024`);
  }
  const cand = new Float32Array(dim);
  const drawNegative = (lo: number, hi: number): number => {
    if (hi - lo >= numItems) return rng.nextInt(numItems); // no true negative exists
    let j: number;
    do j = rng.nextInt(numItems);
    while (containsRange(trainItems, lo, hi, j));
    return j;
  };
  // A candidate negative's score for the user embedded at eu[o..].
  const candidateScore = (c: number, o: number): number => {
    compose(I, c, cand, 0, dim);
    return dotAt(eu, o, cand, 0, dim);
  };
  let lossSum = 0;
  let triples = 0;
  let t = opt.state[0]!;
  const scoreLast = a.growth?.scoreLastBatches ?? -1;
  const numBatches = Math.ceil((end - start) / B);
  let batchIdx = 0;
  for (let pos = start; pos < end; pos += B, batchIdx++) {
    const nb = Math.min(B, end - pos);
    for (let b = 0; b < nb; b++) {
      let u: number;
      if (su) {
        u = su[rng.nextInt(su.length)]!;
        bu[b] = u;
        bi[b] = trainItems[off[u]! + rng.nextInt(off[u + 1]! - off[u]!)]!;
      } else {
        const p = perm[pos + b]!;
        u = pairUsers[p]!;
        bu[b] = u;
        bi[b] = pairItems[p]!;
      }
      const lo = off[u]!;
      const hi = off[u + 1]!;
      const o = b * dim;
      compose(U, u, eu, o, dim);
      compose(I, bi[b]!, ei, o, dim);
      let j = drawNegative(lo, hi);
      if (negK > 1) {
        // Dynamic negative sampling: keep the candidate the model scores highest for u.
        let best = candidateScore(j, o);
        for (let k = 1; k < negK; k++) {
          const c = drawNegative(lo, hi);
          const sc = candidateScore(c, o);
          if (sc > best) {
            best = sc;
            j = c;
          }
        }
      }
      compose(I, j, ej, o, dim);
      bj[b] = j;
    }
    const invB = Math.fround(1 / nb);
    for (let b = 0; b < nb; b++) {
      const o = b * dim;
      let x = 0;
      let nrm = 0;
      for (let c = 0; c < dim; c++) {
        x += eu[o + c]! * (ei[o + c]! - ej[o + c]!);
        nrm += eu[o + c]! ** 2 + ei[o + c]! ** 2 + ej[o + c]! ** 2;
      }
      lossSum += softplus(-x) + 0.5 * opt.reg * nrm;
      const g = (-1 / (1 + Math.exp(x))) * invB;
      const r = opt.reg * invB;
      for (let c = 0; c < dim; c++) d[c] = g * (ei[o + c]! - ej[o + c]!) + r * eu[o + c]!;
      backward(U, uAcc, uW, bu[b]!, d, dim);
      for (let c = 0; c < dim; c++) d[c] = g * eu[o + c]! + r * ei[o + c]!;
      backward(I, iAcc, iW, bi[b]!, d, dim);
      for (let c = 0; c < dim; c++) d[c] = -g * eu[o + c]! + r * ej[o + c]!;
      backward(I, iAcc, iW, bj[b]!, d, dim);
    }
    t += 1;
    const score = scoreLast < 0 || batchIdx + scoreLast >= numBatches;
    stepTower(uView, uAcc, opt.lr, opt.beta1, opt.beta2, opt.eps, t, score);
    stepTower(iView, iAcc, opt.lr, opt.beta1, opt.beta2, opt.eps, t, score);
    if (uW) adamRows(U.weights!, U.weightM!, U.weightV!, uW, opt.weightLr, opt.beta1, opt.beta2, opt.eps, t);
    if (iW) adamRows(I.weights!, I.weightM!, I.weightV!, iW, opt.weightLr, opt.beta1, opt.beta2, opt.eps, t);
    uAcc.reset();
    iAcc.reset();
    uW?.reset();
    iW?.reset();
    triples += nb;
  }
  opt.state[0] = t;
  a.batches.rngState.set(rng.state());
  return { lossSum, triples };
}

/** Whether the sorted run a[lo..hi) holds x. */
function containsRange(a: Int32Array, lo: number, hi: number, x: number): boolean {
  const end = hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < end && a[lo] === x;
}

function composeEmbeddings(a: ComposeArgs): void {
  const n = a.codes.length / a.K;
  for (let id = 0; id < n; id++) compose(a, id, a.out, id * a.dim, a.dim);
}

function rankTopK(a: RankTopKArgs): void {
  const { dim, k, userEmb, itemEmb, maskOffsets: mo, maskItems: mi, users, out } = a;
  const numUsers = userEmb.length / dim;
  const numItems = itemEmb.length / dim;
  const n = users ? users.length : numUsers;
  const scores = new Float32Array(numItems);
  const keepS = new Float64Array(k);
  const keepI = new Int32Array(k);
  for (let q = 0; q < n; q++) {
    const u = users ? users[q]! : q;
    for (let i = 0; i < numItems; i++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += userEmb[u * dim + c]! * itemEmb[i * dim + c]!;
      scores[i] = s;
    }
    if (mo && mi) for (let j = mo[u]!; j < mo[u + 1]!; j++) scores[mi[j]!] = Number.NEGATIVE_INFINITY;
    // Insertion into a sorted list of k (k is small): best first, ties by smaller item id.
    let cnt = 0;
    for (let i = 0; i < numItems; i++) {
      const s = scores[i]!;
      if (s === Number.NEGATIVE_INFINITY) continue;
      if (cnt === k && !(s > keepS[k - 1]!)) continue;
      let p = cnt < k ? cnt++ : k - 1;
      while (p > 0 && keepS[p - 1]! < s) {
        keepS[p] = keepS[p - 1]!;
        keepI[p] = keepI[p - 1]!;
        p--;
      }
      keepS[p] = s;
      keepI[p] = i;
    }
    for (let j = 0; j < k; j++) out[q * k + j] = j < cnt ? keepI[j]! : -1;
  }
}

function spmm(a: SpmmArgs): void {
  const { dim, offsets, indices, values, x, y } = a;
  const rows = offsets.length - 1;
  for (let r = 0; r < rows; r++) {
    const yo = r * dim;
    y.fill(0, yo, yo + dim);
    for (let j = offsets[r]!; j < offsets[r + 1]!; j++) {
      const w = values[j]!;
      const xo = indices[j]! * dim;
      for (let c = 0; c < dim; c++) y[yo + c]! += w * x[xo + c]!;
    }
  }
}

/** The JavaScript kernels. */
export const JS_KERNELS: Kernels = { kind: 'js', bprTrain, composeEmbeddings, rankTopK, spmm };
