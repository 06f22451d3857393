import {
  type IdMapper,
  InvalidArgumentError,
  materializeCodes,
  type SparseRowsView,
  UsageError,
} from '@compactrec/core';
import { FeatureEmbedding, FLOAT32_STORAGE } from '@compactrec/embedding';
import { COMBINE_CODE, getKernels, QUANT_MODE_CODE, type TowerArrays } from '@compactrec/native';

/** Options of the legacy `new Tower(mapper, dim, options)` (a float32 table); every field is optional. */
export interface TowerOptions {
  /**
   * Standard deviation of the COMPOSED embedding at init; row values are scaled so that a sum
   * of K rows, or a product of K rows, starts near this spread. @default 0.1
   */
  initStd?: number;
  /** Seed of the initial values. @default 0 */
  seed?: number;
}

export const DEFAULT_TOWER_OPTIONS: Readonly<Required<TowerOptions>> = Object.freeze({
  initStd: 0.1,
  seed: 0,
});

/** Chunk of IDs composed at a time on the generic (non-kernel) path. */
const LOOKUP_CHUNK = 4096;

/**
 * One side of a two-tower model (users or items): a {@link FeatureEmbedding} (mapper × storage
 * kind) plus what the native kernels need to train it in place — the materialized codes and the
 * Adam moments of learnable per-ID weights. A storage without a dense training view (computed
 * rows) is trained by the generic path of `trainMfBpr`.
 */
export class Tower {
  readonly embedding: FeatureEmbedding;
  readonly mapper: IdMapper;
  readonly dim: number;
  /** Training-time cache of every fitted ID's rows, `[numIds × K]` (not counted in mappingBytes). */
  readonly codes: Int32Array;
  readonly weights: Float32Array | null;
  private readonly wm: Float32Array | null;
  private readonly wv: Float32Array | null;

  /** A tower over a feature embedding (any composed method). */
  constructor(embedding: FeatureEmbedding);
  /** A float32 tower over a mapper (the table before the embedding contract). */
  constructor(mapper: IdMapper, dim: number, options?: TowerOptions);
  constructor(source: FeatureEmbedding | IdMapper, dim?: number, options: TowerOptions = {}) {
    if (source instanceof FeatureEmbedding) {
      this.embedding = source;
    } else {
      const mapper = source;
      const d = dim!;
      const initStd = options.initStd ?? DEFAULT_TOWER_OPTIONS.initStd;
      if (!(initStd > 0)) throw new InvalidArgumentError(`models/Tower: initStd (${initStd}) must be positive`);
      const rowDim = mapper.rowDim(d);
      if (!Number.isInteger(rowDim) || rowDim < 1) {
        throw new InvalidArgumentError(`models/Tower: ${mapper.method} gives row dim ${rowDim} for dim ${d}`);
      }
      const K = mapper.codesPerId;
      // Scale rows so the composed embedding starts with spread ≈ initStd.
      const std =
        mapper.combine === 'mult'
          ? initStd ** (1 / K)
          : mapper.combine === 'sum'
            ? initStd / Math.sqrt(mapper.weights ? 1 : K)
            : initStd;
      const storage = FLOAT32_STORAGE.create({
        rows: mapper.rows,
        rowDim,
        budgetBytes: mapper.rows * rowDim * 4,
        seed: options.seed ?? DEFAULT_TOWER_OPTIONS.seed,
        initStd: std,
        totalSteps: 0,
      });
      this.embedding = new FeatureEmbedding(mapper.method, mapper, storage, d);
    }
    this.mapper = this.embedding.mapper;
    this.dim = this.embedding.dim;
    this.codes = materializeCodes(this.mapper);
    this.weights = this.mapper.weights;
    const learn = this.mapper.learnableWeights && this.mapper.weights !== null;
    this.wm = learn ? new Float32Array(this.mapper.weights!.length) : null;
    this.wv = learn ? new Float32Array(this.mapper.weights!.length) : null;
  }

  /** IDs this tower was fitted on. */
  get numIds(): number {
    return this.mapper.numIds;
  }
  /** Bytes serving holds for the table (the storage's served form). */
  get embeddingBytes(): number {
    return this.embedding.embeddingBytes;
  }
  /** Bytes of the mapper's serving lookup structures. */
  get mappingBytes(): number {
    return this.embedding.mappingBytes;
  }
  /** Bytes of optimizer state (the storage's moments and those of learnable weights). */
  get optimizerBytes(): number {
    return this.embedding.optimizerBytes + (this.wm?.byteLength ?? 0) + (this.wv?.byteLength ?? 0);
  }
  /** Bytes held only while training besides the served table and the optimizer. */
  get trainingBytes(): number {
    return this.embedding.trainingBytes;
  }
  /**
   * Whether the native kernels can train this tower in place: its storage has a dense training
   * view, or sparse rows (DSL's sparse form) under a sum composition without learnable weights.
   */
  get kernelTrainable(): boolean {
    return this.embedding.storage.trainingView() !== null || this.csrView() !== null;
  }

