import { InvalidArgumentError, type RecboleInteractions } from '@compactrec/core';

/**
 * Sequence CTR samples on typed arrays, the input of SDIM / DIN trainers.
 *
 * Item ids are 1-based everywhere in this shape (`candidates` and `histories`), so one embedding
 * table with row 0 reserved for padding serves both; user ids are 0-based dense ids.
 * Sample i's history is `histories[i*maxLength .. i*maxLength + lengths[i])`, oldest first and most
 * recent last; the rest of the row is 0 (padding at the end).
 */
export interface SequenceSamples {
  readonly numSamples: number;
  /** L, the row width of `histories`. */
  readonly maxLength: number;
  /** Users in the id space (userIds < numUsers). */
  readonly numUsers: number;
  /** Items in the id space; ids run 1 .. numItems (0 = padding). */
  readonly numItems: number;
  /** `[numSamples]` 0-based user id. */
  readonly userIds: Int32Array;
  /** `[numSamples]` 1-based candidate item id. */
  readonly candidates: Int32Array;
  /** `[numSamples]` 0/1 click label. */
  readonly labels: Float32Array;
  /** `[numSamples × maxLength]` 1-based item ids, 0 = padding. */
  readonly histories: Int32Array;
  /** `[numSamples]` valid history length, 0 .. maxLength. */
  readonly lengths: Int32Array;
  /**
   * Behaviour side feature, aligned with `histories`: `[numSamples × maxLength]` feedback ids
   * 1 .. numFeedback at valid positions, 0 = padding. Absent when behaviours carry no feedback.
   */
  readonly feedback?: Int32Array;
  /** Feedback ids run 1 .. numFeedback (0 or absent: no feedback). */
  readonly numFeedback?: number;
}

/** A train/test pair of {@link SequenceSamples} over one id space. */
export interface SequenceSplit {
  readonly train: SequenceSamples;
  readonly test: SequenceSamples;
}

/**
 * What each history behaviour carries besides its item: `none`; `rating`, the rating it got (feedback id =
 * the integer rating 1 .. max rating); `liked`, whether it was rated ≥ positiveRating (id 2) or not (id 1).
 */
export type BehaviourFeedback = 'none' | 'rating' | 'liked';

/** Every {@link BehaviourFeedback}. */
export const BEHAVIOUR_FEEDBACKS: readonly BehaviourFeedback[] = Object.freeze(['none', 'rating', 'liked']);

/** Options of {@link mlSequenceSamples}; every field is optional. */
export interface MlSequenceOptions {
  /** L: at most this many earlier items form the history. @default 50 */
  maxLength?: number;
  /** A user's first `minHistory` ratings only serve as history; each later rating is a sample. @default 10 */
  minHistory?: number;
  /** label = rating ≥ positiveRating. @default 4 */
  positiveRating?: number;
  /** Each user's last ⌈testFraction · samples⌉ samples (by time) go to the test split. @default 0.1 */
  testFraction?: number;
  /**
   * Feedback of each history behaviour stored in `feedback` (aligned with `histories`); the candidate
   * never has one (its rating is the label). @default 'none'
   */
  behaviourFeedback?: BehaviourFeedback;
}

/** Defaults of {@link MlSequenceOptions}. */
export const DEFAULT_ML_SEQUENCE_OPTIONS: Readonly<Required<MlSequenceOptions>> = Object.freeze({
  maxLength: 50,
  minHistory: 10,
  positiveRating: 4,
  testFraction: 0.1,
  behaviourFeedback: 'none' as BehaviourFeedback,
});

/**
 * Sequence CTR samples from a MovieLens-style rating log (e.g. `readRecboleInter` of ml-100k.inter):
 * each user's ratings sorted by timestamp (ties keep file order); every rating after the first
 * `minHistory` is a sample with label rating ≥ positiveRating, candidate = the rated item and
 * history = the up-to-L items rated before it. Split by time per user: the user's last
 * ⌈testFraction · n⌉ samples are test, so no test sample precedes a train sample of the same user.
 * With `behaviourFeedback` ≠ 'none' each history position also carries its rating (see {@link BehaviourFeedback}).
 */
