import { type RetrievalDataset, Rng, UsageError } from '@compactrec/core';
import { EpochBook } from './epoch-book.js';
import { evaluateFullRanking } from './eval.js';
import type { DEFAULT_MF_BPR_OPTIONS, MfBprOptions, MfBprResult } from './mf.js';
import { lrScale, prepareBprData } from './mf.js';
import type { Tower } from './tower.js';

type Resolved = typeof DEFAULT_MF_BPR_OPTIONS & { weightLr: number } & Pick<MfBprOptions, 'onEpoch'>;

function softplus(x: number): number {
  return x > 20 ? x : x < -20 ? Math.exp(x) : Math.log1p(Math.exp(x));
}

/**
 * MF-BPR through the embedding contract only (`lookup` → `backward` → `step` on ID batches), for
 * towers whose storage has no dense training view (kinds that compute their rows). Same sampling
 * and loss as the kernel (uniform or dynamic negatives, L2 on the batch embeddings), its own random
 * stream; LightGCN needs the kernels.
 */
export function trainGenericBpr(data: RetrievalDataset, user: Tower, item: Tower, o: Resolved): MfBprResult {
  if (o.model !== 'mf') {
    throw new UsageError(
      `models/trainMfBpr: ${user.embedding.method} has no dense training view, and the generic path trains MF only; use --model mf`,
    );
  }
  const dim = user.dim;
  const bpr = prepareBprData(data.train);
  const n = bpr.pairUsers.length;
  const numItems = data.train.numItems;
  const rng = new Rng(o.seed);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  const B = o.batchSize;
  const bu = new Int32Array(B);
  const bij = new Int32Array(2 * B);
  const eu = new Float32Array(B * dim);
  const eij = new Float32Array(2 * B * dim);
  const gu = new Float32Array(B * dim);
  const gij = new Float32Array(2 * B * dim);
  const cand = new Float32Array(dim);
  const one = new Int32Array(1);
  const contains = (lo: number, hi: number, x: number): boolean => {
    const end = hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bpr.trainItems[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo < end && bpr.trainItems[lo] === x;
  };
  const negative = (lo: number, hi: number): number => {
    if (hi - lo >= numItems) return rng.nextInt(numItems);
    let j: number;
    do j = rng.nextInt(numItems);
    while (contains(lo, hi, j));
    return j;
  };
  const book = new EpochBook(o, [user, item], n, () => {
    const embeddings = { user: user.composeServed(), item: item.composeServed() };
    return {
      metrics: evaluateFullRanking(embeddings.user, embeddings.item, dim, data.train, data.test, o.k),
      embeddings,
    };
  });
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    rng.shuffle(perm);
    let lossSum = 0;
    for (let pos = 0; pos < n; pos += B) {
      const nb = Math.min(B, n - pos);
      // The storages own their optimizers: the run's learning rate (and schedule) is set on them.
      const lr = o.lr * lrScale(o.lrSchedule, o.lrFinal, (epoch - 1 + pos / n) / o.epochs);
      user.embedding.storage.lr = lr;
      item.embedding.storage.lr = lr;
      for (let b = 0; b < nb; b++) {
        const p = perm[pos + b]!;
        const u = bpr.pairUsers[p]!;
        bu[b] = u;
        bij[b] = bpr.pairItems[p]!;
      }
      user.embedding.lookup(bu, eu, nb);
      for (let b = 0; b < nb; b++) {
        const u = bu[b]!;
        const lo = bpr.trainOffsets[u]!;
        const hi = bpr.trainOffsets[u + 1]!;
        let j = negative(lo, hi);
        if (o.negativeCandidates > 1) {
          let bestScore = Number.NEGATIVE_INFINITY;
          for (let k = 0; k < o.negativeCandidates; k++) {
            const c = k === 0 ? j : negative(lo, hi);
            one[0] = c;
            item.embedding.lookup(one, cand, 1);
            let s = 0;
            for (let d = 0; d < dim; d++) s += eu[b * dim + d]! * cand[d]!;
            if (s > bestScore) {
              bestScore = s;
              j = c;
            }
          }
        }
        bij[nb + b] = j;
      }
      item.embedding.lookup(bij, eij, 2 * nb);
      const inv = 1 / nb;
      for (let b = 0; b < nb; b++) {
        const ou = b * dim;
        const oi = b * dim;
        const oj = (nb + b) * dim;
        let x = 0;
        let nrm = 0;
        for (let d = 0; d < dim; d++) {
          x += eu[ou + d]! * (eij[oi + d]! - eij[oj + d]!);
          nrm += eu[ou + d]! ** 2 + eij[oi + d]! ** 2 + eij[oj + d]! ** 2;
        }
        lossSum += softplus(-x) + 0.5 * o.reg * nrm;
        const g = (-1 / (1 + Math.exp(x))) * inv;
        const r = o.reg * inv;
        for (let d = 0; d < dim; d++) {
          gu[ou + d] = g * (eij[oi + d]! - eij[oj + d]!) + r * eu[ou + d]!;
          gij[oi + d] = g * eu[ou + d]! + r * eij[oi + d]!;
          gij[oj + d] = -g * eu[ou + d]! + r * eij[oj + d]!;
        }
      }
      user.embedding.backward(bu, gu);
      item.embedding.backward(bij, gij);
      user.embedding.step();
      item.embedding.step();
    }
    if (book.endEpoch(epoch, lossSum, performance.now() - t0) === 'stop') break;
  }
  return book.result();
}
