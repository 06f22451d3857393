import { basename, extname } from 'node:path';
import type { Interactions, RetrievalDataset } from '../data.js';
import { DataFormatError, InvalidArgumentError } from '../errors.js';
import { readSequencesFile } from './interactions.js';

/** A leave-one-out retrieval split of behaviour sequences, with its validation interactions. */
export interface SequentialLooDataset extends RetrievalDataset {
  /** The second-to-last item of every user with at least `minLength` items (one per such user). */
  readonly validation: Interactions;
  /** Users whose whole sequence stayed in training (shorter than `minLength`). */
  readonly shortUsers: number;
}

/** Options of {@link readSequentialLooDataset}; every field is optional. */
export interface SequentialLooOptions {
  /**
   * A user needs at least this many items to give a test and a validation item; shorter
   * sequences stay whole in training (SASRec's rule). At least 3. @default 3
   */
  minLength?: number;
  /** Name for reports. @default the file's base name without extension (e.g. `Beauty`) */
  name?: string;
}

/** Defaults of {@link SequentialLooOptions}. */
export const DEFAULT_SEQUENTIAL_LOO_OPTIONS: Readonly<Required<Pick<SequentialLooOptions, 'minLength'>>> =
  Object.freeze({ minLength: 3 });

/**
 * Reads a sequential dataset and splits it leave-one-out: each user's last item is the test item,
 * the second-to-last the validation item, the rest training (the SASRec / S3Rec protocol).
 * Both files of `../shared/datasets` are accepted: one line per user `user item item ...` in time
 * order (S3Rec), or one `user item` pair per line grouped by user in time order (SASRec) — a user
 * on several lines gets the lines concatenated in file order, so both parse the same way.
 * Users and items are renumbered densely (0-based, in raw-id order) so no table row is unused;
 * items that occur only in validation or test still get an ID (a row nobody trains, as in the
 * reference code). Repeated items in a sequence are kept as written.
 */
export async function readSequentialLooDataset(
  path: string,
  options: SequentialLooOptions = {},
): Promise<SequentialLooDataset> {
  const where = 'core/readSequentialLooDataset';
  const minLength = options.minLength ?? DEFAULT_SEQUENTIAL_LOO_OPTIONS.minLength;
  if (!Number.isInteger(minLength) || minLength < 3) {
    throw new InvalidArgumentError(
      `${where}: minLength (${minLength}) must be an integer ≥ 3 (test + validation + train)`,
    );
  }
  const seq = await readSequencesFile(path);
  const { offsets, items } = seq;
  // Dense renumbering of users with a non-empty sequence and of items that occur.
  const userId = new Int32Array(seq.numUsers).fill(-1);
  let numUsers = 0;
  for (let u = 0; u < seq.numUsers; u++) if (offsets[u + 1]! > offsets[u]!) userId[u] = numUsers++;
  const itemId = new Int32Array(seq.numItems).fill(-1);
  for (let j = 0; j < items.length; j++) itemId[items[j]!] = 0;
  let numItems = 0;
  for (let i = 0; i < seq.numItems; i++) if (itemId[i] === 0) itemId[i] = numItems++;
  if (numUsers === 0) throw new DataFormatError(path, 1, 'no user has an item');
  const trainOffsets = new Uint32Array(numUsers + 1);
  const heldOffsets = new Uint32Array(numUsers + 1);
  let short = 0;
  for (let u = 0; u < seq.numUsers; u++) {
    const d = userId[u]!;
    if (d < 0) continue;
    const n = offsets[u + 1]! - offsets[u]!;
    const held = n >= minLength ? 1 : 0;
    if (!held) short++;
    trainOffsets[d + 1] = n - 2 * held;
    heldOffsets[d + 1] = held;
  }
  for (let d = 0; d < numUsers; d++) {
    trainOffsets[d + 1]! += trainOffsets[d]!;
    heldOffsets[d + 1]! += heldOffsets[d]!;
  }
  const trainItems = new Int32Array(trainOffsets[numUsers]!);
  const validItems = new Int32Array(heldOffsets[numUsers]!);
  const testItems = new Int32Array(heldOffsets[numUsers]!);
  for (let u = 0; u < seq.numUsers; u++) {
    const d = userId[u]!;
    if (d < 0) continue;
    const s = offsets[u]!;
    const e = offsets[u + 1]!;
    let w = trainOffsets[d]!;
    const trainEnd = trainOffsets[d + 1]!;
    for (let j = s; w < trainEnd; j++) trainItems[w++] = itemId[items[j]!]!;
    if (heldOffsets[d + 1]! > heldOffsets[d]!) {
      validItems[heldOffsets[d]!] = itemId[items[e - 2]!]!;
      testItems[heldOffsets[d]!] = itemId[items[e - 1]!]!;
    }
  }
  const csr = (o: Uint32Array, it: Int32Array): Interactions => ({ numUsers, numItems, offsets: o, items: it });
  return {
    name: options.name ?? basename(path, extname(path)),
    train: csr(trainOffsets, trainItems),
    validation: csr(heldOffsets, validItems),
    test: csr(heldOffsets.slice(), testItems),
    shortUsers: short,
  };
}
