import { deriveSeed, type Interactions, InvalidArgumentError, type RetrievalDataset, Rng } from '@compactrec/core';

/** A retrieval dataset with a validation split carved from (or held out of) its training data. */
export interface ValidatedRetrievalData {
  /** What models train on: the training interactions without the validation ones. */
  readonly train: Interactions;
  /** Validation positives, held out of `train`. */
  readonly validation: Interactions;
  /** The test split (unchanged). */
  readonly test: Interactions;
  /**
   * Items masked when ranking for the test split: `train` ∪ `validation` (the validation items
   * are known positives of the user, not candidates).
   */
  readonly testMask: Interactions;
}

/**
 * A seeded per-user holdout of training items for validation: each user with at least two training
 * items gives ⌈fraction · n⌉ of them (at most n − 1, so every such user keeps a training item),
 * drawn uniformly without replacement by a generator derived from `seed`. Pure on the CSR; the
 * same seed gives the same split.
 */
export function holdoutValidation(
  train: Interactions,
  fraction: number,
  seed: number,
): { readonly train: Interactions; readonly validation: Interactions } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new InvalidArgumentError(`harness/holdoutValidation: fraction (${fraction}) must be in (0, 1)`);
  }
  const U = train.numUsers;
  const rng = new Rng(deriveSeed(seed, 'validation-holdout'));
  const n = train.items.length;
  const keepOffsets = new Uint32Array(U + 1);
  const validOffsets = new Uint32Array(U + 1);
  const keepItems = new Int32Array(n);
  const validItems = new Int32Array(n);
  const row = new Int32Array(Math.max(1, maxRow(train)));
  let nk = 0;
  let nv = 0;
  for (let u = 0; u < U; u++) {
    const lo = train.offsets[u]!;
    const len = train.offsets[u + 1]! - lo;
    for (let j = 0; j < len; j++) row[j] = train.items[lo + j]!;
    const take = len >= 2 ? Math.min(len - 1, Math.ceil(fraction * len)) : 0;
    // Partial Fisher–Yates: the first `take` slots become a uniform sample without replacement.
    for (let j = 0; j < take; j++) {
      const r = j + rng.nextInt(len - j);
      const t = row[j]!;
      row[j] = row[r]!;
      row[r] = t;
    }
    for (let j = 0; j < take; j++) validItems[nv++] = row[j]!;
    for (let j = take; j < len; j++) keepItems[nk++] = row[j]!;
    keepOffsets[u + 1] = nk;
    validOffsets[u + 1] = nv;
  }
  return {
    train: { numUsers: U, numItems: train.numItems, offsets: keepOffsets, items: keepItems.slice(0, nk) },
    validation: { numUsers: U, numItems: train.numItems, offsets: validOffsets, items: validItems.slice(0, nv) },
  };
}

function maxRow(x: Interactions): number {
  let m = 0;
  for (let u = 0; u < x.numUsers; u++) m = Math.max(m, x.offsets[u + 1]! - x.offsets[u]!);
  return m;
}

/** Per-user union of two interaction sets over the same ID space (`a`'s items, then `b`'s). */
export function unionInteractions(a: Interactions, b: Interactions): Interactions {
  if (a.numUsers !== b.numUsers || a.numItems !== b.numItems) {
    throw new InvalidArgumentError(
      `harness/unionInteractions: ID spaces differ (${a.numUsers}×${a.numItems} vs ${b.numUsers}×${b.numItems})`,
    );
  }
  const offsets = new Uint32Array(a.numUsers + 1);
  const items = new Int32Array(a.items.length + b.items.length);
  let p = 0;
  for (let u = 0; u < a.numUsers; u++) {
    for (let j = a.offsets[u]!; j < a.offsets[u + 1]!; j++) items[p++] = a.items[j]!;
    for (let j = b.offsets[u]!; j < b.offsets[u + 1]!; j++) items[p++] = b.items[j]!;
    offsets[u + 1] = p;
  }
  return { numUsers: a.numUsers, numItems: a.numItems, offsets, items };
}

/**
 * The validation protocol's view of a dataset: a sequential leave-one-out set keeps its own
 * validation (the second-to-last item, already out of training); any other set gets a seeded
 * holdout of `fraction` of each user's training items ({@link holdoutValidation}).
 */
export function validationSplit(dataset: RetrievalDataset, fraction: number, seed: number): ValidatedRetrievalData {
  const own = (dataset as RetrievalDataset & { validation?: Interactions }).validation;
  const { train, validation } = own
    ? { train: dataset.train, validation: own }
    : holdoutValidation(dataset.train, fraction, seed);
  return { train, validation, test: dataset.test, testMask: unionInteractions(train, validation) };
}
