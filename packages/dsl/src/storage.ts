/**
 * DSL as a storage kind of the embedding contract: rows kept sparse under a fixed count of active
 * weights (prune/grow during training), served as a compact sparse table whose values may be held
 * in another kind's precision (`dsl+int8`: int8 codes with a scale and bias per row).
 */
import {
  BudgetError,
  type CheckpointArray,
  DataFormatError,
  type DenseTrainingView,
  type EmbeddingStorage,
  InvalidArgumentError,
  PendingRowGrads,
  Rng,
  type RowValueCodec,
  rowStepParams,
  type SparseRowsView,
  type StorageCreateOptions,
  type StorageSnapshot,
  type StorageSpec,
  sparseRowStep,
  UsageError,
} from '@compactrec/core';
import { densityForBudget } from './budget.js';
import { BITMAP_BLOCK_ROWS, type CompactFormat, CompactSparseTable } from './compact.js';
import { DslTable } from './dsl-table.js';
import { RADIX_BINS } from './internal/select.js';
import type { DslGrowth } from './options.js';
import { SparseDslTraining } from './sparse-training.js';

/** The registry name of the DSL storage kind. */
export const DSL_STORAGE_NAME = 'dsl';

/**
 * Storage settings read from `StorageCreateOptions.extra` (all optional):
 * `dslUpdates` prune/grow rounds over the run [30], `dslGrowth` 'accumulated' | 'batch' ['accumulated'],
 * `dslPruneRate` r_0 [0.75], `dslTraining` 'dense' (dense-masked values, moments and mask for every weight) |
 * 'sparse' (values and moments only for the active weights, plus growth scores and an active bitmap) |
 * 'auto' (the sparse form when it holds fewer training bytes than the dense-masked one — density below
 * ≈ 0.8 — else dense) ['auto']. Both train in place on the native kernels ({@link DslStorage.trainingView}
 * or {@link DslStorage.sparseRowsView}).
 */
export const DEFAULT_DSL_STORAGE_EXTRA = Object.freeze({
  dslUpdates: 30,
  dslGrowth: 'accumulated' as DslGrowth,
  dslPruneRate: 0.75,
  dslTraining: 'auto' as 'auto' | 'dense' | 'sparse',
});

/**
 * Training bytes of the two DSL forms for `nnz` active weights of a rows × rowDim table: dense-masked
 * = values, Adam moments, mask and scores for every weight; sparse = position, value and moments per
 * active weight, scores for every weight, an active bit per weight and the row starts; both hold the
 * updates' 256 KiB radix histogram.
 */
export function dslTrainingFormBytes(rows: number, rowDim: number, nnz: number): { dense: number; sparse: number } {
  const n = rows * rowDim;
  return {
    dense: 17 * n + 4 * RADIX_BINS,
    sparse: 16 * nnz + 4 * n + Math.ceil(n / 8) + 4 * (rows + 1) + 4 * RADIX_BINS,
  };
}

/** float32 values when no inner kind is given. */
const FLOAT_CODEC: RowValueCodec = {
  bits: 32,
  metaPerRow: 0,
  encodeRow() {},
  decodeRow() {},
};

function popcount8(x: number): number {
  x -= (x >>> 1) & 0x55;
  x = (x & 0x33) + ((x >>> 2) & 0x33);
  return (x + (x >>> 4)) & 0x0f;
}

class DslStorage implements EmbeddingStorage {
  readonly kind: string;
  readonly rows: number;
  readonly rowDim: number;
  lr: number;
  private readonly codec: RowValueCodec;
  private readonly innerName: string | null;
  private t = 0;
  private table: DslTable | null = null;
  /** Sparse-form training state (`dslTraining: 'sparse'`); exclusive with `table`. */
  private sparse: SparseDslTraining | null = null;
  private m: Float32Array | null = null;
  private v: Float32Array | null = null;
  private pending: PendingRowGrads | null = null;
  /** Which form trained (or trains) the table. */
  private trainingForm: 'dense' | 'sparse' = 'dense';
  private readonly hp = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  private nnzPlanned = 0;
  private formatPlanned: CompactFormat = 'bitmap';
  private readonly density: number;
  private readonly updateInterval: number;
  // Serving form.
  private compact: ServingIndex | null = null;
  private codes: Uint8Array | null = null;
  private meta: Float32Array | null = null;

