import { deriveSeed, mulModPrime, UNIVERSAL_PRIME, UniversalHash } from '@compactrec/core';

/** 2^-31: multiplying by it is exact in float64 (a power of two). */
const INV_2_31 = 1 / 2147483648;

/**
 * Draws the coefficients of core's {@link UniversalHash}(m, seed) so a mapper can keep them as
 * plain numbers (stored in snapshots; restore does not depend on how a seed becomes a and b).
 */
export function drawUniversal(m: number, seed: number): { a: number; b: number } {
  const h = new UniversalHash(m, seed);
  return { a: h.a, b: h.b };
}

/**
 * ((a·x + b) mod p) mod m with p = 2^31 − 1 — the same value as {@link UniversalHash.hash}, but
 * without float `%` in the common case: x < p is split into 15 + 16 bits so every product stays
 * below 2^48 (exact in float64), and each reduction uses 2^31 ≡ 1 (mod p): y = q·2^31 + r ≡ q + r,
 * with q = ⌊y·2^-31⌋ exact. The final `% m` works on an int32. Keys ≥ p take core's exact path.
 */
export function universalRow(a: number, b: number, m: number, x: number): number {
  if (x >= UNIVERSAL_PRIME) return ((mulModPrime(a, x % UNIVERSAL_PRIME) + b) % UNIVERSAL_PRIME) % m;
  // a·hi < 2^31·2^15 = 2^46; fold to < 2^31 + 2^15.
  let y = a * (x >>> 16);
  let q = Math.floor(y * INV_2_31);
  y = y - q * 2147483648 + q;
  // (y < 2^32)·2^16 + a·lo (< 2^47) < 2^49; fold to < 2^31 + 2^18.
  y = y * 65536 + a * (x & 0xffff);
  q = Math.floor(y * INV_2_31);
  y = y - q * 2147483648 + q;
  // + b (< p): below 3p, so at most two subtractions give (a·x + b) mod p.
  y += b;
  if (y >= UNIVERSAL_PRIME) y -= UNIVERSAL_PRIME;
  if (y >= UNIVERSAL_PRIME) y -= UNIVERSAL_PRIME;
  return (y | 0) % m;
}

/**
 * Draws `count` independent universal hashes into m rows, seeded by `deriveSeed(seed, label/i)`;
 * returns their coefficients `[a0, b0, a1, b1, …]`.
 */
export function drawHashes(m: number, seed: number, label: string, count: number): Float64Array {
  const out = new Float64Array(2 * count);
  for (let i = 0; i < count; i++) {
    const { a, b } = drawUniversal(m, deriveSeed(seed, `${label}/${i}`));
    out[2 * i] = a;
    out[2 * i + 1] = b;
  }
  return out;
}
