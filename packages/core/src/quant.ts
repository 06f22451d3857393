/**
 * Row codecs shared by the low-precision storage kinds and the JavaScript kernels (the C++
 * kernels in @compactrec/native implement the same arithmetic in `csrc/quant.h`):
 * - fp16: IEEE half precision, round to nearest even.
 * - row-wise affine integer codes (FBGEMM/TorchRec style): per row a float32 `scale` and `bias`,
 *   code = round((x − bias) / scale) ∈ [0, 2^bits − 1], x̂ = bias + scale · code; int4 codes are
 *   packed two per byte (even column in the low nibble). Max error per value: scale / 2.
 * - ALPT grid: symmetric, x = step · q with q ∈ [−2^(bits−1), 2^(bits−1) − 1], stochastic rounding.
 */
import { fmix32 } from './rng.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → fp16 bits (round to nearest even; overflow → ±Inf, NaN kept). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  // A carry out of the mantissa bumps the exponent: the correct rounding up (to Inf at the top).
  return sign | h;
}

/** fp16 bits → float32 value. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Bytes of one row of `rowDim` integer codes of `bits` bits (int4: two per byte). */
export function codeBytesPerRow(rowDim: number, bits: number): number {
  return Math.ceil((rowDim * bits) / 8);
}

/**
 * Quantizes `src[srcOff .. srcOff + n)` row-wise into `codes` (row starts at byte `codeOff`) and
 * writes the row's scale and bias to `scaleBias[2r]`, `scaleBias[2r + 1]`.
 */
export function quantizeRow(
  src: ArrayLike<number>,
  srcOff: number,
  n: number,
  bits: number,
  codes: Uint8Array,
  codeOff: number,
  scaleBias: Float32Array,
  r: number,
): void {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < n; c++) {
    const x = src[srcOff + c]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (n === 0) lo = hi = 0;
  const levels = (1 << bits) - 1;
  scaleBias[2 * r] = (hi - lo) / levels;
  scaleBias[2 * r + 1] = lo;
  const scale = scaleBias[2 * r]!;
  const bias = scaleBias[2 * r + 1]!;
  const inv = scale > 0 ? 1 / scale : 0;
  if (bits === 8) {
    for (let c = 0; c < n; c++) {
      const q = Math.round((src[srcOff + c]! - bias) * inv);
      codes[codeOff + c] = q < 0 ? 0 : Math.min(q, 255);
    }
    return;
  }
  for (let c = 0; c < n; c += 2) {
    let q0 = Math.round((src[srcOff + c]! - bias) * inv);
    q0 = q0 < 0 ? 0 : Math.min(q0, levels);
    let q1 = c + 1 < n ? Math.round((src[srcOff + c + 1]! - bias) * inv) : 0;
    q1 = q1 < 0 ? 0 : Math.min(q1, levels);
    codes[codeOff + (c >> 1)] = q0 | (q1 << 4);
  }
}

/** Dequantizes one row written by {@link quantizeRow} into `out[outOff .. outOff + n)`. */
export function dequantizeRow(
  codes: Uint8Array,
  codeOff: number,
  n: number,
  bits: number,
  scaleBias: Float32Array,
  r: number,
  out: Float32Array,
  outOff: number,
): void {
  const scale = scaleBias[2 * r]!;
  const bias = scaleBias[2 * r + 1]!;
  if (bits === 8) {
    for (let c = 0; c < n; c++) out[outOff + c] = bias + scale * codes[codeOff + c]!;
    return;
  }
  for (let c = 0; c < n; c++) {
    const byte = codes[codeOff + (c >> 1)]!;
    out[outOff + c] = bias + scale * ((c & 1) === 0 ? byte & 15 : byte >>> 4);
  }
}

/**
 * Fake quantization of one row (the straight-through estimator's forward): `out` gets what the
 * row would be after quantizing and dequantizing it. bits 16 = fp16; 4 or 8 = row-wise affine.
 * Same arithmetic as {@link quantizeRow} + {@link dequantizeRow}.
 */
