/**
 * In-memory dataset shapes shared by readers, mappers and models. IDs are dense integers
 * assigned once at load; every structure is typed arrays.
 */

/**
 * User → item interactions in CSR form: the items of user u are
 * `items[offsets[u] .. offsets[u + 1])`.
 */
export interface Interactions {
  readonly numUsers: number;
  readonly numItems: number;
  /** Length numUsers + 1, non-decreasing, offsets[0] = 0. */
  readonly offsets: Uint32Array;
  /** Item ids, length offsets[numUsers]. */
  readonly items: Int32Array;
}

/** A retrieval (implicit-feedback) dataset with a train/test split over one ID space. */
export interface RetrievalDataset {
  /** Name for reports (e.g. the directory's base name). */
  readonly name: string;
  readonly train: Interactions;
  readonly test: Interactions;
}

/**
 * Categorical CTR samples with one ID per field: `ids[s * numFields + f]` is sample s's ID in
 * field f, local to that field (0 .. cardinalities[f] - 1).
 */
export interface CtrDataset {
  readonly name: string;
  readonly numFields: number;
  readonly fieldNames: readonly string[];
  /** Distinct IDs per field (the size of each field's full table). */
  readonly cardinalities: Int32Array;
  /** Length numSamples × numFields. */
  readonly ids: Int32Array;
  /** 0/1 labels, length numSamples. */
  readonly labels: Float32Array;
  readonly numSamples: number;
}

/** Per-user behaviour sequences in time order (CSR, like {@link Interactions}). */
export interface Sequences {
  readonly numUsers: number;
  readonly numItems: number;
  readonly offsets: Uint32Array;
  readonly items: Int32Array;
}

/** The item-side transpose of a user → item CSR (item → users). */
export function transposeInteractions(x: Interactions): Interactions {
  const { numUsers, numItems, offsets, items } = x;
  const counts = new Uint32Array(numItems + 1);
  for (let j = 0; j < items.length; j++) counts[items[j]! + 1]!++;
  for (let i = 0; i < numItems; i++) counts[i + 1]! += counts[i]!;
  const out = new Int32Array(items.length);
  const cursor = counts.slice(0, numItems);
  for (let u = 0; u < numUsers; u++) {
    for (let j = offsets[u]!; j < offsets[u + 1]!; j++) out[cursor[items[j]!]!++] = u;
  }
  return { numUsers: numItems, numItems: numUsers, offsets: counts, items: out };
}

/** Interaction count (degree) of every user and every item. */
export function degrees(x: Interactions): { users: Uint32Array; items: Uint32Array } {
  const users = new Uint32Array(x.numUsers);
  const items = new Uint32Array(x.numItems);
  for (let u = 0; u < x.numUsers; u++) users[u] = x.offsets[u + 1]! - x.offsets[u]!;
  for (let j = 0; j < x.items.length; j++) items[x.items[j]!]!++;
  return { users, items };
}
