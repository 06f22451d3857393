/**
 * The storage half of the embedding contract: HOW the rows of one table are held and trained.
 * (WHICH rows an ID uses is the {@link IdMapper} half; `@compactrec/embedding` composes the two.)
 *
 * A storage kind is one module implementing {@link StorageSpec} plus one registry line. Kinds that
 * read rows (float32, fp16, int8, int4, ALPT, DSL's sparse table) expose {@link DenseTrainingView}
 * so the native kernels can train them in place; kinds that compute a row (codebooks, tensor-train
 * cores, hash-encoder networks) leave it null and are trained through the generic
 * `gather` → `accumulate` → `step` path, which every kind implements.
 */
import type { CheckpointArray } from './checkpoint.js';
import type { Combine } from './mapper.js';

/** Bytes of one float32 value: the unit of every "full table" figure. */
export const FLOAT32_BYTES = 4;

/** How a low-precision storage gets its low-precision values. */
export type QuantizeMode = 'after' | 'during';

/**
 * Post-step hooks the fast kernels apply to a touched row after its optimizer step, so a
 * low-precision kind trains at kernel speed:
 * - `ste`: fake quantization. The kernel reads `forward` (the dequantized row) in forward and
 *   backward and writes the optimizer step to the float master `values`, then re-quantizes the
 *   row into `forward` (straight-through estimator).
 * - `alpt`: learned step size. `values` always hold `steps[r] · q` with integer q in the kind's
 *   range; the kernel also takes an Adam step on `steps[r]` (gradient Σ_c g_c · q_c) and rounds
 *   the updated row stochastically back onto the grid.
 */
export interface QuantHook {
  readonly mode: 'ste' | 'alpt';
  /** 4, 8 (row-wise integer codes) or 16 (fp16). */
  readonly bits: number;
  /** `ste`: dequantized rows the forward reads, `[rows × rowDim]`. */
  readonly forward: Float32Array | null;
  /** `alpt`: per-row step sizes `[rows]` and their Adam moments. */
  readonly steps: Float32Array | null;
  readonly stepM: Float32Array | null;
  readonly stepV: Float32Array | null;
  /**
   * `alpt`: learning rate of the steps' own Adam (far below the values' lr: the range step·qmax
   * must not move faster than the values can). 0 for `ste`.
   */
  readonly stepLr: number;
  /** `alpt`: seed of the stochastic rounding (see `roundingNoise`). */
  readonly seed: number;
}

/** Sparse-training hooks (DSL): a mask the kernel applies after each step and growth scores it accumulates. */
export interface SparseHook {
  /** `[rows × rowDim]`, 1 = active. Inactive values are zeroed after every step. */
  readonly mask: Uint8Array;
  /** `[rows × rowDim]` Σ|g| growth scores. */
  readonly scores: Float32Array;
  /** Optimizer steps between prune/grow updates; kernel calls end on its multiples. */
  readonly updateInterval: number;
  /** 'batch': only the last batch before an update scores growth; 'accumulated': every batch. */
  readonly growth: 'batch' | 'accumulated';
}

/**
 * A table whose rows hold only their active entries (DSL's sparse form), trained in place with lazy
 * Adam on the active entries: row r's entries are `[rowStart[r], rowStart[r + 1])`, entry e holds
 * the value at flat position `pos[e]` = r·rowDim + column (sorted). Inactive values read as 0.
 */
export interface SparseRowsView {
  readonly rowStart: Int32Array;
  readonly pos: Int32Array;
  readonly values: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** `[rows × rowDim]` Σ|g| growth scores of every weight, active or not. */
  readonly scores: Float32Array;
  /** Optimizer steps between prune/grow updates; kernel calls end on its multiples. */
  readonly updateInterval: number;
  /** 'batch': only the last batch before an update scores growth; 'accumulated': every batch. */
  readonly growth: 'batch' | 'accumulated';
}

/**
 * The float32 arrays a fast kernel trains in place with lazy Adam: `values` `[rows × rowDim]`,
 * moments of the same length, and optional quantization / sparsity hooks.
 */
export interface DenseTrainingView {
  readonly values: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly quant: QuantHook | null;
  readonly sparse: SparseHook | null;
}

