import { Rng, UNIVERSAL_PRIME, UniversalHash } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { drawUniversal, universalRow } from '../src/internal/universal.js';

describe('universalRow (the mappers’ fast universal hash)', () => {
  it('equals core UniversalHash.hash on random coefficients, moduli and keys, including edge keys', () => {
    const rng = new Rng(123);
    const edges = [
      0,
      1,
      65535,
      65536,
      UNIVERSAL_PRIME - 1,
      UNIVERSAL_PRIME,
      UNIVERSAL_PRIME + 1,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 53 - 1,
    ];
    let mismatches = 0;
    for (let trial = 0; trial < 200; trial++) {
      const m = trial % 3 === 0 ? UNIVERSAL_PRIME : 1 + rng.nextInt(trial % 2 === 0 ? 100 : 2 ** 31 - 2);
      const h = new UniversalHash(m, rng.nextU32());
      for (const x of edges) if (universalRow(h.a, h.b, m, x) !== h.hash(x)) mismatches++;
      for (let i = 0; i < 1000; i++) {
        const x = i % 2 === 0 ? rng.nextInt(UNIVERSAL_PRIME) : rng.nextU32() * 2 ** 21 + rng.nextInt(2 ** 21);
        if (universalRow(h.a, h.b, m, x) !== h.hash(x)) mismatches++;
      }
      // Extreme coefficients.
      for (const [ea, eb] of [
        [UNIVERSAL_PRIME - 1, UNIVERSAL_PRIME - 1],
        [1, 0],
      ] as const) {
        for (const x of edges) {
          const want = ((BigInt(ea) * BigInt(x % UNIVERSAL_PRIME) + BigInt(eb)) % BigInt(UNIVERSAL_PRIME)) % BigInt(m);
          if (BigInt(universalRow(ea, eb, m, x)) !== want) mismatches++;
        }
      }
    }
    expect(mismatches).toBe(0);
  });

  it('drawUniversal keeps exactly core UniversalHash(m, seed)’s coefficients', () => {
    for (const [m, seed] of [
      [7, 0],
      [7464, 11],
      [UNIVERSAL_PRIME, 99],
    ] as const) {
      const h = new UniversalHash(m, seed);
      expect(drawUniversal(m, seed)).toEqual({ a: h.a, b: h.b });
    }
  });
});