export function mlSequenceSamples(inter: RecboleInteractions, options: MlSequenceOptions = {}): SequenceSplit {
  const o = { ...DEFAULT_ML_SEQUENCE_OPTIONS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  if (!BEHAVIOUR_FEEDBACKS.includes(o.behaviourFeedback)) {
    throw new InvalidArgumentError(
      `sdim/mlSequenceSamples: behaviourFeedback ('${String(o.behaviourFeedback)}') must be one of ${BEHAVIOUR_FEEDBACKS.join(', ')}`,
    );
  }
  if (!Number.isInteger(o.maxLength) || o.maxLength < 1) {
    throw new InvalidArgumentError(`sdim/mlSequenceSamples: maxLength (${o.maxLength}) must be a positive integer`);
  }
  if (!Number.isInteger(o.minHistory) || o.minHistory < 0) {
    throw new InvalidArgumentError(
      `sdim/mlSequenceSamples: minHistory (${o.minHistory}) must be a non-negative integer`,
    );
  }
  if (!(o.testFraction >= 0 && o.testFraction < 1)) {
    throw new InvalidArgumentError(`sdim/mlSequenceSamples: testFraction (${o.testFraction}) must be in [0, 1)`);
  }
  const { users, items, ratings, timestamps, numUsers, numItems, numRows } = inter;
  let numFeedback = 0;
  if (o.behaviourFeedback === 'liked') numFeedback = 2;
  else if (o.behaviourFeedback === 'rating') {
    for (let r = 0; r < numRows; r++) {
      const v = ratings[r]!;
      if (!(Number.isInteger(v) && v >= 1 && v <= 255)) {
        throw new InvalidArgumentError(
          `sdim/mlSequenceSamples: behaviourFeedback 'rating' needs integer ratings 1 .. 255; row ${r} has ${v} (use 'liked')`,
        );
      }
      if (v > numFeedback) numFeedback = v;
    }
  }
  // Group rows by user (counting sort), then sort each user's rows by (timestamp, row).
  const offsets = new Uint32Array(numUsers + 1);
  for (let r = 0; r < numRows; r++) offsets[users[r]! + 1]!++;
  for (let u = 0; u < numUsers; u++) offsets[u + 1]! += offsets[u]!;
  const order = new Int32Array(numRows);
  const cursor = offsets.slice(0, numUsers);
  for (let r = 0; r < numRows; r++) order[cursor[users[r]!]!++] = r;
  for (let u = 0; u < numUsers; u++) {
    const seg = order.subarray(offsets[u]!, offsets[u + 1]!);
    seg.sort((a, b) => timestamps[a]! - timestamps[b]! || a - b);
  }
  // Count samples per split.
  let nTrain = 0;
  let nTest = 0;
  for (let u = 0; u < numUsers; u++) {
    const n = Math.max(0, offsets[u + 1]! - offsets[u]! - o.minHistory);
    const t = testCount(o.testFraction, n);
    nTest += t;
    nTrain += n - t;
  }
  const L = o.maxLength;
  const train = allocSamples(nTrain, L, numUsers, numItems, numFeedback);
  const test = allocSamples(nTest, L, numUsers, numItems, numFeedback);
  let iTrain = 0;
  let iTest = 0;
  for (let u = 0; u < numUsers; u++) {
    const start = offsets[u]!;
    const count = offsets[u + 1]! - start;
    const n = Math.max(0, count - o.minHistory);
    const firstTest = n - testCount(o.testFraction, n);
    for (let k = 0; k < n; k++) {
      const pos = o.minHistory + k; // position of the sample's rating in the user's timeline
      const isTest = k >= firstTest;
      const out = isTest ? test : train;
      const i = isTest ? iTest++ : iTrain++;
      const row = order[start + pos]!;
      out.userIds[i] = u;
      out.candidates[i] = items[row]! + 1;
      out.labels[i] = ratings[row]! >= o.positiveRating ? 1 : 0;
      const from = Math.max(0, pos - L);
      out.lengths[i] = pos - from;
      for (let p = from; p < pos; p++) out.histories[i * L + p - from] = items[order[start + p]!]! + 1;
      const fb = out.feedback;
      if (fb !== undefined) {
        const liked = o.behaviourFeedback === 'liked';
        for (let p = from; p < pos; p++) {
          const rating = ratings[order[start + p]!]!;
          fb[i * L + p - from] = liked ? (rating >= o.positiveRating ? 2 : 1) : rating;
        }
      }
    }
  }
  return { train, test };
}

/** Zero-filled samples of the given size (for generators); `numFeedback` > 0 adds a zero `feedback` array. */
export function allocSamples(
  n: number,
  maxLength: number,
  numUsers: number,
  numItems: number,
  numFeedback = 0,
): SequenceSamples {
  const base = {
    numSamples: n,
    maxLength,
    numUsers,
    numItems,
    userIds: new Int32Array(n),
    candidates: new Int32Array(n),
    labels: new Float32Array(n),
    histories: new Int32Array(n * maxLength),
    lengths: new Int32Array(n),
  };
  return numFeedback > 0 ? { ...base, feedback: new Int32Array(n * maxLength), numFeedback } : base;
}

/**
 * Gathers the embeddings of a batch of samples for a layer's forward: `behaviours[b × L × dim]`
 * (padding rows zero), `candidates[b × dim]` and `lengths[b]`, from a table whose row i is item i
 * (1-based ids; row 0 = padding). Caller-owned outputs, no allocation.
 */
export function gatherSequenceBatch(
  samples: SequenceSamples,
  start: number,
  batchSize: number,
  table: Float32Array,
  dim: number,
  behaviours: Float32Array,
  candidates: Float32Array,
  lengths: Int32Array,
): void {
  const L = samples.maxLength;
  if (!Number.isInteger(start) || start < 0 || start + batchSize > samples.numSamples) {
    throw new InvalidArgumentError(
      `sdim/gatherSequenceBatch: samples ${start} .. ${start + batchSize} exceed numSamples (${samples.numSamples})`,
    );
  }
  if (table.length < (samples.numItems + 1) * dim) {
    throw new InvalidArgumentError(
      `sdim/gatherSequenceBatch: table has ${table.length} values; need (numItems + 1) × dim = ${(samples.numItems + 1) * dim}`,
    );
  }
  if (behaviours.length < batchSize * L * dim || candidates.length < batchSize * dim || lengths.length < batchSize) {
    throw new InvalidArgumentError(
      'sdim/gatherSequenceBatch: output buffers are smaller than batchSize × maxLength × dim',
    );
  }
  for (let b = 0; b < batchSize; b++) {
    const i = start + b;
    const len = samples.lengths[i]!;
    lengths[b] = len;
    const c = samples.candidates[i]! * dim;
    for (let d = 0; d < dim; d++) candidates[b * dim + d] = table[c + d]!;
    const row = b * L * dim;
    for (let j = 0; j < len; j++) {
      const src = samples.histories[i * L + j]! * dim;
      const dst = row + j * dim;
      for (let d = 0; d < dim; d++) behaviours[dst + d] = table[src + d]!;
    }
    behaviours.fill(0, row + len * dim, row + L * dim);
  }
}

/** ⌈fraction · n⌉ without float artefacts (0.1 · 30 is 3.0000000000000004 in float64, which must give 3). */
export function testCount(fraction: number, n: number): number {
  return Math.min(n, Math.ceil(fraction * n - 1e-9));
}
