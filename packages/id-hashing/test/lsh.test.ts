import {
  degrees,
  type Interactions,
  InvalidArgumentError,
  type MapperFitData,
  materializeCodes,
  transposeInteractions,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import { LSH_SPEC, type LshMapper, SCALAR_BYTES, simHashBits } from '../src/index.js';
import { loadGowalla } from './gowalla.js';
import { codesOf, firstMismatch } from './util.js';

/** A CSR from per-user item lists. */
function csr(rows: number[][], numItems: number): Interactions {
  const offsets = new Uint32Array(rows.length + 1);
  rows.forEach((r, u) => {
    offsets[u + 1] = offsets[u]! + r.length;
  });
  return { numUsers: rows.length, numItems, offsets, items: Int32Array.from(rows.flat()) };
}

/** Item lists of a CSR. */
function rowsOf(x: Interactions): number[][] {
  const out: number[][] = [];
  for (let u = 0; u < x.numUsers; u++) out.push(Array.from(x.items.subarray(x.offsets[u]!, x.offsets[u + 1]!)));
  return out;
}

const userSide = (x: Interactions): MapperFitData => ({ numIds: x.numUsers, interactions: x, side: 'user' });

describe('lsh', () => {
  it('uses b = ⌈log2 m⌉ hyperplanes', () => {
    expect([1, 2, 3, 4, 5, 1024, 1025, 29_858].map(simHashBits)).toEqual([0, 1, 2, 2, 3, 10, 11, 15]);
  });

  it('IDs with identical interaction sets share a bucket; empty IDs are hashed', () => {
    const x = csr([[1, 4, 7], [2], [0, 1, 2, 3], [7, 4, 1], [5, 6], [], [9, 8]], 10);
    for (let seed = 0; seed < 20; seed++) {
      const m = LSH_SPEC.create(userSide(x), { dim: 1, budgetBytes: 7 * 4, seed });
      const codes = materializeCodes(m);
      expect(codes[0]).toBe(codes[3]);
      expect(m.params).toMatchObject({ m: 7, bits: 3, emptyIds: 1, side: 'user' });
      expect(codes[5]).toBeGreaterThanOrEqual(0);
      expect(codes[5]).toBeLessThan(7);
    }
  });

  it.skipIf(missingData('gowalla/train.txt'))(
    `on real Gowalla users: exact twins always share a bucket, near twins far more often than random pairs (${DATASETS_REASON})`,
    () => {
      const slice = rowsOf(loadGowalla(2000));
      const twins = slice.slice(0, 500);
      // Near twins: users with ≥ 50 items, minus their first item.
      const nearIdx = slice.map((r, u) => (r.length >= 50 ? u : -1)).filter((u) => u >= 0);
      const near = nearIdx.map((u) => slice[u]!.slice(1));
      const x = csr([...slice, ...twins, ...near], loadGowalla(2000).numItems);
      const m = LSH_SPEC.create(userSide(x), { dim: 64, budgetBytes: 0.25 * x.numUsers * 256, seed: 17 });
      const codes = materializeCodes(m);
      let twinMisses = 0;
      for (let u = 0; u < twins.length; u++) if (codes[u] !== codes[2000 + u]) twinMisses++;
      expect(twinMisses).toBe(0);
      let nearHits = 0;
      nearIdx.forEach((u, i) => {
        if (codes[u] === codes[2500 + i]) nearHits++;
      });
      let randomHits = 0;
      for (let u = 0; u < 1999; u++) if (codes[u] === codes[u + 1]) randomHits++;
      expect(nearIdx.length).toBeGreaterThan(50);
      expect(nearHits / nearIdx.length).toBeGreaterThan(5 * (randomHits / 1999));
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `uses at most m buckets, reports how many, and stores one int32 per ID (${DATASETS_REASON})`,
    () => {
      const x = loadGowalla(2000);
      for (const fraction of [0.1, 0.25, 0.5]) {
        const m = LSH_SPEC.create(userSide(x), { dim: 64, budgetBytes: fraction * 2000 * 256, seed: 1 });
        const distinct = new Set(materializeCodes(m)).size;
        expect(distinct).toBeLessThanOrEqual(m.rows);
        expect(distinct).toBe(m.params.bucketsUsed);
        expect(m.params.bits).toBe(simHashBits(m.rows));
        expect(m.mappingBytes).toBe(2000 * 4 + 3 * SCALAR_BYTES);
      }
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `the item side is the user side of the transpose (${DATASETS_REASON})`,
    () => {
      const x = loadGowalla(2000);
      const opts = { dim: 64, budgetBytes: 0.25 * x.numItems * 256, seed: 4 };
      const item = LSH_SPEC.create({ numIds: x.numItems, interactions: x, side: 'item' }, opts);
      const viaT = LSH_SPEC.create(userSide(transposeInteractions(x)), opts);
      expect(item.params.side).toBe('item');
      expect(firstMismatch(materializeCodes(item), materializeCodes(viaT))).toBe(-1);
      // Items nobody in the slice touched (if any) are hashed.
      expect(item.params.emptyIds).toBe(degrees(x).items.filter((d) => d === 0).length);
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `symmetric normalization keeps twins together but changes buckets (${DATASETS_REASON})`,
    () => {
      const slice = rowsOf(loadGowalla(2000));
      const x = csr([...slice, ...slice.slice(0, 100)], loadGowalla(2000).numItems);
      const opts = { dim: 64, budgetBytes: 0.25 * x.numUsers * 256, seed: 2 };
      const none = materializeCodes(LSH_SPEC.create(userSide(x), opts));
      const sym = LSH_SPEC.create(userSide(x), { ...opts, extra: { normalize: 'symmetric' } });
      const codes = materializeCodes(sym);
      let misses = 0;
      for (let u = 0; u < 100; u++) if (codes[u] !== codes[2000 + u]) misses++;
      expect(misses).toBe(0);
      expect(firstMismatch(codes, none)).not.toBe(-1); // some bucket differs
      expect(() => LSH_SPEC.create(userSide(x), { ...opts, extra: { normalize: 'l2' } })).toThrow(InvalidArgumentError);
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `with m = 1 everything maps to row 0; unseen IDs are hashed in range (${DATASETS_REASON})`,
    () => {
      const x = loadGowalla(200);
      const one = LSH_SPEC.create(userSide(x), { dim: 8, budgetBytes: 32, seed: 0 });
      expect(new Set(materializeCodes(one))).toEqual(new Set([0]));
      const m = LSH_SPEC.create(userSide(x), { dim: 8, budgetBytes: 50 * 32, seed: 0 }) as LshMapper;
      for (const c of codesOf(m, [200, 201, 5_000_000, 2 ** 33])) {
        expect(c).toBeGreaterThanOrEqual(0);
        expect(c).toBeLessThan(50);
      }
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `rejects missing interactions or side, a numIds that is not the side size, and corrupt CSRs (${DATASETS_REASON})`,
    () => {
      const x = loadGowalla(200);
      const opts = { dim: 8, budgetBytes: 50 * 32, seed: 0 };
      expect(() => LSH_SPEC.create({ numIds: 200 }, opts)).toThrow(InvalidArgumentError);
      expect(() => LSH_SPEC.create({ numIds: 200, interactions: x }, opts)).toThrow(InvalidArgumentError);
      expect(() => LSH_SPEC.create({ numIds: 201, interactions: x, side: 'user' }, opts)).toThrow(InvalidArgumentError);
      expect(() => LSH_SPEC.create({ numIds: 200, interactions: x, side: 'item' }, opts)).toThrow(InvalidArgumentError);
      const bad = csr([[0, 1], [12]], 10);
      expect(() => LSH_SPEC.create(userSide(bad), opts)).toThrow(InvalidArgumentError);
      const badOffsets = { ...csr([[0], [1]], 10), offsets: Uint32Array.of(0, 2, 1) };
      expect(() => LSH_SPEC.create(userSide(badOffsets), opts)).toThrow(InvalidArgumentError);
    },
  );
});
