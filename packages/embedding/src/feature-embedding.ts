import {
  BudgetError,
  type Combine,
  type EmbeddingStorage,
  FLOAT32_BYTES,
  fullTableBytes,
  type IdMapper,
  InvalidArgumentError,
  type MapperFitData,
  type QuantizeMode,
  type RowKernels,
  type StorageOptimizerOptions,
  type StorageSpec,
} from '@compactrec/core';
import { FULL_SPEC } from '@compactrec/id-hashing';
import { rowKernels } from '@compactrec/native';
import { type EmbeddingMethod, resolveMethod } from './registry.js';

/** Options of {@link createFeatureEmbedding}; `dim`, `budgetBytes` and `seed` are required. */
export interface FeatureEmbeddingOptions {
  /** Model embedding dimension. */
  readonly dim: number;
  /** Most bytes the served table may take (`embeddingBytes`); ignored by the uncompressed `full`. */
  readonly budgetBytes: number;
  /** Seed of every random choice (mapper, init, masks, rounding). */
  readonly seed: number;
  /** Std of the COMPOSED embedding at init (rows are scaled for sums/products of K rows). @default 0.1 */
  readonly initStd?: number;
  /** Optimizer steps of the whole run (DSL's schedule). @default 0 (unknown) */
  readonly totalSteps?: number;
  /** Low-precision kinds: `after` training (float master, quantized by finishTraining) or `during` it. @default 'after' */
  readonly quantize?: QuantizeMode;
  /** Lazy-Adam settings of the storage. */
  readonly optimizer?: StorageOptimizerOptions;
  /** Settings of the sharing method (its mapper's `extra`, e.g. `{ combine: 'mult' }` for qr); methods reject unknown keys. */
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
  /**
   * Override the mapper's composition: e.g. `'sum'` for the 1-value first-order table of a `concat`
   * mapper (one value cannot be split into K parts). @default the mapper's
   */
  readonly combine?: Combine;
  /**
   * Reuse this already fitted mapper (e.g. a CTR field's, for its 1-value first-order table) instead
   * of fitting one; it must be of the method's sharing kind. The budget still bounds the storage.
   */
  readonly mapper?: IdMapper;
  /** Settings of the storage kind (e.g. `{ dslUpdates: 30, dslGrowth: 'batch', dslPruneRate: 0.75 }`); unknown keys are ignored. */
  readonly storageExtra?: Readonly<Record<string, number | string | boolean>>;
}

/** Defaults of {@link FeatureEmbeddingOptions}. */
export const DEFAULT_FEATURE_EMBEDDING_OPTIONS = Object.freeze({
  initStd: 0.1,
  totalSteps: 0,
  quantize: 'after' as QuantizeMode,
});

/** Attempts at shrinking the mapper's float budget when its rows do not fit the storage's bytes (concat layouts). */
const FIT_ATTEMPTS = 4;

/**
 * Builds one feature's embedding from a method name (see `resolveMethod`), the fit data and a byte
 * budget. Each part picks its own knob: a sharing method sizes its rows for the storage's bytes per
 * row (it is given the float32-equivalent budget), a kind with its own knob (DSL's density) takes the
 * budget itself. A composition that cannot fit throws {@link BudgetError} (never overshoots).
 */
