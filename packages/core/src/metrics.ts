/**
 * Evaluation metrics: top-k ranking metrics as LightGCN computes them, and exact CTR metrics
 * (tie-aware AUC, clipped log loss).
 */
import type { Interactions } from './data.js';
import { InvalidArgumentError } from './errors.js';

/** Mean top-k metrics over the evaluated users that have at least one test item. */
export interface RankingMetrics {
  /** Mean of hits / |test items of u| (or / min(k, |test|), see {@link RankingMetricsOptions.recallDenominator}). */
  readonly recall: number;
  /**
   * Mean of hits / min(k, |test items of u|) whatever `recallDenominator` says (GraphHash's
   * convention), so a record can carry both conventions from one ranking.
   */
  readonly recallCapped: number;
  /** Mean NDCG@k with binary relevance; IDCG over min(k, |test items of u|) positions. */
  readonly ndcg: number;
  /** Mean of hits / k. */
  readonly precision: number;
  /** Fraction of users with at least one hit. */
  readonly hitRate: number;
  /** Number of users averaged over. */
  readonly users: number;
}

/** Options of {@link rankingMetrics}; every field is optional. */
export interface RankingMetricsOptions {
  /**
   * Users the rows of `topK` belong to: row i ranks items for `users[i]`. Without it, row u is
   * user u and `topK` has `test.numUsers` rows. @default undefined
   */
  users?: Int32Array;
  /**
   * Recall's denominator: `'test'` = |test items| (LightGCN's code, the default) or `'capped'` =
   * min(k, |test items|) (GraphHash's code), which lets a perfect ranking reach 1. @default 'test'
   */
  recallDenominator?: 'test' | 'capped';
}

/** Defaults of {@link RankingMetricsOptions}. */
export const DEFAULT_RANKING_METRICS_OPTIONS: Readonly<Pick<Required<RankingMetricsOptions>, 'recallDenominator'>> =
  Object.freeze({ recallDenominator: 'test' });

/**
 * Recall, NDCG, precision and hit rate at k, as LightGCN defines them, averaged over evaluated
 * users that have at least one test item (others are skipped, not counted as zero).
 *
 * @param topK `[rows × k]` ranked item ids, best first; −1 marks an empty slot (fewer than k candidates).
 *   A repeated item counts once.
 * @param k list length (columns of `topK`)
 * @param test held-out interactions (CSR over the same user/item ids)
 */
export function rankingMetrics(
  topK: Int32Array,
  k: number,
  test: Interactions,
  options: RankingMetricsOptions = {},
): RankingMetrics {
  const where = 'core/rankingMetrics';
  if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`${where}: k (${k}) must be a positive integer`);
  const recallDenominator = options.recallDenominator ?? DEFAULT_RANKING_METRICS_OPTIONS.recallDenominator;
  if (recallDenominator !== 'test' && recallDenominator !== 'capped') {
    throw new InvalidArgumentError(
      `${where}: recallDenominator ('${String(recallDenominator)}') must be 'test' or 'capped'`,
    );
  }
  const users = options.users;
  const rows = users ? users.length : test.numUsers;
  if (topK.length !== rows * k) {
    throw new InvalidArgumentError(
      `${where}: topK has ${topK.length} values; expected ${rows} rows × k ${k} = ${rows * k}` +
        (users ? ' (one row per entry of options.users)' : ' (one row per test user; pass options.users for a subset)'),
    );
  }
  const { offsets, items, numItems } = test;
  // discount[i] = 1 / log2(i + 2); idcg[n] = Σ_{i<n} discount[i].
  const discount = new Float64Array(k);
  const idcg = new Float64Array(k + 1);
  for (let i = 0; i < k; i++) {
    discount[i] = 1 / Math.log2(i + 2);
    idcg[i + 1] = idcg[i]! + discount[i]!;
  }
  // mark[item] === stamp ⇔ item is an unmatched test item of the current user (no clearing needed).
  const mark = new Int32Array(numItems);
  let recall = 0;
  let recallCapped = 0;
  let ndcg = 0;
  let precision = 0;
  let hitRate = 0;
  let counted = 0;
  for (let row = 0; row < rows; row++) {
    const u = users ? users[row]! : row;
    if (!(u >= 0 && u < test.numUsers)) {
      throw new InvalidArgumentError(`${where}: options.users[${row}] (${u}) is outside [0, ${test.numUsers})`);
    }
    const t0 = offsets[u]!;
    const nTest = offsets[u + 1]! - t0;
    if (nTest === 0) continue;
    const stamp = row + 1;
    let distinct = 0;
    for (let j = t0; j < t0 + nTest; j++) {
      const it = items[j]!;
      if (mark[it] !== stamp) {
        mark[it] = stamp;
        distinct++;
      }
    }
    let hits = 0;
    let dcg = 0;
    const base = row * k;
    for (let i = 0; i < k; i++) {
      const it = topK[base + i]!;
      if (it === -1) continue;
      if (!(it >= 0 && it < numItems)) {
        throw new InvalidArgumentError(
          `${where}: topK[${base + i}] (${it}) is not an item id in [0, ${numItems}) or -1`,
        );
      }
      if (mark[it] === stamp) {
        mark[it] = 0;
        hits++;
        dcg += discount[i]!;
      }
    }
    const capped = hits / Math.min(k, distinct);
    recall += recallDenominator === 'test' ? hits / distinct : capped;
    recallCapped += capped;
    precision += hits / k;
    ndcg += dcg / idcg[Math.min(k, distinct)]!;
    if (hits > 0) hitRate++;
    counted++;
  }
  if (counted === 0) {
    throw new InvalidArgumentError(`${where}: none of the ${rows} evaluated users has a test item; nothing to average`);
  }
  return {
    recall: recall / counted,
    recallCapped: recallCapped / counted,
    ndcg: ndcg / counted,
    precision: precision / counted,
    hitRate: hitRate / counted,
    users: counted,
  };
}

