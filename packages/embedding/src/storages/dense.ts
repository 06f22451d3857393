import {
  alptInitialStep,
  alptRoundRow,
  type CheckpointArray,
  type Combine,
  codeBytesPerRow,
  DataFormatError,
  type DenseTrainingView,
  dequantizeRow,
  type EmbeddingStorage,
  FLOAT32_BYTES,
  f16ToF32,
  f32ToF16,
  fakeQuantRow,
  InvalidArgumentError,
  PendingRowGrads,
  type QuantHook,
  type QuantizeMode,
  quantizeRow,
  Rng,
  type RowKernels,
  type RowValueCodec,
  rowStepParams,
  type StorageCreateOptions,
  type StorageSnapshot,
  type StorageSpec,
  UsageError,
} from '@compactrec/core';
import { rowKernels } from '@compactrec/native';

/** How a dense kind serves its rows. */
export type DenseFormat = 'float32' | 'fp16' | 'rowwise' | 'alpt';

/** The description one dense kind module gives {@link denseStorageKind}. */
export interface DenseKindConfig {
  /** Registry name. */
  readonly name: string;
  readonly summary: string;
  readonly format: DenseFormat;
  /** Bits per served value: 32, 16, 8 or 4. */
  readonly bits: number;
}

/** Defaults of the storage optimizer (lazy Adam). */
export const DEFAULT_STORAGE_OPTIMIZER = Object.freeze({
  lr: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
});

/**
 * Defaults of the ALPT settings read from `StorageCreateOptions.extra` (`storageExtra` of
 * `createFeatureEmbedding`): `alptStepLr`, the learning rate of the per-row steps' own Adam.
 * `null` = the values' lr / 127 for both bit widths: an 8-bit row's range step·127 then moves at
 * most as fast as a value can (the values' lr made the steps run away), and 4-bit rows train better
 * with the same slow step than with lr / 7 (see the package README).
 */
export const DEFAULT_ALPT_STORAGE_EXTRA = Object.freeze({
  alptStepLr: null as number | null,
});

/** The default ALPT step lr is the values' lr over this (8-bit qmax). */
const ALPT_DEFAULT_STEP_LR_DIVISOR = 127;

/** The ALPT step lr of `extra` (validated), or its default for the values' `lr`. */
function alptStepLrOf(extra: StorageCreateOptions['extra'], lr: number, where: string): number {
  const v = extra?.alptStepLr ?? DEFAULT_ALPT_STORAGE_EXTRA.alptStepLr;
  if (v === null) return lr / ALPT_DEFAULT_STEP_LR_DIVISOR;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
    throw new InvalidArgumentError(`${where}: extra.alptStepLr (${String(v)}) must be a positive number`);
  }
  return v;
}

/** Serving bytes per row of a dense kind. */
function rowBytes(format: DenseFormat, bits: number, rowDim: number): number {
  switch (format) {
    case 'float32':
      return rowDim * FLOAT32_BYTES;
    case 'fp16':
      return rowDim * 2;
    case 'rowwise':
      return codeBytesPerRow(rowDim, bits) + 2 * FLOAT32_BYTES; // codes + float32 scale and bias
    case 'alpt':
      return codeBytesPerRow(rowDim, bits) + FLOAT32_BYTES; // codes + float32 step
  }
}

let HALF_TABLE: Float32Array | null = null;
/** Every fp16 bit pattern's float32 value (256 KiB, built on first fp16 lookup): decoding is one load. */
function halfTable(): Float32Array {
  if (HALF_TABLE === null) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = f16ToF32(h);
  }
  return HALF_TABLE;
}

/**
 * A table whose rows are read (not computed): float32, fp16, row-wise int8/int4, or ALPT codes.
 * Training holds float32 values (the master copy for `after`/`during`, the on-grid working values
 * for ALPT) with lazy-Adam moments; {@link finishTraining} encodes the serving form and frees them.
 */
