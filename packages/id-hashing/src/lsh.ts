import {
  type Combine,
  deriveSeed,
  type IdMapper,
  type Interactions,
  InvalidArgumentError,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSnapshot,
  type MapperSpec,
  Rng,
  transposeInteractions,
} from '@compactrec/core';
import { fitRows, SCALAR_BYTES } from './budget.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { resolveExtra } from './internal/extra.js';
import { checkSnapshotMethod, snapshotArray, snapshotInt } from './internal/snapshot.js';
import { drawUniversal, universalRow } from './internal/universal.js';

const METHOD = 'lsh';

/** Options of `lsh`, passed as `MapperCreateOptions.extra`. */
export interface LshOptions {
  /**
   * Entries of an ID's interaction vector: `none` = 1 per interacted ID on the other side;
   * `symmetric` = 1/√deg(j) for other-side ID j (the column half of D^-½ A D^-½, which lowers the
   * say of popular items). Per-row scaling (1/deg(id), the row half) is not offered: it cannot
   * change a sign, so it cannot change a bucket.
   * @default 'none'
   */
  readonly normalize?: 'none' | 'symmetric';
}

/** Defaults of {@link LshOptions}. */
export const DEFAULT_LSH_OPTIONS: Readonly<Required<LshOptions>> = Object.freeze({ normalize: 'none' });

/** Bits b = ⌈log2 m⌉ a SimHash needs to address m buckets (0 for m = 1). */
export function simHashBits(m: number): number {
  let b = 0;
  while (2 ** b < m) b++;
  return b;
}

/**
 * Structure-aware hashing by SimHash: each ID's training-interaction vector over the other side's
 * IDs is projected on b = ⌈log2 m⌉ seeded Gaussian hyperplanes; the b sign bits, read as an
 * integer, taken mod m, are its row. IDs with equal interaction sets always share a row; IDs
 * without interactions and unseen IDs get a universal hash into m. Serving reads one int32 per
 * fitted ID (`mappingBytes`). Fit is O(nnz · b) plus b Gaussians per other-side ID.
 * `params.bucketsUsed` reports how many of the m rows the fitted IDs actually hit (SimHash
 * buckets are uneven, so usually well below m).
 */
export class LshMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 1;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  readonly mappingBytes: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Row of every fitted ID. */
  private readonly buckets: Int32Array;
  private readonly a: number;
  private readonly b: number;

  /**
   * @param buckets row of each fitted ID (length numIds)
   * @param a universal hash coefficient for unseen IDs
   * @param b universal hash coefficient for unseen IDs
   * @param params knobs and fit statistics (`m`, `bits`, `normalize`, `side`, `emptyIds`, `bucketsUsed`)
   */
  constructor(
    m: number,
    buckets: Int32Array,
    a: number,
    b: number,
    params: Readonly<Record<string, number | string | boolean>>,
  ) {
    this.numIds = buckets.length;
    this.rows = m;
    this.buckets = buckets;
    this.a = a;
    this.b = b;
    // The bucket array plus a, b, m for unseen IDs.
    this.mappingBytes = buckets.byteLength + 3 * SCALAR_BYTES;
    this.params = Object.freeze({ ...params });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 1);
    const { buckets, a, b, rows: m } = this;
    const numIds = buckets.length;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      out[j] = id < numIds ? buckets[id]! : universalRow(a, b, m, id);
    }
  }

  snapshot(): MapperSnapshot {
    return {
      method: METHOD,
      numIds: this.numIds,
      rows: this.rows,
      params: this.params,
      arrays: { buckets: this.buckets.slice(), hash: Float64Array.of(this.a, this.b) },
    };
  }
}

/** Checks a CSR's shape and ID ranges (O(nnz)), naming the first bad entry. */
function checkInteractions(x: Interactions): void {
  const where = `id-hashing/${METHOD}`;
  const { numUsers, numItems, offsets, items } = x;
  if (offsets.length !== numUsers + 1 || offsets[0] !== 0 || offsets[numUsers] !== items.length) {
    throw new InvalidArgumentError(
      `${where}: interactions.offsets must have numUsers + 1 (${numUsers + 1}) entries from 0 to items.length (${items.length})`,
    );
  }
  for (let u = 0; u < numUsers; u++) {
    if (offsets[u + 1]! < offsets[u]!) {
      throw new InvalidArgumentError(`${where}: interactions.offsets decrease at user ${u}`);
    }
  }
  for (let j = 0; j < items.length; j++) {
    const it = items[j]!;
    if (!(it >= 0 && it < numItems)) {
      throw new InvalidArgumentError(`${where}: interactions.items[${j}] (${it}) is outside [0, ${numItems})`);
    }
  }
}

