import { deriveSeed, InvalidArgumentError, Rng, UsageError } from '@compactrec/core';
import { checkBatch } from './internal/check.js';

/** How DIN turns attention scores into pooling weights. */
export type AttentionNormalization = 'none' | 'softmax';

/** Options of {@link DinAttention}; every field but `dim` is optional. */
export interface DinAttentionOptions {
  /** Embedding dimension of queries and keys (required). */
  dim: number;
  /** Hidden units of the attention MLP (one ReLU layer). @default 36 */
  hiddenUnits?: number;
  /** 'none' = DIN's raw scores as weights (keeps the intensity of interest); 'softmax' over the valid positions. @default 'none' */
  normalization?: AttentionNormalization;
  /** Seed of the weight initialisation. @default 0 */
  seed?: number;
}

/** Defaults of {@link DinAttentionOptions}. */
export const DEFAULT_DIN_ATTENTION_OPTIONS: Readonly<Required<Omit<DinAttentionOptions, 'dim'>>> = Object.freeze({
  hiddenUnits: 36,
  normalization: 'none',
  seed: 0,
});

/**
 * DIN target attention (Zhou et al., KDD'18), the baseline SDIM replaces: for query q and each valid
 * key k_j, score_j = w2 · ReLU(W1 [q, k_j, q − k_j, q ⊙ k_j] + b1) + b2; output = Σ_j a_j k_j with
 * a = score (or softmax(score)). Cost O(L · 4·dim · hidden) per row, forward and twice that backward,
 * which is what makes it slow on long sequences.
 *
 * Side features: with `values` given, scores still compare q with the keys k_j (item embeddings)
 * but the output is Σ_j a_j v_j (e.g. item + feedback embedding); backward then splits the
 * behaviour gradient into the score path (keys) and the pooling path (values).
 *
 * Weights are plain Float32Arrays (`params()`), gradients land in same-shaped arrays (`grads()`,
 * overwritten by each backward with the batch sum) for {@link DenseAdam} or any trainer.
 */
export class DinAttention {
  readonly dim: number;
  readonly hiddenUnits: number;
  readonly normalization: AttentionNormalization;
  /** W1, `[hiddenUnits × 4·dim]`; input blocks in order q, k, q − k, q ⊙ k. He-normal init. */
  readonly w1: Float32Array;
  /** b1, `[hiddenUnits]`, zero init. */
  readonly b1: Float32Array;
  /** w2, `[hiddenUnits]`, N(0, 1/hidden) init. */
  readonly w2: Float32Array;
  /** b2, `[1]`, zero init. */
  readonly b2: Float32Array;
  readonly gradW1: Float32Array;
  readonly gradB1: Float32Array;
  readonly gradW2: Float32Array;
  readonly gradB2: Float32Array;
  // Forward cache.
  private batchSize = 0;
  private maxLength = 0;
  private hasForward = false;
  private keys: Float32Array = new Float32Array(0);
  private values: Float32Array | null = null;
  private queries: Float32Array = new Float32Array(0);
  private lengths = new Int32Array(0);
  private hidden = new Float32Array(0); // [B × L × H] post-ReLU
  private weights = new Float64Array(0); // [B × L] pooling weights a_j
  // Scratch.
  private readonly x: Float64Array;
  private readonly dx: Float64Array;
  private readonly delta: Float64Array;
  private readonly accW1: Float64Array;
  private readonly accB1: Float64Array;
  private readonly accW2: Float64Array;
  private readonly dq: Float64Array;
  private ga = new Float64Array(0);