export class DenseStorage implements EmbeddingStorage {
  readonly kind: string;
  readonly rows: number;
  readonly rowDim: number;
  readonly format: DenseFormat;
  readonly bits: number;
  readonly quantize: QuantizeMode;
  lr: number;
  private readonly hp: Required<typeof DEFAULT_STORAGE_OPTIMIZER>;
  private readonly seed: number;
  private t = 0;
  // Training state (null once serving).
  private values: Float32Array | null;
  private m: Float32Array | null = null;
  private v: Float32Array | null = null;
  private quant: QuantHook | null = null;
  private pending: PendingRowGrads | null = null;
  // Serving state.
  private f32: Float32Array | null = null;
  private half: Uint16Array | null = null;
  private codes: Uint8Array | null = null;
  private scaleBias: Float32Array | null = null;
  private steps: Float32Array | null = null;
  /** Decoded rows (and their ids) of a K-row lookup on the fp16 / codes serving forms, reused. */
  private decoded = new Float32Array(0);
  private decodedIds = new Int32Array(0);
  /** ALPT: lr of the steps' Adam (0 for the other formats and once restored). */
  private alptStepLr = 0;
  /** The gather / accumulate / row-step loops: C++ when built (bit-identical), else JavaScript. */
  private readonly kernels: RowKernels = rowKernels();

  constructor(config: DenseKindConfig, o: StorageCreateOptions | null, restored?: StorageSnapshot) {
    this.kind = config.name;
    this.format = config.format;
    this.bits = config.bits;
    const where = `embedding/${config.name}`;
    if (restored) {
      this.rows = restored.rows;
      this.rowDim = restored.rowDim;
      this.quantize = (restored.params.quantize as QuantizeMode) ?? 'after';
      this.seed = 0;
      this.hp = { ...DEFAULT_STORAGE_OPTIMIZER };
      this.lr = this.hp.lr;
      this.values = null;
      this.loadServing(restored, where);
      return;
    }
    const opts = o!;
    if (!Number.isInteger(opts.rows) || opts.rows < 1 || !Number.isInteger(opts.rowDim) || opts.rowDim < 1) {
      throw new InvalidArgumentError(
        `${where}: rows (${opts.rows}) and rowDim (${opts.rowDim}) must be positive integers`,
      );
    }
    const quantize = opts.quantize ?? 'after';
    if (quantize !== 'after' && quantize !== 'during') {
      throw new InvalidArgumentError(`${where}: quantize '${String(quantize)}' is unknown; use 'after' or 'during'`);
    }
    this.rows = opts.rows;
    this.rowDim = opts.rowDim;
    // ALPT is in-training low precision by definition; the float32 kind has nothing to quantize.
    this.quantize = config.format === 'alpt' ? 'during' : config.format === 'float32' ? 'after' : quantize;
    this.seed = opts.seed >>> 0;
    this.hp = { ...DEFAULT_STORAGE_OPTIMIZER };
    for (const [k, val] of Object.entries(opts.optimizer ?? {}))
      if (val !== undefined) (this.hp as Record<string, number>)[k] = val;
    if (!(this.hp.lr > 0)) throw new InvalidArgumentError(`${where}: optimizer.lr (${this.hp.lr}) must be positive`);
    this.lr = this.hp.lr;
    const n = this.rows * this.rowDim;
    const values = new Float32Array(n);
    new Rng(opts.seed).fillNormal(values, opts.initStd);
    this.values = values;
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
    if (this.format === 'alpt') {
      this.alptStepLr = alptStepLrOf(opts.extra, this.hp.lr, where);
      const steps = new Float32Array(this.rows);
      for (let r = 0; r < this.rows; r++) {
        steps[r] = alptInitialStep(values, r * this.rowDim, this.rowDim, this.bits);
        alptRoundRow(values, r * this.rowDim, this.rowDim, this.bits, steps[r]!, this.seed, r, 0);
      }
      this.quant = {
        mode: 'alpt',
        bits: this.bits,
        forward: null,
        steps,
        stepM: new Float32Array(this.rows),
        stepV: new Float32Array(this.rows),
        stepLr: this.alptStepLr,
        seed: this.seed,
      };
    } else if (this.format !== 'float32' && this.quantize === 'during') {
      const forward = new Float32Array(n);
      for (let r = 0; r < this.rows; r++) {
        const o = r * this.rowDim;
        fakeQuantRow(
          values.subarray(o, o + this.rowDim),
          0,
          this.rowDim,
          this.format === 'fp16' ? 16 : this.bits,
          forward.subarray(o, o + this.rowDim),
        );
      }
      this.quant = {
        mode: 'ste',
        bits: this.format === 'fp16' ? 16 : this.bits,
        forward,
        steps: null,
        stepM: null,
        stepV: null,
        stepLr: 0,
        seed: this.seed,
      };
    }
  }

