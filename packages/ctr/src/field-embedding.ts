import {
  type Combine,
  createSparseOptimizer,
  EmbeddingTable,
  type IdMapper,
  InvalidArgumentError,
  Rng,
  SparseGradAccumulator,
  type SparseOptimizer,
  type SparseOptimizerOptions,
} from '@compactrec/core';

/** Options of {@link FieldEmbedding}; every field is optional. */
export interface FieldEmbeddingOptions {
  /**
   * Std of the COMPOSED embedding at init (rows are scaled so a sum of K rows, or a product of K
   * rows, starts near it — the rule of the retrieval towers). @default 0.01
   */
  initStd?: number;
  /** Seed of the initial values. @default 0 */
  seed?: number;
  /** Sparse optimizer of the rows (and of learnable per-ID weights). @default { kind: 'adam', lr: 0.001 } */
  optimizer?: SparseOptimizerOptions;
  /**
   * Override the mapper's combine (the 1-dim first-order table of a `concat` mapper sums its K
   * scalars, since one value cannot be split). @default the mapper's
   */
  combine?: Combine;
  /** Values of the table, taken as is (loading a model); skips the random init. @default undefined */
  data?: Float32Array;
}

/** Defaults of {@link FieldEmbeddingOptions}. */
export const DEFAULT_FIELD_EMBEDDING_OPTIONS = Object.freeze({
  initStd: 0.01,
  seed: 0,
  optimizer: Object.freeze({ kind: 'adam', lr: 0.001 }) as SparseOptimizerOptions,
});

/**
 * One CTR field's compressed embedding: an {@link IdMapper}, the table it addresses and a row-wise
 * sparse optimizer. It composes each ID's K rows into a `dim`-vector (sum / mult / concat, with
 * per-ID weights) straight into a caller's batch buffer, and scatters the gradient of those
 * vectors back through the composition to the rows — and to learnable weights (hash embeddings) —
 * touching only the rows of the batch. Tables never enter the tensor library, whose gather
 * gradient would be a dense table-sized tensor.
 */
export class FieldEmbedding {
  readonly mapper: IdMapper;
  readonly dim: number;
  readonly rowDim: number;
  readonly combine: Combine;
  readonly table: EmbeddingTable;
  readonly optimizer: SparseOptimizer;
  /** Per-ID weights `[numIds × K]` wrapped as a table (null unless learnable), with their optimizer. */
  private readonly weightTable: EmbeddingTable | null;
  private readonly weightOptimizer: SparseOptimizer | null;
  private readonly unseenWeight: number;
  private acc: SparseGradAccumulator | null = null;
  private weightAcc: SparseGradAccumulator | null = null;
  private codes = new Int32Array(0);
  private column = new Int32Array(0);
  private scratch: Float32Array;

  constructor(mapper: IdMapper, dim: number, options: FieldEmbeddingOptions = {}) {
    const where = 'ctr/FieldEmbedding';
    const initStd = options.initStd ?? DEFAULT_FIELD_EMBEDDING_OPTIONS.initStd;
    if (!(initStd > 0)) throw new InvalidArgumentError(`${where}: initStd (${initStd}) must be positive`);
    this.mapper = mapper;
    this.dim = dim;
    this.combine = options.combine ?? mapper.combine;
    const K = mapper.codesPerId;
    this.rowDim = this.combine === 'concat' ? mapper.rowDim(dim) : dim;
    if (this.combine === 'concat' && this.rowDim * K !== dim) {
      throw new InvalidArgumentError(`${where}: ${mapper.method} concat gives ${K} × ${this.rowDim} ≠ dim ${dim}`);
    }
    if (options.data) {
      this.table = new EmbeddingTable(mapper.rows, this.rowDim, options.data);
    } else {
      const weighted = mapper.weights !== null;
      const std =
        this.combine === 'mult'
          ? initStd ** (1 / K)
          : this.combine === 'sum'
            ? initStd / Math.sqrt(weighted ? 1 : K)
            : initStd;
      this.table = EmbeddingTable.normal(mapper.rows, this.rowDim, std, new Rng(options.seed ?? 0));
    }
    const opt = options.optimizer ?? DEFAULT_FIELD_EMBEDDING_OPTIONS.optimizer;
    this.optimizer = createSparseOptimizer(this.table, opt);
    const learn = mapper.learnableWeights && mapper.weights !== null && this.combine === 'sum';
    this.weightTable = learn ? new EmbeddingTable(mapper.numIds, K, mapper.weights!) : null;
    this.weightOptimizer = this.weightTable ? createSparseOptimizer(this.weightTable, opt) : null;
    this.unseenWeight = 1 / Math.sqrt(K);
    this.scratch = new Float32Array(dim);
  }

  /** Bytes of the table values (what a budget limits). */
  get embeddingBytes(): number {
    return this.table.bytes;
  }

  /** Bytes of optimizer state (rows and learnable weights). */
  get optimizerBytes(): number {
    return this.optimizer.stateBytes + (this.weightOptimizer?.stateBytes ?? 0);
  }

  /** Sets the learning rate of the rows and weights. */
  set lr(lr: number) {
    this.optimizer.lr = lr;
    if (this.weightOptimizer) this.weightOptimizer.lr = lr;
  }

  private ensure(n: number): void {
    const K = this.mapper.codesPerId;
    if (this.column.length < n) {
      this.column = new Int32Array(n);
      this.codes = new Int32Array(n * K);
    }
  }

