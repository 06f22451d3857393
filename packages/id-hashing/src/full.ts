import {
  type Combine,
  type IdMapper,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSnapshot,
  type MapperSpec,
  unknownId,
} from '@compactrec/core';
import { fitRows, SCALAR_BYTES } from './budget.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { resolveExtra } from './internal/extra.js';
import { checkSnapshotMethod } from './internal/snapshot.js';

const METHOD = 'full';

/**
 * The uncompressed baseline: one row per ID (row = id). It cannot place unseen IDs, so they throw
 * {@link NotFoundError} via core's `unknownId`.
 */
export class FullMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 1;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  /** Only the ID-space bound is read. */
  readonly mappingBytes = SCALAR_BYTES;
  readonly params: Readonly<Record<string, number | string | boolean>>;

  /** @param numIds size of the ID space; the table has this many rows. */
  constructor(numIds: number) {
    this.numIds = numIds;
    this.rows = numIds;
    this.params = Object.freeze({ rows: numIds });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 1);
    const numIds = this.numIds;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      if (!(id >= 0 && id < numIds)) unknownId(METHOD, id, numIds);
      out[j] = id;
    }
  }

  snapshot(): MapperSnapshot {
    return { method: METHOD, numIds: this.numIds, rows: this.rows, params: this.params, arrays: {} };
  }
}

/** Registry entry of {@link FullMapper}: needs a budget of at least numIds × dim × 4 bytes. */
export const FULL_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'one row per ID (uncompressed baseline); unseen IDs are an error',
  requires: Object.freeze([]) as readonly [],
  create(data: MapperFitData, options: MapperCreateOptions): FullMapper {
    checkFit(FULL_SPEC, data, options);
    resolveExtra(METHOD, options.extra, {});
    fitRows(METHOD, options.budgetBytes, options.dim, data.numIds, data.numIds);
    return new FullMapper(data.numIds);
  },
  restore(snap: MapperSnapshot): FullMapper {
    checkSnapshotMethod(METHOD, snap);
    return new FullMapper(snap.numIds);
  },
});
