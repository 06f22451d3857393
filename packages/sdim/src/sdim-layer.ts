import { InvalidArgumentError, UsageError } from '@compactrec/core';
import { checkBatch } from './internal/check.js';
import { addNormalized } from './internal/normalize.js';
import type { SimHasher } from './simhash.js';

/**
 * How SDIM turns a bucket's sum into a signature's interest: `'l2'` = the paper's ℓ2-normalised sum
 * (unit length whatever the embedding scale); `'mean'` = the mean of the colliding behaviours (the
 * scale of the embeddings, as avg-pooling over the colliding subset); `'sum'` = the plain sum (keeps
 * how many behaviours collide — the intensity of interest DIN's unnormalised weights keep).
 */
export type SdimPooling = 'l2' | 'mean' | 'sum';

/** Every {@link SdimPooling}. */
export const SDIM_POOLINGS: readonly SdimPooling[] = Object.freeze(['l2', 'mean', 'sum']);

/**
 * The SDIM long-term interest layer for training, on typed arrays with caller-owned inputs and
 * outputs. For batch row b with candidate q and behaviours s_1..s_len:
 *
 *   interest = (1/S) Σ_{signatures i} normalize( Σ_{j : sig_i(s_j) = sig_i(q)} s_j )
 *
 * where normalize(v) = v/‖v‖ (0 for an empty or zero sum), or, with pooling `'mean'`, v / (number
 * of colliding behaviours), or v itself with `'sum'`. Positions ≥ lengths[b] are padding and
 * never collide. Cost: one hash pass (O(B·L·m·dim)) plus O(B·L·S) bucket comparisons, O(dim) per
 * collision and O(B·S·dim) for the normalisations; never O(L) per signature per candidate pair.
 *
 * Gradients: hashes are fixed sign functions, piecewise constant in their input, so the
 * candidate's gradient is zero almost everywhere (it selects buckets, it is not summed); behaviours
 * get Σ_{i colliding} (1/S)(I − u_i u_iᵀ) g / ‖v_i‖ through the normalised pooled sums.
 *
 * Side features: with `values` given, behaviour j is hashed by its key s_j (the item embedding,
 * comparable with the candidate) but contributes its value vector v_j (e.g. item + feedback
 * embedding) to the bucket sums; the gradient then lands on the values (keys get none).
 */
export class SdimLayer {
  /** The fixed hasher (shared with the BSE state of the same model version). */
  readonly hasher: SimHasher;
  readonly dim: number;
  readonly numSignatures: number;
  readonly pooling: SdimPooling;
  // Cache of the last forward, used by backward.
  private batchSize = 0;
  private maxLength = 0;
  private lengths = new Int32Array(0);
  private candSig = new Uint8Array(0);
  private behSig = new Uint8Array(0);
  private units = new Float64Array(0);
  private norms = new Float64Array(0);
  private readonly sums: Float64Array;
  private readonly acc: Float64Array;
  private readonly gs: Float64Array;
  private hasForward = false;

  /** @param pooling how a bucket sum becomes an interest (see {@link SdimPooling}); default `'l2'`, the paper's */
  constructor(hasher: SimHasher, pooling: SdimPooling = 'l2') {
    if (!SDIM_POOLINGS.includes(pooling)) {
      throw new InvalidArgumentError(
        `sdim/SdimLayer: pooling ('${String(pooling)}') must be one of ${SDIM_POOLINGS.join(', ')}`,
      );
    }
    this.pooling = pooling;
    this.hasher = hasher;
    this.dim = hasher.dim;
    this.numSignatures = hasher.numSignatures;
    this.sums = new Float64Array(this.numSignatures * this.dim);
    this.acc = new Float64Array(this.dim);
    this.gs = new Float64Array(this.numSignatures * this.dim);
  }

