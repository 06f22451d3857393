/**
 * One lazy-Adam step of one table row with the storage hooks applied after it — the single
 * definition of "a step" shared by the storages' generic path and the JavaScript kernels (the C++
 * kernels implement the same in `csrc/rowstep.h`).
 */
import type { Combine } from './mapper.js';
import { alptRoundRow, alptStepGradient, fakeQuantRow } from './quant.js';
import type { DenseTrainingView, SparseRowsView } from './storage.js';

/** Per-step constants of {@link denseRowStep} (see {@link adamStepConstants}). */
export interface RowStepParams {
  /** lr · √(1 − β2^t) / (1 − β1^t). */
  readonly stepSize: number;
  /** ε · √(1 − β2^t). */
  readonly epsHat: number;
  readonly beta1: number;
  readonly beta2: number;
  /** Coupled L2 on the row (added to the gradient). */
  readonly weightDecay: number;
  /** Optimizer step count t (1-based), the stochastic-rounding stream position. */
  readonly t: number;
  /** Whether to add |g| to the sparse hook's growth scores this step. */
  readonly score: boolean;
}

/** The shape of a row step over a view of kind V: step row r with gradient `g[gOff .. gOff + rowDim)`. */
export type RowStepFn<V> = (
  view: V,
  rowDim: number,
  r: number,
  g: ArrayLike<number>,
  gOff: number,
  p: RowStepParams,
) => void;

/** Bias-corrected Adam constants of step t (PyTorch SparseAdam arithmetic). */
export function adamStepConstants(
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  t: number,
): { stepSize: number; epsHat: number } {
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  return { stepSize: (lr * Math.sqrt(c2)) / c1, epsHat: eps * Math.sqrt(c2) };
}

/**
 * Steps row r of `view` with gradient `g[gOff .. gOff + rowDim)`: Adam on the values, growth
 * scores, mask, then the low-precision hook — fake-quant forward row (STE), or for ALPT one Adam
 * step of the row's step size (its own lr `quant.stepLr`, LSQ gradient at the updated values, see
 * `alptStepGradient`) followed by stochastic rounding onto the new grid.
 */
export function denseRowStep(
  view: DenseTrainingView,
  rowDim: number,
  r: number,
  g: ArrayLike<number>,
  gOff: number,
  p: RowStepParams,
): void {
  const W = view.values;
  const M = view.m;
  const V = view.v;
  const o = r * rowDim;
  const { beta1: b1, beta2: b2, stepSize, epsHat, weightDecay: wd } = p;
  for (let c = 0; c < rowDim; c++) {
    const gc = g[gOff + c]! + wd * W[o + c]!;
    const mc = b1 * M[o + c]! + (1 - b1) * gc;
    const vc = b2 * V[o + c]! + (1 - b2) * gc * gc;
    M[o + c] = mc;
    V[o + c] = vc;
    W[o + c] = W[o + c]! - (stepSize * mc) / (Math.sqrt(vc) + epsHat);
  }
  const sp = view.sparse;
  if (sp !== null) {
    if (p.score) for (let c = 0; c < rowDim; c++) sp.scores[o + c]! += Math.abs(g[gOff + c]!);
    for (let c = 0; c < rowDim; c++) if (sp.mask[o + c] === 0) W[o + c] = 0;
  }
  const q = view.quant;
  if (q === null) return;
  if (q.mode === 'ste') {
    const F = q.forward!;
    fakeQuantRow(W.subarray(o, o + rowDim), 0, rowDim, q.bits, F.subarray(o, o + rowDim));
    return;
  }
  const S = q.steps!;
  const step = S[r]!;
  const gs = alptStepGradient(g, gOff, W, o, rowDim, q.bits, step);
  const mS = b1 * q.stepM![r]! + (1 - b1) * gs;
  const vS = b2 * q.stepV![r]! + (1 - b2) * gs * gs;
  q.stepM![r] = mS;
  q.stepV![r] = vS;
  // The steps' Adam shares t and the betas with the values' (bias correction √(1−β2^t)/(1−β1^t)).
  const stepStepSize = (q.stepLr * Math.sqrt(1 - b2 ** p.t)) / (1 - b1 ** p.t);
  S[r] = Math.max(step - (stepStepSize * mS) / (Math.sqrt(vS) + epsHat), 1e-8);
  alptRoundRow(W, o, rowDim, q.bits, S[r]!, q.seed, r, p.t);
}

