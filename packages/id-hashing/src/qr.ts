import {
  BudgetError,
  type Combine,
  type IdMapper,
  InvalidArgumentError,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSnapshot,
  type MapperSpec,
  UsageError,
} from '@compactrec/core';
import { FLOAT_BYTES, maxRowsForBudget, SCALAR_BYTES } from './budget.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { resolveExtra } from './internal/extra.js';
import { checkSnapshotMethod, snapshotInt } from './internal/snapshot.js';

const METHOD = 'qr';

/** Options of `qr`, passed as `MapperCreateOptions.extra`. */
export interface QrOptions {
  /**
   * How the remainder and quotient rows combine: `mult` (element-wise product, the paper's best),
   * `sum`, or `concat` (each row holds dim / 2 values; dim must be even).
   * @default 'mult'
   */
  readonly combine?: 'mult' | 'sum' | 'concat';
}

/** Defaults of {@link QrOptions}. */
export const DEFAULT_QR_OPTIONS: Readonly<Required<QrOptions>> = Object.freeze({ combine: 'mult' });

/** Smallest table of a QR split of `numIds` IDs: min over r of r + ⌈numIds / r⌉ (= ⌈2√numIds⌉). */
export function qrMinRows(numIds: number): number {
  let best = numIds + 1;
  const stop = Math.ceil(Math.sqrt(numIds)) + 1;
  for (let r = 1; r <= stop && r <= numIds; r++) best = Math.min(best, r + Math.ceil(numIds / r));
  return best;
}

/**
 * The QR knob: the largest remainder size r ≤ numIds with r + ⌈numIds / r⌉ ≤ maxRows, or 0 if none.
 * For r < numIds this fills maxRows exactly (r + ⌈n/r⌉ grows by at most 1 per step of r).
 */
export function qrRemainderSize(numIds: number, maxRows: number): number {
  if (maxRows < qrMinRows(numIds)) return 0;
  let r = Math.min(numIds, maxRows - 1);
  while (r > 0 && r + Math.ceil(numIds / r) > maxRows) r--;
  return r;
}

/**
 * Quotient-remainder trick (Shi et al. 2020): two tables stacked in one, remainder rows [0, r)
 * and quotient rows [r, r + q) with q = ⌈numIds / r⌉; codes `[id mod r, r + ⌊id / r⌋]`, combined
 * by `mult`, `sum` or `concat`. Every fitted ID gets a unique pair of rows. IDs ≥ numIds are
 * hashed: their quotient is taken mod q (so they share rows with fitted IDs).
 */
export class QrMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId = 2;
  readonly combine: Combine;
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  /** r, q and the combine mode. */
  readonly mappingBytes = 3 * SCALAR_BYTES;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Remainder rows. */
  readonly r: number;
  /** Quotient rows. */
  readonly q: number;

  constructor(numIds: number, r: number, combine: 'mult' | 'sum' | 'concat') {
    this.numIds = numIds;
    this.r = r;
    this.q = Math.ceil(numIds / r);
    this.rows = r + this.q;
    this.combine = combine;
    this.params = Object.freeze({ r, q: this.q, combine });
  }

  /** `dim` for mult/sum; `dim / 2` for concat (throws if dim is odd). */
  rowDim(dim: number): number {
    if (this.combine !== 'concat') return dim;
    if (dim % 2 !== 0) {
      throw new InvalidArgumentError(`id-hashing/qr: dim (${dim}) must be even with combine 'concat'; use an even dim`);
    }
    return dim / 2;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const count = checkMapInto(METHOD, ids, out, n, 2);
    const { r, q } = this;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      let quo = Math.floor(id / r);
      if (quo >= q) quo %= q;
      out[2 * j] = id % r;
      out[2 * j + 1] = r + quo;
    }
  }

  snapshot(): MapperSnapshot {
    return { method: METHOD, numIds: this.numIds, rows: this.rows, params: this.params, arrays: {} };
  }
}

function checkCombine(where: string, combine: string): 'mult' | 'sum' | 'concat' {
  if (combine !== 'mult' && combine !== 'sum' && combine !== 'concat') {
    throw new InvalidArgumentError(`${where}: combine (${combine}) must be one of mult, sum, concat`);
  }
  return combine;
}

/**
 * Registry entry of {@link QrMapper}. Knob: the largest r with r + ⌈numIds / r⌉ ≤ ⌊budget / (rowDim·4)⌋,
 * r ≤ numIds. BudgetError below ⌈2√numIds⌉ rows.
 */
export const QR_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'quotient-remainder: T[id mod r] ∘ T[r + ⌊id / r⌋], ∘ = mult | sum | concat',
  requires: Object.freeze([]) as readonly [],
  create(data: MapperFitData, options: MapperCreateOptions): QrMapper {
    checkFit(QR_SPEC, data, options);
    const combine = checkCombine('id-hashing/qr', resolveExtra(METHOD, options.extra, DEFAULT_QR_OPTIONS).combine);
    if (combine === 'concat' && options.dim % 2 !== 0) {
      throw new InvalidArgumentError(
        `id-hashing/qr: dim (${options.dim}) must be even with combine 'concat'; use an even dim or another combine`,
      );
    }
    const rowDim = combine === 'concat' ? options.dim / 2 : options.dim;
    const maxRows = maxRowsForBudget(options.budgetBytes, rowDim);
    const r = qrRemainderSize(data.numIds, maxRows);
    if (r === 0) {
      const minRows = qrMinRows(data.numIds);
      const minBytes = minRows * rowDim * FLOAT_BYTES;
      throw new BudgetError(
        `id-hashing/qr: budgetBytes (${options.budgetBytes}) is below this method's smallest table (${minRows} rows × ${rowDim} values × 4 = ${minBytes} bytes); raise the budget or pick another method`,
        { context: { method: METHOD, budgetBytes: options.budgetBytes, minBytes, minRows, rowDim } },
      );
    }
    return new QrMapper(data.numIds, r, combine);
  },
  restore(snap: MapperSnapshot): QrMapper {
    checkSnapshotMethod(METHOD, snap);
    const r = snapshotInt(METHOD, snap, 'r', 1, snap.numIds);
    const mapper = new QrMapper(snap.numIds, r, checkCombine('id-hashing/qr.restore', String(snap.params.combine)));
    if (mapper.rows !== snap.rows) {
      throw new UsageError(`id-hashing/qr.restore: snapshot rows (${snap.rows}) differ from r + q (${mapper.rows})`);
    }
    return mapper;
  },
});
