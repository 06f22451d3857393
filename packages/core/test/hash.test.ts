import { hashInt, InvalidArgumentError, mulModPrime, Rng, UNIVERSAL_PRIME, UniversalHash } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

const P = BigInt(UNIVERSAL_PRIME);

describe('mulModPrime', () => {
  it('equals BigInt (a * x) mod p for random and extreme values below p', () => {
    const rng = new Rng(99);
    const cases: [number, number][] = [
      [0, 0],
      [1, UNIVERSAL_PRIME - 1],
      [UNIVERSAL_PRIME - 1, UNIVERSAL_PRIME - 1],
      [UNIVERSAL_PRIME - 1, 65535],
      [UNIVERSAL_PRIME - 1, 65536],
      [123456789, 2 ** 31 - 2],
    ];
    for (let i = 0; i < 20_000; i++) cases.push([rng.nextInt(UNIVERSAL_PRIME), rng.nextInt(UNIVERSAL_PRIME)]);
    for (const [a, x] of cases) {
      const want = Number((BigInt(a) * BigInt(x)) % P);
      if (mulModPrime(a, x) !== want) throw new Error(`mulModPrime(${a}, ${x}) = ${mulModPrime(a, x)}, want ${want}`);
    }
    expect(cases.length).toBe(20_006);
  });
});

describe('UniversalHash', () => {
  it('validates m', () => {
    for (const m of [0, -1, 1.5, UNIVERSAL_PRIME + 1, Number.NaN]) {
      expect(() => new UniversalHash(m, 1)).toThrow(InvalidArgumentError);
    }
  });

  it('draws a in [1, p) and b in [0, p) deterministically from the seed', () => {
    const h = new UniversalHash(1000, 5);
    expect(h.a >= 1 && h.a < UNIVERSAL_PRIME).toBe(true);
    expect(h.b >= 0 && h.b < UNIVERSAL_PRIME).toBe(true);
    const g = new UniversalHash(1000, 5);
    expect([g.a, g.b]).toEqual([h.a, h.b]);
    expect([new UniversalHash(1000, 6).a, new UniversalHash(1000, 6).b]).not.toEqual([h.a, h.b]);
  });

  it('equals ((a x + b) mod p) mod m in BigInt, for keys below and above p, always in [0, m)', () => {
    const rng = new Rng(4);
    for (const m of [1, 2, 97, 7464, 1 << 20, UNIVERSAL_PRIME]) {
      const h = new UniversalHash(m, m);
      const keys = [0, 1, UNIVERSAL_PRIME - 1, UNIVERSAL_PRIME, UNIVERSAL_PRIME + 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
      for (let i = 0; i < 2000; i++) keys.push(rng.nextInt(2 ** 32) * 2 ** 21 + rng.nextInt(2 ** 21)); // up to 2^53
      for (const x of keys) {
        const want = Number(((BigInt(h.a) * (BigInt(x) % P) + BigInt(h.b)) % P) % BigInt(m));
        const got = h.hash(x);
        if (got !== want) throw new Error(`m=${m} x=${x}: ${got} != ${want}`);
      }
    }
    expect(new UniversalHash(1, 3).hash(12345)).toBe(0);
  });

  it('spreads consecutive ids roughly evenly', () => {
    const m = 64;
    const h = new UniversalHash(m, 17);
    const counts = new Uint32Array(m);
    const n = 64_000;
    for (let x = 0; x < n; x++) counts[h.hash(x)]!++;
    for (const c of counts) expect(Math.abs(c - n / m)).toBeLessThan(0.2 * (n / m));
  });
});

describe('hashInt', () => {
  it('is a seeded uint32 hash of safe integers', () => {
    expect(hashInt(12345, 1)).toBe(hashInt(12345, 1));
    expect(hashInt(12345, 1)).not.toBe(hashInt(12345, 2));
    // Both 32-bit halves matter.
    expect(hashInt(1, 0)).not.toBe(hashInt(1 + 2 ** 32, 0));
    const seen = new Set<number>();
    for (let x = 0; x < 10_000; x++) {
      const v = hashInt(x * 7919, 3);
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
      seen.add(v);
    }
    expect(seen.size).toBeGreaterThan(9_990);
  });
});