  constructor(o: StorageCreateOptions | null, inner: StorageSpec | undefined, restored?: StorageSnapshot) {
    const innerCodec = inner?.valueCodec ?? null;
    if (inner !== undefined && innerCodec === null) {
      throw new InvalidArgumentError(
        `dsl/storage: '${inner.name}' cannot hold DSL's sparse values (it has no byte-aligned value codec); use dsl, dsl+fp16 or dsl+int8`,
      );
    }
    this.codec = innerCodec ?? FLOAT_CODEC;
    this.innerName = inner && innerCodec !== null && innerCodec.bits !== 32 ? inner.name : null;
    this.kind = this.innerName ? `${DSL_STORAGE_NAME}+${this.innerName}` : DSL_STORAGE_NAME;
    if (restored) {
      this.rows = restored.rows;
      this.rowDim = restored.rowDim;
      this.lr = 0.001;
      this.density = Number(restored.params.density);
      this.updateInterval = Number(restored.params.updateInterval);
      this.loadServing(restored);
      return;
    }
    const opts = o!;
    this.rows = opts.rows;
    this.rowDim = opts.rowDim;
    this.lr = opts.optimizer?.lr ?? 0.001;
    for (const k of ['beta1', 'beta2', 'eps', 'weightDecay'] as const) {
      const val = opts.optimizer?.[k];
      if (val !== undefined) this.hp[k] = val;
    }
    const e = opts.extra ?? {};
    const updates = Number(e.dslUpdates ?? DEFAULT_DSL_STORAGE_EXTRA.dslUpdates);
    const growth = (e.dslGrowth ?? DEFAULT_DSL_STORAGE_EXTRA.dslGrowth) as DslGrowth;
    const pruneRateStart = Number(e.dslPruneRate ?? DEFAULT_DSL_STORAGE_EXTRA.dslPruneRate);
    if (!(Number.isInteger(updates) && updates >= 1)) {
      throw new InvalidArgumentError(
        `dsl/storage: extra.dslUpdates (${String(e.dslUpdates)}) must be a positive integer`,
      );
    }
    const valueBytes = this.codec.bits / 8;
    const fit = densityForBudget(opts.budgetBytes, opts.rows, opts.rowDim, valueBytes, this.codec.metaPerRow * 4);
    if (fit.bytes > opts.budgetBytes) {
      throw new BudgetError(`dsl/storage: ${fit.bytes} bytes exceed the budget ${opts.budgetBytes}`);
    }
    const totalSteps = Math.max(1, opts.totalSteps);
    // A fixed number of prune/grow rounds per run whatever its length.
    this.updateInterval = Math.max(10, Math.floor(totalSteps / updates));
    this.density = fit.density;
    this.formatPlanned = fit.format;
    const asked = e.dslTraining ?? DEFAULT_DSL_STORAGE_EXTRA.dslTraining;
    if (asked !== 'dense' && asked !== 'sparse' && asked !== 'auto') {
      throw new InvalidArgumentError(
        `dsl/storage: extra.dslTraining '${String(asked)}' must be 'auto', 'dense' or 'sparse'`,
      );
    }
    const formBytes = dslTrainingFormBytes(opts.rows, opts.rowDim, Math.round(fit.density * opts.rows * opts.rowDim));
    const training = asked === 'auto' ? (formBytes.sparse < formBytes.dense ? 'sparse' : 'dense') : asked;
    const dslOptions = {
      density: fit.density,
      seed: opts.seed,
      updateInterval: this.updateInterval,
      growth,
      pruneRateStart,
    };
    this.trainingForm = training;
    if (training === 'sparse') {
      this.sparse = new SparseDslTraining(opts.rows, opts.rowDim, totalSteps, dslOptions, opts.initStd);
      this.nnzPlanned = this.sparse.nnz;
      return;
    }
    this.table = new DslTable(opts.rows, opts.rowDim, totalSteps, dslOptions);
    this.table.initValues(opts.initStd, new Rng(opts.seed));
    this.nnzPlanned = this.table.activeCount;
    const n = opts.rows * opts.rowDim;
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }

  get serving(): boolean {
    return this.table === null && this.sparse === null;
  }

  get params(): Readonly<Record<string, number | string | boolean>> {
    return {
      density: this.density,
      nnz: this.serving ? this.compact!.nnz : this.nnzPlanned,
      format: this.serving ? this.compact!.format : this.formatPlanned,
      updateInterval: this.updateInterval,
      ...(this.innerName ? { values: this.innerName } : {}),
      training: this.trainingForm,
    };
  }

