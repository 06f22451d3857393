import type {
  Combine,
  IdMapper,
  MapperCreateOptions,
  MapperFitData,
  MapperSnapshot,
  MapperSpec,
} from '@compactrec/core';
import { SCALAR_BYTES } from './budget.js';
import { DEFAULT_FREQUENCY_OPTIONS } from './frequency.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { checkSnapshotMethod, snapshotArray, snapshotInt } from './internal/snapshot.js';
import { fitTop, restoreTopIndex } from './internal/top-fit.js';
import type { TopIndex } from './internal/top-k.js';
import { drawHashes, universalRow } from './internal/universal.js';

const METHOD = 'double-frequency';

/**
 * Double frequency hashing: the k = ⌊m·topFraction⌋ highest-count IDs own rows m−k .. m−1 (by
 * rank, ties to the smaller ID) with codes `[own, −1]` (−1 = no second row); every other ID, seen
 * or unseen, gets two universal hashes into the shared rows [0, m − k), summed. K = 2.
 * Options: {@link FrequencyOptions}; lookup layout as in {@link FrequencyMapper}.
 */
export class DoubleFrequencyMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 2;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  readonly mappingBytes: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  private readonly top: TopIndex;
  private readonly shared: number;
  /** [a0, b0, a1, b1] of the two hashes into [0, m − k). */
  private readonly hash: Float64Array;

  constructor(numIds: number, m: number, topFraction: number, top: TopIndex, hash: Float64Array) {
    this.numIds = numIds;
    this.rows = m;
    this.top = top;
    this.shared = m - top.k;
    this.hash = hash;
    this.mappingBytes = top.byteLength + hash.byteLength + 2 * SCALAR_BYTES;
    this.params = Object.freeze({ m, k: top.k, topFraction, lookup: top.dense ? 'dense' : 'sorted' });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 2);
    const { top, shared } = this;
    const h = this.hash;
    const a0 = h[0]!;
    const b0 = h[1]!;
    const a1 = h[2]!;
    const b1 = h[3]!;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      const own = top.rowOf(id);
      if (own >= 0) {
        out[2 * j] = own;
        out[2 * j + 1] = -1;
      } else {
        out[2 * j] = universalRow(a0, b0, shared, id);
        out[2 * j + 1] = universalRow(a1, b1, shared, id);
      }
    }
  }

  snapshot(): MapperSnapshot {
    return {
      method: METHOD,
      numIds: this.numIds,
      rows: this.rows,
      params: this.params,
      arrays: { ...this.top.arrays(), hash: this.hash.slice() },
    };
  }
}

/** Registry entry of {@link DoubleFrequencyMapper}: m = ⌊budget / (dim·4)⌋ capped at numIds; needs counts. */
export const DOUBLE_FREQUENCY_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'top ⌊m·topFraction⌋ frequent IDs own a row; the rest two universal hashes into [0, m − k), summed',
  requires: Object.freeze(['counts']) as readonly ['counts'],
  create(data: MapperFitData, options: MapperCreateOptions): DoubleFrequencyMapper {
    checkFit(DOUBLE_FREQUENCY_SPEC, data, options);
    const fit = fitTop(METHOD, data, options, DEFAULT_FREQUENCY_OPTIONS);
    const hash = drawHashes(fit.m - fit.k, options.seed, METHOD, 2);
    return new DoubleFrequencyMapper(data.numIds, fit.m, fit.topFraction, fit.index, hash);
  },
  restore(snap: MapperSnapshot): DoubleFrequencyMapper {
    checkSnapshotMethod(METHOD, snap);
    const m = snapshotInt(METHOD, snap, 'm', snap.rows, snap.rows);
    const k = snapshotInt(METHOD, snap, 'k', 0, m - 1);
    const top = restoreTopIndex(METHOD, snap, m, k);
    const hash = snapshotArray(METHOD, snap, 'hash', Float64Array, 4).slice();
    return new DoubleFrequencyMapper(snap.numIds, m, Number(snap.params.topFraction), top, hash);
  },
});
