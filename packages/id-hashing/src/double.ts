import type {
  Combine,
  IdMapper,
  MapperCreateOptions,
  MapperFitData,
  MapperSnapshot,
  MapperSpec,
} from '@compactrec/core';
import { fitRows, SCALAR_BYTES } from './budget.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { resolveExtra } from './internal/extra.js';
import { checkSnapshotMethod, snapshotArray, snapshotInt } from './internal/snapshot.js';
import { drawHashes, universalRow } from './internal/universal.js';

const METHOD = 'double';

/**
 * Double hashing: two independent universal hashes into ONE shared table of m rows, embeddings
 * summed (K = 2). Two IDs share both rows with probability ~1/m², far less than one hash's 1/m.
 * If both hashes of an ID hit the same row, that row counts twice (as in the reference).
 */
export class DoubleMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 2;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  readonly mappingBytes: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** [a0, b0, a1, b1]. */
  private readonly hash: Float64Array;

  /** @param hash the two hashes' coefficients `[a0, b0, a1, b1]` */
  constructor(numIds: number, m: number, hash: Float64Array) {
    this.numIds = numIds;
    this.rows = m;
    this.hash = hash;
    this.mappingBytes = hash.byteLength + SCALAR_BYTES;
    this.params = Object.freeze({ m });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 2);
    const m = this.rows;
    const h = this.hash;
    const a0 = h[0]!;
    const b0 = h[1]!;
    const a1 = h[2]!;
    const b1 = h[3]!;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      out[2 * j] = universalRow(a0, b0, m, id);
      out[2 * j + 1] = universalRow(a1, b1, m, id);
    }
  }

  snapshot(): MapperSnapshot {
    return {
      method: METHOD,
      numIds: this.numIds,
      rows: this.rows,
      params: this.params,
      arrays: { hash: this.hash.slice() },
    };
  }
}

/** Registry entry of {@link DoubleMapper}: m = ⌊budget / (dim·4)⌋ capped at numIds. */
export const DOUBLE_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'two universal hashes into one shared table of m rows, summed',
  requires: Object.freeze([]) as readonly [],
  create(data: MapperFitData, options: MapperCreateOptions): DoubleMapper {
    checkFit(DOUBLE_SPEC, data, options);
    resolveExtra(METHOD, options.extra, {});
    const m = fitRows(METHOD, options.budgetBytes, options.dim, 1, data.numIds);
    return new DoubleMapper(data.numIds, m, drawHashes(m, options.seed, METHOD, 2));
  },
  restore(snap: MapperSnapshot): DoubleMapper {
    checkSnapshotMethod(METHOD, snap);
    const m = snapshotInt(METHOD, snap, 'm', snap.rows, snap.rows);
    return new DoubleMapper(snap.numIds, m, snapshotArray(METHOD, snap, 'hash', Float64Array, 4).slice());
  },
});