function checkBinaryTask(where: string, labels: Float32Array, scores: ArrayLike<number>, name: string): void {
  if (labels.length !== scores.length) {
    throw new InvalidArgumentError(
      `${where}: labels (${labels.length}) and ${name} (${scores.length}) differ in length`,
    );
  }
  if (labels.length === 0) throw new InvalidArgumentError(`${where}: no samples`);
}

/**
 * Exact ROC AUC with ties counted as half (the Mann-Whitney U statistic with average ranks),
 * in O(n log n): positive and negative scores are sorted separately and merged.
 *
 * @param labels 0/1 per sample
 * @param scores any monotone score (logit or probability); NaN is an error
 */
export function auc(labels: Float32Array, scores: Float32Array | Float64Array): number {
  const where = 'core/auc';
  checkBinaryTask(where, labels, scores, 'scores');
  let nPos = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y === 1) nPos++;
    else if (y !== 0) throw new InvalidArgumentError(`${where}: labels[${i}] (${y}) is not 0 or 1`);
  }
  const nNeg = labels.length - nPos;
  if (nPos === 0 || nNeg === 0) {
    throw new InvalidArgumentError(
      `${where}: only one class present (${nPos} positives, ${nNeg} negatives); AUC needs both`,
    );
  }
  const pos = new Float64Array(nPos);
  const neg = new Float64Array(nNeg);
  let p = 0;
  let q = 0;
  for (let i = 0; i < labels.length; i++) {
    const s = scores[i]!;
    if (Number.isNaN(s)) throw new InvalidArgumentError(`${where}: scores[${i}] is NaN`);
    if (labels[i] === 1) pos[p++] = s;
    else neg[q++] = s;
  }
  pos.sort();
  neg.sort();
  // For each run of equal positive scores: negatives strictly below count 1, equal ones 1/2.
  let below = 0; // negatives with score < current positive score
  let pairs = 0;
  let i = 0;
  while (i < nPos) {
    const s = pos[i]!;
    let run = 0;
    while (i < nPos && pos[i] === s) {
      run++;
      i++;
    }
    while (below < nNeg && neg[below]! < s) below++;
    let equal = 0;
    while (below + equal < nNeg && neg[below + equal] === s) equal++;
    pairs += run * (below + equal / 2);
  }
  return pairs / nPos / nNeg;
}

/**
 * Mean binary cross-entropy −[y ln p + (1 − y) ln(1 − p)] with p clipped to [eps, 1 − eps].
 *
 * @param labels 0/1 per sample (values in [0, 1] are accepted as soft labels)
 * @param probs predicted click probabilities
 * @param eps clipping bound (1e-7 as in Keras/FuxiCTR)
 */
export function logloss(labels: Float32Array, probs: Float32Array | Float64Array, eps = 1e-7): number {
  const where = 'core/logloss';
  checkBinaryTask(where, labels, probs, 'probs');
  if (!(eps > 0 && eps < 0.5)) throw new InvalidArgumentError(`${where}: eps (${eps}) must be in (0, 0.5)`);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y <= 1)) throw new InvalidArgumentError(`${where}: labels[${i}] (${y}) is not in [0, 1]`);
    const raw = probs[i]!;
    if (Number.isNaN(raw)) throw new InvalidArgumentError(`${where}: probs[${i}] is NaN`);
    const pr = Math.min(Math.max(raw, eps), 1 - eps);
    sum -= y * Math.log(pr) + (1 - y) * Math.log(1 - pr);
  }
  return sum / labels.length;
}
