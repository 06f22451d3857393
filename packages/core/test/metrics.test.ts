import { auc, type Interactions, InvalidArgumentError, logloss, Rng, rankingMetrics } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

/** CSR test set from per-user item lists. */
function csr(rows: number[][], numItems: number): Interactions {
  const offsets = new Uint32Array(rows.length + 1);
  rows.forEach((r, u) => {
    offsets[u + 1] = offsets[u]! + r.length;
  });
  return { numUsers: rows.length, numItems, offsets, items: Int32Array.from(rows.flat()) };
}

// user 0: test {1,2,3}; user 1: none (skipped); user 2: test {5}.
const TEST = csr([[1, 2, 3], [], [5]], 10);
const TOPK = Int32Array.from([1, 4, 3, /* u1 */ 0, 1, 2, /* u2 */ 7, 5, -1]);

describe('rankingMetrics', () => {
  it('rejects bad arguments', () => {
    expect(() => rankingMetrics(TOPK, 0, TEST)).toThrow(InvalidArgumentError);
    expect(() => rankingMetrics(TOPK.subarray(1), 3, TEST)).toThrow(InvalidArgumentError);
    expect(() => rankingMetrics(Int32Array.from([10, 0, 0, 0, 0, 0, 0, 0, 0]), 3, TEST)).toThrow(InvalidArgumentError);
    expect(() => rankingMetrics(TOPK.subarray(0, 3), 3, TEST, { users: Int32Array.of(3) })).toThrow(
      InvalidArgumentError,
    );
    expect(() => rankingMetrics(TOPK.subarray(0, 3), 3, TEST, { users: Int32Array.of(1) })).toThrow(
      InvalidArgumentError,
    );
    expect(() => rankingMetrics(TOPK, 3, TEST, { recallDenominator: 'min' as unknown as 'test' })).toThrow(
      InvalidArgumentError,
    );
  });

  it('matches hand-computed LightGCN values', () => {
    // u0: hits at ranks 0 and 2 → recall 2/3, precision 2/3, DCG 1 + 1/2, IDCG 1 + 1/log2 3 + 1/2.
    // u2: hit at rank 1 → recall 1, precision 1/3, DCG 1/log2 3, IDCG 1.
    const m = rankingMetrics(TOPK, 3, TEST);
    const l3 = 1 / Math.log2(3);
    expect(m.users).toBe(2);
    expect(m.recall).toBeCloseTo((2 / 3 + 1) / 2, 12);
    expect(m.precision).toBeCloseTo(0.5, 12);
    expect(m.ndcg).toBeCloseTo((1.5 / (1.5 + l3) + l3) / 2, 12);
    expect(m.ndcg).toBeCloseTo(0.6674239213, 9);
    expect(m.hitRate).toBe(1);
  });

  it('evaluates a subset of users given by options.users (row i = users[i])', () => {
    const sub = Int32Array.from([7, 5, -1, 1, 4, 3]);
    const m = rankingMetrics(sub, 3, TEST, { users: Int32Array.of(2, 0) });
    expect(m).toEqual(rankingMetrics(TOPK, 3, TEST));
    const only2 = rankingMetrics(sub.subarray(0, 3), 3, TEST, { users: Int32Array.of(2) });
    expect(only2).toEqual({
      recall: 1,
      recallCapped: 1,
      precision: 1 / 3,
      ndcg: 1 / Math.log2(3),
      hitRate: 1,
      users: 1,
    });
  });

  it('caps the recall denominator at k on request, counts a repeated item once, and scores misses as 0', () => {
    const test = csr([[0, 1, 2, 3, 4], [6]], 8);
    const top = Int32Array.from([4, 0, /* u1 */ 7, 7]);
    const lg = rankingMetrics(top, 2, test);
    expect(lg.recall).toBeCloseTo(2 / 5 / 2, 12);
    expect(lg.hitRate).toBe(0.5);
    expect(lg.ndcg).toBeCloseTo(0.5, 12); // u0 perfect, u1 zero
    expect(rankingMetrics(top, 2, test, { recallDenominator: 'capped' }).recall).toBeCloseTo(0.5, 12);
    // Both conventions come from one ranking: recallCapped ignores recallDenominator.
    expect(lg.recallCapped).toBeCloseTo(0.5, 12);
    expect(rankingMetrics(top, 2, test, { recallDenominator: 'capped' }).recallCapped).toBeCloseTo(0.5, 12);
    const dup = rankingMetrics(Int32Array.from([1, 1, 1, 1, 1, 1, 5, 5, 5]), 3, TEST);
    expect(dup.precision).toBeCloseTo((1 / 3 + 1 / 3) / 2, 12);
  });

  it('is 1 everywhere for a perfect ranking when |test| >= k', () => {
    const test = csr(
      [
        [3, 1, 2],
        [0, 4],
      ],
      5,
    );
    const m = rankingMetrics(Int32Array.from([1, 2, 4, 0]), 2, test, { recallDenominator: 'capped' });
    expect(m).toEqual({ recall: 1, recallCapped: 1, ndcg: 1, precision: 1, hitRate: 1, users: 2 });
  });

  it('needs at least one user with test items', () => {
    expect(() => rankingMetrics(Int32Array.from([0, 1, 2]), 3, TEST, { users: Int32Array.of(1) })).toThrow(
      InvalidArgumentError,
    );
  });
});