  get embeddingBytes(): number {
    if (this.serving) {
      const c = this.compact!;
      const valueBytes = this.codes ? this.codes.byteLength + (this.meta?.byteLength ?? 0) : c.values.byteLength;
      return c.offsets.byteLength + c.index.byteLength + valueBytes;
    }
    return plannedBytes(this.formatPlanned, this.rows, this.rowDim, this.nnzPlanned, this.codec);
  }

  get optimizerBytes(): number {
    if (this.sparse) return this.sparse.m.byteLength + this.sparse.v.byteLength;
    return this.serving ? 0 : this.m!.byteLength + this.v!.byteLength;
  }

  /** Dense training values + mask + growth scores + selection histogram (DslTable.trainingBytes) + pending gradients. */
  get trainingBytes(): number {
    if (this.serving) return 0;
    const pending = this.pending?.bytes ?? 0;
    if (this.sparse) {
      // Active values + positions + row starts + growth scores + active bitmap (moments are optimizerBytes).
      return this.sparse.bytes - this.sparse.m.byteLength - this.sparse.v.byteLength + pending;
    }
    return this.table!.trainingBytes() + pending;
  }

  gather(rowIds: ArrayLike<number>, out: Float32Array, n = rowIds.length): void {
    const d = this.rowDim;
    if (this.sparse) {
      for (let j = 0; j < n; j++) this.sparse.readRow(this.checkRow(rowIds[j]!), out, j * d);
      return;
    }
    if (this.table) {
      const W = this.table.table.data;
      for (let j = 0; j < n; j++) {
        const r = this.checkRow(rowIds[j]!);
        for (let c = 0; c < d; c++) out[j * d + c] = W[r * d + c]!;
      }
      return;
    }
    for (let j = 0; j < n; j++) this.decodeRow(this.checkRow(rowIds[j]!), out, j * d);
  }

  private checkRow(r: number): number {
    if (!(r >= 0 && r < this.rows))
      throw new InvalidArgumentError(`dsl/storage.gather: row ${r} is outside [0, ${this.rows})`);
    return r;
  }

  /** Start (in values) and bitmap/columns of row r in the compact table. */
  private decodeRow(r: number, out: Float32Array, o: number): void {
    const c = this.compact!;
    const d = this.rowDim;
    out.fill(0, o, o + d);
    let start: number;
    let end: number;
    if (c.format === 'csr16') {
      start = c.offsets[r]!;
      end = c.offsets[r + 1]!;
    } else {
      const bpr = Math.ceil(d / 8);
      const blk = Math.floor(r / BITMAP_BLOCK_ROWS);
      start = c.offsets[blk]!;
      const bm = c.index as Uint8Array;
      for (let rr = blk * BITMAP_BLOCK_ROWS; rr < r; rr++)
        for (let b = 0; b < bpr; b++) start += popcount8(bm[rr * bpr + b]!);
      end = start;
      for (let b = 0; b < bpr; b++) end += popcount8(bm[r * bpr + b]!);
    }
    const k = end - start;
    if (this.scratch.length < k) this.scratch = new Float32Array(d);
    const vals = this.scratch;
    if (this.codes) this.codec.decodeRow(this.codes, (start * this.codec.bits) / 8, k, this.meta ?? EMPTY, r, vals, 0);
    else for (let j = 0; j < k; j++) vals[j] = c.values[start + j]!;
    let j = 0;
    if (c.format === 'csr16') {
      const cols = c.index as Uint16Array;
      for (let e = start; e < end; e++) out[o + cols[e]!] = vals[j++]!;
    } else {
      const bm = c.index as Uint8Array;
      const bpr = Math.ceil(d / 8);
      for (let col = 0; col < d; col++) if ((bm[r * bpr + (col >>> 3)]! >>> (col & 7)) & 1) out[o + col] = vals[j++]!;
    }
  }
  private scratch = new Float32Array(0);

  accumulate(r: number, g: ArrayLike<number>, gOff: number, scale: number): void {
    if (this.serving)
      throw new UsageError('dsl/storage.accumulate: the storage is in serving form (finishTraining ran)');
    this.pending ??= new PendingRowGrads(this.rows, this.rowDim);
    this.pending.add(r, g, gOff, scale);
  }

  step(): void {
    const pending = this.pending;
    if (pending === null || pending.count === 0) return;
    this.t++;
    const hp = this.hp;
    if (this.sparse) {
      const sp = this.sparse;
      const view = sp.rowsView();
      const p = rowStepParams(this.lr, hp, this.t, sp.wantsScores(this.t));
      pending.drain((r, grads, gOff) => sparseRowStep(view, this.rowDim, r, grads, gOff, p));
      sp.maybeUpdate(this.t);
      return;
    }
    if (this.table === null) return;
    pending.stepRows(this.trainingView()!, rowStepParams(this.lr, hp, this.t, this.table.wantsScoresForStep(this.t)));
    this.afterKernelSteps(this.t);
  }

