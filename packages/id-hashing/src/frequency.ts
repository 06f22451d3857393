import type {
  Combine,
  IdMapper,
  MapperCreateOptions,
  MapperFitData,
  MapperSnapshot,
  MapperSpec,
} from '@compactrec/core';
import { SCALAR_BYTES } from './budget.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { checkSnapshotMethod, snapshotInt } from './internal/snapshot.js';
import { fitTop, restoreTopIndex } from './internal/top-fit.js';
import type { TopIndex } from './internal/top-k.js';

const METHOD = 'frequency';

/** Options of `frequency` and `double-frequency`, passed as `MapperCreateOptions.extra`. */
export interface FrequencyOptions {
  /**
   * Share of the m rows given to the most frequent training IDs, one row each (k = ⌊m·topFraction⌋);
   * in [0, 1) so at least one row is left for the other IDs.
   * @default 0.5
   */
  readonly topFraction?: number;
}

/** Defaults of {@link FrequencyOptions} (the GraphHash reference gives half the rows to frequent IDs). */
export const DEFAULT_FREQUENCY_OPTIONS: Readonly<Required<FrequencyOptions>> = Object.freeze({ topFraction: 0.5 });

/**
 * Frequency hashing: the k highest-count IDs (ties: smaller ID first) own rows m−k .. m−1 in rank
 * order; every other ID, seen or unseen, gets id mod (m − k). K = 1.
 *
 * Lookup (`params.lookup`): the top IDs ascending plus their rows (8k bytes, binary search), or,
 * only when that is larger, a dense int32 row per fitted ID (4·numIds bytes). At the default
 * topFraction 0.5, k ≤ m/2 ≤ numIds/2, so the sorted layout (≤ 4·numIds bytes) is always chosen.
 */
export class FrequencyMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 1;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  readonly mappingBytes: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  private readonly top: TopIndex;
  private readonly shared: number;

  /** @param top which row each of the k top IDs owns (rows m − k .. m − 1) */
  constructor(numIds: number, m: number, topFraction: number, top: TopIndex) {
    this.numIds = numIds;
    this.rows = m;
    this.top = top;
    this.shared = m - top.k;
    // The lookup arrays plus the shared modulus and the array length.
    this.mappingBytes = top.byteLength + 2 * SCALAR_BYTES;
    this.params = Object.freeze({ m, k: top.k, topFraction, lookup: top.dense ? 'dense' : 'sorted' });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 1);
    const { top, shared } = this;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      const own = top.rowOf(id);
      out[j] = own >= 0 ? own : id % shared;
    }
  }

  snapshot(): MapperSnapshot {
    return {
      method: METHOD,
      numIds: this.numIds,
      rows: this.rows,
      params: this.params,
      arrays: this.top.arrays(),
    };
  }
}

/** Registry entry of {@link FrequencyMapper}: m = ⌊budget / (dim·4)⌋ capped at numIds; needs counts. */
export const FREQUENCY_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'top ⌊m·topFraction⌋ training-frequent IDs own a row; the rest id mod (m − k)',
  requires: Object.freeze(['counts']) as readonly ['counts'],
  create(data: MapperFitData, options: MapperCreateOptions): FrequencyMapper {
    checkFit(FREQUENCY_SPEC, data, options);
    const fit = fitTop(METHOD, data, options, DEFAULT_FREQUENCY_OPTIONS);
    return new FrequencyMapper(data.numIds, fit.m, fit.topFraction, fit.index);
  },
  restore(snap: MapperSnapshot): FrequencyMapper {
    checkSnapshotMethod(METHOD, snap);
    const m = snapshotInt(METHOD, snap, 'm', snap.rows, snap.rows);
    const k = snapshotInt(METHOD, snap, 'k', 0, m - 1);
    const topFraction = Number(snap.params.topFraction);
    return new FrequencyMapper(snap.numIds, m, topFraction, restoreTopIndex(METHOD, snap, m, k));
  },
});