  /**
   * Composes the embeddings of field `f` of a batch: sample s's vector goes to
   * `out[(s·F + f)·dim ..)` (F = `stride` fields per sample), i.e. one field slot of a
   * `[n × F × dim]` buffer. Keeps the codes for {@link backward}.
   */
  forward(ids: Int32Array, n: number, f: number, stride: number, out: Float32Array): void {
    this.ensure(n);
    const col = this.column;
    for (let s = 0; s < n; s++) col[s] = ids[s * stride + f]!;
    const K = this.mapper.codesPerId;
    const codes = this.codes;
    this.mapper.mapInto(col, codes, n);
    const d = this.dim;
    const rd = this.rowDim;
    const T = this.table.data;
    const W = this.mapper.weights;
    const numIds = this.mapper.numIds;
    for (let s = 0; s < n; s++) {
      const o = (s * stride + f) * d;
      const cb = s * K;
      if (this.combine === 'concat') {
        for (let k = 0; k < K; k++) {
          const r = codes[cb + k]! * rd;
          for (let c = 0; c < rd; c++) out[o + k * rd + c] = T[r + c]!;
        }
      } else if (this.combine === 'mult') {
        const r0 = codes[cb]! * d;
        for (let c = 0; c < d; c++) out[o + c] = T[r0 + c]!;
        for (let k = 1; k < K; k++) {
          const r = codes[cb + k]! * d;
          for (let c = 0; c < d; c++) out[o + c] = out[o + c]! * T[r + c]!;
        }
      } else {
        for (let c = 0; c < d; c++) out[o + c] = 0;
        const id = col[s]!;
        for (let k = 0; k < K; k++) {
          const code = codes[cb + k]!;
          if (code < 0) continue;
          const w = W === null ? 1 : id < numIds ? W[id * K + k]! : this.unseenWeight;
          const r = code * d;
          for (let c = 0; c < d; c++) out[o + c]! += w * T[r + c]!;
        }
      }
    }
  }

  /**
   * Back-propagates `grad` (same layout as {@link forward}'s `out`) through the composition of
   * the last forward batch and applies one sparse optimizer step to the touched rows (and
   * weights). Gradients are accumulated for the whole batch before any row changes.
   */
  backward(n: number, f: number, stride: number, grad: Float32Array): void {
    this.accumulate(n, f, stride, grad);
    this.step();
  }

  /**
   * The row (and weight) gradients collected by {@link accumulate} and not yet applied:
   * `grads` is `[count × rowDim]` aligned with `rows`; `weightGrads` `[weightCount × K]` with `weightIds`.
   */
  pendingGradients(): {
    rows: Int32Array;
    grads: Float32Array;
    count: number;
    weightIds: Int32Array | null;
    weightGrads: Float32Array | null;
    weightCount: number;
  } {
    const a = this.acc;
    const w = this.weightAcc;
    return {
      rows: a ? a.touched : new Int32Array(0),
      grads: a ? a.grads : new Float32Array(0),
      count: a ? a.count : 0,
      weightIds: w ? w.touched : null,
      weightGrads: w ? w.grads : null,
      weightCount: w ? w.count : 0,
    };
  }

  /** Applies the pending gradients with the sparse optimizers and forgets them. */
  step(): void {
    const acc = this.acc;
    if (acc) {
      this.optimizer.step(acc.touched, acc.grads, acc.count);
      acc.reset();
    }
    const wacc = this.weightAcc;
    if (wacc && this.weightOptimizer) {
      this.weightOptimizer.step(wacc.touched, wacc.grads, wacc.count);
      wacc.reset();
    }
  }

  /** Adds the gradients of the last forward batch (see {@link backward}) without applying them. */
  accumulate(n: number, f: number, stride: number, grad: Float32Array): void {
    const K = this.mapper.codesPerId;
    const d = this.dim;
    const rd = this.rowDim;
    if (this.acc === null || this.acc.touched.length < Math.min(n * K, this.table.rows)) {
      this.acc = new SparseGradAccumulator(this.table.rows, rd, Math.min(Math.max(n, 1024) * K, this.table.rows));
    }
    const acc = this.acc;
    const codes = this.codes;
    const col = this.column;
    const T = this.table.data;
    const W = this.mapper.weights;
    const numIds = this.mapper.numIds;
    const learn = this.weightTable !== null;
    if (learn && (this.weightAcc === null || this.weightAcc.touched.length < Math.min(n, numIds))) {
      this.weightAcc = new SparseGradAccumulator(numIds, K, Math.min(Math.max(n, 1024), numIds));
    }
    const wacc = this.weightAcc;
    const tmp = this.scratch;
    for (let s = 0; s < n; s++) {
      const o = (s * stride + f) * d;
      const cb = s * K;
      if (this.combine === 'concat') {
        for (let k = 0; k < K; k++) acc.add(codes[cb + k]!, grad, o + k * rd, 1);
      } else if (this.combine === 'mult') {
        for (let k = 0; k < K; k++) {
          // ∂e/∂T[r_k] = g ⊙ Π_{j≠k} T[r_j]
          for (let c = 0; c < d; c++) tmp[c] = grad[o + c]!;
          for (let j = 0; j < K; j++) {
            if (j === k) continue;
            const r = codes[cb + j]! * d;
            for (let c = 0; c < d; c++) tmp[c] = tmp[c]! * T[r + c]!;
          }
          acc.add(codes[cb + k]!, tmp, 0, 1);
        }
      } else {
        const id = col[s]!;
        for (let k = 0; k < K; k++) {
          const code = codes[cb + k]!;
          if (code < 0) continue;
          const w = W === null ? 1 : id < numIds ? W[id * K + k]! : this.unseenWeight;
          acc.add(code, grad, o, w);
          if (learn && id < numIds) {
            // ∂e/∂w_k = g · T[r_k]
            const r = code * d;
            let dot = 0;
            for (let c = 0; c < d; c++) dot += grad[o + c]! * T[r + c]!;
            const wo = wacc!.slotOf(id);
            wacc!.grads[wo + k]! += dot;
          }
        }
      }
    }
  }
}