  /**
   * Forward pass for a batch.
   * @param behaviours `[batchSize × maxLength × dim]`; row b's valid behaviours are positions 0 .. lengths[b]−1
   * @param lengths `[batchSize]`, each in 0 .. maxLength
   * @param candidates `[batchSize × dim]`
   * @param out `[batchSize × dim]`, overwritten with the interest vectors
   * @param values optional `[batchSize × maxLength × dim]` vectors summed in place of the behaviours
   *   (which then only select buckets); kept by reference until {@link backward}
   */
  forward(
    behaviours: Float32Array,
    lengths: Int32Array,
    candidates: Float32Array,
    batchSize: number,
    maxLength: number,
    out: Float32Array,
    values?: Float32Array,
  ): void {
    const { dim, numSignatures: S, hasher } = this;
    checkBatch('SdimLayer.forward', dim, behaviours, lengths, candidates, batchSize, maxLength);
    if (values !== undefined && (!(values instanceof Float32Array) || values.length < batchSize * maxLength * dim)) {
      throw new InvalidArgumentError(
        `sdim/SdimLayer.forward: values must be a Float32Array of batchSize × maxLength × dim = ${batchSize * maxLength * dim} values`,
      );
    }
    const summed = values ?? behaviours;
    if (out.length < batchSize * dim) {
      throw new InvalidArgumentError(
        `sdim/SdimLayer.forward: out has ${out.length} values; need batchSize × dim = ${batchSize * dim}`,
      );
    }
    this.ensure(batchSize, maxLength);
    this.lengths.set(lengths.subarray(0, batchSize));
    const { candSig, behSig, units, norms, sums, acc } = this;
    const mean = this.pooling !== 'l2'; // norms[] then holds the bucket counts
    const sum = this.pooling === 'sum';
    hasher.signaturesAt(candidates, 0, batchSize, candSig, 0);
    const scale = 1 / S;
    for (let b = 0; b < batchSize; b++) {
      const len = lengths[b]!;
      const rowIn = b * maxLength * dim;
      const rowSig = b * maxLength * S;
      hasher.signaturesAt(behaviours, rowIn, len, behSig, rowSig);
      sums.fill(0);
      const c0 = b * S;
      if (mean) norms.fill(0, c0, c0 + S);
      for (let j = 0; j < len; j++) {
        const sj = rowSig + j * S;
        const x = rowIn + j * dim;
        for (let s = 0; s < S; s++) {
          if (behSig[sj + s] !== candSig[c0 + s]) continue;
          const o = s * dim;
          for (let d = 0; d < dim; d++) sums[o + d]! += summed[x + d]!;
          if (mean) norms[c0 + s]!++;
        }
      }
      acc.fill(0);
      for (let s = 0; s < S; s++) {
        if (mean) {
          const c = norms[c0 + s]!;
          if (c === 0) continue;
          const f = sum ? scale : scale / c;
          const o = s * dim;
          for (let d = 0; d < dim; d++) acc[d]! += f * sums[o + d]!;
        } else norms[c0 + s] = addNormalized(sums, s * dim, dim, scale, acc, 0, units, (c0 + s) * dim);
      }
      const o = b * dim;
      for (let d = 0; d < dim; d++) out[o + d] = acc[d]!;
    }
    this.batchSize = batchSize;
    this.maxLength = maxLength;
    this.hasForward = true;
  }

  /**
   * Backward pass of the last {@link forward}.
   * @param gradOut `[batchSize × dim]`, dLoss/dInterest
   * @param gradBehaviours `[batchSize × maxLength × dim]`, overwritten (padding positions get 0): the
   *   gradient of the summed vectors — the behaviours, or the `values` when forward had them
   * @param gradCandidates optional `[batchSize × dim]`, overwritten with 0 (see the class doc)
   */
  backward(gradOut: Float32Array, gradBehaviours: Float32Array, gradCandidates?: Float32Array): void {
    if (!this.hasForward) throw new UsageError('sdim/SdimLayer.backward: call forward first');
    const { dim, numSignatures: S, batchSize: B, maxLength: L, lengths, candSig, behSig, units, norms, gs } = this;
    if (gradOut.length < B * dim || gradBehaviours.length < B * L * dim) {
      throw new InvalidArgumentError(
        `sdim/SdimLayer.backward: gradOut (${gradOut.length}) / gradBehaviours (${gradBehaviours.length}) are smaller than ` +
          `the forward batch needs (${B * dim} / ${B * L * dim})`,
      );
    }
    if (gradCandidates !== undefined) gradCandidates.fill(0, 0, B * dim);
    const scale = 1 / S;
    const mean = this.pooling !== 'l2';
    const sum = this.pooling === 'sum';
    for (let b = 0; b < B; b++) {
      const c0 = b * S;
      const g0 = b * dim;
      for (let s = 0; s < S; s++) {
        const o = s * dim;
        const norm = norms[c0 + s]!;
        if (norm === 0) {
          gs.fill(0, o, o + dim);
          continue;
        }
        if (mean) {
          const f = sum ? scale : scale / norm;
          for (let d = 0; d < dim; d++) gs[o + d] = f * gradOut[g0 + d]!;
          continue;
        }
        const u0 = (c0 + s) * dim;
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += units[u0 + d]! * gradOut[g0 + d]!;
        const f = scale / norm;
        for (let d = 0; d < dim; d++) gs[o + d] = f * (gradOut[g0 + d]! - units[u0 + d]! * dot);
      }
      const len = lengths[b]!;
      const rowOut = b * L * dim;
      const rowSig = b * L * S;
      gradBehaviours.fill(0, rowOut, rowOut + L * dim);
      for (let j = 0; j < len; j++) {
        const sj = rowSig + j * S;
        const x = rowOut + j * dim;
        for (let s = 0; s < S; s++) {
          if (behSig[sj + s] !== candSig[c0 + s]) continue;
          const o = s * dim;
          for (let d = 0; d < dim; d++) gradBehaviours[x + d]! += gs[o + d]!;
        }
      }
    }
  }

  private ensure(B: number, L: number): void {
    const S = this.numSignatures;
    if (this.lengths.length < B) this.lengths = new Int32Array(B);
    if (this.candSig.length < B * S) this.candSig = new Uint8Array(B * S);
    if (this.behSig.length < B * L * S) this.behSig = new Uint8Array(B * L * S);
    if (this.norms.length < B * S) this.norms = new Float64Array(B * S);
    if (this.units.length < B * S * this.dim) this.units = new Float64Array(B * S * this.dim);
  }
}