  /** The storage's sparse rows when the kernels can train them (sum, no learnable weights), else null. */
  private csrView(): SparseRowsView | null {
    if (this.mapper.combine !== 'sum' || this.wm !== null) return null;
    return this.embedding.storage.sparseRowsView?.() ?? null;
  }

  /** When the storage's sparsity updates run and which batches score growth (DSL), or null. */
  sparseSchedule(): { readonly updateInterval: number; readonly growth: 'batch' | 'accumulated' } | null {
    return this.embedding.storage.trainingView()?.sparse ?? this.csrView();
  }

  /** The arrays the kernels read and update in place. */
  arrays(): TowerArrays {
    const view = this.embedding.storage.trainingView();
    const csr = view === null ? this.csrView() : null;
    if (view === null && csr !== null) {
      const none = new Float32Array(0);
      return {
        codes: this.codes,
        K: this.mapper.codesPerId,
        combine: COMBINE_CODE.sum,
        weights: this.weights,
        learnWeights: false,
        table: none,
        m: none,
        v: none,
        weightM: null,
        weightV: null,
        sparse: null,
        quant: null,
        csr: { rowStart: csr.rowStart, pos: csr.pos, values: csr.values, m: csr.m, v: csr.v, scores: csr.scores },
      };
    }
    if (view === null) {
      throw new UsageError(
        `models/Tower.arrays: the ${this.embedding.storage.kind} storage of ${this.embedding.method} has no dense training view (finished, or computed rows); use the generic path`,
      );
    }
    const q = view.quant;
    return {
      codes: this.codes,
      K: this.mapper.codesPerId,
      combine: COMBINE_CODE[this.mapper.combine],
      weights: this.weights,
      learnWeights: this.wm !== null,
      table: view.values,
      m: view.m,
      v: view.v,
      weightM: this.wm,
      weightV: this.wv,
      sparse: view.sparse ? { mask: view.sparse.mask, scores: view.sparse.scores } : null,
      quant:
        q === null
          ? null
          : {
              mode: QUANT_MODE_CODE[q.mode],
              bits: q.bits,
              forward: q.forward,
              steps: q.steps,
              stepM: q.stepM,
              stepV: q.stepV,
              stepLr: q.stepLr,
              seed: q.seed,
            },
    };
  }

  /** Composed embeddings of every fitted ID, `[numIds × dim]`: what the model currently computes with. */
  composeAll(out = new Float32Array(this.numIds * this.dim)): Float32Array {
    const view = this.embedding.storage.trainingView();
    if (view !== null) return this.composeFrom(view.quant?.forward ?? view.values, out);
    const ids = new Int32Array(Math.min(LOOKUP_CHUNK, this.numIds));
    for (let lo = 0; lo < this.numIds; lo += LOOKUP_CHUNK) {
      const n = Math.min(LOOKUP_CHUNK, this.numIds - lo);
      for (let j = 0; j < n; j++) ids[j] = lo + j;
      this.embedding.lookup(ids, out, n, lo * this.dim);
    }
    return out;
  }

  /**
   * Composed embeddings of every fitted ID as the served tables would give them if training ended
   * now (the storage's `servedPreview`: a post-training quantization applied to a copy); the same
   * as {@link composeAll} for kinds whose working rows are their served values.
   */
  composeServed(out = new Float32Array(this.numIds * this.dim)): Float32Array {
    const table = this.embedding.storage.servedPreview?.() ?? null;
    return table === null ? this.composeAll(out) : this.composeFrom(table, out);
  }

  /** Every fitted ID's embedding composed by the kernels from a dense `[rows × rowDim]` table. */
  private composeFrom(table: Float32Array, out: Float32Array): Float32Array {
    getKernels().composeEmbeddings({
      dim: this.dim,
      codes: this.codes,
      K: this.mapper.codesPerId,
      combine: COMBINE_CODE[this.mapper.combine],
      weights: this.weights,
      table,
      out,
    });
    return out;
  }

  /** Tells the storage how many optimizer steps the kernels have taken (DSL prune/grow). */
  afterKernelSteps(step: number): void {
    this.embedding.storage.afterKernelSteps(step);
  }

  /** Turns the table into its served form (quantizes a float master, frees optimizer state). */
  finishTraining(): void {
    this.embedding.finishTraining();
  }
}