  get serving(): boolean {
    return this.values === null;
  }

  get params(): Readonly<Record<string, number | string | boolean>> {
    if (this.alptStepLr > 0) return { bits: this.bits, quantize: this.quantize, alptStepLr: this.alptStepLr };
    return { bits: this.bits, quantize: this.quantize };
  }

  get embeddingBytes(): number {
    if (this.serving) {
      return (
        (this.f32?.byteLength ?? 0) +
        (this.half?.byteLength ?? 0) +
        (this.codes?.byteLength ?? 0) +
        (this.scaleBias?.byteLength ?? 0) +
        (this.steps?.byteLength ?? 0)
      );
    }
    // Training: the serving form is allocated by finishTraining, with exactly this size.
    return this.rows * rowBytes(this.format, this.bits, this.rowDim);
  }

  get optimizerBytes(): number {
    if (this.serving) return 0;
    return (
      this.m!.byteLength +
      this.v!.byteLength +
      (this.quant?.stepM?.byteLength ?? 0) +
      (this.quant?.stepV?.byteLength ?? 0)
    );
  }

  get trainingBytes(): number {
    if (this.serving) return 0;
    const pending = this.pending?.bytes ?? 0;
    // float32 trains its serving values in place; every other kind holds a float32 working copy
    // (the master under after/during, on-grid values for ALPT) and STE its forward rows.
    const working = this.format === 'float32' ? 0 : this.values!.byteLength;
    return working + (this.quant?.forward?.byteLength ?? 0) + pending;
  }

  gather(rowIds: ArrayLike<number>, out: Float32Array, n = rowIds.length): void {
    const d = this.rowDim;
    for (let j = 0; j < n; j++) {
      const r = rowIds[j]!;
      if (!(r >= 0 && r < this.rows)) {
        throw new InvalidArgumentError(`embedding/${this.kind}.gather: row ${r} is outside [0, ${this.rows})`);
      }
      this.readRow(r, out, j * d);
    }
  }

  gatherStrided(rowIds: Int32Array, n: number, out: Float32Array, outOffset: number, outStride: number): void {
    const d = this.rowDim;
    // Rows held as float32 (training, or a float32 table serving) are copied by the kernel; the
    // serving forms that decode (fp16, codes) read row by row.
    const src = this.values !== null ? (this.quant?.forward ?? this.values) : this.f32;
    if (src !== null) {
      const bad = this.kernels.gatherRows(src, d, rowIds, n, out, outOffset, outStride);
      if (bad >= 0) this.badRow('gatherStrided', rowIds[bad]!);
      return;
    }
    for (let j = 0; j < n; j++) {
      const r = rowIds[j]!;
      const o = outOffset + j * outStride;
      if (r < 0) out.fill(0, o, o + d);
      else if (r < this.rows) this.readRow(r, out, o);
      else this.badRow('gatherStrided', r);
    }
  }

