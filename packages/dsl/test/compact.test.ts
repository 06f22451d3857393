import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BudgetError,
  DataFormatError,
  InvalidArgumentError,
  NotFoundError,
  Rng,
  UsageError,
  writeCheckpoint,
} from '@compactrec/core';
import {
  CompactSparseTable,
  chooseCompactFormat,
  compactTableBytes,
  DslTable,
  decodeCompactTable,
  densityForBudget,
  encodeCompactTable,
  loadCompactTable,
  saveCompactTable,
} from '@compactrec/dsl';
import { afterAll, describe, expect, it } from 'vitest';

function randomMasked(rows: number, dim: number, density: number, seed: number): [Float32Array, Uint8Array] {
  const rng = new Rng(seed);
  const values = new Float32Array(rows * dim);
  const mask = new Uint8Array(rows * dim);
  for (let i = 0; i < values.length; i++) {
    if (rng.next() < density) {
      mask[i] = 1;
      values[i] = rng.normal();
    }
  }
  return [values, mask];
}

function maskedRow(values: Float32Array, mask: Uint8Array, r: number, dim: number): Float32Array {
  const out = new Float32Array(dim);
  for (let c = 0; c < dim; c++) out[c] = mask[r * dim + c] ? values[r * dim + c]! : 0;
  return out;
}

describe('CompactSparseTable', () => {
  it('should decode rows equal to the masked dense rows in both formats', () => {
    for (const [rows, dim, density] of [
      [50, 64, 0.5],
      [33, 13, 0.3],
      [20, 8, 0.02],
      [7, 100, 1],
      [5, 9, 0],
    ] as const) {
      const [values, mask] = randomMasked(rows, dim, density, rows * dim);
      let nnz = 0;
      for (const m of mask) nnz += m;
      for (const format of ['bitmap', 'csr16'] as const) {
        const t = CompactSparseTable.fromDense(values, mask, rows, dim, format);
        expect(t.format).toBe(format);
        expect(t.nnz).toBe(nnz);
        expect(t.bytes).toBe(compactTableBytes(format, rows, dim, nnz));
        expect(t.bytes).toBe(t.offsets.byteLength + t.index.byteLength + t.values.byteLength);
        const out = new Float32Array(dim + 3);
        for (let r = 0; r < rows; r++) {
          out.fill(9);
          t.lookupRow(r, out, 2);
          expect(out.subarray(2, 2 + dim)).toEqual(maskedRow(values, mask, r, dim));
          expect(out[0]).toBe(9);
          expect(out[dim + 2]).toBe(9);
        }
        const ids = Int32Array.of(rows - 1, 0, Math.floor(rows / 2));
        const g = new Float32Array(3 * dim);
        t.gather(ids, g);
        for (let j = 0; j < 3; j++)
          expect(g.subarray(j * dim, (j + 1) * dim)).toEqual(maskedRow(values, mask, ids[j]!, dim));
      }
    }
  });

  it('should pick the smaller format automatically', () => {
    const rows = 100;
    const dim = 64;
    for (const density of [0.01, 0.05, 0.07, 0.25, 0.5]) {
      const [values, mask] = randomMasked(rows, dim, density, 3);
      const t = CompactSparseTable.fromDense(values, mask, rows, dim);
      const b = compactTableBytes('bitmap', rows, dim, t.nnz);
      const c = compactTableBytes('csr16', rows, dim, t.nnz);
      expect(t.bytes).toBe(Math.min(b, c));
      expect(t.format).toBe(c < b ? 'csr16' : 'bitmap');
    }
    // Bitmap wins above density 1/16 at dim 64 (8 bytes of bits per row vs 2 bytes per weight).
    expect(chooseCompactFormat(100, 64, 300)).toBe('csr16');
    expect(chooseCompactFormat(100, 64, 500)).toBe('bitmap');
  });

  it('should reject bad input and corrupt arrays', () => {
    const [values, mask] = randomMasked(10, 16, 0.5, 1);
    expect(() => CompactSparseTable.fromDense(values, mask, 10, 15)).toThrow(InvalidArgumentError);
    expect(() => CompactSparseTable.fromDense(values, mask, 10, 16, 'coo' as 'csr16')).toThrow(InvalidArgumentError);
    const t = CompactSparseTable.fromDense(values, mask, 10, 16, 'csr16');
    expect(() => t.lookupRow(10, new Float32Array(16))).toThrow(InvalidArgumentError);
    expect(() => t.gather(Int32Array.of(1, 2), new Float32Array(16))).toThrow(InvalidArgumentError);
    const cols = t.index.slice() as Uint16Array;
    cols[1] = cols[0]!; // not increasing
    expect(() =>
      CompactSparseTable.fromArrays(10, 16, 'csr16', { offsets: t.offsets, index: cols, values: t.values }),
    ).toThrow(InvalidArgumentError);
    const b = CompactSparseTable.fromDense(values, mask, 10, 16, 'bitmap');
    const bits = b.index.slice();
    bits[0] = bits[0]! ^ 1; // popcount no longer matches the offsets
    expect(() =>
      CompactSparseTable.fromArrays(10, 16, 'bitmap', { offsets: b.offsets, index: bits, values: b.values }),
    ).toThrow(InvalidArgumentError);
    expect(
      CompactSparseTable.fromArrays(10, 16, 'bitmap', {
        offsets: b.offsets,
        index: b.index,
        values: b.values,
      }).toDense(),
    ).toEqual(b.toDense());
  });
});