/**
 * Steps row r of a sparse-rows table with gradient `g[gOff .. gOff + rowDim)`: growth scores for
 * every weight of the row (when `p.score`), lazy Adam on its active entries only. The C++ twin is
 * `stepRowsCsr` in `csrc/rowstep.h`.
 */
export const sparseRowStep: RowStepFn<SparseRowsView> = (view, rowDim, r, g, gOff, p) => {
  const base = r * rowDim;
  if (p.score) {
    const S = view.scores;
    for (let c = 0; c < rowDim; c++) S[base + c]! += Math.abs(g[gOff + c]!);
  }
  const { beta1: b1, beta2: b2, stepSize, epsHat, weightDecay: wd } = p;
  const P = view.pos;
  const W = view.values;
  const M = view.m;
  const V = view.v;
  const end = view.rowStart[r + 1]!;
  for (let e = view.rowStart[r]!; e < end; e++) {
    const gc = g[gOff + P[e]! - base]! + wd * W[e]!;
    const mc = b1 * M[e]! + (1 - b1) * gc;
    const vc = b2 * V[e]! + (1 - b2) * gc * gc;
    M[e] = mc;
    V[e] = vc;
    W[e] = W[e]! - (stepSize * mc) / (Math.sqrt(vc) + epsHat);
  }
};

/** The optimizer settings {@link rowStepParams} reads (a storage's lazy-Adam hyper-parameters). */
export interface RowStepSettings {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

/** The {@link RowStepParams} of optimizer step `t` at learning rate `lr`. */
export function rowStepParams(lr: number, hp: RowStepSettings, t: number, score: boolean): RowStepParams {
  const { stepSize, epsHat } = adamStepConstants(lr, hp.beta1, hp.beta2, hp.eps, t);
  return { stepSize, epsHat, beta1: hp.beta1, beta2: hp.beta2, weightDecay: hp.weightDecay, t, score };
}

/**
 * The gradients a storage's generic path accumulates between two steps: one summed gradient per
 * touched row (de-duplicated through a row → slot map), grown on demand, O(touched rows) to step
 * and to reset — never O(table) per step.
 */
export class PendingRowGrads {
  /** Row → slot, −1 when the row has no pending gradient (read by the row kernels). */
  readonly slot: Int32Array;
  /** Slot → row, `[count]` used. */
  touched = new Int32Array(64);
  /** `[count × width]` summed gradients, slot-major. */
  grads: Float32Array;
  count = 0;

  constructor(
    rows: number,
    readonly width: number,
  ) {
    this.slot = new Int32Array(rows).fill(-1);
    this.grads = new Float32Array(64 * width);
  }

  /** Bytes held (for a storage's `trainingBytes`). */
  get bytes(): number {
    return this.slot.byteLength + this.touched.byteLength + this.grads.byteLength;
  }

  /** Adds `scale · g[gOff .. gOff + width)` to row r's pending gradient. */
  add(r: number, g: ArrayLike<number>, gOff: number, scale: number): void {
    let s = this.slot[r]!;
    const w = this.width;
    if (s < 0) {
      if (this.count === this.touched.length) {
        const t = new Int32Array(this.touched.length * 2);
        t.set(this.touched);
        this.touched = t;
        const gg = new Float32Array(t.length * w);
        gg.set(this.grads);
        this.grads = gg;
      }
      s = this.count++;
      this.slot[r] = s;
      this.touched[s] = r;
      this.grads.fill(0, s * w, s * w + w);
    }
    const o = s * w;
    const G = this.grads;
    for (let c = 0; c < w; c++) G[o + c]! += scale * g[gOff + c]!;
  }

  /**
   * Makes room for `extra` more touched rows (never more than the table's rows in all), so a kernel
   * can add a whole batch without growing the arrays itself.
   */
  reserve(extra: number): void {
    const need = Math.min(this.count + extra, this.slot.length);
    if (need <= this.touched.length) return;
    let cap = this.touched.length;
    while (cap < need) cap *= 2;
    const t = new Int32Array(cap);
    t.set(this.touched.subarray(0, this.count));
    this.touched = t;
    const gg = new Float32Array(cap * this.width);
    gg.set(this.grads.subarray(0, this.count * this.width));
    this.grads = gg;
  }