export function createFeatureEmbedding(
  method: string | EmbeddingMethod,
  fit: MapperFitData,
  options: FeatureEmbeddingOptions,
): FeatureEmbedding {
  const m = typeof method === 'string' ? resolveMethod(method) : method;
  const where = `embedding/createFeatureEmbedding(${m.name})`;
  const { dim, seed } = options;
  if (!Number.isInteger(dim) || dim < 1)
    throw new InvalidArgumentError(`${where}: dim (${dim}) must be a positive integer`);
  const full = fullTableBytes(fit.numIds, dim);
  const budget = m.uncompressed ? full : options.budgetBytes;
  if (!(budget > 0) || !Number.isFinite(budget)) {
    throw new InvalidArgumentError(`${where}: budgetBytes (${options.budgetBytes}) must be a positive finite number`);
  }
  const initStd = options.initStd ?? DEFAULT_FEATURE_EMBEDDING_OPTIONS.initStd;
  const extra = options.extra;
  const rowDimOf = (mp: IdMapper): number => ((options.combine ?? mp.combine) === 'concat' ? mp.rowDim(dim) : dim);
  let mapper: IdMapper;
  if (options.mapper !== undefined) {
    mapper = options.mapper;
    if (mapper.method !== m.sharing.name) {
      throw new InvalidArgumentError(
        `${where}: the given mapper is a '${mapper.method}' mapper, not '${m.sharing.name}'`,
      );
    }
    const bytes = mapper.rows * m.storage.bytesPerRow(rowDimOf(mapper));
    if (!m.storage.fitsBudget && !m.uncompressed && bytes > budget) {
      throw new BudgetError(
        `${where}: the given mapper's ${mapper.rows} rows take ${bytes} bytes, over the budget ${budget}`,
        {
          context: { method: m.name, budgetBytes: budget, bytes },
        },
      );
    }
  } else if (m.storage.fitsBudget) {
    // The storage spends the budget itself; the mapper keeps its rows uncompressed-sized.
    mapper = m.sharing.create(fit, { dim, budgetBytes: full, seed, ...(extra ? { extra } : {}) });
  } else {
    const perRow = m.storage.bytesPerRow(dim);
    let floatBudget = Math.floor((budget * dim * FLOAT32_BYTES) / perRow);
    let attempt = 0;
    for (;;) {
      try {
        mapper = m.sharing.create(fit, { dim, budgetBytes: floatBudget, seed, ...(extra ? { extra } : {}) });
      } catch (err) {
        if (err instanceof BudgetError) {
          // One row per ID is the least a non-sharing method can hold: say what that costs in this kind.
          const need =
            m.sharing === FULL_SPEC
              ? `; one row per ID needs ${fit.numIds} × ${perRow} = ${fit.numIds * perRow} bytes (${((100 * perRow) / (dim * FLOAT32_BYTES)).toFixed(1)} % of full): ${whatFits(m.storage, dim, budget / full)}`
              : '';
          throw new BudgetError(
            `${where}: cannot reach ${budget} bytes (${((100 * budget) / full).toFixed(1)} % of the full float32 table) with ${m.storage.name} rows of ${perRow} bytes${need}; raise the budget or add a sharing method (e.g. double-frequency+${m.storage.name}). Mapper: ${err.message}`,
            { cause: err, context: { method: m.name, budgetBytes: budget, fullBytes: full } },
          );
        }
        throw err;
      }
      const bytes = mapper.rows * m.storage.bytesPerRow(rowDimOf(mapper));
      if (bytes <= budget) break;
      if (++attempt >= FIT_ATTEMPTS) {
        throw new BudgetError(
          `${where}: ${bytes} bytes after ${FIT_ATTEMPTS} fits exceed the budget ${budget}; raise it`,
          {
            context: { method: m.name, budgetBytes: budget, bytes },
          },
        );
      }
      floatBudget = Math.floor((floatBudget * budget) / bytes);
    }
  }
  const K = mapper.codesPerId;
  const combine = options.combine ?? mapper.combine;
  const rowStd =
    combine === 'mult' ? initStd ** (1 / K) : combine === 'sum' ? initStd / Math.sqrt(mapper.weights ? 1 : K) : initStd;
  const storage = m.storage.create({
    rows: mapper.rows,
    rowDim: rowDimOf(mapper),
    budgetBytes: budget,
    seed,
    initStd: rowStd,
    totalSteps: options.totalSteps ?? DEFAULT_FEATURE_EMBEDDING_OPTIONS.totalSteps,
    quantize: options.quantize ?? DEFAULT_FEATURE_EMBEDDING_OPTIONS.quantize,
    ...(m.inner ? { inner: m.inner } : {}),
    ...(options.optimizer ? { optimizer: options.optimizer } : {}),
    ...(options.storageExtra ? { extra: options.storageExtra } : {}),
  });
  if (!m.uncompressed && storage.embeddingBytes > budget) {
    throw new BudgetError(`${where}: the storage holds ${storage.embeddingBytes} bytes, over the budget ${budget}`, {
      context: { method: m.name, budgetBytes: budget, bytes: storage.embeddingBytes },
    });
  }
  return new FeatureEmbedding(m.name, mapper, storage, dim, options.combine);
}

/**
 * The embedding of one feature: an {@link IdMapper} (which rows an ID uses) over an
 * {@link EmbeddingStorage} (how the rows are held and trained). Looks up and back-propagates ID
 * batches (composing K rows per ID by sum / mult / concat, with per-ID weights), and reports bytes
 * in four parts.
 */