export function fakeQuantRow(src: Float32Array, off: number, n: number, bits: number, out: Float32Array): void {
  if (bits === 16) {
    for (let c = 0; c < n; c++) out[off + c] = f16ToF32(f32ToF16(src[off + c]!));
    return;
  }
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < n; c++) {
    const x = src[off + c]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const levels = (1 << bits) - 1;
  f32[0] = (hi - lo) / levels;
  const scale = f32[0]!;
  f32[0] = lo;
  const bias = f32[0]!;
  const inv = scale > 0 ? 1 / scale : 0;
  for (let c = 0; c < n; c++) {
    let q = Math.round((src[off + c]! - bias) * inv);
    q = q < 0 ? 0 : Math.min(q, levels);
    out[off + c] = bias + scale * q;
  }
}

/** Uniform [0, 1) number for stochastic rounding of value c of row r at step t (stateless, thread-safe). */
export function roundingNoise(seed: number, r: number, c: number, t: number): number {
  const h = fmix32((Math.imul(r, 0x9e3779b1) ^ Math.imul(c + 1, 0x85ebca77) ^ Math.imul(t, 0xc2b2ae3d) ^ seed) >>> 0);
  return (h >>> 8) / 16777216;
}

/** Smallest and largest ALPT code of `bits` bits. */
export function alptRange(bits: number): { qmin: number; qmax: number } {
  return { qmin: -(1 << (bits - 1)), qmax: (1 << (bits - 1)) - 1 };
}

/**
 * Rounds row values `w[off .. off + n)` stochastically onto the grid `step · q`, q in the ALPT
 * range, in place: q = clamp(floor(w / step + u)) with u from {@link roundingNoise}.
 */
export function alptRoundRow(
  w: Float32Array,
  off: number,
  n: number,
  bits: number,
  step: number,
  seed: number,
  r: number,
  t: number,
): void {
  const qmax = (1 << (bits - 1)) - 1;
  const qmin = -(1 << (bits - 1));
  const inv = 1 / step;
  for (let c = 0; c < n; c++) {
    let q = Math.floor(w[off + c]! * inv + roundingNoise(seed, r, c, t));
    q = q < qmin ? qmin : Math.min(q, qmax);
    w[off + c] = step * q;
  }
}

/** Initial ALPT step of a row: its largest |value| over qmax (a tiny floor keeps it positive). */
export function alptInitialStep(w: Float32Array, off: number, n: number, bits: number): number {
  let m = 0;
  for (let c = 0; c < n; c++) m = Math.max(m, Math.abs(w[off + c]!));
  return Math.max(m / ((1 << (bits - 1)) - 1), 1e-8);
}

/**
 * Gradient scale of an ALPT step (LSQ's 1/√(n·qmax)): keeps the step's gradient, a sum over the
 * row's n values, on the scale of one value's gradient.
 */
export function alptGradScale(n: number, bits: number): number {
  return 1 / Math.sqrt(n * ((1 << (bits - 1)) - 1));
}

/**
 * Gradient of the loss with respect to a row's ALPT step Δ at the row's values `w` (after their
 * update, before re-rounding), through the quantizer Q(w) = Δ · clamp(round(w/Δ), qmin, qmax) with
 * a straight-through round (the LSQ form ALPT trains its step with): ∂Q/∂Δ is round(w/Δ) − w/Δ
 * inside the range and qmin / qmax where the value is clamped. `g` is the loss gradient at the row;
 * the sum is multiplied by {@link alptGradScale}.
 */
export function alptStepGradient(
  g: ArrayLike<number>,
  gOff: number,
  w: Float32Array,
  wOff: number,
  n: number,
  bits: number,
  step: number,
): number {
  const qmax = (1 << (bits - 1)) - 1;
  const qmin = -(1 << (bits - 1));
  const inv = 1 / step;
  let s = 0;
  for (let c = 0; c < n; c++) {
    const x = w[wOff + c]! * inv;
    const d = x >= qmax ? qmax : x <= qmin ? qmin : Math.round(x) - x;
    s += g[gOff + c]! * d;
  }
  return s * alptGradScale(n, bits);
}
