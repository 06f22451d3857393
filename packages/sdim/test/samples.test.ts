import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type RecboleInteractions, readRecboleInter } from '@compactrec/core';
import {
  gatherSequenceBatch,
  mlSequenceSamples,
  SdimLayer,
  type SequenceSamples,
  SimHasher,
  syntheticLongSequences,
} from '@compactrec/sdim';
import { beforeAll, describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';

const ML100K = fileURLToPath(new URL('../../../../shared/datasets/ml-100k/ml-100k.inter', import.meta.url));

function tiny(): RecboleInteractions {
  // user 0: items 0..13 at times 100..113 but written in reverse order; user 1: 3 ratings only.
  const users: number[] = [];
  const items: number[] = [];
  const ratings: number[] = [];
  const times: number[] = [];
  for (let k = 13; k >= 0; k--) {
    users.push(0);
    items.push(k);
    ratings.push((k % 5) + 1);
    times.push(100 + k);
  }
  for (let k = 0; k < 3; k++) {
    users.push(1);
    items.push(k);
    ratings.push(5);
    times.push(k);
  }
  return {
    users: Int32Array.from(users),
    items: Int32Array.from(items),
    ratings: Float32Array.from(ratings),
    timestamps: Float64Array.from(times),
    numUsers: 2,
    numItems: 14,
    userTokens: ['a', 'b'],
    itemTokens: Array.from({ length: 14 }, (_, i) => String(i)),
    numRows: users.length,
  };
}

describe('mlSequenceSamples', () => {
  it('rejects bad options', () => {
    expect(() => mlSequenceSamples(tiny(), { maxLength: 0 })).toThrow(InvalidArgumentError);
    expect(() => mlSequenceSamples(tiny(), { testFraction: 1 })).toThrow(InvalidArgumentError);
    expect(() => mlSequenceSamples(tiny(), { minHistory: -1 })).toThrow(InvalidArgumentError);
  });

  it('sorts by time, builds 1-based right-padded histories and splits each user by time', () => {
    const { train, test } = mlSequenceSamples(tiny(), { maxLength: 5, testFraction: 0.5 });
    // user 0 has 14 ratings → samples for positions 10..13; user 1 has none.
    expect(train.numSamples + test.numSamples).toBe(4);
    expect(Array.from(train.candidates)).toEqual([11, 12]); // items 10, 11 (1-based)
    expect(Array.from(test.candidates)).toEqual([13, 14]);
    expect(Array.from(train.histories.subarray(0, 5))).toEqual([6, 7, 8, 9, 10]); // most recent last
    expect(Array.from(train.lengths)).toEqual([5, 5]);
    expect(Array.from(train.labels)).toEqual([0, 0]); // ratings 1, 2
    expect(Array.from(test.labels)).toEqual([0, 1]); // ratings 3, 4
    const long = mlSequenceSamples(tiny(), { maxLength: 20, testFraction: 0 });
    expect(Array.from(long.train.lengths)).toEqual([10, 11, 12, 13]);
    expect(Array.from(long.train.histories.subarray(0, 20))).toEqual([
      ...Array.from({ length: 10 }, (_, i) => i + 1),
      ...new Array(10).fill(0),
    ]);
  });

  it('attaches each behaviour’s rating (or liked flag) aligned with the history positions', () => {
    expect(() => mlSequenceSamples(tiny(), { behaviourFeedback: 'stars' as 'none' })).toThrow(InvalidArgumentError);
    const none = mlSequenceSamples(tiny(), { maxLength: 20, testFraction: 0 });
    expect(none.train.feedback).toBeUndefined();
    // tiny(): item k is rated (k % 5) + 1.
    const rated = mlSequenceSamples(tiny(), { maxLength: 20, testFraction: 0, behaviourFeedback: 'rating' });
    const liked = mlSequenceSamples(tiny(), { maxLength: 20, testFraction: 0, behaviourFeedback: 'liked' });
    expect(rated.train.numFeedback).toBe(5);
    expect(liked.train.numFeedback).toBe(2);
    expect(rated.train.histories).toEqual(none.train.histories);
    const t = rated.train;
    for (let i = 0; i < t.numSamples; i++) {
      for (let j = 0; j < t.maxLength; j++) {
        const item = t.histories[i * 20 + j]!;
        const want = item === 0 ? 0 : ((item - 1) % 5) + 1;
        expect(t.feedback![i * 20 + j]).toBe(want);
        expect(liked.train.feedback![i * 20 + j]).toBe(item === 0 ? 0 : want >= 4 ? 2 : 1);
      }
    }
    const fractional = { ...tiny(), ratings: Float32Array.from(tiny().ratings, (r) => r + 0.5) };
    expect(() => mlSequenceSamples(fractional, { behaviourFeedback: 'rating' })).toThrow(InvalidArgumentError);
  });

  describe.skipIf(missingData('ml-100k/ml-100k.inter'))(`on MovieLens-100K (${DATASETS_REASON})`, () => {
    let inter: RecboleInteractions;
    let train: SequenceSamples;
    let test: SequenceSamples;
    beforeAll(async () => {
      inter = await readRecboleInter(ML100K);
      ({ train, test } = mlSequenceSamples(inter));
    });

    it('makes one sample per rating after each user’s 10th, ~10% of them test', () => {
      expect(train.numSamples + test.numSamples).toBe(100_000 - 943 * 10); // every ML-100K user has ≥ 20 ratings
      expect(test.numSamples).toBe(9496); // Σ_u ⌈0.1 · (n_u − 10)⌉, computed independently
      expect(test.numSamples / (train.numSamples + test.numSamples)).toBeGreaterThan(0.1);
      expect(test.numSamples / (train.numSamples + test.numSamples)).toBeLessThan(0.12);
      const positives = [...train.labels].filter((l) => l === 1).length / train.numSamples;
      expect(positives).toBeGreaterThan(0.45);
      expect(positives).toBeLessThan(0.65);
      for (const s of [train, test]) {
        for (let i = 0; i < s.numSamples; i++) {
          const len = s.lengths[i]!;
          if (len < 10 || len > 50) throw new Error(`sample ${i}: length ${len} outside [10, 50]`);
          for (let j = 0; j < 50; j++) {
            const v = s.histories[i * 50 + j]!;
            if (j < len !== v > 0) throw new Error(`sample ${i}: history slot ${j} = ${v} with length ${len}`);
            if (v > inter.numItems) throw new Error(`sample ${i}: item ${v} out of range`);
          }
        }
      }
    });

    it('gives each history position the rating its user gave that item', () => {
      const split = mlSequenceSamples(inter, { maxLength: 64, behaviourFeedback: 'rating' });
      const rating = new Map<number, number>();
      for (let r = 0; r < inter.numRows; r++) rating.set(inter.users[r]! * 4096 + inter.items[r]!, inter.ratings[r]!);
      for (const s of [split.train, split.test]) {
        expect(s.numFeedback).toBe(5);
        for (let i = 0; i < s.numSamples; i += 97) {
          const u = s.userIds[i]!;
          for (let j = 0; j < 64; j++) {
            const item = s.histories[i * 64 + j]!;
            if (j >= s.lengths[i]!) {
              expect(item).toBe(0);
              expect(s.feedback![i * 64 + j]).toBe(0);
            } else expect(s.feedback![i * 64 + j]).toBe(rating.get(u * 4096 + item - 1));
          }
        }
      }
    });

    it('never puts a user’s test sample before one of their train samples', () => {
      // The test sample's history contains the train candidates that precede it: check the last train sample of each user.
      const lastTrain = new Int32Array(inter.numUsers).fill(-1);
      for (let i = 0; i < train.numSamples; i++) lastTrain[train.userIds[i]!] = i;
      const firstTestSeen = new Uint8Array(inter.numUsers);
      let checked = 0;
      for (let i = 0; i < test.numSamples; i++) {
        const u = test.userIds[i]!;
        if (firstTestSeen[u]) continue;
        firstTestSeen[u] = 1;
        const t = lastTrain[u]!;
        expect(t).toBeGreaterThanOrEqual(0);
        // the first test sample's most recent history item is the last train sample's candidate
        expect(test.histories[i * 50 + test.lengths[i]! - 1]).toBe(train.candidates[t]);
        checked++;
      }
      expect(checked).toBe(943);
    });
  });
});

describe('syntheticLongSequences', () => {
  it('rejects bad options', () => {
    expect(() => syntheticLongSequences({ numUsers: 0 })).toThrow(InvalidArgumentError);
    expect(() => syntheticLongSequences({ maxLength: 8, minLength: 9 })).toThrow(InvalidArgumentError);
    expect(() => syntheticLongSequences({ numClusters: 3, maxInterests: 4 })).toThrow(InvalidArgumentError);
  });

  it('is seeded and plants 2-4 interests that the labels follow', () => {
    const opts = {
      numUsers: 60,
      numItems: 2000,
      numClusters: 20,
      dim: 16,
      maxLength: 10_000,
      samplesPerUser: 10,
      seed: 5,
    };
    const a = syntheticLongSequences(opts);
    const b = syntheticLongSequences(opts);
    expect(Buffer.from(b.train.histories.buffer).equals(Buffer.from(a.train.histories.buffer))).toBe(true); // fast on 4.8M ints
    expect(b.test.labels).toEqual(a.test.labels);
    expect(a.train.numSamples).toBe(60 * 8);
    expect(a.test.numSamples).toBe(60 * 2);
    expect(a.train.histories.length).toBe(60 * 8 * 10_000);
    for (let u = 0; u < 60; u++) {
      const k = a.userInterestOffsets[u + 1]! - a.userInterestOffsets[u]!;
      expect(k >= 2 && k <= 4).toBe(true);
    }
    // Candidates inside the user's interests are clicked far more often than others.
    const rate = [0, 0];
    const n = [0, 0];
    for (const s of [a.train, a.test]) {
      for (let i = 0; i < s.numSamples; i++) {
        const u = s.userIds[i]!;
        const mine = a.userInterests
          .subarray(a.userInterestOffsets[u]!, a.userInterestOffsets[u + 1]!)
          .includes(a.itemClusters[s.candidates[i]!]!);
        rate[mine ? 1 : 0]! += s.labels[i]!;
        n[mine ? 1 : 0]!++;
        expect(s.lengths[i]).toBeGreaterThanOrEqual(5000);
      }
    }
    expect(rate[1]! / n[1]!).toBeGreaterThan(0.8);
    expect(rate[0]! / n[0]!).toBeLessThan(0.2);
  });

  it('feeds the SDIM layer through gatherSequenceBatch, whose interest points at the right cluster', () => {
    const dim = 16;
    const data = syntheticLongSequences({
      numUsers: 20,
      numItems: 1000,
      numClusters: 10,
      dim,
      maxLength: 300,
      seed: 2,
    });
    const B = 16;
    const L = 300;
    const beh = new Float32Array(B * L * dim);
    const cand = new Float32Array(B * dim);
    const len = new Int32Array(B);
    gatherSequenceBatch(data.train, 0, B, data.itemEmbeddings, dim, beh, cand, len);
    const layer = new SdimLayer(new SimHasher({ dim, seed: 1 }));
    const out = new Float32Array(B * dim);
    layer.forward(beh, len, cand, B, L, out);
    // With a clicked candidate from the user's interests, the interest is close to that candidate.
    let sim = 0;
    let count = 0;
    for (let b = 0; b < B; b++) {
      if (data.train.labels[b] !== 1) continue;
      let c = 0;
      let n = 0;
      for (let d = 0; d < dim; d++) {
        c += out[b * dim + d]! * cand[b * dim + d]!;
        n += out[b * dim + d]! ** 2;
      }
      sim += c / Math.sqrt(n);
      count++;
    }
    expect(count).toBeGreaterThan(3);
    expect(sim / count).toBeGreaterThan(0.7);
    expect(() =>
      gatherSequenceBatch(data.train, data.train.numSamples - 1, 2, data.itemEmbeddings, dim, beh, cand, len),
    ).toThrow(InvalidArgumentError);
  });
});
