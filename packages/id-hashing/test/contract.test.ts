/**
 * The IdMapper contract, checked for every registered method on Gowalla's real user side (29,858
 * IDs) and item side (40,981 IDs) at dim 64: codes in range, table bytes within [95%, 100%] of
 * several budgets, determinism under a seed, snapshot/restore identity, unseen IDs.
 */
import {
  BudgetError,
  degrees,
  embeddingBytes,
  fullTableBytes,
  type IdMapper,
  InvalidArgumentError,
  type MapperFitData,
  materializeCodes,
  NotFoundError,
} from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import { ID_HASHING_METHODS, restoreMapper } from '../src/index.js';
import { GOWALLA_ITEMS, GOWALLA_USERS, loadGowalla } from './gowalla.js';
import { codesOf, firstMismatch } from './util.js';

const DIM = 64;
const FRACTIONS = [0.1, 0.25, 0.5] as const;
const METHODS = Object.keys(ID_HASHING_METHODS);
/** Methods that draw random numbers (the others are deterministic functions of the data). */
const SEEDED = new Set(['universal', 'double', 'double-frequency', 'hash-embedding', 'lsh']);
/** IDs outside every fitted space, including one above 2^32. */
const UNSEEN = [GOWALLA_ITEMS, GOWALLA_ITEMS + 1, 123_456_789, 2 ** 31 + 5, 2 ** 40 + 3];

function sideData(side: 'user' | 'item'): MapperFitData {
  const x = loadGowalla();
  const deg = degrees(x);
  return side === 'user'
    ? { numIds: x.numUsers, counts: deg.users, interactions: x, side }
    : { numIds: x.numItems, counts: deg.items, interactions: x, side };
}

/** Where −1 may appear: only in the second code of double-frequency's top IDs. */
function checkCodeRange(mapper: IdMapper, codes: Int32Array): void {
  const k = mapper.codesPerId;
  let bad = 0;
  let minusOne = 0;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === -1 && mapper.method === 'double-frequency' && i % k === 1) minusOne++;
    else if (!(c >= 0 && c < mapper.rows)) bad++;
  }
  expect(bad).toBe(0);
  if (mapper.method !== 'double-frequency') expect(minusOne).toBe(0);
}