  /** Dense rows for the kernels, or null in sparse training (see {@link sparseRowsView}) and when serving. */
  trainingView(): DenseTrainingView | null {
    const t = this.table;
    if (t === null) return null;
    return {
      values: t.table.data,
      m: this.m!,
      v: this.v!,
      quant: null,
      sparse: { mask: t.mask, scores: t.scores, updateInterval: t.options.updateInterval, growth: t.options.growth },
    };
  }

  /** The sparse form's active weights for the kernels (`dslTraining: 'sparse'`), else null. */
  sparseRowsView(): SparseRowsView | null {
    return this.sparse?.rowsView() ?? null;
  }

  afterKernelSteps(step: number): void {
    this.t = step;
    this.table?.maybeUpdate(step, { m: this.m!, v: this.v! });
    this.sparse?.maybeUpdate(step);
  }

  servedPreview(): Float32Array | null {
    // Float values are served as trained; an inner codec (dsl+int8, dsl+fp16) re-encodes them.
    if (this.innerName === null || (this.table === null && this.sparse === null)) return null;
    const d = this.rowDim;
    const out = new Float32Array(this.rows * d);
    const vals = new Float32Array(d);
    const dec = new Float32Array(d);
    const codes = new Uint8Array((d * this.codec.bits) / 8);
    const meta = new Float32Array(this.codec.metaPerRow);
    const roundTrip = (n: number): void => {
      this.codec.encodeRow(vals, 0, n, codes, 0, meta, 0);
      this.codec.decodeRow(codes, 0, n, meta, 0, dec, 0);
    };
    if (this.sparse) {
      const { rowStart, pos, values } = this.sparse.rowsView();
      for (let r = 0; r < this.rows; r++) {
        const a = rowStart[r]!;
        const n = rowStart[r + 1]! - a;
        for (let k = 0; k < n; k++) vals[k] = values[a + k]!;
        roundTrip(n);
        for (let k = 0; k < n; k++) out[pos[a + k]!] = dec[k]!;
      }
      return out;
    }
    const W = this.table!.table.data;
    const M = this.table!.mask;
    for (let r = 0; r < this.rows; r++) {
      let n = 0;
      for (let c = 0; c < d; c++) if (M[r * d + c] === 1) vals[n++] = W[r * d + c]!;
      roundTrip(n);
      n = 0;
      for (let c = 0; c < d; c++) if (M[r * d + c] === 1) out[r * d + c] = dec[n++]!;
    }
    return out;
  }

  finishTraining(): void {
    if (this.sparse) {
      this.finishSparse(this.sparse);
      return;
    }
    const t = this.table;
    if (t === null) return;
    const compact = t.toCompact();
    if (this.innerName) {
      // Encode each row's active values with the inner kind's codec; the float values are dropped.
      const d = this.rowDim;
      const codes = new Uint8Array((compact.nnz * this.codec.bits) / 8);
      const meta = new Float32Array(this.rows * this.codec.metaPerRow);
      const vals = new Float32Array(d);
      const W = t.table.data;
      const M = t.mask;
      let k = 0;
      for (let r = 0; r < this.rows; r++) {
        let n = 0;
        for (let c = 0; c < d; c++) if (M[r * d + c] === 1) vals[n++] = W[r * d + c]!;
        this.codec.encodeRow(vals, 0, n, codes, (k * this.codec.bits) / 8, meta, r);
        k += n;
      }
      this.codes = codes;
      this.meta = meta;
      this.compact = {
        format: compact.format,
        offsets: compact.offsets,
        index: compact.index,
        nnz: compact.nnz,
        values: EMPTY,
      };
    } else {
      this.compact = compact;
    }
    this.table = null;
    this.m = null;
    this.v = null;
    this.pending = null;
  }

  private finishSparse(sp: SparseDslTraining): void {
    const format = this.formatPlanned;
    const { offsets, index } = sp.toCompactArrays(format);
    if (this.innerName) {
      const codes = new Uint8Array((sp.nnz * this.codec.bits) / 8);
      const meta = new Float32Array(this.rows * this.codec.metaPerRow);
      for (let r = 0; r < this.rows; r++) {
        const a = sp.rowStart[r]!;
        this.codec.encodeRow(sp.val, a, sp.rowStart[r + 1]! - a, codes, (a * this.codec.bits) / 8, meta, r);
      }
      this.codes = codes;
      this.meta = meta;
      this.compact = { format, offsets, index, nnz: sp.nnz, values: EMPTY };
    } else {
      this.compact = CompactSparseTable.fromArrays(this.rows, this.rowDim, format, { offsets, index, values: sp.val });
    }
    this.sparse = null;
    this.pending = null;
  }

