import { type Interactions, rankingMetrics } from '@compactrec/core';
import { getKernels } from '@compactrec/native';

/** Retrieval quality at K over all users × all items, training items masked. */
export interface RetrievalMetrics {
  readonly k: number;
  readonly recall: number;
  /** Recall with the denominator capped at k, hits / min(k, |test|) (GraphHash's convention). */
  readonly recallCapped: number;
  readonly ndcg: number;
  readonly precision: number;
  readonly hitRate: number;
  /** Users with at least one test item (the ones averaged). */
  readonly users: number;
  readonly seconds: number;
}

/**
 * Full-ranking evaluation (the LightGCN protocol): every user is scored against every item, the
 * user's training items are masked, and Recall/NDCG@K are computed against the test items.
 */
export function evaluateFullRanking(
  userEmb: Float32Array,
  itemEmb: Float32Array,
  dim: number,
  train: Interactions,
  test: Interactions,
  k = 20,
): RetrievalMetrics {
  const t0 = performance.now();
  const out = new Int32Array(train.numUsers * k);
  getKernels().rankTopK({
    dim,
    k,
    userEmb,
    itemEmb,
    maskOffsets: train.offsets,
    maskItems: train.items,
    out,
  });
  const m = rankingMetrics(out, k, test);
  return {
    k,
    recall: m.recall,
    recallCapped: m.recallCapped,
    ndcg: m.ndcg,
    precision: m.precision,
    hitRate: m.hitRate,
    users: m.users,
    seconds: (performance.now() - t0) / 1000,
  };
}
