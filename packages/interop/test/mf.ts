/** A small MF-BPR trainer over two feature embeddings (generic lookup/backward/step path), for the tests. */
import { degrees, type MapperFitData, type RetrievalDataset, Rng } from '@compactrec/core';
import { createFeatureEmbedding, type FeatureEmbedding } from '@compactrec/embedding';

export interface MfModel {
  readonly user: FeatureEmbedding;
  readonly item: FeatureEmbedding;
  /** Mean BPR loss of each epoch. */
  readonly losses: number[];
}

function fit(data: RetrievalDataset, side: 'user' | 'item'): MapperFitData {
  const deg = degrees(data.train);
  return {
    numIds: side === 'user' ? data.train.numUsers : data.train.numItems,
    counts: side === 'user' ? deg.users : deg.items,
    interactions: data.train,
    side,
  };
}

/** Trains MF with BPR (uniform negatives) for `epochs` epochs; budgets are a fraction of each full float32 table. */
export function trainMf(
  data: RetrievalDataset,
  methods: { user: string; item: string },
  o: { dim: number; budget: number; epochs: number; batch?: number; lr?: number; seed?: number },
): MfModel {
  const { dim } = o;
  const batch = o.batch ?? 256;
  const seed = o.seed ?? 1;
  const pairs = data.train.items.length;
  const totalSteps = o.epochs * Math.ceil(pairs / batch);
  const make = (side: 'user' | 'item'): FeatureEmbedding => {
    const f = fit(data, side);
    return createFeatureEmbedding(methods[side], f, {
      dim,
      budgetBytes: Math.floor(o.budget * f.numIds * dim * 4),
      seed: seed + (side === 'item' ? 1 : 0),
      totalSteps,
      optimizer: { lr: o.lr ?? 0.01 },
    });
  };
  const user = make('user');
  const item = make('item');
  const pairUser = new Int32Array(pairs);
  for (let u = 0; u < data.train.numUsers; u++) pairUser.fill(u, data.train.offsets[u]!, data.train.offsets[u + 1]!);
  const rng = new Rng(seed);
  const order = Int32Array.from({ length: pairs }, (_, i) => i);
  const us = new Int32Array(batch);
  const its = new Int32Array(2 * batch);
  const U = new Float32Array(batch * dim);
  const I = new Float32Array(2 * batch * dim);
  const dU = new Float32Array(batch * dim);
  const dI = new Float32Array(2 * batch * dim);
  const losses: number[] = [];
  for (let ep = 0; ep < o.epochs; ep++) {
    for (let i = pairs - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    let loss = 0;
    for (let b0 = 0; b0 < pairs; b0 += batch) {
      const n = Math.min(batch, pairs - b0);
      for (let j = 0; j < n; j++) {
        const p = order[b0 + j]!;
        us[j] = pairUser[p]!;
        its[j] = data.train.items[p]!;
        its[n + j] = Math.floor(rng.next() * data.train.numItems);
      }
      user.lookup(us, U, n);
      item.lookup(its, I, 2 * n);
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let c = 0; c < dim; c++) s += U[j * dim + c]! * (I[j * dim + c]! - I[(n + j) * dim + c]!);
        loss += Math.log1p(Math.exp(-s));
        const g = -1 / (1 + Math.exp(s)); // d loss / d s
        for (let c = 0; c < dim; c++) {
          dU[j * dim + c] = g * (I[j * dim + c]! - I[(n + j) * dim + c]!);
          dI[j * dim + c] = g * U[j * dim + c]!;
          dI[(n + j) * dim + c] = -g * U[j * dim + c]!;
        }
      }
      user.backward(us, dU);
      item.backward(its, dI);
      user.step();
      item.step();
    }
    losses.push(loss / pairs);
  }
  return { user, item, losses };
}
