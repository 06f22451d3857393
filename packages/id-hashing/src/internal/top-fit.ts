import {
  InvalidArgumentError,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSnapshot,
  UsageError,
} from '@compactrec/core';
import { fitRows } from '../budget.js';
import { resolveExtra } from './extra.js';
import { snapshotArray } from './snapshot.js';
import { selectTopIds, TopIndex } from './top-k.js';

/** Resolved options of the frequency-based methods. */
export interface TopFractionOptions {
  readonly topFraction: number;
}

/** What `frequency` and `double-frequency` fit: m rows, the k top IDs own rows m−k .. m−1 by rank. */
export interface TopFit {
  readonly m: number;
  readonly k: number;
  readonly topFraction: number;
  readonly index: TopIndex;
}

/** Validates counts and topFraction, picks m from the budget and ranks the top k = ⌊m·topFraction⌋ IDs. */
export function fitTop(
  method: string,
  data: MapperFitData,
  options: MapperCreateOptions,
  defaults: Readonly<TopFractionOptions>,
): TopFit {
  const { topFraction } = resolveExtra(method, options.extra, defaults);
  if (!(topFraction >= 0 && topFraction < 1)) {
    throw new InvalidArgumentError(`id-hashing/${method}: extra.topFraction (${topFraction}) must be in [0, 1)`);
  }
  const counts = data.counts!;
  if (!(counts instanceof Uint32Array) || counts.length !== data.numIds) {
    throw new InvalidArgumentError(
      `id-hashing/${method}: counts must be a Uint32Array of length numIds (${data.numIds}); got length ${counts.length}`,
    );
  }
  const m = fitRows(method, options.budgetBytes, options.dim, 1, data.numIds);
  // k < m always (topFraction < 1), so at least one shared row remains for the other IDs.
  const k = Math.floor(m * topFraction);
  return { m, k, topFraction, index: TopIndex.build(selectTopIds(counts, k), m - k, data.numIds) };
}

/** Rebuilds the {@link TopIndex} of a snapshot with k top IDs owning rows [m − k, m). */
export function restoreTopIndex(method: string, snap: MapperSnapshot, m: number, k: number): TopIndex {
  if (snap.arrays.topRowById !== undefined) {
    const rows = snapshotArray(method, snap, 'topRowById', Int32Array, snap.numIds).slice();
    return new TopIndex(new Int32Array(0), rows, true, k);
  }
  const ids = snapshotArray(method, snap, 'topIds', Int32Array, k).slice();
  const rows = snapshotArray(method, snap, 'topRows', Int32Array, k).slice();
  for (let i = 0; i < k; i++) {
    if (rows[i]! < m - k || rows[i]! >= m || (i > 0 && ids[i]! <= ids[i - 1]!)) {
      throw new UsageError(`id-hashing/${method}.restore: snapshot top-ID lookup is corrupt at index ${i}`);
    }
  }
  return new TopIndex(ids, rows, false, k);
}