/**
 * SimHash rows of every row of a CSR (`csr.numUsers` IDs over `csr.numItems` other-side IDs);
 * rows without entries get the universal hash (a, b) into m. Returns the rows and how many IDs
 * were empty.
 */
function simHashRows(
  csr: Interactions,
  m: number,
  bits: number,
  normalize: 'none' | 'symmetric',
  seed: number,
  a: number,
  b: number,
): { buckets: Int32Array; emptyIds: number } {
  const { numUsers: n, numItems: other, offsets, items } = csr;
  // planes[j * bits + t]: component j of hyperplane t, so one other-side ID's b values are adjacent.
  const planes = new Float32Array(other * bits);
  new Rng(deriveSeed(seed, `${METHOD}/planes`)).fillNormal(planes);
  if (normalize === 'symmetric') {
    const deg = new Uint32Array(other);
    for (let j = 0; j < items.length; j++) deg[items[j]!]!++;
    for (let j = 0; j < other; j++) {
      if (deg[j]! === 0) continue;
      const s = 1 / Math.sqrt(deg[j]!);
      for (let t = 0; t < bits; t++) planes[j * bits + t]! *= s;
    }
  }
  const acc = new Float64Array(bits);
  const buckets = new Int32Array(n);
  let emptyIds = 0;
  for (let u = 0; u < n; u++) {
    const start = offsets[u]!;
    const end = offsets[u + 1]!;
    if (start === end) {
      buckets[u] = universalRow(a, b, m, u);
      emptyIds++;
      continue;
    }
    acc.fill(0);
    for (let p = start; p < end; p++) {
      const base = items[p]! * bits;
      for (let t = 0; t < bits; t++) acc[t]! += planes[base + t]!;
    }
    let code = 0;
    for (let t = 0; t < bits; t++) code = code * 2 + (acc[t]! > 0 ? 1 : 0);
    buckets[u] = code % m;
  }
  return { buckets, emptyIds };
}

/**
 * Registry entry of {@link LshMapper}: m = ⌊budget / (dim·4)⌋ capped at numIds; needs
 * `interactions` and `side` (the item side hashes the transpose), with numIds equal to that side's size.
 */
export const LSH_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'SimHash of each ID’s interaction vector on ⌈log2 m⌉ Gaussian hyperplanes, mod m',
  requires: Object.freeze(['interactions']) as readonly ['interactions'],
  create(data: MapperFitData, options: MapperCreateOptions): LshMapper {
    checkFit(LSH_SPEC, data, options);
    const { normalize } = resolveExtra(METHOD, options.extra, DEFAULT_LSH_OPTIONS);
    if (normalize !== 'none' && normalize !== 'symmetric') {
      throw new InvalidArgumentError(`id-hashing/${METHOD}: extra.normalize (${normalize}) must be none or symmetric`);
    }
    const side = data.side;
    if (side !== 'user' && side !== 'item') {
      throw new InvalidArgumentError(`id-hashing/${METHOD}: side (${String(side)}) must be 'user' or 'item'`);
    }
    const x = data.interactions!;
    checkInteractions(x);
    const sideSize = side === 'user' ? x.numUsers : x.numItems;
    if (data.numIds !== sideSize) {
      throw new InvalidArgumentError(
        `id-hashing/${METHOD}: numIds (${data.numIds}) must equal the ${side} count of the interactions (${sideSize})`,
      );
    }
    const m = fitRows(METHOD, options.budgetBytes, options.dim, 1, data.numIds);
    const bits = simHashBits(m);
    const { a, b } = drawUniversal(m, deriveSeed(options.seed, `${METHOD}/unseen`));
    const csr = side === 'user' ? x : transposeInteractions(x);
    const { buckets, emptyIds } = simHashRows(csr, m, bits, normalize, options.seed, a, b);
    const used = new Uint8Array(m);
    let bucketsUsed = 0;
    for (let i = 0; i < buckets.length; i++) {
      if (used[buckets[i]!] === 0) {
        used[buckets[i]!] = 1;
        bucketsUsed++;
      }
    }
    return new LshMapper(m, buckets, a, b, { m, bits, normalize, side, emptyIds, bucketsUsed });
  },
  restore(snap: MapperSnapshot): LshMapper {
    checkSnapshotMethod(METHOD, snap);
    const m = snapshotInt(METHOD, snap, 'm', snap.rows, snap.rows);
    const buckets = snapshotArray(METHOD, snap, 'buckets', Int32Array, snap.numIds).slice();
    const hash = snapshotArray(METHOD, snap, 'hash', Float64Array, 2);
    return new LshMapper(m, buckets, hash[0]!, hash[1]!, snap.params);
  },
});
