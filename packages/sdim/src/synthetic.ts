import { deriveSeed, InvalidArgumentError, Rng } from '@compactrec/core';
import { allocSamples, type SequenceSplit, testCount } from './samples.js';

/** Options of {@link syntheticLongSequences}; every field is optional. */
export interface SyntheticSequenceOptions {
  /** Users. @default 500 */
  numUsers?: number;
  /** Items (ids 1 .. numItems). @default 10000 */
  numItems?: number;
  /** Item clusters ("topics"); each user is interested in 2–4 of them. @default 50 */
  numClusters?: number;
  /** Dimension of the planted item embeddings. @default 32 */
  dim?: number;
  /** L, history row width (up to 10^4 supported). @default 1024 */
  maxLength?: number;
  /** History lengths are uniform in [minLength, maxLength]. @default maxLength / 2 (rounded up) */
  minLength?: number;
  /** Fewest planted interests per user. @default 2 */
  minInterests?: number;
  /** Most planted interests per user. @default 4 */
  maxInterests?: number;
  /** Candidates (samples) per user; all share the user's history. @default 20 */
  samplesPerUser?: number;
  /** Probability that a history item is drawn uniformly instead of from an interest (candidates are always half/half). @default 0.2 */
  historyNoise?: number;
  /** Spread of items around their cluster centre (before normalising). @default 0.5 */
  clusterSpread?: number;
  /** Label logit = sharpness · maxCos + bias + N(0, noise²). @default 8 */
  sharpness?: number;
  /** @default -4 */
  bias?: number;
  /** @default 0.5 */
  noise?: number;
  /** Each user's last ⌈testFraction · samplesPerUser⌉ samples go to test. @default 0.2 */
  testFraction?: number;
  /** @default 0 */
  seed?: number;
}

/** Defaults of {@link SyntheticSequenceOptions} (`minLength` defaults to ⌈maxLength / 2⌉). */
export const DEFAULT_SYNTHETIC_SEQUENCE_OPTIONS: Readonly<Required<Omit<SyntheticSequenceOptions, 'minLength'>>> =
  Object.freeze({
    numUsers: 500,
    numItems: 10000,
    numClusters: 50,
    dim: 32,
    maxLength: 1024,
    minInterests: 2,
    maxInterests: 4,
    samplesPerUser: 20,
    historyNoise: 0.2,
    clusterSpread: 0.5,
    sharpness: 8,
    bias: -4,
    noise: 0.5,
    testFraction: 0.2,
    seed: 0,
  });

/** The planted ground truth with the samples (for tests and for initialising/evaluating models). */
export interface SyntheticSequences extends SequenceSplit {
  /** `[(numItems + 1) × dim]` unit item embeddings; row 0 (padding) is zero. */
  readonly itemEmbeddings: Float32Array;
  /** `[numItems + 1]` cluster of each item (−1 for row 0). */
  readonly itemClusters: Int32Array;
  /** `[numClusters × dim]` unit cluster centres. */
  readonly centres: Float32Array;
  /** Interests of user u: `userInterests[userInterestOffsets[u] .. userInterestOffsets[u+1])` (cluster ids). */
  readonly userInterests: Int32Array;
  readonly userInterestOffsets: Int32Array;
  readonly dim: number;
}

/**
 * A seeded long-sequence CTR task with a known answer: items are noisy copies of cluster centres;
 * each user has 2–4 interest clusters and a long history drawn from them (plus uniform noise).
 * Half of the candidates come from the user's interests, half uniformly; the label of a candidate
 * c is Bernoulli(sigmoid(sharpness · max_i cos(c, centre_i) + bias + N(0, noise²))). A model that
 * retrieves the right part of a long history can reach the Bayes AUC; averaging cannot.
 * Memory: histories are numUsers · samplesPerUser · maxLength · 4 bytes.
 */