describe.skipIf(missingData('gowalla/train.txt'))(
  `every id-hashing method honours the IdMapper contract (on a Gowalla slice; ${DATASETS_REASON})`,
  () => {
    it('registers the nine methods by name', () => {
      expect(METHODS.sort()).toEqual(
        [
          'double',
          'double-frequency',
          'frequency',
          'full',
          'hash-embedding',
          'lsh',
          'modulo',
          'qr',
          'universal',
        ].sort(),
      );
      for (const name of METHODS) expect(ID_HASHING_METHODS[name]!.name).toBe(name);
    });

    for (const side of ['user', 'item'] as const) {
      const numIds = side === 'user' ? GOWALLA_USERS : GOWALLA_ITEMS;
      for (const name of METHODS.filter((m) => m !== 'full')) {
        it(`${name} (${side}s, ${numIds} IDs): table bytes in [95%, 100%] of 0.1/0.25/0.5 budgets, codes in range`, () => {
          const data = sideData(side);
          expect(data.numIds).toBe(numIds);
          for (const f of FRACTIONS) {
            const budgetBytes = f * fullTableBytes(numIds, DIM);
            const mapper = ID_HASHING_METHODS[name]!.create(data, { dim: DIM, budgetBytes, seed: 7 });
            const bytes = embeddingBytes(mapper, DIM);
            expect(bytes).toBeLessThanOrEqual(budgetBytes);
            expect(bytes).toBeGreaterThanOrEqual(0.95 * budgetBytes);
            expect(mapper.numIds).toBe(numIds);
            checkCodeRange(mapper, materializeCodes(mapper));
            checkCodeRange(mapper, codesOf(mapper, UNSEEN));
          }
        });
      }
    }

    for (const name of METHODS) {
      const spec = ID_HASHING_METHODS[name]!;
      // full needs the whole table; the others get a quarter of it.
      const fraction = name === 'full' ? 1 : 0.25;
      const options = (seed: number) => ({
        dim: DIM,
        budgetBytes: fraction * fullTableBytes(GOWALLA_USERS, DIM),
        seed,
      });

      it(`${name}: same seed, same codes${SEEDED.has(name) ? '; another seed, other codes' : ''}`, () => {
        const data = sideData('user');
        const a = materializeCodes(spec.create(data, options(1)));
        const b = materializeCodes(spec.create(data, options(1)));
        expect(firstMismatch(b, a)).toBe(-1);
        if (SEEDED.has(name)) {
          const c = materializeCodes(spec.create(data, options(2)));
          let differ = 0;
          for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) differ++;
          expect(differ).toBeGreaterThan(a.length / 2);
        }
      });

      it(`${name}: snapshot → restore gives the same mapper and codes (fitted and unseen IDs)`, () => {
        const mapper = spec.create(sideData('user'), options(3));
        const snap = mapper.snapshot();
        expect(snap.method).toBe(name);
        for (const restored of [spec.restore(snap), restoreMapper(snap)]) {
          expect(restored.method).toBe(name);
          expect(restored.rows).toBe(mapper.rows);
          expect(restored.numIds).toBe(mapper.numIds);
          expect(restored.codesPerId).toBe(mapper.codesPerId);
          expect(restored.combine).toBe(mapper.combine);
          expect(restored.mappingBytes).toBe(mapper.mappingBytes);
          expect(restored.params).toEqual(mapper.params);
          expect(restored.weights === null).toBe(mapper.weights === null);
          if (mapper.weights) expect(firstMismatch(restored.weights!, mapper.weights)).toBe(-1);
          expect(firstMismatch(materializeCodes(restored), materializeCodes(mapper))).toBe(-1);
          if (name !== 'full') expect(codesOf(restored, UNSEEN)).toEqual(codesOf(mapper, UNSEEN));
        }
      });

      it(`${name}: restore rejects another method's snapshot`, () => {
        const other = name === 'modulo' ? 'universal' : 'modulo';
        const snap = ID_HASHING_METHODS[other]!.create(sideData('user'), options(3)).snapshot();
        expect(() => spec.restore(snap)).toThrow(/snapshot is of method/);
      });

      it(`${name}: unseen IDs ${name === 'full' ? 'throw NotFoundError' : 'are hashed into the table'}`, () => {
        const mapper = spec.create(sideData('user'), options(4));
        if (name === 'full') {
          expect(() => codesOf(mapper, [GOWALLA_USERS])).toThrow(NotFoundError);
        } else {
          const codes = codesOf(mapper, UNSEEN);
          checkCodeRange(mapper, codes);
          expect(codesOf(mapper, UNSEEN)).toEqual(codes);
        }
      });

      it(`${name}: a budget below one row throws BudgetError; bad input throws InvalidArgumentError`, () => {
        const data = sideData('user');
        expect(() => spec.create(data, { dim: DIM, budgetBytes: DIM * 4 - 1, seed: 1 })).toThrow(BudgetError);
        expect(() => spec.create(data, { dim: DIM, budgetBytes: 0, seed: 1 })).toThrow(InvalidArgumentError);
        expect(() => spec.create(data, { dim: 0, budgetBytes: 1e6, seed: 1 })).toThrow(InvalidArgumentError);
        expect(() => spec.create({ ...data, numIds: 0 }, { dim: DIM, budgetBytes: 1e6, seed: 1 })).toThrow(
          InvalidArgumentError,
        );
        expect(() => spec.create(data, { ...options(1), extra: { noSuchOption: 1 } })).toThrow(InvalidArgumentError);
        expect(() => spec.create(data, options(1.5))).toThrow(InvalidArgumentError);
        expect(() => spec.create(data, options(Number.NaN))).toThrow(InvalidArgumentError);
      });

      it(`${name}: mapInto honours n and rejects a short output buffer`, () => {
        const mapper = spec.create(sideData('user'), options(5));
        const k = mapper.codesPerId;
        const ids = Int32Array.of(5, 17, 29_000, 3);
        const full = codesOf(mapper, ids);
        const part = new Int32Array(4 * k).fill(-7);
        mapper.mapInto(ids, part, 2);
        expect(Array.from(part.subarray(0, 2 * k))).toEqual(Array.from(full.subarray(0, 2 * k)));
        expect(Array.from(part.subarray(2 * k))).toEqual(new Array(2 * k).fill(-7));
        expect(() => mapper.mapInto(ids, new Int32Array(4 * k - 1))).toThrow(InvalidArgumentError);
        expect(() => mapper.mapInto(ids, part, 5)).toThrow(InvalidArgumentError);
      });

      it(`${name}: mappingBytes is non-negative and reported params are plain values`, () => {
        const mapper = spec.create(sideData('user'), options(6));
        expect(mapper.mappingBytes).toBeGreaterThan(0);
        for (const v of Object.values(mapper.params)) expect(['number', 'string', 'boolean']).toContain(typeof v);
      });
    }
  },
);
