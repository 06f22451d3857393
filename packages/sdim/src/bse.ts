import { DataFormatError, InvalidArgumentError, UsageError } from '@compactrec/core';
import { addNormalized } from './internal/normalize.js';
import type { SdimPooling } from './sdim-layer.js';
import type { SimHasher } from './simhash.js';

/**
 * BSE (bucket-sum encoding): the user side of SDIM. Because hashes are fixed, the SDIM interest of
 * any candidate depends on the user's sequence only through, per signature and bucket value, the
 * sum of the behaviour embeddings that fell in that bucket. This fixed-size state is precomputed
 * (and streamed) apart from the CTR server, which only hashes candidates and reads buckets.
 *
 * With behaviour side features the buckets sum value vectors (item + feedback embedding) while the
 * signature comes from the item embedding, matching `SdimLayer.forward(..., values)`.
 *
 * Layout: `sums[(s * bucketsPerSignature + b) * dim + d]`, `counts[s * bucketsPerSignature + b]`.
 * Size: numSignatures × 2^τ × (8·dim + 4) bytes (33,280 B for m = 48, τ = 3, dim = 32).
 */
export interface BseState {
  /** Model version (item embeddings + projections) the state was built with. */
  readonly version: string;
  readonly dim: number;
  readonly numSignatures: number;
  readonly bucketsPerSignature: number;
  /** `[numSignatures × bucketsPerSignature × dim]`; float64 so long add/remove streams stay exact enough. */
  readonly sums: Float64Array;
  /** `[numSignatures × bucketsPerSignature]` behaviours per bucket. */
  readonly counts: Uint32Array;
  /** Behaviours currently in the state (every signature's counts sum to it). */
  length: number;
}

/** An empty state shaped for `hasher`. */
export function createBseState(hasher: SimHasher, version: string): BseState {
  if (typeof version !== 'string') {
    throw new InvalidArgumentError(`sdim/createBseState: version (${String(version)}) must be a string`);
  }
  const cells = hasher.numSignatures * hasher.bucketsPerSignature;
  return {
    version,
    dim: hasher.dim,
    numSignatures: hasher.numSignatures,
    bucketsPerSignature: hasher.bucketsPerSignature,
    sums: new Float64Array(cells * hasher.dim),
    counts: new Uint32Array(cells),
    length: 0,
  };
}

function checkShape(fn: string, state: BseState, hasher: SimHasher): void {
  if (
    state.dim !== hasher.dim ||
    state.numSignatures !== hasher.numSignatures ||
    state.bucketsPerSignature !== hasher.bucketsPerSignature
  ) {
    throw new UsageError(
      `sdim/${fn}: state (dim ${state.dim}, ${state.numSignatures} signatures × ${state.bucketsPerSignature} buckets) ` +
        `does not match the hasher (dim ${hasher.dim}, ${hasher.numSignatures} × ${hasher.bucketsPerSignature}); rebuild the state with this model version`,
    );
  }
}

function checkVector(fn: string, name: string, v: Float32Array, n: number, dim: number): void {
  if (!(v instanceof Float32Array) || v.length < n * dim) {
    throw new InvalidArgumentError(
      `sdim/${fn}: ${name} must be a Float32Array of at least ${n} × ${dim} values; got ${v instanceof Float32Array ? v.length : typeof v}`,
    );
  }
}

/**
 * Adds one behaviour to the state: hashed by its item embedding (`dim` values), summed as `value`
 * (its value vector with side features; default the item embedding). O(numHashes·dim).
 */
export function bseAdd(
  state: BseState,
  hasher: SimHasher,
  itemEmbedding: Float32Array,
  value: Float32Array = itemEmbedding,
): void {
  checkShape('bseAdd', state, hasher);
  checkVector('bseAdd', 'itemEmbedding', itemEmbedding, 1, state.dim);
  checkVector('bseAdd', 'value', value, 1, state.dim);
  const sig = hasher.signatureOf(itemEmbedding, 0);
  const { dim, numSignatures: S, bucketsPerSignature: K, sums, counts } = state;
  for (let s = 0; s < S; s++) {
    const cell = s * K + sig[s]!;
    counts[cell]!++;
    const o = cell * dim;
    for (let d = 0; d < dim; d++) sums[o + d]! += value[d]!;
  }
  state.length++;
}

/**
 * Removes one behaviour previously added with the same embedding and value (e.g. the oldest one
 * leaving a length-L window). A bucket whose count drops to 0 is reset to exact zeros, so float residue
 * never accumulates. Throws UsageError, leaving the state untouched, if the behaviour cannot be in it.
 */