/** Optimizer settings of a storage (lazy Adam; every field optional). */
export interface StorageOptimizerOptions {
  /** @default 0.001 */
  lr?: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
  /** Coupled L2 on touched rows. @default 0 */
  weightDecay?: number;
}

/** Everything a storage factory is given. */
export interface StorageCreateOptions {
  /** Rows of the table (the mapper's `rows`). */
  readonly rows: number;
  /** Values per row (the mapper's `rowDim(dim)`). */
  readonly rowDim: number;
  /** Most bytes the served table may take; only kinds with a free knob (DSL's density) use it. */
  readonly budgetBytes: number;
  /** Seed of every random choice (init, masks, stochastic rounding). */
  readonly seed: number;
  /** Std of the initial values (the mapper's composition decides it). */
  readonly initStd: number;
  /** Optimizer steps of the whole run (schedules, e.g. DSL's prune rate); 0 if unknown. */
  readonly totalSteps: number;
  /** Low-precision kinds: quantize after training (float master) or during it. @default 'after' */
  readonly quantize?: QuantizeMode;
  /** The storage kind of the values, for a kind that wraps another (DSL's `dsl+int8`). */
  readonly inner?: StorageSpec;
  readonly optimizer?: StorageOptimizerOptions;
  /** Kind-specific settings (e.g. `{ dslUpdates: 30 }`); unknown keys are ignored. */
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
}

/** What a checkpoint stores of a storage; the kind's `restore` rebuilds it (serving form). */
export interface StorageSnapshot {
  readonly kind: string;
  readonly rows: number;
  readonly rowDim: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  readonly arrays: Readonly<Record<string, CheckpointArray>>;
}

/**
 * One table's rows: how they are held, read and trained. Rows are addressed by index
 * `0 .. rows − 1`; the storage owns its optimizer state.
 *
 * Life cycle: a storage is created for training; {@link finishTraining} turns it into its serving
 * form (quantizes a float master, drops optimizer state and training-only copies). A restored
 * storage is in serving form.
 */
