import { deriveSeed, InvalidArgumentError, Rng } from '@compactrec/core';

/**
 * Options of {@link SimHasher}: m SimHash functions sign(r·x), r ~ N(0, I), drawn once from `seed`
 * and never trained; every τ consecutive bits form one signature, so there are m / τ signatures.
 */
export interface SimHashOptions {
  /** Embedding dimension of the hashed vectors (required). */
  dim: number;
  /** m, the number of SimHash functions (sign bits); must be a multiple of `bitsPerSignature`. @default 48 */
  numHashes?: number;
  /** τ, the bits per signature; a behaviour collides with a candidate under a signature only if all τ bits match (1 ..8). @default 3 */
  bitsPerSignature?: number;
  /** Seed of the random projections. @default 0 */
  seed?: number;
}

/** Defaults of {@link SimHashOptions} (the paper's production setting m = 48, τ = 3). */
export const DEFAULT_SIMHASH_OPTIONS: Readonly<Required<Omit<SimHashOptions, 'dim'>>> = Object.freeze({
  numHashes: 48,
  bitsPerSignature: 3,
  seed: 0,
});

/**
 * Fixed random-hyperplane hashes (SimHash) grouped into τ-bit signatures. Two vectors at angle θ
 * agree on one bit with probability 1 − θ/π, so they collide under one signature with probability
 * (1 − θ/π)^τ: the hash samples behaviours in proportion to their similarity to the candidate.
 *
 * Bit b of signature s is hash h = s·τ + b, set when r_h·x > 0 (exact zero counts as 0). The bucket
 * value of signature s is Σ_b bit_b << b, in 0 .. 2^τ − 1.
 */
export class SimHasher {
  /** Dimension of the hashed vectors. */
  readonly dim: number;
  /** m, the number of sign bits. */
  readonly numHashes: number;
  /** τ, bits per signature. */
  readonly bitsPerSignature: number;
  /** m / τ. */
  readonly numSignatures: number;
  /** 2^τ, the distinct bucket values of one signature. */
  readonly bucketsPerSignature: number;
  /** The seed the projections were drawn from. */
  readonly seed: number;
  /** The random hyperplanes r_h, `[numHashes × dim]` row-major. Treat as read-only. */
  readonly projections: Float32Array;
  private scratch: Uint8Array;

  constructor(options: SimHashOptions) {
    const dim = options?.dim;
    const numHashes = options?.numHashes ?? DEFAULT_SIMHASH_OPTIONS.numHashes;
    const tau = options?.bitsPerSignature ?? DEFAULT_SIMHASH_OPTIONS.bitsPerSignature;
    const seed = options?.seed ?? DEFAULT_SIMHASH_OPTIONS.seed;
    if (!Number.isInteger(dim) || dim < 1) {
      throw new InvalidArgumentError(`sdim/SimHasher: dim (${String(dim)}) must be a positive integer`);
    }
    if (!Number.isInteger(tau) || tau < 1 || tau > 8) {
      throw new InvalidArgumentError(
        `sdim/SimHasher: bitsPerSignature (${String(tau)}) must be an integer in [1, 8]; the paper uses 3`,
      );
    }
    if (!Number.isInteger(numHashes) || numHashes < tau || numHashes % tau !== 0) {
      throw new InvalidArgumentError(
        `sdim/SimHasher: numHashes (${String(numHashes)}) must be a positive multiple of bitsPerSignature (${tau})`,
      );
    }
    if (!Number.isInteger(seed)) {
      throw new InvalidArgumentError(`sdim/SimHasher: seed (${String(seed)}) must be an integer`);
    }
    this.dim = dim;
    this.numHashes = numHashes;
    this.bitsPerSignature = tau;
    this.numSignatures = numHashes / tau;
    this.bucketsPerSignature = 1 << tau;
    this.seed = seed;
    this.projections = new Float32Array(numHashes * dim);
    new Rng(deriveSeed(seed, 'sdim/simhash')).fillNormal(this.projections);
    this.scratch = new Uint8Array(this.numSignatures);
  }

