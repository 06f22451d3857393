/** full, modulo, universal and double: the data-free hashing methods. */
import {
  BudgetError,
  deriveSeed,
  embeddingBytes,
  fullTableBytes,
  materializeCodes,
  NotFoundError,
  UniversalHash,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DOUBLE_SPEC, FULL_SPEC, MODULO_SPEC, SCALAR_BYTES, UNIVERSAL_SPEC } from '../src/index.js';
import { codesOf, firstMismatch, range } from './util.js';

const N = 29_858;
const DIM = 64;
const quarter = { dim: DIM, budgetBytes: 0.25 * fullTableBytes(N, DIM), seed: 11 };

describe('full', () => {
  it('maps id → id with numIds rows and needs the whole table', () => {
    const m = FULL_SPEC.create({ numIds: N }, { dim: DIM, budgetBytes: fullTableBytes(N, DIM), seed: 0 });
    expect(m.rows).toBe(N);
    expect(firstMismatch(materializeCodes(m), range(N))).toBe(-1);
    expect(m.mappingBytes).toBe(SCALAR_BYTES);
    expect(() =>
      FULL_SPEC.create({ numIds: N }, { dim: DIM, budgetBytes: fullTableBytes(N, DIM) - 1, seed: 0 }),
    ).toThrow(BudgetError);
  });

  it('a larger budget still gives numIds rows; unseen and negative IDs throw NotFoundError', () => {
    const m = FULL_SPEC.create({ numIds: N }, { dim: DIM, budgetBytes: 3 * fullTableBytes(N, DIM), seed: 0 });
    expect(m.rows).toBe(N);
    expect(() => codesOf(m, [N])).toThrow(NotFoundError);
    expect(() => codesOf(m, [-1])).toThrow(NotFoundError);
  });
});

describe('modulo', () => {
  it('m = ⌊budget / (dim·4)⌋ and row = id mod m, for any non-negative ID', () => {
    const m = MODULO_SPEC.create({ numIds: N }, quarter);
    expect(m.rows).toBe(Math.floor(quarter.budgetBytes / (DIM * 4)));
    expect(m.params).toEqual({ m: m.rows, full: false });
    const ids = [0, 1, m.rows - 1, m.rows, m.rows + 5, N - 1, N + 17, 2 ** 35 + 9];
    expect(Array.from(codesOf(m, ids))).toEqual(ids.map((id) => id % m.rows));
    expect(m.mappingBytes).toBeLessThanOrEqual(2 * SCALAR_BYTES);
  });

  it('caps m at numIds (then it is the full table, reported as params.full)', () => {
    const m = MODULO_SPEC.create({ numIds: N }, { dim: DIM, budgetBytes: 2 * fullTableBytes(N, DIM), seed: 0 });
    expect(m.rows).toBe(N);
    expect(m.params.full).toBe(true);
    expect(firstMismatch(materializeCodes(m), range(N))).toBe(-1);
  });
});

describe('universal', () => {
  it('equals core UniversalHash(m, seed) on fitted and unseen IDs', () => {
    const m = UNIVERSAL_SPEC.create({ numIds: N }, quarter);
    const h = new UniversalHash(m.rows, quarter.seed);
    const ids = [0, 1, 2, 1000, N - 1, N, 2 ** 31 - 1, 2 ** 31 + 7, 2 ** 45 + 1];
    expect(Array.from(codesOf(m, ids))).toEqual(ids.map((id) => h.hash(id)));
    expect(m.params.full).toBe(false);
    expect(embeddingBytes(m, DIM)).toBeLessThanOrEqual(quarter.budgetBytes);
  });

  it('spreads IDs: every row is used and no row holds more than 3× its share', () => {
    const m = UNIVERSAL_SPEC.create({ numIds: N }, quarter);
    const load = new Int32Array(m.rows);
    for (const c of materializeCodes(m)) load[c]!++;
    expect(Math.min(...load)).toBeGreaterThan(0);
    expect(Math.max(...load)).toBeLessThanOrEqual((3 * N) / m.rows);
  });

  it('with a full-table budget fitted IDs get their own row; unseen IDs are still hashed', () => {
    const m = UNIVERSAL_SPEC.create({ numIds: N }, { dim: DIM, budgetBytes: fullTableBytes(N, DIM), seed: 3 });
    expect(m.rows).toBe(N);
    expect(m.params.full).toBe(true);
    expect(firstMismatch(materializeCodes(m), range(N))).toBe(-1);
    const h = new UniversalHash(N, 3);
    expect(Array.from(codesOf(m, [N, N + 1]))).toEqual([h.hash(N), h.hash(N + 1)]);
  });
});

describe('double', () => {
  it('two independent universal hashes (seeds derived from seed) into one table of m rows', () => {
    const m = DOUBLE_SPEC.create({ numIds: N }, quarter);
    expect(m.codesPerId).toBe(2);
    expect(m.combine).toBe('sum');
    const h0 = new UniversalHash(m.rows, deriveSeed(quarter.seed, 'double/0'));
    const h1 = new UniversalHash(m.rows, deriveSeed(quarter.seed, 'double/1'));
    const ids = [0, 5, N - 1, N + 3, 2 ** 33];
    expect(Array.from(codesOf(m, ids))).toEqual(ids.flatMap((id) => [h0.hash(id), h1.hash(id)]));
  });

  it('the pair of rows is nearly unique per ID while single rows collide', () => {
    const m = DOUBLE_SPEC.create({ numIds: N }, { ...quarter, budgetBytes: 0.1 * fullTableBytes(N, DIM) });
    const codes = materializeCodes(m);
    const pairs = new Set<number>();
    const firsts = new Set<number>();
    for (let i = 0; i < N; i++) {
      pairs.add(codes[2 * i]! * m.rows + codes[2 * i + 1]!);
      firsts.add(codes[2 * i]!);
    }
    // m ≈ N/10: one hash leaves ≤ m distinct rows; pairs collide with probability ~N/m² each.
    expect(firsts.size).toBeLessThanOrEqual(m.rows);
    expect(pairs.size).toBeGreaterThan(0.99 * N);
  });
});