  snapshot(): StorageSnapshot {
    if (!this.serving)
      throw new UsageError(`dsl/storage.snapshot: call finishTraining() first (a snapshot is the serving form)`);
    const c = this.compact!;
    const arrays: Record<string, CheckpointArray> = { offsets: c.offsets, index: c.index };
    if (this.codes) {
      arrays.codes = this.codes;
      if (this.meta) arrays.meta = this.meta;
    } else arrays.values = c.values;
    return { kind: this.kind, rows: this.rows, rowDim: this.rowDim, params: this.params, arrays };
  }

  private loadServing(s: StorageSnapshot): void {
    const bad = (what: string): never => {
      throw new DataFormatError('dsl/storage snapshot', 0, what);
    };
    const format = s.params.format;
    if (format !== 'bitmap' && format !== 'csr16') bad(`format '${String(format)}' must be bitmap or csr16`);
    const { offsets, index, values, codes, meta } = s.arrays as Record<string, CheckpointArray | undefined>;
    if (!(offsets instanceof Uint32Array)) {
      bad("array 'offsets' must be a Uint32Array");
      return;
    }
    const nnz = offsets[offsets.length - 1]!;
    if (this.innerName) {
      if (!(codes instanceof Uint8Array) || codes.length !== (nnz * this.codec.bits) / 8)
        bad("array 'codes' has the wrong type or length");
      if (
        this.codec.metaPerRow > 0 &&
        (!(meta instanceof Float32Array) || meta.length !== s.rows * this.codec.metaPerRow)
      ) {
        bad("array 'meta' has the wrong type or length");
      }
      this.codes = codes as Uint8Array;
      this.meta = (meta as Float32Array | undefined) ?? null;
      // Validate the index with an all-zero value array of the right length, then keep only the index.
      const check = CompactSparseTable.fromArrays(s.rows, s.rowDim, format as CompactFormat, {
        offsets,
        index: index as Uint8Array | Uint16Array,
        values: new Float32Array(nnz),
      });
      this.compact = { format: check.format, offsets: check.offsets, index: check.index, nnz, values: EMPTY };
    } else {
      if (!(values instanceof Float32Array)) bad("array 'values' must be a Float32Array");
      this.compact = CompactSparseTable.fromArrays(s.rows, s.rowDim, format as CompactFormat, {
        offsets,
        index: index as Uint8Array | Uint16Array,
        values: values as Float32Array,
      });
    }
  }
}

const EMPTY = new Float32Array(0);

/** The index half of a compact sparse table, with float values only when no inner codec holds them. */
interface ServingIndex {
  readonly format: CompactFormat;
  readonly offsets: Uint32Array;
  readonly index: Uint8Array | Uint16Array;
  readonly nnz: number;
  readonly values: Float32Array;
}

function plannedBytes(format: CompactFormat, rows: number, rowDim: number, nnz: number, codec: RowValueCodec): number {
  const offsets = 4 * (format === 'bitmap' ? Math.ceil(rows / BITMAP_BLOCK_ROWS) + 1 : rows + 1);
  const index = format === 'bitmap' ? rows * Math.ceil(rowDim / 8) : 2 * nnz;
  return offsets + index + (nnz * codec.bits) / 8 + rows * codec.metaPerRow * 4;
}

/**
 * The DSL storage kind: alone (`dsl`) float32 values; wrapping a kind with a byte-aligned value
 * codec (`dsl+fp16`, `dsl+int8`) its values in that precision. Its knob is the density, chosen so
 * the served compact table fits the budget.
 */
export const DSL_STORAGE: StorageSpec = Object.freeze({
  name: DSL_STORAGE_NAME,
  summary:
    'dynamic sparse learning (prune/grow under a fixed count of active weights); dsl+int8 stores the values as int8',
  fitsBudget: true,
  wrapsValues: true,
  valueCodec: null,
  bytesPerRow: (rowDim: number) => rowDim * 4,
  create: (o: StorageCreateOptions) => new DslStorage(o, o.inner),
  restore: (s: StorageSnapshot, inner?: StorageSpec) => new DslStorage(null, inner, s),
});
