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
import { checkSnapshotMethod, snapshotInt } from './internal/snapshot.js';

const METHOD = 'modulo';

/**
 * The "random" baseline: row = id mod m. Any non-negative integer ID works, seen or not. With
 * m = numIds (budget ≥ the full table) it is the full table (`params.full`).
 */
export class ModuloMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 1;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  /** Only the modulus is read. */
  readonly mappingBytes = SCALAR_BYTES;
  readonly params: Readonly<Record<string, number | string | boolean>>;

  /** @param m rows, 1 ≤ m ≤ numIds */
  constructor(numIds: number, m: number) {
    this.numIds = numIds;
    this.rows = m;
    this.params = Object.freeze({ m, full: m === numIds });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 1);
    const m = this.rows;
    for (let j = 0; j < count; j++) out[j] = ids[j]! % m;
  }

  snapshot(): MapperSnapshot {
    return { method: METHOD, numIds: this.numIds, rows: this.rows, params: this.params, arrays: {} };
  }
}

/** Registry entry of {@link ModuloMapper}: m = ⌊budget / (dim·4)⌋ capped at numIds. */
export const MODULO_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'row = id mod m, m as large as the budget allows',
  requires: Object.freeze([]) as readonly [],
  create(data: MapperFitData, options: MapperCreateOptions): ModuloMapper {
    checkFit(MODULO_SPEC, data, options);
    resolveExtra(METHOD, options.extra, {});
    const m = fitRows(METHOD, options.budgetBytes, options.dim, 1, data.numIds);
    return new ModuloMapper(data.numIds, m);
  },
  restore(snap: MapperSnapshot): ModuloMapper {
    checkSnapshotMethod(METHOD, snap);
    return new ModuloMapper(snap.numIds, snapshotInt(METHOD, snap, 'm', snap.rows, snap.rows));
  },
});