export class FeatureEmbedding {
  /** Method name it was built from (`graphhash+int8`). */
  readonly method: string;
  readonly mapper: IdMapper;
  readonly storage: EmbeddingStorage;
  readonly dim: number;
  readonly rowDim: number;
  /** How the K rows of an ID compose (the mapper's unless overridden). */
  readonly combine: Combine;
  private codes = new Int32Array(0);
  private rowIds = new Int32Array(0);
  private rowsBuf = new Float32Array(0);
  private lastN = 0;
  private readonly gradRow: Float32Array;
  // Learnable per-ID weights (hash embeddings): lazy Adam moments, allocated on first step.
  private wm: Float32Array | null = null;
  private wv: Float32Array | null = null;
  private wt = 0;
  private readonly pendingW = new Map<number, Float32Array>();
  /**
   * One unweighted row per ID on a storage with the batch methods (`gatherStrided`,
   * `accumulateStrided`): lookup and backward hand the whole batch to the storage.
   */
  private readonly oneRow: boolean;
  /**
   * Unweighted K rows per ID on a storage with `gatherCombined`: lookup hands the batch to the storage,
   * which composes each ID's rows straight into the output (keeping the rows for a `mult` backward).
   */
  private readonly kRows: boolean;
  /** Unweighted `sum` or `concat` of K rows (or one row) on a storage with `accumulateStrided`: backward hands it the batch. */
  private readonly batchScatter: boolean;
  /**
   * Unweighted `mult` of K rows on a storage with `accumulateStrided`: backward computes every code's
   * gradient into `multGrad` and hands the batch to the storage.
   */
  private readonly batchMult: boolean;
  private multGrad = new Float32Array(0);
  /** Row kernels of the `mult` gradients (C++ when built, see `rowKernels`). */
  private readonly kernels: RowKernels = rowKernels();

  constructor(method: string, mapper: IdMapper, storage: EmbeddingStorage, dim: number, combine?: Combine) {
    this.combine = combine ?? mapper.combine;
    const rowDim = this.combine === 'concat' ? mapper.rowDim(dim) : dim;
    if (storage.rows !== mapper.rows || storage.rowDim !== rowDim) {
      throw new InvalidArgumentError(
        `embedding/FeatureEmbedding: ${storage.kind} storage is ${storage.rows} × ${storage.rowDim} but ${mapper.method} needs ${mapper.rows} × ${rowDim}`,
      );
    }
    this.method = method;
    this.mapper = mapper;
    this.storage = storage;
    this.dim = dim;
    this.rowDim = rowDim;
    this.gradRow = new Float32Array(rowDim);
    this.oneRow =
      mapper.codesPerId === 1 &&
      mapper.weights === null &&
      typeof storage.gatherStrided === 'function' &&
      typeof storage.accumulateStrided === 'function';
    this.kRows = !this.oneRow && mapper.weights === null && typeof storage.gatherCombined === 'function';
    this.batchMult =
      mapper.codesPerId > 1 &&
      mapper.weights === null &&
      this.combine === 'mult' &&
      typeof storage.accumulateStrided === 'function';
    this.batchScatter =
      mapper.weights === null &&
      typeof storage.accumulateStrided === 'function' &&
      (mapper.codesPerId === 1 || this.combine === 'sum' || this.combine === 'concat');
  }

  get numIds(): number {
    return this.mapper.numIds;
  }
  /** Bytes serving holds for the table. */
  get embeddingBytes(): number {
    return this.storage.embeddingBytes;
  }
  /** Bytes of the mapper's lookup structures (per-ID weights included). */
  get mappingBytes(): number {
    return this.mapper.mappingBytes;
  }
  /** Optimizer state of the rows (and of learnable weights). */
  get optimizerBytes(): number {
    return this.storage.optimizerBytes + (this.wm?.byteLength ?? 0) + (this.wv?.byteLength ?? 0);
  }
  /** Bytes held only while training besides the served table and the optimizer. */
  get trainingBytes(): number {
    return this.storage.trainingBytes;
  }

  private ensure(n: number): void {
    const K = this.mapper.codesPerId;
    if (this.codes.length < n * K) {
      this.codes = new Int32Array(n * K);
      this.rowIds = new Int32Array(n * K);
      this.rowsBuf = new Float32Array(n * K * this.rowDim);
    }
  }

