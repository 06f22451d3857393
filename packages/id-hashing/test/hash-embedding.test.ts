import { deriveSeed, hashInt, InvalidArgumentError, materializeCodes } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { HASH_EMBEDDING_SPEC, HashEmbeddingMapper, SCALAR_BYTES } from '../src/index.js';
import { codesOf, firstMismatch } from './util.js';

const N = 40_981;
const opts = { dim: 64, budgetBytes: 0.1 * N * 256, seed: 9 };

describe('hash-embedding', () => {
  it('K = 2 seeded hashInt rows in a pool of B = ⌊budget / (dim·4)⌋ rows, summed', () => {
    const m = HASH_EMBEDDING_SPEC.create({ numIds: N }, opts);
    expect(m).toBeInstanceOf(HashEmbeddingMapper);
    expect(m.rows).toBe(Math.floor(opts.budgetBytes / 256));
    expect(m.codesPerId).toBe(2);
    expect(m.combine).toBe('sum');
    const s0 = deriveSeed(opts.seed, 'hash-embedding/0');
    const s1 = deriveSeed(opts.seed, 'hash-embedding/1');
    const ids = [0, 1, 777, N - 1, N, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, 2 ** 53 - 1];
    for (let i = 0; i < 2000; i++) ids.push((i * 2654435761) % 2 ** 32, i * 1_234_567_891_011 + 7);
    expect(Array.from(codesOf(m, ids))).toEqual(
      ids.flatMap((id) => [hashInt(id, s0) % m.rows, hashInt(id, s1) % m.rows]),
    );
    // The two rows of an ID coincide with probability ~1/B.
    const codes = materializeCodes(m);
    let same = 0;
    for (let i = 0; i < N; i++) if (codes[2 * i] === codes[2 * i + 1]) same++;
    expect(same).toBeLessThan((5 * N) / m.rows + 5);
  });

  it('has learnable weights [numIds × K] initialised to 1/√K and counted in mappingBytes', () => {
    for (const k of [1, 2, 3]) {
      const m = HASH_EMBEDDING_SPEC.create({ numIds: N }, { ...opts, extra: { k } });
      expect(m.learnableWeights).toBe(true);
      expect(m.codesPerId).toBe(k);
      expect(m.weights).toBeInstanceOf(Float32Array);
      expect(m.weights!.length).toBe(N * k);
      expect(new Set(m.weights).size).toBe(1);
      expect(m.weights![0]).toBeCloseTo(1 / Math.sqrt(k), 6);
      expect(m.mappingBytes).toBe(N * k * 4 + k * 4 + SCALAR_BYTES);
    }
  });

  it('weightsInto reads trained weights and gives unseen IDs the init weight', () => {
    const m = HASH_EMBEDDING_SPEC.create({ numIds: N }, opts) as HashEmbeddingMapper;
    m.weights[2 * 10] = 0.25;
    m.weights[2 * 10 + 1] = -1.5;
    const out = new Float32Array(6);
    m.weightsInto([10, N + 4, 0], out);
    expect(Array.from(out)).toEqual([
      0.25,
      -1.5,
      Math.fround(Math.SQRT1_2),
      Math.fround(Math.SQRT1_2),
      ...Array(2).fill(Math.fround(Math.SQRT1_2)),
    ]);
    expect(m.unseenWeight).toBeCloseTo(Math.SQRT1_2, 12);
    expect(() => m.weightsInto([1, 2], new Float32Array(3))).toThrow(InvalidArgumentError);
  });

  it('snapshot copies the weights at that moment; restore keeps trained weights', () => {
    const m = HASH_EMBEDDING_SPEC.create({ numIds: N }, opts);
    m.weights![5] = 3;
    const snap = m.snapshot();
    m.weights![5] = 4;
    expect(snap.arrays.weights![5]).toBe(3);
    const r = HASH_EMBEDDING_SPEC.restore(snap);
    expect(r.weights![5]).toBe(3);
    expect(r.learnableWeights).toBe(true);
    expect(firstMismatch(materializeCodes(r), materializeCodes(m))).toBe(-1);
  });

  it('rejects K outside [1, 16] or not an integer', () => {
    for (const k of [0, 17, 1.5, -2]) {
      expect(() => HASH_EMBEDDING_SPEC.create({ numIds: N }, { ...opts, extra: { k } })).toThrow(InvalidArgumentError);
    }
  });
});