  constructor(options: DinAttentionOptions) {
    const dim = options?.dim;
    const H = options?.hiddenUnits ?? DEFAULT_DIN_ATTENTION_OPTIONS.hiddenUnits;
    const normalization = options?.normalization ?? DEFAULT_DIN_ATTENTION_OPTIONS.normalization;
    const seed = options?.seed ?? DEFAULT_DIN_ATTENTION_OPTIONS.seed;
    if (!Number.isInteger(dim) || dim < 1) {
      throw new InvalidArgumentError(`sdim/DinAttention: dim (${String(dim)}) must be a positive integer`);
    }
    if (!Number.isInteger(H) || H < 1) {
      throw new InvalidArgumentError(`sdim/DinAttention: hiddenUnits (${String(H)}) must be a positive integer`);
    }
    if (normalization !== 'none' && normalization !== 'softmax') {
      throw new InvalidArgumentError(
        `sdim/DinAttention: normalization ('${String(normalization)}') must be 'none' or 'softmax'`,
      );
    }
    this.dim = dim;
    this.hiddenUnits = H;
    this.normalization = normalization;
    const rng = new Rng(deriveSeed(seed, 'sdim/din-attention'));
    this.w1 = new Float32Array(H * 4 * dim);
    rng.fillNormal(this.w1, Math.sqrt(2 / (4 * dim)));
    this.b1 = new Float32Array(H);
    this.w2 = new Float32Array(H);
    rng.fillNormal(this.w2, Math.sqrt(1 / H));
    this.b2 = new Float32Array(1);
    this.gradW1 = new Float32Array(this.w1.length);
    this.gradB1 = new Float32Array(H);
    this.gradW2 = new Float32Array(H);
    this.gradB2 = new Float32Array(1);
    this.x = new Float64Array(4 * dim);
    this.dx = new Float64Array(4 * dim);
    this.delta = new Float64Array(H);
    this.dq = new Float64Array(dim);
    this.accW1 = new Float64Array(this.w1.length);
    this.accB1 = new Float64Array(H);
    this.accW2 = new Float64Array(H);
  }

  /** The dense parameters, in the order of {@link grads}: w1, b1, w2, b2. */
  params(): Float32Array[] {
    return [this.w1, this.b1, this.w2, this.b2];
  }

  /** Gradient arrays matching {@link params}, written by {@link backward}. */
  grads(): Float32Array[] {
    return [this.gradW1, this.gradB1, this.gradW2, this.gradB2];
  }