  gatherCombined(
    rowIds: Int32Array,
    n: number,
    codesPerItem: number,
    combine: Combine,
    out: Float32Array,
    outOffset: number,
    outStride: number,
    rowsOut: Float32Array | null = null,
  ): void {
    const d = this.rowDim;
    if (!Number.isInteger(codesPerItem) || codesPerItem < 1) {
      throw new InvalidArgumentError(
        `embedding/${this.kind}.gatherCombined: codesPerItem (${codesPerItem}) must be a positive integer`,
      );
    }
    // Float32 rows go to the kernel as they are; the decoding serving forms (fp16, codes) are first
    // gathered row by row into a reused buffer, which the same kernel then composes.
    let src = this.values !== null ? (this.quant?.forward ?? this.values) : this.f32;
    let ids = rowIds;
    const m = n * codesPerItem;
    if (src === null) {
      for (let i = 0; i < m; i++) if (rowIds[i]! >= this.rows) this.badRow('gatherCombined', rowIds[i]!);
      if (this.decoded.length < m * d) {
        this.decoded = new Float32Array(m * d);
        this.decodedIds = new Int32Array(m);
      }
      this.gatherStrided(rowIds, m, this.decoded, 0, d);
      src = this.decoded;
      ids = this.decodedIds;
      // row i of the buffer is code i; a negative id stays negative (sum skips it, the others read zeros)
      for (let i = 0; i < m; i++) ids[i] = rowIds[i]! < 0 ? -1 : i;
    }
    const bad = this.kernels.gatherCombineRows(
      src,
      d,
      ids,
      n,
      codesPerItem,
      combine,
      out,
      outOffset,
      outStride,
      rowsOut,
    );
    if (bad >= 0) this.badRow('gatherCombined', rowIds[bad]!);
  }

  private badRow(where: string, r: number): never {
    throw new InvalidArgumentError(`embedding/${this.kind}.${where}: row ${r} is outside [0, ${this.rows})`);
  }

  /** Row r as float32 into out[o ..): what the model computes with. */
  private readRow(r: number, out: Float32Array, o: number): void {
    const d = this.rowDim;
    const base = r * d;
    if (this.values !== null) {
      const src = this.quant?.forward ?? this.values;
      for (let c = 0; c < d; c++) out[o + c] = src[base + c]!;
      return;
    }
    switch (this.format) {
      case 'float32': {
        const src = this.f32!;
        for (let c = 0; c < d; c++) out[o + c] = src[base + c]!;
        return;
      }
      case 'fp16': {
        const h = this.half!;
        const lut = halfTable();
        for (let c = 0; c < d; c++) out[o + c] = lut[h[base + c]!]!;
        return;
      }
      case 'rowwise':
        dequantizeRow(this.codes!, r * codeBytesPerRow(d, this.bits), d, this.bits, this.scaleBias!, r, out, o);
        return;
      case 'alpt': {
        const step = this.steps![r]!;
        const half = 1 << (this.bits - 1);
        const cb = r * codeBytesPerRow(d, this.bits);
        const C = this.codes!;
        if (this.bits === 8) for (let c = 0; c < d; c++) out[o + c] = step * (C[cb + c]! - half);
        else
          for (let c = 0; c < d; c++) {
            const byte = C[cb + (c >> 1)]!;
            out[o + c] = step * (((c & 1) === 0 ? byte & 15 : byte >>> 4) - half);
          }
      }
    }
  }

  accumulate(r: number, g: ArrayLike<number>, gOff: number, scale: number): void {
    if (this.serving)
      throw new UsageError(`embedding/${this.kind}.accumulate: the storage is in serving form (finishTraining ran)`);
    this.pending ??= new PendingRowGrads(this.rows, this.rowDim);
    this.pending.add(r, g, gOff, scale);
  }

  accumulateStrided(
    rowIds: Int32Array,
    n: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    codesPerItem = 1,
    codeStride = 0,
  ): void {
    if (this.serving)
      throw new UsageError(
        `embedding/${this.kind}.accumulateStrided: the storage is in serving form (finishTraining ran)`,
      );
    this.pending ??= new PendingRowGrads(this.rows, this.rowDim);
    if (!Number.isInteger(codesPerItem) || codesPerItem < 1 || !Number.isInteger(codeStride) || codeStride < 0) {
      throw new InvalidArgumentError(
        `embedding/${this.kind}.accumulateStrided: codesPerItem (${codesPerItem}) must be a positive integer and codeStride (${codeStride}) a non-negative one`,
      );
    }
    const bad = this.kernels.accumulateRows(this.pending, rowIds, n, g, gOff, gStride, codesPerItem, codeStride);
    if (bad >= 0) this.badRow('accumulateStrided', rowIds[bad]!);
  }