  /**
   * Embeddings of `ids[0..n)`: ID j's vector goes to `out[outOffset + j·outStride ..)` (`dim` values;
   * stride `dim` by default). Keeps the codes and rows for {@link backward}.
   */
  lookup(ids: ArrayLike<number>, out: Float32Array, n = ids.length, outOffset = 0, outStride = this.dim): void {
    const K = this.mapper.codesPerId;
    if (this.oneRow) {
      // One unweighted row per ID: the ID's vector is its row (zeros for code −1), copied by the storage.
      if (this.codes.length < n) this.codes = new Int32Array(n);
      this.mapper.mapInto(ids, this.codes, n);
      this.storage.gatherStrided!(this.codes, n, out, outOffset, outStride);
      this.lastN = n;
      return;
    }
    if (this.kRows) {
      // sum skips a code −1; mult and concat read row 0 for it, as the generic path below does.
      const combine = this.combine;
      const mult = combine === 'mult';
      if (this.codes.length < n * K) {
        this.codes = new Int32Array(n * K);
        if (combine !== 'sum') this.rowIds = new Int32Array(n * K);
        if (mult) this.rowsBuf = new Float32Array(n * K * this.rowDim);
      }
      const codes = this.codes;
      this.mapper.mapInto(ids, codes, n);
      let rid = codes;
      if (combine !== 'sum') {
        rid = this.rowIds;
        for (let j = 0; j < n * K; j++) rid[j] = Math.max(codes[j]!, 0);
      }
      this.storage.gatherCombined!(rid, n, K, combine, out, outOffset, outStride, mult ? this.rowsBuf : null);
      this.lastN = n;
      return;
    }
    this.ensure(n);
    const codes = this.codes;
    this.mapper.mapInto(ids, codes, n);
    const rid = this.rowIds;
    for (let j = 0; j < n * K; j++) rid[j] = Math.max(codes[j]!, 0);
    const rows = this.rowsBuf;
    if (this.storage.gatherStrided) this.storage.gatherStrided(rid, n * K, rows, 0, this.rowDim);
    else this.storage.gather(rid, rows, n * K);
    this.lastN = n;
    const d = this.dim;
    const rd = this.rowDim;
    const W = this.mapper.weights;
    const numIds = this.mapper.numIds;
    const combine = this.combine;
    for (let j = 0; j < n; j++) {
      const o = outOffset + j * outStride;
      const cb = j * K;
      if (combine === 'concat') {
        for (let k = 0; k < K; k++) for (let c = 0; c < rd; c++) out[o + k * rd + c] = rows[(cb + k) * rd + c]!;
      } else if (combine === 'mult') {
        for (let c = 0; c < d; c++) out[o + c] = rows[cb * rd + c]!;
        for (let k = 1; k < K; k++) for (let c = 0; c < d; c++) out[o + c] = out[o + c]! * rows[(cb + k) * rd + c]!;
      } else {
        for (let c = 0; c < d; c++) out[o + c] = 0;
        const id = ids[j]!;
        for (let k = 0; k < K; k++) {
          if (codes[cb + k]! < 0) continue;
          const w = W === null ? 1 : id < numIds ? W[id * K + k]! : 1 / Math.sqrt(K);
          for (let c = 0; c < d; c++) out[o + c]! += w * rows[(cb + k) * rd + c]!;
        }
      }
    }
  }