  /**
   * Forward pass. Inputs are kept by reference until {@link backward} (do not modify them in between).
   * @param keys `[batchSize × maxLength × dim]` behaviour embeddings; positions ≥ lengths[b] are padding
   * @param lengths `[batchSize]`, each in 0 .. maxLength
   * @param queries `[batchSize × dim]` candidate embeddings
   * @param out `[batchSize × dim]`, overwritten with Σ_j a_j k_j (Σ_j a_j v_j with `values`)
   * @param values optional `[batchSize × maxLength × dim]` vectors pooled in place of the keys
   */
  forward(
    keys: Float32Array,
    lengths: Int32Array,
    queries: Float32Array,
    batchSize: number,
    maxLength: number,
    out: Float32Array,
    values?: Float32Array,
  ): void {
    const { dim, hiddenUnits: H, w1, b1, w2, x } = this;
    checkBatch('DinAttention.forward', dim, keys, lengths, queries, batchSize, maxLength);
    if (values !== undefined && (!(values instanceof Float32Array) || values.length < batchSize * maxLength * dim)) {
      throw new InvalidArgumentError(
        `sdim/DinAttention.forward: values must be a Float32Array of batchSize × maxLength × dim = ${batchSize * maxLength * dim} values`,
      );
    }
    const pooled = values ?? keys;
    if (out.length < batchSize * dim) {
      throw new InvalidArgumentError(
        `sdim/DinAttention.forward: out has ${out.length} values; need ${batchSize * dim}`,
      );
    }
    if (this.hidden.length < batchSize * maxLength * H) this.hidden = new Float32Array(batchSize * maxLength * H);
    if (this.weights.length < batchSize * maxLength) this.weights = new Float64Array(batchSize * maxLength);
    if (this.lengths.length < batchSize) this.lengths = new Int32Array(batchSize);
    this.lengths.set(lengths.subarray(0, batchSize));
    const { hidden, weights } = this;
    const in4 = 4 * dim;
    const bias2 = this.b2[0]!;
    const softmax = this.normalization === 'softmax';
    for (let b = 0; b < batchSize; b++) {
      const len = lengths[b]!;
      const q0 = b * dim;
      for (let d = 0; d < dim; d++) x[d] = queries[q0 + d]!;
      let maxScore = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < len; j++) {
        const k0 = (b * maxLength + j) * dim;
        for (let d = 0; d < dim; d++) {
          const q = x[d]!;
          const k = keys[k0 + d]!;
          x[dim + d] = k;
          x[2 * dim + d] = q - k;
          x[3 * dim + d] = q * k;
        }
        const h0 = (b * maxLength + j) * H;
        let score = bias2;
        let h = 0;
        // Four hidden units per pass share each load of x (the same blocking SimHasher uses).
        for (; h + 4 <= H; h += 4) {
          const r0 = h * in4;
          const r1 = r0 + in4;
          const r2 = r1 + in4;
          const r3 = r2 + in4;
          let z0 = b1[h]!;
          let z1 = b1[h + 1]!;
          let z2 = b1[h + 2]!;
          let z3 = b1[h + 3]!;
          for (let i = 0; i < in4; i++) {
            const xi = x[i]!;
            z0 += w1[r0 + i]! * xi;
            z1 += w1[r1 + i]! * xi;
            z2 += w1[r2 + i]! * xi;
            z3 += w1[r3 + i]! * xi;
          }
          const a0 = Math.max(z0, 0);
          const a1 = Math.max(z1, 0);
          const a2 = Math.max(z2, 0);
          const a3 = Math.max(z3, 0);
          hidden[h0 + h] = a0;
          hidden[h0 + h + 1] = a1;
          hidden[h0 + h + 2] = a2;
          hidden[h0 + h + 3] = a3;
          score += w2[h]! * a0 + w2[h + 1]! * a1 + w2[h + 2]! * a2 + w2[h + 3]! * a3;
        }
        for (; h < H; h++) {
          const r = h * in4;
          let z = b1[h]!;
          for (let i = 0; i < in4; i++) z += w1[r + i]! * x[i]!;
          const a = Math.max(z, 0);
          hidden[h0 + h] = a;
          score += w2[h]! * a;
        }
        weights[b * maxLength + j] = score;
        if (score > maxScore) maxScore = score;
      }
      if (softmax && len > 0) {
        let z = 0;
        for (let j = 0; j < len; j++) {
          const e = Math.exp(weights[b * maxLength + j]! - maxScore);
          weights[b * maxLength + j] = e;
          z += e;
        }
        for (let j = 0; j < len; j++) weights[b * maxLength + j]! /= z;
      }
      const o = b * dim;
      for (let d = 0; d < dim; d++) x[d] = 0; // reuse as accumulator
      for (let j = 0; j < len; j++) {
        const a = weights[b * maxLength + j]!;
        const k0 = (b * maxLength + j) * dim;
        for (let d = 0; d < dim; d++) x[d]! += a * pooled[k0 + d]!;
      }
      for (let d = 0; d < dim; d++) out[o + d] = x[d]!;
    }
    this.keys = keys;
    this.values = values ?? null;
    this.queries = queries;
    this.batchSize = batchSize;
    this.maxLength = maxLength;
    this.hasForward = true;
  }

  /**
   * Backward pass of the last {@link forward}: overwrites `gradKeys` (`[B × L × dim]`, 0 at padding),
   * `gradQueries` (`[B × dim]`) and the parameter gradients ({@link grads}, summed over the batch).
   * If forward had `values`, `gradValues` (`[B × L × dim]`, required then) gets the pooling path
   * a_j g and `gradKeys` only the score path.
   */
  backward(gradOut: Float32Array, gradKeys: Float32Array, gradQueries: Float32Array, gradValues?: Float32Array): void {
    if (!this.hasForward) throw new UsageError('sdim/DinAttention.backward: call forward first');
    const { dim, hiddenUnits: H, w1, w2, x, dx, delta, accW1, accB1, accW2, hidden, weights, keys, queries } = this;
    const { batchSize: B, maxLength: L, lengths, values } = this;
    if (values !== null && (gradValues === undefined || gradValues.length < B * L * dim)) {
      throw new UsageError(
        `sdim/DinAttention.backward: forward pooled values, so pass gradValues of ${B * L * dim} values (got ${gradValues?.length})`,
      );
    }
    const pooled = values ?? keys;
    const gPooled = values !== null ? gradValues! : gradKeys;
    if (gradOut.length < B * dim || gradKeys.length < B * L * dim || gradQueries.length < B * dim) {
      throw new InvalidArgumentError(
        `sdim/DinAttention.backward: gradOut/gradQueries need ${B * dim} values and gradKeys ${B * L * dim}; got ` +
          `${gradOut.length}/${gradQueries.length}/${gradKeys.length}`,
      );
    }
    accW1.fill(0);
    accB1.fill(0);
    accW2.fill(0);
    let accB2 = 0;
    const in4 = 4 * dim;
    const softmax = this.normalization === 'softmax';
    if (this.ga.length < L) this.ga = new Float64Array(L);
    const { ga, dq: dqAcc } = this;
    for (let b = 0; b < B; b++) {
      const len = lengths[b]!;
      const q0 = b * dim;
      const g0 = b * dim;
      gradKeys.fill(0, b * L * dim, (b + 1) * L * dim);
      if (values !== null) gPooled.fill(0, b * L * dim, (b + 1) * L * dim);
      dqAcc.fill(0);
      // dLoss/da_j = g · k_j, and the weighted sum's part of dk_j = a_j g.
      let mean = 0;
      for (let j = 0; j < len; j++) {
        const k0 = (b * L + j) * dim;
        const a = weights[b * L + j]!;
        let s = 0;
        for (let d = 0; d < dim; d++) {
          const g = gradOut[g0 + d]!;
          s += g * pooled[k0 + d]!;
          gPooled[k0 + d] = a * g;
        }
        ga[j] = s;
        mean += a * s;
      }
      for (let j = 0; j < len; j++) {
        const k0 = (b * L + j) * dim;
        const ds = softmax ? weights[b * L + j]! * (ga[j]! - mean) : ga[j]!;
        if (ds === 0) continue;
        accB2 += ds;
        const h0 = (b * L + j) * H;
        for (let h = 0; h < H; h++) {
          const a = hidden[h0 + h]!;
          accW2[h]! += ds * a;
          delta[h] = a > 0 ? ds * w2[h]! : 0;
        }
        for (let d = 0; d < dim; d++) {
          const q = queries[q0 + d]!;
          const k = keys[k0 + d]!;
          x[d] = q;
          x[dim + d] = k;
          x[2 * dim + d] = q - k;
          x[3 * dim + d] = q * k;
        }
        dx.fill(0);
        for (let h = 0; h < H; h++) {
          const dh = delta[h]!;
          if (dh === 0) continue;
          accB1[h]! += dh;
          const r = h * in4;
          for (let i = 0; i < in4; i++) {
            accW1[r + i]! += dh * x[i]!;
            dx[i]! += dh * w1[r + i]!;
          }
        }
        for (let d = 0; d < dim; d++) {
          const dq = dx[d]!;
          const dk = dx[dim + d]!;
          const dd = dx[2 * dim + d]!;
          const dp = dx[3 * dim + d]!;
          dqAcc[d]! += dq + dd + dp * keys[k0 + d]!;
          gradKeys[k0 + d]! += dk - dd + dp * queries[q0 + d]!;
        }
      }
      for (let d = 0; d < dim; d++) gradQueries[q0 + d] = dqAcc[d]!;
    }
    for (let i = 0; i < accW1.length; i++) this.gradW1[i] = accW1[i]!;
    for (let h = 0; h < H; h++) {
      this.gradB1[h] = accB1[h]!;
      this.gradW2[h] = accW2[h]!;
    }
    this.gradB2[0] = accB2;
  }
}