/** O(n²) Mann-Whitney reference: pairs ordered correctly + half the ties, over all pos × neg pairs. */
function bruteAuc(labels: Float32Array, scores: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      den++;
      if (scores[i]! > scores[j]!) num++;
      else if (scores[i] === scores[j]) num += 0.5;
    }
  }
  return num / den;
}

describe('auc', () => {
  it('rejects bad input', () => {
    expect(() => auc(Float32Array.of(1, 0), Float32Array.of(1))).toThrow(InvalidArgumentError);
    expect(() => auc(Float32Array.of(1, 1), Float32Array.of(1, 2))).toThrow(InvalidArgumentError);
    expect(() => auc(Float32Array.of(0, 0), Float32Array.of(1, 2))).toThrow(InvalidArgumentError);
    expect(() => auc(Float32Array.of(1, 2), Float32Array.of(1, 2))).toThrow(InvalidArgumentError);
    expect(() => auc(Float32Array.of(1, 0), Float32Array.of(Number.NaN, 2))).toThrow(InvalidArgumentError);
    expect(() => auc(new Float32Array(0), new Float32Array(0))).toThrow(InvalidArgumentError);
  });

  it('matches a hand-computed value with ties', () => {
    // pos {0.9, 0.3, 0.1}, neg {0.3, 0.8}: 0.9 beats 2, 0.3 ties 1 (0.5), 0.1 beats 0 → 2.5 / 6.
    expect(auc(Float32Array.of(1, 0, 1, 0, 1), Float64Array.of(0.9, 0.3, 0.3, 0.8, 0.1))).toBeCloseTo(2.5 / 6, 15);
    expect(auc(Float32Array.of(1, 0, 1, 0), Float32Array.of(2, 1, 3, 0))).toBe(1);
    expect(auc(Float32Array.of(1, 0, 1, 0), Float32Array.of(0, 1, -3, 5))).toBe(0);
    expect(auc(Float32Array.of(1, 0, 1, 0, 0), Float32Array.of(7, 7, 7, 7, 7))).toBe(0.5);
  });

  it('equals the O(n²) pair count on random heavily tied data', () => {
    const rng = new Rng(7);
    const n = 700;
    const labels = new Float32Array(n);
    const scores = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = rng.next() < 0.3 ? 1 : 0;
      scores[i] = Math.round(rng.normal() * 4) / 4 + labels[i]! * 0.5; // few distinct values → many ties
    }
    expect(auc(labels, scores)).toBeCloseTo(bruteAuc(labels, scores), 12);
  });
});

describe('logloss', () => {
  it('rejects bad input', () => {
    expect(() => logloss(Float32Array.of(1), Float32Array.of(0.5, 0.5))).toThrow(InvalidArgumentError);
    expect(() => logloss(Float32Array.of(2), Float32Array.of(0.5))).toThrow(InvalidArgumentError);
    expect(() => logloss(Float32Array.of(1), Float32Array.of(Number.NaN))).toThrow(InvalidArgumentError);
    expect(() => logloss(Float32Array.of(1), Float32Array.of(0.5), 0)).toThrow(InvalidArgumentError);
  });

  it('matches hand-computed values and clips at eps', () => {
    expect(logloss(Float32Array.of(1, 0), Float64Array.of(0.8, 0.4))).toBeCloseTo(
      -(Math.log(0.8) + Math.log(0.6)) / 2,
      12,
    );
    expect(logloss(Float32Array.of(1, 0), Float64Array.of(0.8, 0.4))).toBeCloseTo(0.3669845875, 9);
    expect(logloss(Float32Array.of(0), Float64Array.of(1))).toBeCloseTo(-Math.log(1 - (1 - 1e-7)), 12); // ≈ 16.118
    expect(logloss(Float32Array.of(1), Float64Array.of(0))).toBeCloseTo(16.11809565, 6);
    expect(logloss(Float32Array.of(1), Float64Array.of(1), 1e-3)).toBeCloseTo(-Math.log(1 - 1e-3), 12);
  });
});
