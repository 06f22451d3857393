import { EmbeddingTable, type IdMapper, InvalidArgumentError, materializeCodes, Rng } from '@compactrec/core';
import { COMBINE_CODE, getKernels, type TowerArrays } from '@compactrec/native';

/** Options of {@link Tower}; every field is optional. */
export interface TowerOptions {
  /**
   * Standard deviation of the COMPOSED embedding at init; row values are scaled so that a sum
   * of K rows, or a product of K rows, starts near this spread. @default 0.1
   */
  initStd?: number;
  /** Seed of the initial values. @default 0 */
  seed?: number;
  /**
   * Use this table (already initialized, `mapper.rows × rowDim`) instead of allocating one — e.g.
   * the dense training table of a DSL sparse table, so the tower trains it in place.
   */
  table?: EmbeddingTable;
}

export const DEFAULT_TOWER_OPTIONS: Readonly<Required<Omit<TowerOptions, 'table'>>> = Object.freeze({
  initStd: 0.1,
  seed: 0,
});

/**
 * One side of a two-tower model (users or items): an {@link IdMapper}, the table it addresses and
 * its lazy-Adam state. Memory is reported in three parts: `embeddingBytes` (the table — what a
 * budget limits), `mappingBytes` (the mapper's lookup structures) and `optimizerBytes` (training
 * only).
 */
export class Tower {
  readonly mapper: IdMapper;
  readonly dim: number;
  readonly table: EmbeddingTable;
  /** Training-time cache of every fitted ID's rows, `[numIds × K]` (not counted in mappingBytes). */
  readonly codes: Int32Array;
  readonly weights: Float32Array | null;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly wm: Float32Array | null;
  private readonly wv: Float32Array | null;
  /** DSL hooks: a mask and growth scores over the table's values, when the table is sparse. */
  mask: Uint8Array | null = null;
  scores: Float32Array | null = null;

  constructor(mapper: IdMapper, dim: number, options: TowerOptions = {}) {
    const o = { ...DEFAULT_TOWER_OPTIONS };
    if (options.initStd !== undefined) o.initStd = options.initStd;
    if (options.seed !== undefined) o.seed = options.seed;
    if (!(o.initStd > 0)) throw new InvalidArgumentError(`models/Tower: initStd (${o.initStd}) must be positive`);
    const rowDim = mapper.rowDim(dim);
    if (!Number.isInteger(rowDim) || rowDim < 1) {
      throw new InvalidArgumentError(`models/Tower: ${mapper.method} gives row dim ${rowDim} for dim ${dim}`);
    }
    this.mapper = mapper;
    this.dim = dim;
    const K = mapper.codesPerId;
    // Scale rows so the composed embedding starts with spread ≈ initStd.
    const std =
      mapper.combine === 'mult'
        ? o.initStd ** (1 / K)
        : mapper.combine === 'sum'
          ? o.initStd / Math.sqrt(mapper.weights ? 1 : K)
          : o.initStd;
    if (options.table) {
      if (options.table.rows !== mapper.rows || options.table.dim !== rowDim) {
        throw new InvalidArgumentError(
          `models/Tower: the given table is ${options.table.rows} × ${options.table.dim} but ${mapper.method} needs ${mapper.rows} × ${rowDim}`,
        );
      }
      this.table = options.table;
    } else {
      this.table = EmbeddingTable.normal(mapper.rows, rowDim, std, new Rng(o.seed));
    }
    this.codes = materializeCodes(mapper);
    this.weights = mapper.weights;
    this.m = new Float32Array(this.table.data.length);
    this.v = new Float32Array(this.table.data.length);
    const learn = mapper.learnableWeights && mapper.weights !== null;
    this.wm = learn ? new Float32Array(mapper.weights!.length) : null;
    this.wv = learn ? new Float32Array(mapper.weights!.length) : null;
  }

  /** IDs this tower was fitted on. */
  get numIds(): number {
    return this.mapper.numIds;
  }
  /** Bytes of the table values. */
  get embeddingBytes(): number {
    return this.table.bytes;
  }
  /** Bytes of the mapper's serving lookup structures. */
  get mappingBytes(): number {
    return this.mapper.mappingBytes;
  }
  /** Bytes of optimizer state (Adam moments of the table and of learnable weights). */
  get optimizerBytes(): number {
    return this.m.byteLength + this.v.byteLength + (this.wm?.byteLength ?? 0) + (this.wv?.byteLength ?? 0);
  }

  /** The optimizer moments, for DSL (reset on regrowth) and checkpoints. */
  optimizerState(): Record<string, Float32Array> {
    return { m: this.m, v: this.v };
  }

  /** The arrays the kernels read and update in place. */
  arrays(): TowerArrays {
    return {
      codes: this.codes,
      K: this.mapper.codesPerId,
      combine: COMBINE_CODE[this.mapper.combine],
      weights: this.weights,
      learnWeights: this.wm !== null,
      table: this.table.data,
      m: this.m,
      v: this.v,
      weightM: this.wm,
      weightV: this.wv,
      mask: this.mask,
      scores: this.scores,
    };
  }

  /** Composed embeddings of every fitted ID, `[numIds × dim]`. */
  composeAll(out = new Float32Array(this.numIds * this.dim)): Float32Array {
    getKernels().composeEmbeddings({
      dim: this.dim,
      codes: this.codes,
      K: this.mapper.codesPerId,
      combine: COMBINE_CODE[this.mapper.combine],
      weights: this.weights,
      table: this.table.data,
      out,
    });
    return out;
  }
}
