import {
  degrees,
  deriveSeed,
  embeddingBytes,
  InvalidArgumentError,
  materializeCodes,
  UniversalHash,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DOUBLE_FREQUENCY_SPEC, FREQUENCY_SPEC, SCALAR_BYTES } from '../src/index.js';
import { loadGowalla } from './gowalla.js';
import { codesOf, firstMismatch } from './util.js';

/** The definition, written independently: IDs by (count desc, id asc); rank i owns row m − k + i. */
function referenceTop(counts: Uint32Array, k: number): number[] {
  return Array.from(counts.keys())
    .sort((a, b) => counts[b]! - counts[a]! || a - b)
    .slice(0, k);
}

function referenceFrequencyCodes(counts: Uint32Array, m: number, topFraction: number): Int32Array {
  const k = Math.floor(m * topFraction);
  const own = new Map(referenceTop(counts, k).map((id, rank) => [id, m - k + rank]));
  return Int32Array.from(counts, (_c, id) => own.get(id) ?? id % (m - k));
}

/** Item-side counts of the first 2,000 Gowalla users (real, heavy-tailed, with many ties). */
function gowallaItemCounts(): Uint32Array {
  return degrees(loadGowalla(2000)).items;
}

describe('frequency', () => {
  it('gives the top-k IDs (ties to the smaller ID) rows m−k .. m−1 by rank and the rest id mod (m−k)', () => {
    const counts = Uint32Array.of(3, 7, 7, 0, 9, 7, 1, 1, 9, 2, 0, 5);
    // dim 1: a budget of 8 × 4 bytes gives m = 8, k = 4: ids 4, 8 (count 9), then 1, 2 (count 7; 5 loses the tie).
    const m = FREQUENCY_SPEC.create({ numIds: 12, counts }, { dim: 1, budgetBytes: 32, seed: 0 });
    expect(m.params).toMatchObject({ m: 8, k: 4, topFraction: 0.5, lookup: 'sorted' });
    expect(Array.from(materializeCodes(m))).toEqual([0, 6, 7, 3, 4, 1, 2, 3, 5, 1, 2, 3]);
    // Unseen IDs are never top IDs.
    expect(Array.from(codesOf(m, [12, 13, 2 ** 40 + 1]))).toEqual([0, 1, (2 ** 40 + 1) % 4]);
  });

  it('matches the definition on real Gowalla item counts for several budgets and fractions', () => {
    const counts = gowallaItemCounts();
    const n = counts.length;
    for (const [fraction, topFraction] of [
      [0.1, 0.5],
      [0.25, 0.5],
      [0.5, 0.25],
      [0.5, 0.75],
    ] as const) {
      const budgetBytes = fraction * n * 64 * 4;
      const m = FREQUENCY_SPEC.create({ numIds: n, counts }, { dim: 64, budgetBytes, seed: 0, extra: { topFraction } });
      expect(embeddingBytes(m, 64)).toBeGreaterThanOrEqual(0.95 * budgetBytes);
      const expected = referenceFrequencyCodes(counts, m.rows, topFraction);
      expect(firstMismatch(materializeCodes(m), expected)).toBe(-1);
      expect(m.params.k).toBe(Math.floor(m.rows * topFraction));
    }
  });

  it('keeps the lookup small: 8 bytes per top ID (sorted) unless a dense per-ID array is smaller', () => {
    const counts = gowallaItemCounts();
    const n = counts.length;
    const sorted = FREQUENCY_SPEC.create({ numIds: n, counts }, { dim: 64, budgetBytes: 0.25 * n * 256, seed: 0 });
    expect(sorted.params.lookup).toBe('sorted');
    expect(sorted.mappingBytes).toBe(8 * Number(sorted.params.k) + 2 * SCALAR_BYTES);
    // A dense per-ID array would take 4 bytes per ID.
    expect(sorted.mappingBytes).toBeLessThan(4 * n);

    const dense = FREQUENCY_SPEC.create(
      { numIds: n, counts },
      { dim: 64, budgetBytes: n * 256, seed: 0, extra: { topFraction: 0.9 } },
    );
    expect(dense.rows).toBe(n);
    expect(dense.params.lookup).toBe('dense');
    expect(dense.mappingBytes).toBe(4 * n + 2 * SCALAR_BYTES);
    expect(firstMismatch(materializeCodes(dense), referenceFrequencyCodes(counts, n, 0.9))).toBe(-1);
    expect(Array.from(codesOf(dense, [n, n + 1]))).toEqual([
      n % (n - Number(dense.params.k)),
      (n + 1) % (n - Number(dense.params.k)),
    ]);
    const restored = FREQUENCY_SPEC.restore(dense.snapshot());
    expect(firstMismatch(materializeCodes(restored), materializeCodes(dense))).toBe(-1);
  });

  it('topFraction 0 is plain modulo', () => {
    const counts = gowallaItemCounts();
    const m = FREQUENCY_SPEC.create(
      { numIds: counts.length, counts },
      { dim: 8, budgetBytes: 1000 * 32, seed: 0, extra: { topFraction: 0 } },
    );
    expect(m.params.k).toBe(0);
    expect(Array.from(codesOf(m, [0, 999, 1000, 4321]))).toEqual([0, 999, 0, 321]);
  });

  it('rejects a bad topFraction, missing or mis-sized counts', () => {
    const counts = Uint32Array.of(1, 2, 3);
    const ok = { dim: 1, budgetBytes: 8, seed: 0 };
    expect(() => FREQUENCY_SPEC.create({ numIds: 3 }, ok)).toThrow(InvalidArgumentError);
    expect(() => FREQUENCY_SPEC.create({ numIds: 4, counts }, ok)).toThrow(InvalidArgumentError);
    for (const topFraction of [1, -0.1, Number.NaN, '0.5']) {
      expect(() => FREQUENCY_SPEC.create({ numIds: 3, counts }, { ...ok, extra: { topFraction } })).toThrow(
        InvalidArgumentError,
      );
    }
  });
});

