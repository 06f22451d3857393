import { deriveSeed, fmix32, InvalidArgumentError, resolveOptions } from '@compactrec/core';
import { checkInt, checkNumber } from './internal/check.js';
import type { CtrBatch, CtrBatchesOptions, CtrSchema, CtrSource, FieldCounts } from './schema.js';

/** Options of {@link SyntheticCtr}; every field is optional. */
export interface SyntheticCtrOptions {
  /** Categorical fields. @default 26 */
  fields?: number;
  /** IDs per field: one number for every field, or one per field (each in [1, 10⁸]). @default 100000 */
  cardinality?: number | readonly number[];
  /** Training rows (generated on the fly; any number, memory stays O(fields)). @default 1000000 */
  trainRows?: number;
  /** Validation rows. @default 100000 */
  validRows?: number;
  /** Test rows. @default 100000 */
  testRows?: number;
  /** Zipf exponent s of every field's ID popularity (P(rank r) ∝ (r + 1)^−s). @default 1.1 */
  zipf?: number;
  /** Rank of the planted factorization machine. @default 4 */
  rank?: number;
  /** Std of the planted first-order term (sum over fields). @default 0.8 */
  firstOrderStd?: number;
  /** Std of the planted second-order (pairwise) term. @default 1.2 */
  pairStd?: number;
  /** Planted global bias (≈ −1.4 gives a click rate near 25 %). @default -1.4 */
  bias?: number;
  /** Seed of the planted model and of the rows. @default 0 */
  seed?: number;
}

/** Defaults of {@link SyntheticCtrOptions}. */
export const DEFAULT_SYNTHETIC_CTR_OPTIONS = Object.freeze({
  fields: 26,
  cardinality: 100_000 as number | readonly number[],
  trainRows: 1_000_000,
  validRows: 100_000,
  testRows: 100_000,
  zipf: 1.1,
  rank: 4,
  firstOrderStd: 0.8,
  pairStd: 1.2,
  bias: -1.4,
  seed: 0,
});

const MAX_CARDINALITY = 100_000_000;
const SQRT3 = Math.sqrt(3);
const GOLDEN = 0x9e3779b9;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A uniform [0, 1) value from two 32-bit words (hash-based, random access). */
function hashUnit(a: number, b: number): number {
  return fmix32((fmix32(a >>> 0) + Math.imul(b, GOLDEN)) >>> 0) / 4294967296;
}

/**
 * A Criteo-like CTR data generator with a planted model, so AUC means something: field f's IDs
 * follow a Zipf law over popularity ranks (rank → ID by a seeded bijection, so popular IDs are
 * scattered), and each label is Bernoulli(σ(logit)) with logit = bias + α·Σ_f b_f(id_f) +
 * β·Σ_{f<g} ⟨v_f(id_f), v_g(id_g)⟩ — a hidden low-rank FM. Latents b and v are unit-variance
 * uniforms hashed from (seed, field, ID), and every row is hashed from (seed, split, row), so
 * nothing is stored: rows stream, any split can be regenerated identically, and cardinalities can
 * reach 10⁷ per field.
 */
export class SyntheticCtr {
  readonly options: Readonly<Required<SyntheticCtrOptions>>;
  readonly schema: CtrSchema;
  readonly train: CtrSource;
  readonly valid: CtrSource;
  readonly test: CtrSource;
  private readonly fieldSeeds: Uint32Array;
  private readonly latentSeeds: Uint32Array;
  private readonly permA: Float64Array;
  private readonly permB: Float64Array;
  private readonly alpha: number;
  private readonly beta: number;
  private readonly zipfC: Float64Array;

  constructor(options: SyntheticCtrOptions = {}) {
    const where = 'ctr/SyntheticCtr';
    const o = resolveOptions(DEFAULT_SYNTHETIC_CTR_OPTIONS, options) as Required<SyntheticCtrOptions>;
    checkInt(where, 'fields', o.fields, 1, 1000);
    const cards =
      typeof o.cardinality === 'number' ? new Array<number>(o.fields).fill(o.cardinality) : [...o.cardinality];
    if (cards.length !== o.fields) {
      throw new InvalidArgumentError(`${where}: cardinality has ${cards.length} entries for ${o.fields} fields`);
    }
    for (const c of cards) checkInt(where, 'cardinality', c, 1, MAX_CARDINALITY);
    checkInt(where, 'trainRows', o.trainRows, 1);
    checkInt(where, 'validRows', o.validRows, 1);
    checkInt(where, 'testRows', o.testRows, 1);
    checkNumber(where, 'zipf', o.zipf, 0, 5);
    checkInt(where, 'rank', o.rank, 1, 64);
    checkNumber(where, 'firstOrderStd', o.firstOrderStd, 0, 100);
    checkNumber(where, 'pairStd', o.pairStd, 0, 100);
    checkNumber(where, 'bias', o.bias, -100, 100);
    this.options = Object.freeze({ ...o, cardinality: Object.freeze(cards) });
    const F = o.fields;
    this.schema = {
      name: `synthetic-${F}x${Math.max(...cards)}`,
      fieldNames: Array.from({ length: F }, (_, f) => `C${f + 1}`),
      cardinalities: Int32Array.from(cards),
      numDense: 0,
    };
    this.fieldSeeds = new Uint32Array(F);
    this.latentSeeds = new Uint32Array(F * (o.rank + 1));
    this.permA = new Float64Array(F);
    this.permB = new Float64Array(F);
    this.zipfC = new Float64Array(F);
    for (let f = 0; f < F; f++) {
      this.fieldSeeds[f] = deriveSeed(o.seed, `synthetic/field/${f}`);
      for (let j = 0; j <= o.rank; j++)
        this.latentSeeds[f * (o.rank + 1) + j] = deriveSeed(o.seed, `synthetic/latent/${f}/${j}`);
      const n = cards[f]!;
      let a = (deriveSeed(o.seed, `synthetic/perm/${f}`) % n) + 1;
      while (gcd(a, n) !== 1) a++;
      this.permA[f] = a % n;
      this.permB[f] = deriveSeed(o.seed, `synthetic/shift/${f}`) % n;
      this.zipfC[f] = o.zipf === 1 ? Math.log(n + 1) : (n + 1) ** (1 - o.zipf) - 1;
    }
    this.alpha = o.firstOrderStd / Math.sqrt(F);
    const pairs = (F * (F - 1)) / 2;
    this.beta = pairs > 0 ? o.pairStd / Math.sqrt(pairs * o.rank) : 0;
    const rows = { train: o.trainRows, valid: o.validRows, test: o.testRows };
    const make = (split: 'train' | 'valid' | 'test', code: number): CtrSource => {
      const gen = this;
      return {
        schema: this.schema,
        numSamples: rows[split],
        batches: (opts: CtrBatchesOptions) => gen.rows(code, rows[split], opts),
      };
    };
    this.train = make('train', 0);
    this.valid = make('valid', 1);
    this.test = make('test', 2);
  }

