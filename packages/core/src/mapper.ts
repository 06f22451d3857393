import type { Interactions } from './data.js';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import { FLOAT32_BYTES } from './storage.js';

/**
 * How the K rows an ID maps to become its embedding of size `dim`:
 * - `sum`: Σ_k w_k · T[r_k] (w_k = 1 unless the mapper has weights); rows have `dim` values.
 * - `mult`: T[r_0] ⊙ T[r_1] ⊙ …; rows have `dim` values.
 * - `concat`: [T[r_0], T[r_1], …]; rows have `dim / K` values.
 */
export type Combine = 'sum' | 'mult' | 'concat';

/**
 * Maps raw integer IDs of one feature (users, items, a CTR field) to rows of one embedding table.
 * A compression method by sharing is one class implementing this plus one registry line.
 */
export interface IdMapper {
  /** Registry name, e.g. `double-frequency`. */
  readonly method: string;
  /** Size of the ID space the mapper was fit on (IDs 0 .. numIds − 1). */
  readonly numIds: number;
  /** Rows of the table this mapper addresses. */
  readonly rows: number;
  /** Row indices per ID (K ≥ 1). */
  readonly codesPerId: number;
  readonly combine: Combine;
  /**
   * Per-(ID, k) weights for `sum`, `[numIds × K]`, or null for all-ones. When
   * `learnableWeights` is true the trainer updates them (hash embeddings).
   */
  readonly weights: Float32Array | null;
  readonly learnableWeights: boolean;
  /** Bytes of the lookup structures serving needs besides the table (frequency maps, cluster arrays, per-ID weights). */
  readonly mappingBytes: number;
  /** The knob values the method chose, for reports (e.g. `{ m: 7464 }`). */
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Values per table row for a model dimension (`dim` for sum/mult, `dim / K` for concat). */
  rowDim(dim: number): number;
  /**
   * Writes the K rows of each of `ids[0..n)` to `out[j*K .. j*K+K)`; a code of −1 means "no row"
   * (contributes nothing; only valid with `sum`, e.g. a frequent ID that owns one row in a
   * double-hashing layout). IDs outside the fitted space
   * are hashed by methods that can (every hashing method); others throw {@link NotFoundError}.
   */
  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void;
  /** A serializable description: `state` holds the typed arrays needed to rebuild the mapper. */
  snapshot(): MapperSnapshot;
}

/** What a checkpoint stores of a mapper; `restoreMapper` of the method's spec rebuilds it. */
export interface MapperSnapshot {
  readonly method: string;
  readonly numIds: number;
  readonly rows: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  readonly arrays: Readonly<Record<string, Int32Array | Uint32Array | Float32Array | Float64Array>>;
}

/** Data a mapper may fit on. Methods declare what they need in {@link MapperSpec.requires}. */
export interface MapperFitData {
  /** IDs are 0 .. numIds − 1. */
  readonly numIds: number;
  /** Training frequency of each ID (length numIds). */
  readonly counts?: Uint32Array;
  /**
   * Training interactions of a bipartite feature pair and which side this mapper is for
   * (graph methods: lsh, graphhash). For the item side, `side` is 'item'.
   */
  readonly interactions?: Interactions;
  readonly side?: 'user' | 'item';
}

/** Options every mapper factory takes. */
export interface MapperCreateOptions {
  /** Model embedding dimension. */
  readonly dim: number;
  /**
   * Most bytes the table's values may take, counted in float32 rows (rows × rowDim × 4). A
   * composition with a low-precision storage passes the float32-equivalent of its budget (see
   * `@compactrec/embedding`), so every mapper sizes its knob by one rule.
   */
  readonly budgetBytes: number;
  /** Seed for every random choice the method makes. */
  readonly seed: number;
  /** Method-specific settings (e.g. `{ combine: 'mult' }` for qr). */
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
}

/** A registry entry: how to build (and rebuild) one method's mapper. */
export interface MapperSpec {
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** Which fields of {@link MapperFitData} must be present. */
  readonly requires: readonly ('counts' | 'interactions')[];
  /** Fits a mapper whose table fits in `options.budgetBytes`, choosing the method's own knob. */
  create(data: MapperFitData, options: MapperCreateOptions): IdMapper;
  /** Rebuilds a mapper from its snapshot (serving, checkpoints). */
  restore(snapshot: MapperSnapshot): IdMapper;
}

/** Bytes of a full (uncompressed) float32 table, numIds × dim × {@link FLOAT32_BYTES}: the reference every budget fraction is of. */
export function fullTableBytes(numIds: number, dim: number): number {
  return numIds * dim * FLOAT32_BYTES;
}

/**
 * Bytes of the table a mapper addresses at model dimension `dim`, with rows of `bytesPerRow(rowDim)`
 * bytes (a storage kind's `bytesPerRow`; default float32 rows).
 */
export function embeddingBytes(
  mapper: IdMapper,
  dim: number,
  bytesPerRow: (rowDim: number) => number = (rowDim) => rowDim * FLOAT32_BYTES,
): number {
  return mapper.rows * bytesPerRow(mapper.rowDim(dim));
}

/**
 * Materializes the codes of every fitted ID once (`[numIds × K]`), for training loops that must
 * not call `mapInto` per sample. This is a training-time cache, not part of `mappingBytes`.
 */
export function materializeCodes(mapper: IdMapper): Int32Array {
  const ids = new Int32Array(mapper.numIds);
  for (let i = 0; i < ids.length; i++) ids[i] = i;
  const out = new Int32Array(mapper.numIds * mapper.codesPerId);
  mapper.mapInto(ids, out);
  return out;
}

/**
 * Checks a fit request at the boundary: budget positive and finite, fit data has what the spec
 * requires. Throws {@link InvalidArgumentError} naming the method and the missing part.
 */
export function checkFitRequest(spec: MapperSpec, data: MapperFitData, options: MapperCreateOptions): void {
  const where = `id-hashing/${spec.name}`;
  if (!Number.isInteger(data.numIds) || data.numIds < 1) {
    throw new InvalidArgumentError(`${where}: numIds (${data.numIds}) must be a positive integer`);
  }
  if (!Number.isInteger(options.dim) || options.dim < 1) {
    throw new InvalidArgumentError(`${where}: dim (${options.dim}) must be a positive integer`);
  }
  if (!(options.budgetBytes > 0) || !Number.isFinite(options.budgetBytes)) {
    throw new InvalidArgumentError(`${where}: budgetBytes (${options.budgetBytes}) must be a positive finite number`);
  }
  for (const need of spec.requires) {
    if (data[need] === undefined) {
      throw new InvalidArgumentError(`${where}: needs ${need} in the fit data; this input has none`);
    }
  }
}

/** Throws the standard error for an ID a mapper cannot place. */
export function unknownId(method: string, id: number, numIds: number): never {
  throw new NotFoundError(
    `id-hashing/${method}: ID ${id} is outside the fitted ID space [0, ${numIds}); this method cannot hash unseen IDs — use a hashing method or refit`,
    { context: { id, numIds } },
  );
}