export function bseRemove(
  state: BseState,
  hasher: SimHasher,
  itemEmbedding: Float32Array,
  value: Float32Array = itemEmbedding,
): void {
  checkShape('bseRemove', state, hasher);
  checkVector('bseRemove', 'itemEmbedding', itemEmbedding, 1, state.dim);
  checkVector('bseRemove', 'value', value, 1, state.dim);
  const sig = hasher.signatureOf(itemEmbedding, 0);
  const { dim, numSignatures: S, bucketsPerSignature: K, sums, counts } = state;
  for (let s = 0; s < S; s++) {
    if (counts[s * K + sig[s]!] === 0) {
      throw new UsageError(
        `sdim/bseRemove: the behaviour's bucket ${sig[s]} of signature ${s} is empty, so it was never added (state length ${state.length}); ` +
          'remove only behaviours added with the same item embeddings (same model version)',
      );
    }
  }
  for (let s = 0; s < S; s++) {
    const cell = s * K + sig[s]!;
    const o = cell * dim;
    if (--counts[cell]! === 0) sums.fill(0, o, o + dim);
    else for (let d = 0; d < dim; d++) sums[o + d]! -= value[d]!;
  }
  state.length--;
}

/**
 * Builds a state from `length` behaviours (`[L × dim]` item embeddings, row-major, oldest first) in one
 * batched hash pass; `values` (same shape, default the behaviours) are what the buckets sum.
 */
export function encodeBse(
  hasher: SimHasher,
  behaviours: Float32Array,
  length: number,
  version: string,
  values: Float32Array = behaviours,
): BseState {
  if (!Number.isInteger(length) || length < 0) {
    throw new InvalidArgumentError(`sdim/encodeBse: length (${String(length)}) must be a non-negative integer`);
  }
  checkVector('encodeBse', 'behaviours', behaviours, length, hasher.dim);
  checkVector('encodeBse', 'values', values, length, hasher.dim);
  const state = createBseState(hasher, version);
  const { dim, numSignatures: S, bucketsPerSignature: K, sums, counts } = state;
  const sig = new Uint8Array(length * S);
  hasher.signaturesAt(behaviours, 0, length, sig, 0);
  for (let j = 0; j < length; j++) {
    const x = j * dim;
    for (let s = 0; s < S; s++) {
      const cell = s * K + sig[j * S + s]!;
      counts[cell]!++;
      const o = cell * dim;
      for (let d = 0; d < dim; d++) sums[o + d]! += values[x + d]!;
    }
  }
  state.length = length;
  return state;
}

/**
 * SDIM interest of each of `n` candidates (`[n × dim]`) read from the state: `out[j*dim ..]` is the
 * mean over signatures of the ℓ2-normalised sum of the bucket the candidate hashes to (empty buckets
 * contribute 0); with `pooling` `'mean'` the bucket's mean instead (its sum / count), with `'sum'` the
 * bucket's sum. Equals
 * {@link SdimLayer.forward} of a layer with the same pooling over the raw sequence.
 * O(n·(numHashes + numSignatures)·dim).
 */
export function readInterest(
  state: BseState,
  hasher: SimHasher,
  candidates: Float32Array,
  n: number,
  out: Float32Array,
  pooling: SdimPooling = 'l2',
): void {
  checkShape('readInterest', state, hasher);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`sdim/readInterest: n (${String(n)}) must be a non-negative integer`);
  }
  checkVector('readInterest', 'candidates', candidates, n, state.dim);
  if (!(out instanceof Float32Array) || out.length < n * state.dim) {
    throw new InvalidArgumentError(`sdim/readInterest: out must be a Float32Array of at least ${n * state.dim} values`);
  }
  if (pooling !== 'l2' && pooling !== 'mean' && pooling !== 'sum') {
    throw new InvalidArgumentError(`sdim/readInterest: pooling ('${String(pooling)}') must be 'l2', 'mean' or 'sum'`);
  }
  const { dim, numSignatures: S, bucketsPerSignature: K, sums, counts } = state;
  const sig = new Uint8Array(n * S);
  hasher.signaturesAt(candidates, 0, n, sig, 0);
  const acc = new Float64Array(dim);
  const scale = 1 / S;
  for (let j = 0; j < n; j++) {
    acc.fill(0);
    for (let s = 0; s < S; s++) {
      const cell = s * K + sig[j * S + s]!;
      if (pooling !== 'l2') {
        const c = counts[cell]!;
        if (c === 0) continue;
        const f = pooling === 'sum' ? scale : scale / c;
        for (let d = 0; d < dim; d++) acc[d]! += f * sums[cell * dim + d]!;
      } else addNormalized(sums, cell * dim, dim, scale, acc, 0, null, 0);
    }
    const o = j * dim;
    for (let d = 0; d < dim; d++) out[o + d] = acc[d]!;
  }
}

/** Bytes of the state's arrays (sums + counts): numSignatures × 2^τ × (8·dim + 4). */
export function bseBytes(state: BseState): number {
  return state.sums.byteLength + state.counts.byteLength;
}

const MAGIC = 0x31455342; // 'BSE1' little-endian
/** Serialization format version written by {@link serializeBse}. */
export const BSE_FORMAT_VERSION = 1;
const HEADER_BYTES = 4 + 2 + 2 + 4 * 4; // magic, format, version-string bytes, dim, S, K, length
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Compact versioned bytes: header (magic 'BSE1', format version, model version string, dim,
 * numSignatures, bucketsPerSignature, length), the counts, then the float64 sums of non-empty
 * buckets only (empty buckets are exact zeros), then an FNV-1a checksum of everything before it.
 * Lossless: a deserialized state continues add/remove exactly like the original.
 */