describe('double-frequency', () => {
  it('top IDs get [own row, −1]; the rest two universal hashes into [0, m − k)', () => {
    const counts = gowallaItemCounts();
    const n = counts.length;
    const seed = 5;
    const m = DOUBLE_FREQUENCY_SPEC.create({ numIds: n, counts }, { dim: 64, budgetBytes: 0.25 * n * 256, seed });
    const rows = m.rows;
    const k = Number(m.params.k);
    expect(k).toBe(Math.floor(rows / 2));
    expect(m.codesPerId).toBe(2);
    expect(m.combine).toBe('sum');
    const shared = rows - k;
    const h0 = new UniversalHash(shared, deriveSeed(seed, 'double-frequency/0'));
    const h1 = new UniversalHash(shared, deriveSeed(seed, 'double-frequency/1'));
    const own = new Map(referenceTop(counts, k).map((id, rank) => [id, shared + rank]));
    const codes = materializeCodes(m);
    let minusOnes = 0;
    let mismatches = 0;
    for (let id = 0; id < n; id++) {
      const c0 = codes[2 * id]!;
      const c1 = codes[2 * id + 1]!;
      if (c1 === -1) minusOnes++;
      const want = own.has(id) ? [own.get(id)!, -1] : [h0.hash(id), h1.hash(id)];
      if (c0 !== want[0] || c1 !== want[1]) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(minusOnes).toBe(k);
    // −1 never appears in the first column.
    let firstColumnNegative = 0;
    for (let id = 0; id < n; id++) if (codes[2 * id]! < 0) firstColumnNegative++;
    expect(firstColumnNegative).toBe(0);
    expect(Array.from(codesOf(m, [n + 2]))).toEqual([h0.hash(n + 2), h1.hash(n + 2)]);
  });

  it('its mapping is the top-ID lookup plus two hashes', () => {
    const counts = gowallaItemCounts();
    const m = DOUBLE_FREQUENCY_SPEC.create(
      { numIds: counts.length, counts },
      { dim: 64, budgetBytes: 0.1 * counts.length * 256, seed: 1 },
    );
    expect(m.mappingBytes).toBe(8 * Number(m.params.k) + 4 * 8 + 2 * SCALAR_BYTES);
  });
});