  /**
   * Accumulates the gradient of the last {@link lookup}'s embeddings (same layout as its `out`) into
   * the rows (and learnable weights); {@link step} applies it. `ids` must be the looked-up IDs.
   */
  backward(ids: ArrayLike<number>, grad: Float32Array, gradOffset = 0, gradStride = this.dim): void {
    const n = this.lastN;
    const K = this.mapper.codesPerId;
    if (this.batchScatter) {
      // Every code of an item gets the item's gradient (sum) or its own slice (concat), in per-row order.
      const codeStride = this.combine === 'concat' ? this.rowDim : 0;
      this.storage.accumulateStrided!(this.codes, n, grad, gradOffset, gradStride, K, codeStride);
      return;
    }
    if (this.batchMult) {
      // Each code's gradient (the item's gradient times the other codes' rows, in double as below,
      // stored as float32) laid out item-major as a concatenation, then one batch accumulation.
      const d = this.dim;
      if (this.multGrad.length < n * K * d) this.multGrad = new Float32Array(n * K * d);
      this.kernels.multGradRows(this.rowsBuf, d, n, K, grad, gradOffset, gradStride, this.multGrad);
      this.storage.accumulateStrided!(this.codes, n, this.multGrad, 0, K * d, K, d);
      return;
    }
    const codes = this.codes;
    const rows = this.rowsBuf;
    const d = this.dim;
    const rd = this.rowDim;
    const W = this.mapper.weights;
    const learnW = W !== null && this.mapper.learnableWeights;
    const g = this.gradRow;
    const combine = this.combine;
    for (let j = 0; j < n; j++) {
      const o = gradOffset + j * gradStride;
      const cb = j * K;
      if (combine === 'concat') {
        for (let k = 0; k < K; k++) this.storage.accumulate(codes[cb + k]!, grad, o + k * rd, 1);
      } else if (combine === 'mult') {
        for (let k = 0; k < K; k++) {
          for (let c = 0; c < d; c++) {
            let p = grad[o + c]!;
            for (let l = 0; l < K; l++) if (l !== k) p *= rows[(cb + l) * rd + c]!;
            g[c] = p;
          }
          this.storage.accumulate(codes[cb + k]!, g, 0, 1);
        }
      } else {
        const id = ids[j]!;
        const inFit = id >= 0 && id < this.mapper.numIds;
        for (let k = 0; k < K; k++) {
          const r = codes[cb + k]!;
          if (r < 0) continue;
          const w = W === null ? 1 : inFit ? W[id * K + k]! : 1 / Math.sqrt(K);
          this.storage.accumulate(r, grad, o, w);
          if (learnW && inFit) {
            let s = 0;
            for (let c = 0; c < d; c++) s += grad[o + c]! * rows[(cb + k) * rd + c]!;
            let pw = this.pendingW.get(id);
            if (pw === undefined) {
              pw = new Float32Array(K);
              this.pendingW.set(id, pw);
            }
            pw[k]! += s;
          }
        }
      }
    }
  }

  /** One optimizer step of everything {@link backward} accumulated. */
  step(): void {
    this.storage.step();
    if (this.pendingW.size === 0) return;
    const W = this.mapper.weights!;
    const K = this.mapper.codesPerId;
    this.wm ??= new Float32Array(W.length);
    this.wv ??= new Float32Array(W.length);
    this.wt++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.wt;
    const c2 = 1 - b2 ** this.wt;
    const stepSize = (this.storage.lr * Math.sqrt(c2)) / c1;
    const epsHat = 1e-8 * Math.sqrt(c2);
    for (const [id, g] of this.pendingW) {
      for (let k = 0; k < K; k++) {
        const i = id * K + k;
        const mk = b1 * this.wm[i]! + (1 - b1) * g[k]!;
        const vk = b2 * this.wv[i]! + (1 - b2) * g[k]! * g[k]!;
        this.wm[i] = mk;
        this.wv[i] = vk;
        W[i] = W[i]! - (stepSize * mk) / (Math.sqrt(vk) + epsHat);
      }
    }
    this.pendingW.clear();
  }

  /** Turns the storage into its serving form (quantizes a float master, frees optimizer state). */
  finishTraining(): void {
    this.storage.finishTraining();
    this.wm = null;
    this.wv = null;
  }
}

/**
 * What would fit when a storage kind alone (one row per ID) is over a budget: the least budget
 * fraction it needs at dimension `dim`, and the smallest dimension (up to 4096) whose rows cost at
 * most `fraction` of float32 rows.
 */
export function whatFits(storage: StorageSpec, dim: number, fraction: number): string {
  const least = storage.bytesPerRow(dim) / (dim * FLOAT32_BYTES);
  let d = 0;
  for (let c = 1; c <= 4096; c++) {
    if (storage.bytesPerRow(c) <= fraction * c * FLOAT32_BYTES) {
      d = c;
      break;
    }
  }
  const atDim = `${storage.name} fits from a budget of ${Math.ceil(least * 1000) / 1000} of full at dim ${dim}`;
  return d > 0
    ? `${atDim}, or at this budget (${fraction.toFixed(3)}) from dim ${d}`
    : `${atDim}; at this budget (${fraction.toFixed(3)}) it fits at no dim up to 4096`;
}