  /** Calls `fn(row, grads, offset)` for every pending row, then clears them. */
  drain(fn: (r: number, grads: Float32Array, gOff: number) => void): void {
    const w = this.width;
    for (let s = 0; s < this.count; s++) fn(this.touched[s]!, this.grads, s * w);
    this.reset();
  }

  /** Steps every pending row of `view` with {@link denseRowStep}, then clears them. */
  stepRows(view: DenseTrainingView, p: RowStepParams): void {
    const w = this.width;
    for (let s = 0; s < this.count; s++) denseRowStep(view, w, this.touched[s]!, this.grads, s * w, p);
    this.reset();
  }

  /** Drops every pending gradient. */
  reset(): void {
    for (let s = 0; s < this.count; s++) this.slot[this.touched[s]!] = -1;
    this.count = 0;
  }
}

/** The arrays {@link RowKernels.stepRows} trains: a dense table's values and lazy-Adam moments. */
export type RowKernelView = DenseTrainingView;

/**
 * The hot loops of a dense table's training step over a batch: strided gather of rows, gradient
 * accumulation into a {@link PendingRowGrads} and the lazy-Adam step of the touched rows.
 * {@link JS_ROW_KERNELS} is the definition; `@compactrec/native`'s `rowKernels()` gives the C++ twin
 * (bit-identical results: same double-precision operations in the same order).
 */
export interface RowKernels {
  readonly kind: 'native' | 'js';
  /**
   * Copies row `rowIds[j]` of `src` (`[rows × rowDim]`) to `out[outOffset + j·outStride ..)` for
   * j < n, zeros for a negative id. Returns −1, or the first j whose id is ≥ rows (rows after it
   * not written; the caller reports it).
   */
  gatherRows(
    src: Float32Array,
    rowDim: number,
    rowIds: Int32Array,
    n: number,
    out: Float32Array,
    outOffset: number,
    outStride: number,
  ): number;
  /**
   * `acc.add(rowIds[j·K + k], g, gOff + j·gStride + k·codeStride, 1)` for every item j < n and code
   * k < K (`codesPerItem`) with a non-negative id, in that order. Returns −1, or the index into
   * `rowIds` of the first id ≥ the accumulator's rows (then nothing is added).
   */
  accumulateRows(
    acc: PendingRowGrads,
    rowIds: Int32Array,
    n: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    codesPerItem: number,
    codeStride: number,
  ): number;
  /** `acc.stepRows(view, p)`: {@link denseRowStep} on every pending row (hooks included), then clears them. */
  stepRows(view: RowKernelView, acc: PendingRowGrads, p: RowStepParams): void;
  /**
   * The lookup of n items of K = `codesPerItem` rows each: item j's rows are `rowIds[j·K .. j·K + K)`
   * of `src` (`[rows × rowDim]`), composed into `out[outOffset + j·outStride ..)` as `combine` says —
   * `sum`: float32 running sum from zeros in code order, negative ids skipped (rowDim values);
   * `mult`: the first row times each next one, every product rounded to float32, a negative id reads
   * as a zero row (rowDim values); `concat`: the rows side by side, zeros for a negative id (K·rowDim
   * values). When `rowsOut` is given, the gathered rows also go to `rowsOut[(j·K + k)·rowDim ..)`
   * (zeros for negative ids) — what a `mult` backward needs. Returns −1, or the index into `rowIds`
   * of the first id ≥ rows (then nothing is written).
   */
  gatherCombineRows(
    src: Float32Array,
    rowDim: number,
    rowIds: Int32Array,
    n: number,
    codesPerItem: number,
    combine: Combine,
    out: Float32Array,
    outOffset: number,
    outStride: number,
    rowsOut: Float32Array | null,
  ): number;
  /**
   * The per-code gradients of a `mult` composition: for item j < n and code k < K = `codesPerItem`,
   * `out[(j·K + k)·rowDim + c] = f32(g[gOff + j·gStride + c] · Π_{l ≠ k} rows[(j·K + l)·rowDim + c])`,
   * the product taken in double in ascending l (`rows` as `gatherCombineRows` kept them).
   */
  multGradRows(
    rows: Float32Array,
    rowDim: number,
    n: number,
    codesPerItem: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    out: Float32Array,
  ): void;
}

/** The JavaScript row kernels (the definition the native ones are checked against). */
export const JS_ROW_KERNELS: RowKernels = Object.freeze({
  kind: 'js' as const,
  gatherRows(
    src: Float32Array,
    rowDim: number,
    rowIds: Int32Array,
    n: number,
    out: Float32Array,
    outOffset: number,
    outStride: number,
  ): number {
    const rows = src.length / rowDim;
    for (let j = 0; j < n; j++) {
      const r = rowIds[j]!;
      const o = outOffset + j * outStride;
      if (r < 0) {
        out.fill(0, o, o + rowDim);
        continue;
      }
      if (r >= rows) return j;
      const base = r * rowDim;
      for (let c = 0; c < rowDim; c++) out[o + c] = src[base + c]!;
    }
    return -1;
  },
  accumulateRows(
    acc: PendingRowGrads,
    rowIds: Int32Array,
    n: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    codesPerItem: number,
    codeStride: number,
  ): number {
    const rows = acc.slot.length;
    const K = codesPerItem;
    for (let i = 0; i < n * K; i++) if (rowIds[i]! >= rows) return i;
    acc.reserve(n * K); // as the native kernel does: the same capacity, so the same trainingBytes
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < K; k++) {
        const r = rowIds[j * K + k]!;
        if (r >= 0) acc.add(r, g, gOff + j * gStride + k * codeStride, 1);
      }
    }
    return -1;
  },
  stepRows(view: RowKernelView, acc: PendingRowGrads, p: RowStepParams): void {
    acc.stepRows(view, p);
  },
  gatherCombineRows(
    src: Float32Array,
    rowDim: number,
    rowIds: Int32Array,
    n: number,
    codesPerItem: number,
    combine: Combine,
    out: Float32Array,
    outOffset: number,
    outStride: number,
    rowsOut: Float32Array | null,
  ): number {
    if (combine !== 'sum' && combine !== 'mult' && combine !== 'concat')
      throw new TypeError(`core/gatherCombineRows: combine '${combine}' is not sum, mult or concat`);
    const rows = src.length / rowDim;
    const K = codesPerItem;
    const d = rowDim;
    for (let i = 0; i < n * K; i++) if (rowIds[i]! >= rows) return i;
    for (let j = 0; j < n; j++) {
      const o = outOffset + j * outStride;
      const cb = j * K;
      if (rowsOut !== null) {
        for (let k = 0; k < K; k++) {
          const r = rowIds[cb + k]!;
          const ro = (cb + k) * d;
          if (r < 0) rowsOut.fill(0, ro, ro + d);
          else for (let c = 0; c < d; c++) rowsOut[ro + c] = src[r * d + c]!;
        }
      }
      if (combine === 'concat') {
        for (let k = 0; k < K; k++) {
          const r = rowIds[cb + k]!;
          const ok = o + k * d;
          if (r < 0) out.fill(0, ok, ok + d);
          else for (let c = 0; c < d; c++) out[ok + c] = src[r * d + c]!;
        }
      } else if (combine === 'mult') {
        const r0 = rowIds[cb]!;
        if (r0 < 0) out.fill(0, o, o + d);
        else for (let c = 0; c < d; c++) out[o + c] = src[r0 * d + c]!;
        for (let k = 1; k < K; k++) {
          const r = rowIds[cb + k]!;
          if (r < 0) for (let c = 0; c < d; c++) out[o + c] = out[o + c]! * 0;
          else for (let c = 0; c < d; c++) out[o + c] = out[o + c]! * src[r * d + c]!;
        }
      } else {
        for (let c = 0; c < d; c++) out[o + c] = 0;
        for (let k = 0; k < K; k++) {
          const r = rowIds[cb + k]!;
          if (r < 0) continue;
          for (let c = 0; c < d; c++) out[o + c]! += src[r * d + c]!;
        }
      }
    }
    return -1;
  },
  multGradRows(
    rows: Float32Array,
    rowDim: number,
    n: number,
    codesPerItem: number,
    g: Float32Array,
    gOff: number,
    gStride: number,
    out: Float32Array,
  ): void {
    const K = codesPerItem;
    const d = rowDim;
    for (let j = 0; j < n; j++) {
      const o = gOff + j * gStride;
      const cb = j * K;
      for (let k = 0; k < K; k++) {
        const go = (cb + k) * d;
        for (let c = 0; c < d; c++) {
          let p = g[o + c]!;
          for (let l = 0; l < K; l++) if (l !== k) p *= rows[(cb + l) * d + c]!;
          out[go + c] = p;
        }
      }
    }
  },
});