  step(): void {
    const p = this.pending;
    if (p === null || p.count === 0) return;
    this.t++;
    this.kernels.stepRows(this.trainingView()!, p, rowStepParams(this.lr, this.hp, this.t, false));
  }

  trainingView(): DenseTrainingView | null {
    if (this.values === null) return null;
    return { values: this.values, m: this.m!, v: this.v!, quant: this.quant, sparse: null };
  }

  afterKernelSteps(step: number): void {
    this.t = step;
  }

  servedPreview(): Float32Array | null {
    const W = this.values;
    // STE's forward rows and ALPT's on-grid values are what finishTraining encodes exactly.
    if (W === null || this.quant !== null) return null;
    const d = this.rowDim;
    switch (this.format) {
      case 'fp16': {
        const out = new Float32Array(W.length);
        for (let i = 0; i < W.length; i++) out[i] = f16ToF32(f32ToF16(W[i]!));
        return out;
      }
      case 'rowwise': {
        const out = new Float32Array(W.length);
        const cbr = codeBytesPerRow(d, this.bits);
        const codes = new Uint8Array(cbr);
        const scaleBias = new Float32Array(2);
        for (let r = 0; r < this.rows; r++) {
          codes.fill(0);
          quantizeRow(W, r * d, d, this.bits, codes, 0, scaleBias, 0);
          dequantizeRow(codes, 0, d, this.bits, scaleBias, 0, out, r * d);
        }
        return out;
      }
      default:
        return null;
    }
  }

  finishTraining(): void {
    const W = this.values;
    if (W === null) return;
    const d = this.rowDim;
    const R = this.rows;
    switch (this.format) {
      case 'float32':
        this.f32 = W;
        break;
      case 'fp16': {
        const h = new Uint16Array(R * d);
        for (let i = 0; i < h.length; i++) h[i] = f32ToF16(W[i]!);
        this.half = h;
        break;
      }
      case 'rowwise': {
        const cbr = codeBytesPerRow(d, this.bits);
        this.codes = new Uint8Array(R * cbr);
        this.scaleBias = new Float32Array(2 * R);
        for (let r = 0; r < R; r++) quantizeRow(W, r * d, d, this.bits, this.codes, r * cbr, this.scaleBias, r);
        break;
      }
      case 'alpt': {
        const steps = this.quant!.steps!;
        const cbr = codeBytesPerRow(d, this.bits);
        const half = 1 << (this.bits - 1);
        const C = new Uint8Array(R * cbr);
        for (let r = 0; r < R; r++) {
          const step = steps[r]!;
          for (let c = 0; c < d; c++) {
            const q = Math.max(-half, Math.min(half - 1, Math.round(W[r * d + c]! / step))) + half;
            if (this.bits === 8) C[r * cbr + c] = q;
            else C[r * cbr + (c >> 1)]! |= (c & 1) === 0 ? q : q << 4;
          }
        }
        this.codes = C;
        this.steps = steps;
        break;
      }
    }
    this.values = null;
    this.m = null;
    this.v = null;
    this.quant = null;
    this.pending = null;
  }

  snapshot(): StorageSnapshot {
    if (!this.serving) {
      throw new UsageError(
        `embedding/${this.kind}.snapshot: call finishTraining() first (a snapshot is the serving form)`,
      );
    }
    const arrays: Record<string, CheckpointArray> = {};
    if (this.f32) arrays.values = this.f32;
    if (this.half) arrays.half = this.half;
    if (this.codes) arrays.codes = this.codes;
    if (this.scaleBias) arrays.scaleBias = this.scaleBias;
    if (this.steps) arrays.steps = this.steps;
    return { kind: this.kind, rows: this.rows, rowDim: this.rowDim, params: this.params, arrays };
  }