describe('densityForBudget', () => {
  it('should pick the largest density whose compact table fits, in the smaller format', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 200; trial++) {
      const rows = 1 + rng.nextInt(500);
      const dim = 1 + rng.nextInt(128);
      const dense = rows * dim * 4;
      const budget = Math.floor(dense * (0.02 + rng.next() * 1.1)) + 8 * (rows + 1);
      const d = densityForBudget(budget, rows, dim);
      expect(d.bytes).toBeLessThanOrEqual(budget);
      expect(d.bytes).toBe(compactTableBytes(d.format, rows, dim, d.nnz));
      expect(d.format).toBe(chooseCompactFormat(rows, dim, d.nnz));
      expect(Math.round(d.density * rows * dim)).toBe(d.nnz);
      if (d.nnz < rows * dim) {
        // One more weight fits in neither format.
        expect(compactTableBytes('bitmap', rows, dim, d.nnz + 1)).toBeGreaterThan(budget);
        expect(compactTableBytes('csr16', rows, dim, d.nnz + 1)).toBeGreaterThan(budget);
      } else {
        expect(d.density).toBe(1);
      }
    }
  });

  it('should give a DslTable whose compact export meets the budget', () => {
    for (const budget of [5_000, 20_000, 80_000, 200_000]) {
      const d = densityForBudget(budget, 300, 64);
      const t = new DslTable(300, 64, 10, { density: d.density });
      expect(t.activeCount).toBe(d.nnz);
      const c = t.toCompact();
      expect(c.format).toBe(d.format);
      expect(c.bytes).toBe(d.bytes);
      expect(c.bytes).toBeLessThanOrEqual(budget);
    }
    expect(densityForBudget(5_000, 300, 64).format).toBe('csr16');
    expect(densityForBudget(200_000, 300, 64).format).toBe('bitmap');
  });

  it('should throw BudgetError when the index overhead alone does not fit', () => {
    expect(() => densityForBudget(4 * 101, 100, 64)).toThrow(BudgetError);
    expect(densityForBudget(4 * 101 + 6, 100, 64).nnz).toBe(1);
    expect(() => densityForBudget(-1, 100, 64)).toThrow(InvalidArgumentError);
    expect(() => densityForBudget(1e6, 0, 64)).toThrow(InvalidArgumentError);
  });
});

describe('compact table persistence', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsl-compact-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('should round-trip a trained-like DslTable through save/load in both formats', async () => {
    for (const density of [0.04, 0.5]) {
      const t = new DslTable(120, 32, 10, { density, seed: 3 });
      t.initValues(0.1, new Rng(4));
      const c = t.toCompact();
      expect(c.format).toBe(density < 1 / 16 ? 'csr16' : 'bitmap');
      const path = join(dir, `t-${density}.crck`);
      await saveCompactTable(path, c);
      const back = await loadCompactTable(path);
      expect(back.format).toBe(c.format);
      expect(back.bytes).toBe(c.bytes);
      const out = new Float32Array(32);
      for (let r = 0; r < 120; r++) {
        back.lookupRow(r, out);
        expect(out).toEqual(maskedRow(t.table.data, t.mask, r, 32));
        expect(out).toEqual(t.table.row(r)); // inactive weights are exactly 0 in the dense table too
      }
      expect(decodeCompactTable(encodeCompactTable(c)).toDense()).toEqual(c.toDense());
    }
  });

  it('should report missing, foreign and corrupt files with the right error class', async () => {
    await expect(loadCompactTable(join(dir, 'missing.crck'))).rejects.toThrow(NotFoundError);
    const foreign = join(dir, 'foreign.crck');
    await writeCheckpoint(foreign, 'mapper', {}, {});
    await expect(loadCompactTable(foreign)).rejects.toThrow(UsageError);
    const c = new DslTable(10, 8, 10, { seed: 1 }).toCompact();
    const bad = join(dir, 'bad.crck');
    await writeCheckpoint(
      bad,
      'dsl-compact-table',
      { version: 1, rows: 10, dim: 8, format: c.format, nnz: c.nnz },
      {
        offsets: c.offsets,
        index: c.index,
        values: c.values.subarray(1),
      },
    );
    await expect(loadCompactTable(bad)).rejects.toThrow(DataFormatError);
    const junk = join(dir, 'junk.crck');
    writeFileSync(junk, 'not a checkpoint');
    await expect(loadCompactTable(junk)).rejects.toThrow(DataFormatError);
  });
});
