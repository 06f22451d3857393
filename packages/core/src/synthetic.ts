import type { Interactions, RetrievalDataset } from './data.js';
import { InvalidArgumentError } from './errors.js';
import { Rng } from './rng.js';

/** Options of {@link generateRetrievalDataset}; every field is optional. */
export interface SyntheticRetrievalOptions {
  /** @default 4000 */
  numUsers?: number;
  /** @default 6000 */
  numItems?: number;
  /** Planted communities; users and items are assigned to one each. @default 40 */
  communities?: number;
  /** Mean interactions per user (geometric-ish spread). @default 30 */
  meanDegree?: number;
  /** Probability that an interaction stays in the user's community. @default 0.8 */
  inCommunity?: number;
  /** Zipf exponent of item popularity within a community. @default 0.8 */
  zipf?: number;
  /** Fraction of each user's interactions held out for test. @default 0.2 */
  testFraction?: number;
  /** @default 0 */
  seed?: number;
}

export const DEFAULT_SYNTHETIC_RETRIEVAL_OPTIONS: Readonly<Required<SyntheticRetrievalOptions>> = Object.freeze({
  numUsers: 4000,
  numItems: 6000,
  communities: 40,
  meanDegree: 30,
  inCommunity: 0.8,
  zipf: 0.8,
  testFraction: 0.2,
  seed: 0,
});

/**
 * A seeded implicit-feedback dataset with planted communities and Zipf item popularity: the
 * built-in default of `compactrec bench retrieval --data generated`, small enough for a demo and
 * structured enough that graph-aware methods have something to find.
 */
export function generateRetrievalDataset(options: SyntheticRetrievalOptions = {}): RetrievalDataset {
  const o = { ...DEFAULT_SYNTHETIC_RETRIEVAL_OPTIONS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  for (const key of ['numUsers', 'numItems', 'communities'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) {
      throw new InvalidArgumentError(`core/generateRetrievalDataset: ${key} (${o[key]}) must be a positive integer`);
    }
  }
  if (o.communities > o.numItems) {
    throw new InvalidArgumentError(
      `core/generateRetrievalDataset: communities (${o.communities}) exceed numItems (${o.numItems})`,
    );
  }
  const rng = new Rng(o.seed);
  // Items of community c are c, c + C, c + 2C, ... (so ids carry no block structure a modulo could exploit).
  const C = o.communities;
  const perCommunity = Math.ceil(o.numItems / C);
  // Zipf CDF over ranks within a community.
  const cdf = new Float64Array(perCommunity);
  let acc = 0;
  for (let r = 0; r < perCommunity; r++) cdf[r] = acc += 1 / (r + 1) ** o.zipf;
  for (let r = 0; r < perCommunity; r++) cdf[r]! /= acc;
  const sampleRank = (): number => {
    const x = rng.next();
    let lo = 0;
    let hi = perCommunity - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const trainRows: number[][] = [];
  const testRows: number[][] = [];
  const seen = new Set<number>();
  for (let u = 0; u < o.numUsers; u++) {
    const home = rng.nextInt(C);
    const degree = Math.max(3, Math.round(-Math.log(1 - rng.next()) * o.meanDegree));
    seen.clear();
    const items: number[] = [];
    for (let t = 0; t < degree * 4 && items.length < degree; t++) {
      const c = rng.next() < o.inCommunity ? home : rng.nextInt(C);
      const item = c + sampleRank() * C;
      if (item >= o.numItems || seen.has(item)) continue;
      seen.add(item);
      items.push(item);
    }
    const nTest = Math.max(1, Math.round(items.length * o.testFraction));
    testRows.push(items.slice(0, nTest).sort((a, b) => a - b));
    trainRows.push(items.slice(nTest).sort((a, b) => a - b));
  }
  const toCsr = (rows: number[][]): Interactions => {
    const offsets = new Uint32Array(rows.length + 1);
    for (let u = 0; u < rows.length; u++) offsets[u + 1] = offsets[u]! + rows[u]!.length;
    const items = new Int32Array(offsets[rows.length]!);
    for (let u = 0; u < rows.length; u++) items.set(rows[u]!, offsets[u]!);
    return { numUsers: o.numUsers, numItems: o.numItems, offsets, items };
  };
  return { name: `generated-${o.numUsers}x${o.numItems}-s${o.seed}`, train: toCsr(trainRows), test: toCsr(testRows) };
}