  private loadServing(s: StorageSnapshot, where: string): void {
    const d = s.rowDim;
    const R = s.rows;
    const bad = (what: string): never => {
      throw new DataFormatError(`${where} snapshot`, 0, what);
    };
    const need = <T>(name: string, ctor: new (...a: never[]) => T, length: number): T => {
      const a = s.arrays[name];
      if (!(a instanceof ctor) || (a as unknown as ArrayLike<number>).length !== length) {
        bad(`array '${name}' must be a ${ctor.name} of ${length} values`);
      }
      return a as T;
    };
    const cbr = codeBytesPerRow(d, this.bits);
    switch (this.format) {
      case 'float32':
        this.f32 = need('values', Float32Array, R * d);
        break;
      case 'fp16':
        this.half = need('half', Uint16Array, R * d);
        break;
      case 'rowwise':
        this.codes = need('codes', Uint8Array, R * cbr);
        this.scaleBias = need('scaleBias', Float32Array, 2 * R);
        break;
      case 'alpt':
        this.codes = need('codes', Uint8Array, R * cbr);
        this.steps = need('steps', Float32Array, R);
        break;
    }
  }
}

const f32Scratch = new Float32Array(1);
const f32Bytes = new Uint8Array(f32Scratch.buffer);

/** The codec a wrapping kind uses to store values in this kind's precision (none for sub-byte or learned-step kinds). */
function valueCodecOf(config: DenseKindConfig): RowValueCodec | null {
  switch (config.format) {
    case 'float32':
      return {
        bits: 32,
        metaPerRow: 0,
        encodeRow(src, so, n, codes, co) {
          for (let c = 0; c < n; c++) {
            f32Scratch[0] = src[so + c]!;
            codes.set(f32Bytes, co + 4 * c);
          }
        },
        decodeRow(codes, co, n, _meta, _r, out, oo) {
          for (let c = 0; c < n; c++) {
            for (let b = 0; b < 4; b++) f32Bytes[b] = codes[co + 4 * c + b]!;
            out[oo + c] = f32Scratch[0]!;
          }
        },
      };
    case 'fp16':
      return {
        bits: 16,
        metaPerRow: 0,
        encodeRow(src, so, n, codes, co) {
          for (let c = 0; c < n; c++) {
            const h = f32ToF16(src[so + c]!);
            codes[co + 2 * c] = h & 255;
            codes[co + 2 * c + 1] = h >>> 8;
          }
        },
        decodeRow(codes, co, n, _meta, _r, out, oo) {
          for (let c = 0; c < n; c++) out[oo + c] = f16ToF32(codes[co + 2 * c]! | (codes[co + 2 * c + 1]! << 8));
        },
      };
    case 'rowwise':
      if (config.bits !== 8) return null;
      return {
        bits: 8,
        metaPerRow: 2,
        encodeRow: (src, so, n, codes, co, meta, r) => quantizeRow(src, so, n, 8, codes, co, meta, r),
        decodeRow: (codes, co, n, meta, r, out, oo) => dequantizeRow(codes, co, n, 8, meta, r, out, oo),
      };
    case 'alpt':
      return null;
  }
}

/** Builds the {@link StorageSpec} of one dense kind (each kind module is one call of this). */
export function denseStorageKind(config: DenseKindConfig): StorageSpec {
  return Object.freeze({
    name: config.name,
    summary: config.summary,
    fitsBudget: false,
    wrapsValues: false,
    valueCodec: valueCodecOf(config),
    bytesPerRow: (rowDim: number) => rowBytes(config.format, config.bits, rowDim),
    create: (o: StorageCreateOptions) => new DenseStorage(config, o),
    restore: (s: StorageSnapshot) => new DenseStorage(config, null, s),
  });
}
