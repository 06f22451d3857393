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
import { drawUniversal, universalRow } from './internal/universal.js';

const METHOD = 'universal';

/**
 * One seeded Carter-Wegman hash ((a·id + b) mod (2^31 − 1)) mod m into m rows. When the budget
 * holds the full table (m = numIds) fitted IDs get row = id, i.e. the method is just `full`
 * (`params.full`), and only unseen IDs are hashed.
 */
export class UniversalMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 1;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  readonly mappingBytes: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  private readonly a: number;
  private readonly b: number;
  private readonly identityBound: number;

  /** @param m rows (1 ≤ m ≤ numIds); a, b the hash coefficients */
  constructor(numIds: number, m: number, a: number, b: number) {
    this.numIds = numIds;
    this.rows = m;
    this.a = a;
    this.b = b;
    const full = m === numIds;
    this.identityBound = full ? numIds : 0;
    // a, b, m and the identity bound.
    this.mappingBytes = 4 * SCALAR_BYTES;
    this.params = Object.freeze({ m, full });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 1);
    const { a, b, rows: m, identityBound } = this;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      out[j] = id < identityBound ? id : universalRow(a, b, m, id);
    }
  }

  snapshot(): MapperSnapshot {
    return {
      method: METHOD,
      numIds: this.numIds,
      rows: this.rows,
      params: this.params,
      arrays: { hash: Float64Array.of(this.a, this.b) },
    };
  }
}

/** Registry entry of {@link UniversalMapper}: m = ⌊budget / (dim·4)⌋ capped at numIds; hash seeded by `seed`. */
export const UNIVERSAL_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'one universal hash into m rows',
  requires: Object.freeze([]) as readonly [],
  create(data: MapperFitData, options: MapperCreateOptions): UniversalMapper {
    checkFit(UNIVERSAL_SPEC, data, options);
    resolveExtra(METHOD, options.extra, {});
    const m = fitRows(METHOD, options.budgetBytes, options.dim, 1, data.numIds);
    const { a, b } = drawUniversal(m, options.seed);
    return new UniversalMapper(data.numIds, m, a, b);
  },
  restore(snap: MapperSnapshot): UniversalMapper {
    checkSnapshotMethod(METHOD, snap);
    const m = snapshotInt(METHOD, snap, 'm', snap.rows, snap.rows);
    const hash = snapshotArray(METHOD, snap, 'hash', Float64Array, 2);
    return new UniversalMapper(snap.numIds, m, hash[0]!, hash[1]!);
  },
});