export function syntheticLongSequences(options: SyntheticSequenceOptions = {}): SyntheticSequences {
  const o: Required<SyntheticSequenceOptions> = {
    ...DEFAULT_SYNTHETIC_SEQUENCE_OPTIONS,
    minLength: Math.ceil((options.maxLength ?? DEFAULT_SYNTHETIC_SEQUENCE_OPTIONS.maxLength) / 2),
  };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, number>)[k] = v;
  const ints: (keyof SyntheticSequenceOptions)[] = [
    'numUsers',
    'numItems',
    'numClusters',
    'dim',
    'maxLength',
    'minInterests',
    'maxInterests',
    'samplesPerUser',
  ];
  for (const k of ints) {
    if (!Number.isInteger(o[k]) || (o[k] as number) < 1) {
      throw new InvalidArgumentError(`sdim/syntheticLongSequences: ${k} (${String(o[k])}) must be a positive integer`);
    }
  }
  if (!Number.isInteger(o.minLength) || o.minLength < 0 || o.minLength > o.maxLength) {
    throw new InvalidArgumentError(
      `sdim/syntheticLongSequences: minLength (${o.minLength}) must be an integer in [0, maxLength = ${o.maxLength}]`,
    );
  }
  if (o.minInterests > o.maxInterests || o.maxInterests > o.numClusters) {
    throw new InvalidArgumentError(
      `sdim/syntheticLongSequences: need minInterests (${o.minInterests}) <= maxInterests (${o.maxInterests}) <= numClusters (${o.numClusters})`,
    );
  }
  if (o.numItems < o.numClusters) {
    throw new InvalidArgumentError(
      `sdim/syntheticLongSequences: numItems (${o.numItems}) must be at least numClusters (${o.numClusters})`,
    );
  }
  if (!(o.historyNoise >= 0 && o.historyNoise <= 1) || !(o.testFraction >= 0 && o.testFraction < 1)) {
    throw new InvalidArgumentError(
      `sdim/syntheticLongSequences: historyNoise (${o.historyNoise}) must be in [0, 1] and testFraction (${o.testFraction}) in [0, 1)`,
    );
  }
  const { numUsers, numItems, numClusters: C, dim, maxLength: L } = o;
  const rng = new Rng(deriveSeed(o.seed, 'sdim/synthetic'));

  // Cluster centres and items (item i in cluster (i−1) mod C, so every cluster is non-empty).
  const centres = new Float32Array(C * dim);
  rng.fillNormal(centres);
  for (let c = 0; c < C; c++) normalize(centres, c * dim, dim);
  const itemEmbeddings = new Float32Array((numItems + 1) * dim);
  const itemClusters = new Int32Array(numItems + 1);
  itemClusters[0] = -1;
  const spread = o.clusterSpread / Math.sqrt(dim);
  for (let i = 1; i <= numItems; i++) {
    const c = (i - 1) % C;
    itemClusters[i] = c;
    for (let d = 0; d < dim; d++) itemEmbeddings[i * dim + d] = centres[c * dim + d]! + rng.normal() * spread;
    normalize(itemEmbeddings, i * dim, dim);
  }
  const perCluster = Math.floor(numItems / C); // items i = c + 1 + k·C for k < perCluster all exist
  const itemOf = (c: number): number => c + 1 + rng.nextInt(perCluster) * C;

  // Users' interests.
  const userInterestOffsets = new Int32Array(numUsers + 1);
  const interestList: number[] = [];
  const chosen = new Int32Array(C);
  for (let u = 0; u < numUsers; u++) {
    const k = o.minInterests + rng.nextInt(o.maxInterests - o.minInterests + 1);
    for (let c = 0; c < C; c++) chosen[c] = c;
    for (let t = 0; t < k; t++) {
      const j = t + rng.nextInt(C - t);
      const tmp = chosen[t]!;
      chosen[t] = chosen[j]!;
      chosen[j] = tmp;
      interestList.push(chosen[t]!);
    }
    userInterestOffsets[u + 1] = interestList.length;
  }
  const userInterests = Int32Array.from(interestList);

  const P = o.samplesPerUser;
  const nTestPerUser = testCount(o.testFraction, P);
  const train = allocSamples(numUsers * (P - nTestPerUser), L, numUsers, numItems);
  const test = allocSamples(numUsers * nTestPerUser, L, numUsers, numItems);
  const history = new Int32Array(L);
  let iTrain = 0;
  let iTest = 0;
  for (let u = 0; u < numUsers; u++) {
    const i0 = userInterestOffsets[u]!;
    const k = userInterestOffsets[u + 1]! - i0;
    const len = o.minLength + rng.nextInt(L - o.minLength + 1);
    for (let j = 0; j < len; j++) {
      history[j] =
        rng.next() < o.historyNoise ? 1 + rng.nextInt(numItems) : itemOf(userInterests[i0 + rng.nextInt(k)]!);
    }
    for (let p = 0; p < P; p++) {
      const cand = rng.next() < 0.5 ? itemOf(userInterests[i0 + rng.nextInt(k)]!) : 1 + rng.nextInt(numItems);
      let maxCos = -1;
      for (let t = 0; t < k; t++) {
        const c = userInterests[i0 + t]!;
        let cos = 0;
        for (let d = 0; d < dim; d++) cos += itemEmbeddings[cand * dim + d]! * centres[c * dim + d]!;
        if (cos > maxCos) maxCos = cos;
      }
      const logit = o.sharpness * maxCos + o.bias + o.noise * rng.normal();
      const label = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
      const isTest = p >= P - nTestPerUser;
      const out = isTest ? test : train;
      const i = isTest ? iTest++ : iTrain++;
      out.userIds[i] = u;
      out.candidates[i] = cand;
      out.labels[i] = label;
      out.lengths[i] = len;
      out.histories.set(history.subarray(0, len), i * L);
    }
  }
  return {
    train,
    test,
    itemEmbeddings,
    itemClusters,
    centres,
    userInterests,
    userInterestOffsets,
    dim,
  };
}

function normalize(a: Float32Array, o: number, dim: number): void {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[o + d]! * a[o + d]!;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let d = 0; d < dim; d++) a[o + d]! *= inv;
}