export interface EmbeddingStorage {
  /** Registry name of the kind (`int8`, or `dsl+int8` for a wrapping kind). */
  readonly kind: string;
  readonly rows: number;
  readonly rowDim: number;
  /** Bytes serving holds for the rows (codes, scales, indices), as allocated. */
  readonly embeddingBytes: number;
  /** Bytes of optimizer state (0 after {@link finishTraining}). */
  readonly optimizerBytes: number;
  /** Bytes held only while training besides the serving form and the optimizer (a float master copy, masks). */
  readonly trainingBytes: number;
  /** Whether {@link finishTraining} has run (or the storage was restored). */
  readonly serving: boolean;
  /** The knob values the kind chose, for reports. */
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Learning rate of the next steps (schedules). */
  lr: number;
  /**
   * Writes rows `rowIds[0..n)` as float32 into `out` (`[n × rowDim]`) — what the model computes
   * with: the fake-quantized row under `during`, the float master under `after` before
   * {@link finishTraining}, the dequantized codes after it.
   */
  gather(rowIds: ArrayLike<number>, out: Float32Array, n?: number): void;
  /**
   * Optional batch form of {@link gather} for one row per ID: row `rowIds[j]` to
   * `out[outOffset + j·outStride ..)` for j < n (`rowDim` values), zeros for a negative id. Same
   * values as `gather`; a kind implements it when it can copy rows faster than one call per row.
   * Callers without it use `gather`.
   */
  gatherStrided?(rowIds: Int32Array, n: number, out: Float32Array, outOffset: number, outStride: number): void;
  /**
   * Optional batch lookup of n items of `codesPerItem` rows each, composed per item straight into
   * `out[outOffset + j·outStride ..)` (see `RowKernels.gatherCombineRows` for each composition's
   * arithmetic and order — the same as composing {@link gather}'s rows in JavaScript, bit for bit);
   * with `rowsOut`, the gathered rows are kept there too (`[n·codesPerItem × rowDim]`). Callers
   * without it gather and compose themselves.
   */
  gatherCombined?(
    rowIds: Int32Array,
    n: number,
    codesPerItem: number,
    combine: Combine,
    out: Float32Array,
    outOffset: number,
    outStride: number,
    rowsOut?: Float32Array | null,
  ): void;
  /** Adds `scale · g[gOff .. gOff + rowDim)` to row r's pending gradient. */
  accumulate(r: number, g: ArrayLike<number>, gOff: number, scale: number): void;
  /**
   * Optional batch form of {@link accumulate} for n items of `codesPerItem` rows each (default 1):
   * `accumulate(rowIds[j·codesPerItem + k], g, gOff + j·gStride + k·codeStride, 1)` for every item
   * j < n and code k with a non-negative id, in that order (same sums, bit for bit). `codeStride` 0
   * (default) gives every code of an item the item's gradient (a sum), `rowDim` its own slice (a
   * concatenation). Callers without it call `accumulate` per row.
   */
  accumulateStrided?(
    rowIds: Int32Array,
    n: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    codesPerItem?: number,
    codeStride?: number,
  ): void;
  /** Applies the pending gradients with one optimizer step of the touched rows, then clears them. */
  step(): void;
  /** The arrays the native kernels train in place, or null (computed rows: use the generic path). */
  trainingView(): DenseTrainingView | null;
  /**
   * Sparse rows the kernels may train in place instead (DSL's sparse form), or null / absent. The
   * arrays are replaced by prune/grow updates: fetch the view again after {@link afterKernelSteps}.
   */
  sparseRowsView?(): SparseRowsView | null;
  /** Called by a trainer after optimizer step `step` (1-based) when it used {@link trainingView} or {@link sparseRowsView}. */
  afterKernelSteps(step: number): void;
  /**
   * The rows as {@link finishTraining} would serve them if training ended now, dequantized to
   * float32 `[rows × rowDim]` (a new array), without leaving the training form; or null / absent
   * when the working rows already are the served values (float32, ALPT's on-grid values, STE's
   * forward rows, DSL) or the storage already serves. Lets a trainer validate — and keep as its
   * best checkpoint — what would be served, not the float master of a post-training quantization.
   */
  servedPreview?(): Float32Array | null;
  /** Turns the storage into its serving form (idempotent). */
  finishTraining(): void;
  /** Serving-form arrays and params (call after {@link finishTraining}). */
  snapshot(): StorageSnapshot;
}

/**
 * Encodes a run of `n` float32 values of one row into bytes (and per-row metadata such as a scale
 * and bias), so a wrapping kind (DSL's sparse rows) can store its values in another kind's precision.
 */
export interface RowValueCodec {
  /** Bits per value; a multiple of 8 (so a run's byte offset is its value offset × bits / 8). */
  readonly bits: number;
  /** float32 metadata values per row (scale and bias: 2). */
  readonly metaPerRow: number;
  encodeRow(
    src: Float32Array,
    srcOff: number,
    n: number,
    codes: Uint8Array,
    codeOff: number,
    meta: Float32Array,
    r: number,
  ): void;
  decodeRow(
    codes: Uint8Array,
    codeOff: number,
    n: number,
    meta: Float32Array,
    r: number,
    out: Float32Array,
    outOff: number,
  ): void;
}

/** A registry entry: how to build (and rebuild) one storage kind. */
export interface StorageSpec {
  /** Registry name, e.g. `int8`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /**
   * Serving bytes of one row of `rowDim` values — the figure sharing methods size their rows by.
   * For a kind with its own knob (DSL) this is the dense figure it starts from.
   */
  bytesPerRow(rowDim: number): number;
  /** Whether the kind spends the budget itself (DSL's density) instead of taking the mapper's rows as given. */
  readonly fitsBudget: boolean;
  /** Whether the kind wraps a value kind (`dsl+int8`): it then stores its values with the inner kind's {@link valueCodec}. */
  readonly wrapsValues: boolean;
  /** How this kind encodes any run of values of one row, for a wrapping kind; null if it cannot be wrapped. */
  readonly valueCodec: RowValueCodec | null;
  create(options: StorageCreateOptions): EmbeddingStorage;
  restore(snapshot: StorageSnapshot, inner?: StorageSpec): EmbeddingStorage;
}