  /**
   * Rebuilds a hasher from saved projections (a model version file), so hashes stay bit-identical
   * even if the projection sampler changes later.
   */
  static fromProjections(
    projections: Float32Array,
    options: { dim: number; numHashes: number; bitsPerSignature: number; seed: number },
  ): SimHasher {
    const h = new SimHasher(options);
    if (projections.length !== h.projections.length) {
      throw new InvalidArgumentError(
        `sdim/SimHasher.fromProjections: projections has ${projections.length} values; expected numHashes × dim = ${h.projections.length}`,
      );
    }
    h.projections.set(projections);
    return h;
  }

  /**
   * Bucket value (0 .. 2^τ−1) of each signature of each of the `n` vectors in `vectors`
   * (`[n × dim]` row-major): `out[j * numSignatures + s]`. One projection pass over the batch.
   */
  signatures(vectors: Float32Array, n: number, out: Uint8Array): void {
    const { dim, numSignatures: S } = this;
    if (!Number.isInteger(n) || n < 0 || vectors.length < n * dim) {
      throw new InvalidArgumentError(
        `sdim/SimHasher.signatures: n (${n}) vectors of dim ${dim} need ${n * dim} values; got ${vectors.length}`,
      );
    }
    if (out.length < n * S) {
      throw new InvalidArgumentError(
        `sdim/SimHasher.signatures: out has ${out.length} slots; need n × numSignatures = ${n * S}`,
      );
    }
    this.signaturesAt(vectors, 0, n, out, 0);
  }

  /**
   * Signatures of one vector starting at `vectors[offset]`, written to an internal scratch array
   * that the next call overwrites (for single-event updates without allocation).
   */
  signatureOf(vectors: Float32Array, offset = 0): Uint8Array {
    if (!Number.isInteger(offset) || offset < 0 || offset + this.dim > vectors.length) {
      throw new InvalidArgumentError(
        `sdim/SimHasher.signatureOf: a vector of dim ${this.dim} at offset ${offset} does not fit in ${vectors.length} values`,
      );
    }
    this.signaturesAt(vectors, offset, 1, this.scratch, 0);
    return this.scratch;
  }

  /**
   * Unchecked kernel: signatures of `n` vectors starting at `vectors[inOffset]` into
   * `out[outOffset ..]`. Four hyperplanes per pass share each load of x.
   * @internal used by the layers and the BSE state, which validate their inputs first.
   */
  signaturesAt(vectors: Float32Array, inOffset: number, n: number, out: Uint8Array, outOffset: number): void {
    const { dim, numHashes: m, bitsPerSignature: tau, numSignatures: S } = this;
    const R = this.projections;
    for (let j = 0; j < n; j++) {
      const x0 = inOffset + j * dim;
      const o = outOffset + j * S;
      for (let s = 0; s < S; s++) out[o + s] = 0;
      let h = 0;
      for (; h + 4 <= m; h += 4) {
        const r0 = h * dim;
        const r1 = r0 + dim;
        const r2 = r1 + dim;
        const r3 = r2 + dim;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let d = 0; d < dim; d++) {
          const x = vectors[x0 + d]!;
          a0 += R[r0 + d]! * x;
          a1 += R[r1 + d]! * x;
          a2 += R[r2 + d]! * x;
          a3 += R[r3 + d]! * x;
        }
        if (a0 > 0) out[o + ((h / tau) | 0)]! |= 1 << (h % tau);
        if (a1 > 0) out[o + (((h + 1) / tau) | 0)]! |= 1 << ((h + 1) % tau);
        if (a2 > 0) out[o + (((h + 2) / tau) | 0)]! |= 1 << ((h + 2) % tau);
        if (a3 > 0) out[o + (((h + 3) / tau) | 0)]! |= 1 << ((h + 3) % tau);
      }
      for (; h < m; h++) {
        const r0 = h * dim;
        let a0 = 0;
        for (let d = 0; d < dim; d++) a0 += R[r0 + d]! * vectors[x0 + d]!;
        if (a0 > 0) out[o + ((h / tau) | 0)]! |= 1 << (h % tau);
      }
    }
  }
}
