import {
  type Combine,
  deriveSeed,
  fmix32,
  type IdMapper,
  InvalidArgumentError,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSnapshot,
  type MapperSpec,
} from '@compactrec/core';
import { fitRows, SCALAR_BYTES } from './budget.js';
import { checkFit, checkMapInto } from './internal/check.js';
import { resolveExtra } from './internal/extra.js';
import { checkSnapshotMethod, snapshotArray, snapshotInt } from './internal/snapshot.js';

const METHOD = 'hash-embedding';

/** Most hash functions per ID; more rows per lookup than this is a configuration mistake. */
const MAX_K = 16;

/** Options of `hash-embedding`, passed as `MapperCreateOptions.extra`. */
export interface HashEmbeddingOptions {
  /** Hash functions (rows) per ID, K in [1, 16]. @default 2 */
  readonly k?: number;
}

/** Defaults of {@link HashEmbeddingOptions} (Svenstrup et al. found K = 2 enough). */
export const DEFAULT_HASH_EMBEDDING_OPTIONS: Readonly<Required<HashEmbeddingOptions>> = Object.freeze({ k: 2 });

/**
 * Hash embeddings (Svenstrup et al. 2017): K seeded hashes (core `hashInt`) pick K rows of a shared
 * pool of B rows, combined as Σ_k w_{id,k} · T[h_k(id)] with LEARNABLE per-ID weights
 * `weights [numIds × K]`, which `mappingBytes` counts.
 *
 * Weights start at 1/√K for every (ID, k), without noise: with K independent rows of variance σ²
 * the sum then has variance σ², exactly what a full table initialised with std σ has, so a
 * model's usual init carries over (1/K would shrink it K-fold, 1 would grow it). Symmetry needs no
 * noise: the K rows differ, so the K weight gradients g·T[h_k] differ from the first step.
 * Unseen IDs (≥ numIds) get their K hashed rows and the same init weight 1/√K
 * ({@link HashEmbeddingMapper.unseenWeight}), i.e. they look like an untrained fitted ID.
 */
export class HashEmbeddingMapper implements IdMapper {
  readonly method = METHOD;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId: number;
  readonly combine: Combine = 'sum';
  /** Per-(ID, k) weights, row-major `[numIds × K]`; updated in place by the trainer. */
  readonly weights: Float32Array;
  readonly learnableWeights = true;
  readonly mappingBytes: number;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Weight used for every k of an ID outside [0, numIds) (the init value 1/√K). */
  readonly unseenWeight: number;
  /** Seeds of the K hash functions. */
  private readonly seeds: Uint32Array;

  /**
   * @param buckets pool rows B
   * @param seeds one hashInt seed per hash function (K = seeds.length)
   * @param weights `[numIds × K]` (taken, not copied)
   */
  constructor(numIds: number, buckets: number, seeds: Uint32Array, weights: Float32Array) {
    const k = seeds.length;
    this.numIds = numIds;
    this.rows = buckets;
    this.codesPerId = k;
    this.seeds = seeds;
    this.weights = weights;
    this.unseenWeight = 1 / Math.sqrt(k);
    // Weights, seeds and the pool size.
    this.mappingBytes = weights.byteLength + seeds.byteLength + SCALAR_BYTES;
    this.params = Object.freeze({ k, buckets, initWeight: this.unseenWeight });
  }

  rowDim(dim: number): number {
    return dim;
  }

  mapInto(ids: ArrayLike<number>, out: Int32Array, n?: number): void {
    const k = this.codesPerId;
    const count = checkMapInto(METHOD, ids, out, n, k);
    const seeds = this.seeds;
    const b = this.rows;
    // core's hashInt(id, seed) % B with the seed-independent halves mixed once per ID, not K times.
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      const lo = fmix32(id >>> 0);
      const hi = fmix32((Math.floor(id / 4294967296) >>> 0) ^ 0x27d4eb2f);
      const base = j * k;
      for (let t = 0; t < k; t++) {
        let h = Math.imul(seeds[t]! ^ lo, 0x9e3779b1);
        h = (h << 13) | (h >>> 19);
        h = Math.imul(h ^ hi, 0x85ebca77);
        out[base + t] = fmix32(h >>> 0) % b;
      }
    }
  }

  /**
   * Writes the K weights of each of `ids[0..n)` to `out[j*K .. j*K+K)`: the learned ones for
   * fitted IDs, {@link unseenWeight} for IDs outside [0, numIds).
   */
  weightsInto(ids: ArrayLike<number>, out: Float32Array, n?: number): void {
    const k = this.codesPerId;
    const count = n ?? ids.length;
    if (!Number.isInteger(count) || count < 0 || count > ids.length || out.length < count * k) {
      throw new InvalidArgumentError(
        `id-hashing/${METHOD}.weightsInto: n (${count}) must be in [0, ${ids.length}] with out (${out.length}) ≥ n × ${k}`,
      );
    }
    const w = this.weights;
    const numIds = this.numIds;
    const unseen = this.unseenWeight;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      const base = j * k;
      if (id < numIds) for (let t = 0; t < k; t++) out[base + t] = w[id * k + t]!;
      else for (let t = 0; t < k; t++) out[base + t] = unseen;
    }
  }

  snapshot(): MapperSnapshot {
    return {
      method: METHOD,
      numIds: this.numIds,
      rows: this.rows,
      params: this.params,
      arrays: { seeds: this.seeds.slice(), weights: this.weights.slice() },
    };
  }
}

/** Registry entry of {@link HashEmbeddingMapper}: pool B = ⌊budget / (dim·4)⌋ capped at numIds. */
export const HASH_EMBEDDING_SPEC: MapperSpec = Object.freeze({
  name: METHOD,
  summary: 'K hashes into a shared pool of B rows, summed with learnable per-ID weights',
  requires: Object.freeze([]) as readonly [],
  create(data: MapperFitData, options: MapperCreateOptions): HashEmbeddingMapper {
    checkFit(HASH_EMBEDDING_SPEC, data, options);
    const { k } = resolveExtra(METHOD, options.extra, DEFAULT_HASH_EMBEDDING_OPTIONS);
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
      throw new InvalidArgumentError(`id-hashing/${METHOD}: extra.k (${k}) must be an integer in [1, ${MAX_K}]`);
    }
    const buckets = fitRows(METHOD, options.budgetBytes, options.dim, 1, data.numIds);
    const seeds = new Uint32Array(k);
    for (let t = 0; t < k; t++) seeds[t] = deriveSeed(options.seed, `${METHOD}/${t}`);
    const weights = new Float32Array(data.numIds * k).fill(1 / Math.sqrt(k));
    return new HashEmbeddingMapper(data.numIds, buckets, seeds, weights);
  },
  restore(snap: MapperSnapshot): HashEmbeddingMapper {
    checkSnapshotMethod(METHOD, snap);
    const k = snapshotInt(METHOD, snap, 'k', 1, MAX_K);
    snapshotInt(METHOD, snap, 'buckets', snap.rows, snap.rows);
    const seeds = snapshotArray(METHOD, snap, 'seeds', Uint32Array, k).slice();
    const weights = snapshotArray(METHOD, snap, 'weights', Float32Array, snap.numIds * k).slice();
    return new HashEmbeddingMapper(snap.numIds, snap.rows, seeds, weights);
  },
});
