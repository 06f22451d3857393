import { InvalidArgumentError } from './errors.js';
import { fmix32, Rng } from './rng.js';

/** The Mersenne prime 2^31 - 1 used by {@link UniversalHash}. */
export const UNIVERSAL_PRIME = 2147483647;

/**
 * (a * x) mod p for 0 <= a, x < p = 2^31 - 1, exact in float64: x is split into 16-bit halves so
 * that no intermediate product exceeds 2^47 (the reference GraphHash code multiplies in int64 and
 * can overflow; this cannot).
 */
export function mulModPrime(a: number, x: number): number {
  const hi = Math.floor(x / 65536);
  const lo = x - hi * 65536;
  return (((a * hi) % UNIVERSAL_PRIME) * 65536 + a * lo) % UNIVERSAL_PRIME;
}

/**
 * Seeded universal hash h(x) = ((a*x + b) mod p) mod m with p = 2^31 - 1 (Carter-Wegman).
 * Keys are non-negative safe integers; keys >= p are first reduced mod p (exactly).
 */
export class UniversalHash {
  readonly a: number;
  readonly b: number;
  readonly m: number;

  /**
   * @param m number of buckets, 1 <= m <= 2^31 - 1
   * @param seed seed for drawing a in [1, p) and b in [0, p)
   */
  constructor(m: number, seed: number) {
    if (!Number.isInteger(m) || m < 1 || m > UNIVERSAL_PRIME) {
      throw new InvalidArgumentError(`core/UniversalHash: m (${m}) must be an integer in [1, 2^31-1]`);
    }
    const rng = new Rng(seed);
    this.a = 1 + rng.nextInt(UNIVERSAL_PRIME - 1);
    this.b = rng.nextInt(UNIVERSAL_PRIME);
    this.m = m;
  }

  /** Bucket of key x (a non-negative safe integer). */
  hash(x: number): number {
    const xr = x < UNIVERSAL_PRIME ? x : x % UNIVERSAL_PRIME;
    return ((mulModPrime(this.a, xr) + this.b) % UNIVERSAL_PRIME) % this.m;
  }
}

/**
 * Fast seeded 32-bit hash of a non-negative safe integer (up to 2^53): murmur3-style mixing of
 * both 32-bit halves. Used where universality is not required (bucket choice in hash embeddings,
 * string-free hashing of large raw IDs).
 */
export function hashInt(x: number, seed: number): number {
  const lo = x >>> 0;
  const hi = Math.floor(x / 4294967296) >>> 0;
  let h = seed >>> 0;
  h = Math.imul(h ^ fmix32(lo), 0x9e3779b1);
  h = (h << 13) | (h >>> 19);
  h = Math.imul(h ^ fmix32(hi ^ 0x27d4eb2f), 0x85ebca77);
  return fmix32(h >>> 0);
}
