import { BudgetError, embeddingBytes, InvalidArgumentError, materializeCodes } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { QR_SPEC, qrMinRows, qrRemainderSize, SCALAR_BYTES } from '../src/index.js';
import { codesOf } from './util.js';

const N = 29_858;

function bruteMinRows(n: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 1; r <= n; r++) best = Math.min(best, r + Math.ceil(n / r));
  return best;
}

describe('qr knob arithmetic', () => {
  it('qrMinRows is min over r of r + ⌈n/r⌉ = ⌈2√n⌉', () => {
    for (const n of [1, 2, 3, 10, 99, 100, 1000, 12_345, N, 40_981]) {
      expect(qrMinRows(n)).toBe(bruteMinRows(n));
      expect(qrMinRows(n)).toBe(Math.ceil(2 * Math.sqrt(n)));
    }
  });

  it('qrRemainderSize is the largest r ≤ n with r + ⌈n/r⌉ ≤ maxRows, and fills maxRows when r < n', () => {
    const min = qrMinRows(N);
    expect(qrRemainderSize(N, min - 1)).toBe(0);
    for (let maxRows = min; maxRows <= N + 3; maxRows += 613) {
      const r = qrRemainderSize(N, maxRows);
      expect(r).toBeGreaterThan(0);
      expect(r + Math.ceil(N / r)).toBeLessThanOrEqual(maxRows);
      let larger = 0;
      for (let s = r + 1; s <= Math.min(N, maxRows); s++) if (s + Math.ceil(N / s) <= maxRows) larger++;
      expect(larger).toBe(0);
      if (r < N) expect(r + Math.ceil(N / r)).toBe(maxRows);
    }
    expect(qrRemainderSize(N, N + 1)).toBe(N);
    expect(qrRemainderSize(N, 10 * N)).toBe(N);
  });
});

describe('qr', () => {
  it('fills the budget exactly (rows = ⌊budget / (dim·4)⌋) with codes [id mod r, r + ⌊id/r⌋]', () => {
    const budgetBytes = 0.1 * N * 64 * 4;
    const m = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes, seed: 0 });
    const { r, q } = m.params as { r: number; q: number };
    expect(m.rows).toBe(Math.floor(budgetBytes / 256));
    expect(m.rows).toBe(r + q);
    expect(q).toBe(Math.ceil(N / r));
    expect(m.combine).toBe('mult');
    expect(m.mappingBytes).toBe(3 * SCALAR_BYTES);
    const ids = [0, 1, r - 1, r, r + 1, 5 * r + 3, N - 1];
    expect(Array.from(codesOf(m, ids))).toEqual(ids.flatMap((id) => [id % r, r + Math.floor(id / r)]));
  });

  it('gives every fitted ID a distinct pair of rows', () => {
    const m = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes: 0.05 * N * 256, seed: 0 });
    const codes = materializeCodes(m);
    const pairs = new Set<number>();
    for (let i = 0; i < N; i++) pairs.add(codes[2 * i]! * m.rows + codes[2 * i + 1]!);
    expect(pairs.size).toBe(N);
  });

  it('takes the quotient of unseen IDs mod q', () => {
    const m = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes: 0.25 * N * 256, seed: 0 });
    const { r, q } = m.params as { r: number; q: number };
    const ids = [N, N + 12_345, 2 ** 36 + 77];
    expect(Array.from(codesOf(m, ids))).toEqual(ids.flatMap((id) => [id % r, r + (Math.floor(id / r) % q)]));
  });

  it('rowDim: dim for mult and sum, dim/2 for concat (which then gets twice the rows)', () => {
    const budgetBytes = 0.25 * N * 64 * 4;
    const mult = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes, seed: 0 });
    const sum = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes, seed: 0, extra: { combine: 'sum' } });
    const concat = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes, seed: 0, extra: { combine: 'concat' } });
    expect(mult.rowDim(64)).toBe(64);
    expect(sum.rowDim(64)).toBe(64);
    expect(sum.combine).toBe('sum');
    expect(concat.combine).toBe('concat');
    expect(concat.rowDim(64)).toBe(32);
    expect(concat.rows).toBe(Math.floor(budgetBytes / (32 * 4)));
    for (const m of [mult, sum, concat]) {
      expect(embeddingBytes(m, 64)).toBeLessThanOrEqual(budgetBytes);
      expect(embeddingBytes(m, 64)).toBeGreaterThanOrEqual(0.95 * budgetBytes);
    }
    expect(() => concat.rowDim(63)).toThrow(InvalidArgumentError);
  });

  it('rejects odd dim with concat, unknown combines, and budgets below ⌈2√n⌉ rows', () => {
    expect(() =>
      QR_SPEC.create({ numIds: N }, { dim: 63, budgetBytes: 1e6, seed: 0, extra: { combine: 'concat' } }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes: 1e6, seed: 0, extra: { combine: 'max' } }),
    ).toThrow(InvalidArgumentError);
    const minBytes = qrMinRows(N) * 256;
    expect(() => QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes: minBytes - 1, seed: 0 })).toThrow(BudgetError);
    expect(QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes: minBytes, seed: 0 }).rows).toBe(qrMinRows(N));
  });

  it('caps r at numIds when the budget exceeds the full table (q = 1)', () => {
    const m = QR_SPEC.create({ numIds: N }, { dim: 64, budgetBytes: 2 * N * 256, seed: 0 });
    expect(m.params).toMatchObject({ r: N, q: 1 });
    expect(m.rows).toBe(N + 1);
  });
});