export function serializeBse(state: BseState): Uint8Array {
  const { dim, numSignatures: S, bucketsPerSignature: K, counts, sums } = state;
  const ver = textEncoder.encode(state.version);
  if (ver.length > 0xffff) {
    throw new InvalidArgumentError(`sdim/serializeBse: version string is ${ver.length} bytes; at most 65535`);
  }
  let nonEmpty = 0;
  for (let c = 0; c < counts.length; c++) if (counts[c] !== 0) nonEmpty++;
  const verPad = (8 - ((HEADER_BYTES + ver.length + counts.length * 4) % 8)) % 8;
  const sumsAt = HEADER_BYTES + ver.length + counts.length * 4 + verPad;
  const total = sumsAt + nonEmpty * dim * 8 + 4;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, BSE_FORMAT_VERSION, true);
  view.setUint16(6, ver.length, true);
  view.setUint32(8, dim, true);
  view.setUint32(12, S, true);
  view.setUint32(16, K, true);
  view.setUint32(20, state.length, true);
  bytes.set(ver, HEADER_BYTES);
  let p = HEADER_BYTES + ver.length;
  for (let c = 0; c < counts.length; c++, p += 4) view.setUint32(p, counts[c]!, true);
  p = sumsAt;
  for (let c = 0; c < counts.length; c++) {
    if (counts[c] === 0) continue;
    for (let d = 0; d < dim; d++, p += 8) view.setFloat64(p, sums[c * dim + d]!, true);
  }
  view.setUint32(p, fnv1a(bytes, p), true);
  return bytes;
}

/** Inverse of {@link serializeBse}. Garbage → DataFormatError; another format version → UsageError. */
export function deserializeBse(bytes: Uint8Array): BseState {
  const what = 'serialized BSE state';
  const bad = (msg: string): DataFormatError =>
    new DataFormatError(what, 0, `sdim/deserializeBse: ${msg}; pass bytes produced by serializeBse`);
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('sdim/deserializeBse: bytes must be a Uint8Array');
  if (bytes.length < HEADER_BYTES + 4) throw bad(`${bytes.length} bytes is shorter than the header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw bad('bad magic (not a BSE state)');
  const format = view.getUint16(4, true);
  if (format !== BSE_FORMAT_VERSION) {
    throw new UsageError(
      `sdim/deserializeBse: format version ${format} is not supported (this build reads ${BSE_FORMAT_VERSION}); re-encode the state with this build`,
    );
  }
  const verLen = view.getUint16(6, true);
  const dim = view.getUint32(8, true);
  const S = view.getUint32(12, true);
  const K = view.getUint32(16, true);
  const length = view.getUint32(20, true);
  if (dim < 1 || dim > 1 << 16 || S < 1 || S > 1 << 16 || K < 2 || K > 256 || (K & (K - 1)) !== 0) {
    throw bad(`implausible shape dim ${dim}, ${S} signatures, ${K} buckets`);
  }
  const cells = S * K;
  const countsAt = HEADER_BYTES + verLen;
  if (bytes.length < countsAt + cells * 4 + 4) throw bad(`${bytes.length} bytes is too short for ${cells} counts`);
  const stored = view.getUint32(bytes.length - 4, true);
  if (fnv1a(bytes, bytes.length - 4) !== stored) throw bad('checksum mismatch (truncated or corrupted)');
  let version: string;
  try {
    version = textDecoder.decode(bytes.subarray(HEADER_BYTES, countsAt));
  } catch {
    throw bad('version string is not UTF-8');
  }
  const counts = new Uint32Array(cells);
  let nonEmpty = 0;
  for (let c = 0, p = countsAt; c < cells; c++, p += 4) {
    counts[c] = view.getUint32(p, true);
    if (counts[c] !== 0) nonEmpty++;
  }
  for (let s = 0; s < S; s++) {
    let total = 0;
    for (let b = 0; b < K; b++) total += counts[s * K + b]!;
    if (total !== length) throw bad(`signature ${s} counts ${total} behaviours but the state length is ${length}`);
  }
  const verPad = (8 - ((countsAt + cells * 4) % 8)) % 8;
  const sumsAt = countsAt + cells * 4 + verPad;
  if (bytes.length !== sumsAt + nonEmpty * dim * 8 + 4) {
    throw bad(`${bytes.length} bytes does not match ${nonEmpty} non-empty buckets of dim ${dim}`);
  }
  const sums = new Float64Array(cells * dim);
  for (let c = 0, p = sumsAt; c < cells; c++) {
    if (counts[c] === 0) continue;
    for (let d = 0; d < dim; d++, p += 8) sums[c * dim + d] = view.getFloat64(p, true);
  }
  return { version, dim, numSignatures: S, bucketsPerSignature: K, sums, counts, length };
}

function fnv1a(bytes: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