  /** The ID of popularity rank r in field f (a seeded bijection of [0, n)). */
  idOfRank(f: number, r: number): number {
    const n = this.schema.cardinalities[f]!;
    return (r * this.permA[f]! + this.permB[f]!) % n;
  }

  /** Inverse CDF of the (continuous) Zipf law: a popularity rank in [0, n) from u in [0, 1). */
  private rankOf(f: number, u: number): number {
    const n = this.schema.cardinalities[f]!;
    const s = this.options.zipf;
    const x = s === 1 ? Math.exp(u * this.zipfC[f]!) : (u * this.zipfC[f]! + 1) ** (1 / (1 - s));
    return Math.min(n - 1, Math.max(0, Math.floor(x) - 1));
  }

  /** Probability of rank r under {@link rankOf}. */
  private rankProbability(f: number, r: number): number {
    const s = this.options.zipf;
    const c = this.zipfC[f]!;
    const cdf = (x: number): number => (s === 1 ? Math.log(x) / c : (x ** (1 - s) - 1) / c);
    return cdf(r + 2) - cdf(r + 1);
  }

  /** Unit-variance latent component j (0 = first-order weight) of ID `id` in field f. */
  latent(f: number, id: number, j: number): number {
    return (hashUnit(id, this.latentSeeds[f * (this.options.rank + 1) + j]!) * 2 - 1) * SQRT3;
  }

  /** The planted logit of one row of IDs (`ids[off .. off + F)`). */
  plantedLogit(ids: ArrayLike<number>, off = 0): number {
    const { fields: F, rank: k, bias } = this.options;
    let first = 0;
    let pair = 0;
    for (let j = 1; j <= k; j++) {
      let sum = 0;
      let sq = 0;
      for (let f = 0; f < F; f++) {
        const v = this.latent(f, ids[off + f]!, j);
        sum += v;
        sq += v * v;
      }
      pair += 0.5 * (sum * sum - sq);
    }
    for (let f = 0; f < F; f++) first += this.latent(f, ids[off + f]!, 0);
    return bias + this.alpha * first + this.beta * pair;
  }

  /**
   * Expected training counts of every ID (trainRows × its Zipf probability, rounded), per field —
   * what frequency-based mappers fit on without a counting pass.
   */
  expectedCounts(): FieldCounts {
    const out: Uint32Array[] = [];
    const rows = this.options.trainRows;
    for (let f = 0; f < this.options.fields; f++) {
      const n = this.schema.cardinalities[f]!;
      const c = new Uint32Array(n);
      for (let r = 0; r < n; r++) c[this.idOfRank(f, r)] = Math.round(rows * this.rankProbability(f, r));
      out.push(c);
    }
    return out;
  }

  /** Generates rows [0, n) of split `code` in batches; row i is a pure function of (seed, split, i). */
  private async *rows(code: number, n: number, options: CtrBatchesOptions): AsyncGenerator<CtrBatch> {
    checkInt('ctr/SyntheticCtr.batches', 'batchSize', options.batchSize, 1);
    const F = this.options.fields;
    const B = Math.min(options.batchSize, n);
    const ids = new Int32Array(B * F);
    const labels = new Float32Array(B);
    const rowSeed = deriveSeed(this.options.seed, `synthetic/rows/${code}`);
    for (let start = 0; start < n; start += B) {
      const m = Math.min(B, n - start);
      for (let j = 0; j < m; j++) {
        const row = fmix32((Math.imul(start + j, GOLDEN) ^ rowSeed) >>> 0);
        for (let f = 0; f < F; f++) {
          ids[j * F + f] = this.idOfRank(f, this.rankOf(f, hashUnit(row, this.fieldSeeds[f]!)));
        }
        const p = 1 / (1 + Math.exp(-this.plantedLogit(ids, j * F)));
        labels[j] = hashUnit(row, rowSeed ^ 0x5bd1e995) < p ? 1 : 0;
      }
      yield {
        size: m,
        ids: m === B ? ids : ids.subarray(0, m * F),
        labels: m === B ? labels : labels.subarray(0, m),
        dense: null,
      };
    }
  }
}
