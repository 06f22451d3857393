import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BudgetError,
  DataFormatError,
  decodeCheckpoint,
  InvalidArgumentError,
  NotFoundError,
  Rng,
  UsageError,
  writeCheckpoint,
} from '@compactrec/core';
import {
  BITMAP_BLOCK_ROWS as B,
  CompactSparseTable,
  chooseCompactFormat,
  compactTableBytes,
  DSL_COMPACT_TABLE_KIND,
  DSL_COMPACT_TABLE_VERSION,
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

/** Like randomMasked, but each row is empty, full or random, so whole blocks can be empty or full. */
function mixedMasked(rows: number, dim: number, seed: number): [Float32Array, Uint8Array] {
  const rng = new Rng(seed);
  const values = new Float32Array(rows * dim);
  const mask = new Uint8Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const kind = rng.next();
    const density = kind < 0.25 ? 0 : kind < 0.35 ? 1 : rng.next();
    // Rows of the second block are all empty when there is one.
    const emptyBlock = r >= B && r < 2 * B;
    for (let c = 0; c < dim; c++) {
      if (!emptyBlock && rng.next() < density) {
        mask[r * dim + c] = 1;
        values[r * dim + c] = rng.normal();
      }
    }
  }
  return [values, mask];
}

/** Version-1 per-row offsets `[rows + 1]` of a mask. */
function rowOffsetsOf(mask: Uint8Array, rows: number, dim: number): Uint32Array {
  const out = new Uint32Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let c = 0; c < dim; c++) n += mask[r * dim + c]!;
    out[r + 1] = out[r]! + n;
  }
  return out;
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

  it('should decode every row of the block layout, at block edges, empty blocks and partial last blocks', () => {
    for (const rows of [1, B - 1, B, B + 1, 2 * B, 2 * B + 1, 3 * B - 1, 4 * B + 5]) {
      for (const dim of [64, 13, 32, 40, 96, 8, 1]) {
        const [values, mask] = mixedMasked(rows, dim, rows * 1000 + dim);
        const rowOffsets = rowOffsetsOf(mask, rows, dim);
        const nnz = rowOffsets[rows]!;
        const t = CompactSparseTable.fromDense(values, mask, rows, dim, 'bitmap');
        expect(t.nnz).toBe(nnz);
        expect(t.offsets.length).toBe(Math.ceil(rows / B) + 1);
        for (let k = 0; k < t.offsets.length - 1; k++) expect(t.offsets[k]).toBe(rowOffsets[k * B]);
        expect(t.offsets[t.offsets.length - 1]).toBe(nnz);
        expect(t.bytes).toBe(compactTableBytes('bitmap', rows, dim, nnz));
        expect(t.bytes).toBe(t.offsets.byteLength + t.index.byteLength + t.values.byteLength);
        const out = new Float32Array(dim);
        for (let r = 0; r < rows; r++) {
          expect(t.rowNnz(r)).toBe(rowOffsets[r + 1]! - rowOffsets[r]!);
          t.lookupRow(r, out);
          expect(out).toEqual(maskedRow(values, mask, r, dim));
        }
        // Batch lookup in an order that jumps between blocks and repeats rows.
        const ids = Int32Array.from({ length: 2 * rows }, (_, j) => (j * 7 + (j >> 1)) % rows);
        const g = new Float32Array(ids.length * dim);
        t.gather(ids, g);
        for (let j = 0; j < ids.length; j++) {
          expect(g.subarray(j * dim, (j + 1) * dim)).toEqual(maskedRow(values, mask, ids[j]!, dim));
        }
        expect(t.toDense()).toEqual(new Float32Array(values.map((v, i) => (mask[i] ? v : 0))));
      }
    }
  });

  it('should read a bitmap that is not 4-byte aligned (copied once, same bytes)', () => {
    const rows = 3 * B + 7;
    for (const dim of [64, 13]) {
      const [values, mask] = mixedMasked(rows, dim, dim);
      const t = CompactSparseTable.fromDense(values, mask, rows, dim, 'bitmap');
      const shifted = new Uint8Array(t.index.byteLength + 1);
      shifted.set(t.index as Uint8Array, 1);
      const odd = shifted.subarray(1);
      const back = CompactSparseTable.fromArrays(rows, dim, 'bitmap', {
        offsets: t.offsets,
        index: odd,
        values: t.values,
      });
      expect(back.index.byteOffset % 4).toBe(0);
      expect(back.bytes).toBe(t.bytes);
      expect(back.toDense()).toEqual(t.toDense());
      for (let r = 0; r < rows; r++) expect(back.rowNnz(r)).toBe(t.rowNnz(r));
    }
  });

  it('should reject bitmap block offsets that disagree with the bitmaps', () => {
    const rows = 3 * B + 5;
    const dim = 64;
    const [values, mask] = mixedMasked(rows, dim, 9);
    const t = CompactSparseTable.fromDense(values, mask, rows, dim, 'bitmap');
    const arrays = { offsets: t.offsets, index: t.index, values: t.values };
    const load = (patch: Partial<typeof arrays>) =>
      CompactSparseTable.fromArrays(rows, dim, 'bitmap', { ...arrays, ...patch });
    expect(load({}).toDense()).toEqual(t.toDense());
    // One inner block offset off by one: the blocks on both sides no longer match their popcounts.
    const shiftedOffsets = t.offsets.slice();
    shiftedOffsets[2] = shiftedOffsets[2]! + 1;
    expect(() => load({ offsets: shiftedOffsets })).toThrow(`block 1 (rows ${B}..${2 * B - 1})`);
    expect(() => load({ offsets: shiftedOffsets })).toThrow(InvalidArgumentError);
    // Per-row offsets (the version-1 layout) have the wrong length.
    expect(() => load({ offsets: rowOffsetsOf(mask, rows, dim) })).toThrow(InvalidArgumentError);
    // A bit flipped in the last, partial block.
    const bits = t.index.slice() as Uint8Array;
    bits[(rows - 1) * 8] = bits[(rows - 1) * 8]! ^ 1;
    expect(() => load({ index: bits })).toThrow(/block 3 /);
    // Offsets that do not end at nnz.
    expect(() => load({ values: t.values.subarray(1) })).toThrow(InvalidArgumentError);
    // A bit beyond dim (13 columns: bits 5..7 of each row's second byte must be 0).
    const [v13, m13] = randomMasked(B + 1, 13, 0.5, 2);
    const t13 = CompactSparseTable.fromDense(v13, m13, B + 1, 13, 'bitmap');
    const bits13 = t13.index.slice() as Uint8Array;
    bits13[1] = bits13[1]! | 0x80;
    const offsets13 = t13.offsets.slice();
    for (let k = 1; k < offsets13.length; k++) offsets13[k] = offsets13[k]! + 1;
    expect(() =>
      CompactSparseTable.fromArrays(B + 1, 13, 'bitmap', {
        offsets: offsets13,
        index: bits13,
        values: new Float32Array(t13.nnz + 1),
      }),
    ).toThrow(/columns ≥ dim/);
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
    // csr16 pays 4 bytes of row offset per row, bitmap 8 bytes of bits: bitmap wins above density ~1/32 at dim 64.
    expect(chooseCompactFormat(100, 64, 150)).toBe('csr16');
    expect(chooseCompactFormat(100, 64, 300)).toBe('bitmap');
    expect(chooseCompactFormat(100, 8, 1)).toBe('bitmap');
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
    bits[0] = bits[0]! ^ 1; // popcount no longer matches the block offsets
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
    for (const budget of [2_500, 5_000, 20_000, 80_000, 200_000]) {
      const d = densityForBudget(budget, 300, 64);
      const t = new DslTable(300, 64, 10, { density: d.density });
      expect(t.activeCount).toBe(d.nnz);
      const c = t.toCompact();
      expect(c.format).toBe(d.format);
      expect(c.bytes).toBe(d.bytes);
      expect(c.bytes).toBeLessThanOrEqual(budget);
    }
    expect(densityForBudget(2_500, 300, 64).format).toBe('csr16');
    expect(densityForBudget(200_000, 300, 64).format).toBe('bitmap');
  });

  it('should buy more weights than per-row offsets did (block offsets: ⌈dim/8⌉ + 4/B index bytes per row)', () => {
    const rows = 70_839;
    const dim = 64;
    for (const fraction of [0.5, 0.25]) {
      const budget = Math.floor(rows * dim * 4 * fraction);
      const d = densityForBudget(budget, rows, dim);
      expect(d.format).toBe('bitmap');
      // With uint32 row offsets the index took 8 + 4 bytes per row; now 8 + 4/B (+ 4 for the final offset).
      const perRowOffsetsNnz = Math.floor((budget - rows * 8 - 4 * (rows + 1)) / 4);
      const blockOffsetsNnz = Math.floor((budget - rows * 8 - 4 * (Math.ceil(rows / B) + 1)) / 4);
      expect(d.nnz).toBe(blockOffsetsNnz);
      expect(d.nnz - perRowOffsetsNnz).toBeGreaterThan(rows * 0.96);
    }
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
    const formats = new Set<string>();
    for (const density of [0.02, 0.5]) {
      const t = new DslTable(120, 64, 10, { density, seed: 3 });
      t.initValues(0.1, new Rng(4));
      const c = t.toCompact();
      expect(c.format).toBe(chooseCompactFormat(120, 64, t.activeCount));
      formats.add(c.format);
      const path = join(dir, `t-${density}.crck`);
      await saveCompactTable(path, c);
      const back = await loadCompactTable(path);
      expect(back.format).toBe(c.format);
      expect(back.bytes).toBe(c.bytes);
      const out = new Float32Array(64);
      for (let r = 0; r < 120; r++) {
        back.lookupRow(r, out);
        expect(out).toEqual(maskedRow(t.table.data, t.mask, r, 64));
        expect(out).toEqual(t.table.row(r)); // inactive weights are exactly 0 in the dense table too
      }
      const bytes = encodeCompactTable(c);
      expect(decodeCheckpoint(bytes, 'mem').header).toMatchObject({ version: DSL_COMPACT_TABLE_VERSION });
      expect(decodeCompactTable(bytes).toDense()).toEqual(c.toDense());
    }
    expect([...formats].sort()).toEqual(['bitmap', 'csr16']);
  });

  it('should load version-1 files (per-row bitmap offsets) and check their row offsets', async () => {
    const rows = 3 * B + 9;
    const dim = 64;
    const [values, mask] = mixedMasked(rows, dim, 21);
    const rowOffsets = rowOffsetsOf(mask, rows, dim);
    const c = CompactSparseTable.fromDense(values, mask, rows, dim, 'bitmap');
    const header = { version: 1, rows, dim, format: 'bitmap', nnz: c.nnz };
    const v1 = join(dir, 'v1.crck');
    await writeCheckpoint(v1, DSL_COMPACT_TABLE_KIND, header, {
      offsets: rowOffsets,
      index: c.index,
      values: c.values,
    });
    const back = await loadCompactTable(v1);
    expect(back.offsets).toEqual(c.offsets);
    expect(back.bytes).toBe(c.bytes);
    expect(back.toDense()).toEqual(c.toDense());
    // A row offset inside a block (not kept in the new layout) that disagrees with the bitmaps.
    const inner = rowOffsets.slice();
    inner[B + 3] = inner[B + 3]! + 1;
    const bad = join(dir, 'v1-bad.crck');
    await writeCheckpoint(bad, DSL_COMPACT_TABLE_KIND, header, { offsets: inner, index: c.index, values: c.values });
    await expect(loadCompactTable(bad)).rejects.toThrow(DataFormatError);
    await expect(loadCompactTable(bad)).rejects.toThrow(`offsets[${B + 3}]`);
    // Block-layout offsets under a version-1 header.
    const mislabeled = join(dir, 'v1-blocks.crck');
    await writeCheckpoint(mislabeled, DSL_COMPACT_TABLE_KIND, header, {
      offsets: c.offsets,
      index: c.index,
      values: c.values,
    });
    await expect(loadCompactTable(mislabeled)).rejects.toThrow(DataFormatError);
    // csr16 did not change between versions.
    const csr = CompactSparseTable.fromDense(values, mask, rows, dim, 'csr16');
    const v1csr = join(dir, 'v1-csr.crck');
    await writeCheckpoint(
      v1csr,
      DSL_COMPACT_TABLE_KIND,
      { ...header, format: 'csr16' },
      { offsets: csr.offsets, index: csr.index, values: csr.values },
    );
    expect((await loadCompactTable(v1csr)).toDense()).toEqual(c.toDense());
    // A version this build does not know.
    const future = join(dir, 'v99.crck');
    await writeCheckpoint(future, DSL_COMPACT_TABLE_KIND, { ...header, version: 99 }, { offsets: c.offsets });
    await expect(loadCompactTable(future)).rejects.toThrow(UsageError);
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
      { version: DSL_COMPACT_TABLE_VERSION, rows: 10, dim: 8, format: c.format, nnz: c.nnz },
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
