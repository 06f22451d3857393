import { InvalidArgumentError } from '@compactrec/core';

/**
 * Storage format of a {@link CompactSparseTable}:
 *
 * - `'bitmap'`: one bit per weight (`⌈dim/8⌉` bytes per row) + the active float32 values + one uint32 value
 *   offset per block of {@link BITMAP_BLOCK_ROWS} rows (`⌈rows/B⌉ + 1` in all); a row's own offset is its
 *   block's offset plus the popcount of the earlier rows of the block, so rows carry no offset of their own.
 * - `'csr16'`: one uint16 column index per active weight + the float32 values + `(rows+1)` uint32 row offsets
 *   (the row counts cannot be recovered from the columns).
 */
export type CompactFormat = 'bitmap' | 'csr16';

/** log2 of {@link BITMAP_BLOCK_ROWS}: the block of row r is `r >>> BLOCK_SHIFT`. */
const BLOCK_SHIFT = 5;

/**
 * Rows per block offset of the `'bitmap'` format (B = 32). Finding a row's values costs a popcount over at
 * most B/2 row bitmaps (counted from the nearer end of its block); the offsets cost `4/B` bytes per row.
 * Measured on 70,839 random rows × dim 64 at density 0.468, against per-row offsets in the same run: B = 16
 * and 32 look rows up within 0–8 % of per-row offsets (word-wise decoding pays for the popcount), B = 64
 * is 1.2× slower and B = 128 1.4×, for at most 0.06 bytes per row less than B = 32.
 * The index is `⌈dim/8⌉ + 0.125` bytes per row instead of `⌈dim/8⌉ + 4` with per-row offsets.
 */
export const BITMAP_BLOCK_ROWS = 1 << BLOCK_SHIFT;

/** Word-wise bitmap decoding assumes bit 8b+i of a word is bit i of its byte b. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Largest `dim` the 16-bit column indices of `'csr16'` can address. */
export const CSR16_MAX_DIM = 65536;

/** Entries of the offsets array: `⌈rows/B⌉ + 1` block offsets (bitmap) or `rows + 1` row offsets (csr16). */
function offsetCount(format: CompactFormat, rows: number): number {
  return format === 'bitmap' ? ((rows + BITMAP_BLOCK_ROWS - 1) >>> BLOCK_SHIFT) + 1 : rows + 1;
}

/**
 * Exact bytes of a compact table of `rows × dim` with `nnz` stored weights, index overhead included:
 * bitmap `rows·⌈dim/8⌉ + 4·nnz + 4·(⌈rows/B⌉+1)` (B = {@link BITMAP_BLOCK_ROWS}), csr16 `6·nnz + 4·(rows+1)`.
 * `valueBytes` is the size of one stored value (4 for float32; 2 fp16; 1 int8 codes).
 */
export function compactTableBytes(
  format: CompactFormat,
  rows: number,
  dim: number,
  nnz: number,
  valueBytes = 4,
): number {
  const offsets = 4 * offsetCount(format, rows);
  return format === 'bitmap'
    ? rows * Math.ceil(dim / 8) + valueBytes * nnz + offsets
    : (2 + valueBytes) * nnz + offsets;
}

/**
 * The smaller format for `nnz` weights in `rows × dim` (bitmap on a tie; bitmap when `dim` exceeds
 * {@link CSR16_MAX_DIM}). Since csr16 pays 4 bytes of row offset per row and bitmap does not, bitmap wins
 * once `2·nnz` exceeds about `rows·(⌈dim/8⌉ − 4)`: above density ~1/32 at dim 64; at dim ≤ 32 as soon as
 * `nnz ≥ 2·⌈rows/B⌉`.
 */
export function chooseCompactFormat(rows: number, dim: number, nnz: number, valueBytes = 4): CompactFormat {
  if (dim > CSR16_MAX_DIM) return 'bitmap';
  return compactTableBytes('csr16', rows, dim, nnz, valueBytes) <
    compactTableBytes('bitmap', rows, dim, nnz, valueBytes)
    ? 'csr16'
    : 'bitmap';
}

/**
 * The arrays that make up a {@link CompactSparseTable} (what checkpoints store). `offsets` depends on the
 * format: block offsets for `'bitmap'` (since layout version 2), row offsets for `'csr16'`.
 */
export interface CompactSparseArrays {
  /**
   * `'bitmap'`: `[⌈rows/B⌉ + 1]` block offsets (B = {@link BITMAP_BLOCK_ROWS}): `offsets[k]` is the number of
   * values before row `k·B`, the last entry is nnz; row r starts at `offsets[⌊r/B⌋]` + the set bits of rows
   * `⌊r/B⌋·B .. r−1`.
   * `'csr16'`: `[rows + 1]` row offsets: the values of row r are `values[offsets[r] .. offsets[r+1])`.
   */
  readonly offsets: Uint32Array;
  /**
   * `'bitmap'`: `Uint8Array [rows × ⌈dim/8⌉]`, column c of row r is bit `c % 8` (LSB first) of byte `r·⌈dim/8⌉ + ⌊c/8⌋`;
   * bits at columns ≥ dim are 0.
   * `'csr16'`: `Uint16Array [nnz]`, the column of each value, strictly increasing within a row.
   */
  readonly index: Uint8Array | Uint16Array;
  /** `[nnz]` active values, row by row, in column order. */
  readonly values: Float32Array;
}

/**
 * A sparse embedding table stored compactly for inference: only the active weights and their index
 * structure are held, so `bytes` is the real memory of the table. Lookups decode a row into a dense
 * `dim`-vector (inactive weights read as 0), so models consume it like an `EmbeddingTable`.
 */
export class CompactSparseTable implements CompactSparseArrays {
  /** Number of rows. */
  readonly rows: number;
  /** Values per decoded row. */
  readonly dim: number;
  /** Storage format. */
  readonly format: CompactFormat;
  /** Number of stored (active) weights. */
  readonly nnz: number;
  readonly offsets: Uint32Array;
  readonly index: Uint8Array | Uint16Array;
  readonly values: Float32Array;
  /** Bitmap bytes per row (bitmap format; 0 for csr16). */
  private readonly bytesPerRow: number;
  /** The bitmap viewed as 32-bit words for popcounts (same memory; empty for csr16). */
  private readonly words: Uint32Array;
  /** Bitmap rows are whole words (`⌈dim/8⌉` a multiple of 4) on a little-endian platform: decode by words. */
  private readonly wordRows: boolean;

  private constructor(rows: number, dim: number, format: CompactFormat, arrays: CompactSparseArrays) {
    this.rows = rows;
    this.dim = dim;
    this.format = format;
    this.offsets = arrays.offsets;
    this.values = arrays.values;
    this.nnz = arrays.values.length;
    if (format === 'bitmap') {
      // Word popcounts need a 4-aligned view; a bitmap read at an odd place of a file is copied once.
      const bm = arrays.index.byteOffset & 3 ? arrays.index.slice() : arrays.index;
      this.index = bm;
      this.bytesPerRow = Math.ceil(dim / 8);
      this.words = new Uint32Array(bm.buffer, bm.byteOffset, bm.byteLength >>> 2);
      this.wordRows = (this.bytesPerRow & 3) === 0 && LITTLE_ENDIAN;
    } else {
      this.index = arrays.index;
      this.bytesPerRow = 0;
      this.words = new Uint32Array(0);
      this.wordRows = false;
    }
  }

  /** Byte length of exactly the arrays held (offsets + index + values). */
  get bytes(): number {
    return this.offsets.byteLength + this.index.byteLength + this.values.byteLength;
  }

  /**
   * Compacts a dense `[rows × dim]` table under `mask` (1 = active; an active weight is stored even
   * when its value is 0, so `nnz` equals the mask's count and the bytes match the budget).
   * @param format `undefined` picks the smaller format ({@link chooseCompactFormat}).
   */
  static fromDense(
    values: Float32Array,
    mask: Uint8Array,
    rows: number,
    dim: number,
    format?: CompactFormat,
  ): CompactSparseTable {
    const where = 'dsl/CompactSparseTable.fromDense';
    checkShape(where, rows, dim);
    if (values.length !== rows * dim || mask.length !== rows * dim) {
      throw new InvalidArgumentError(
        `${where}: values (${values.length}) and mask (${mask.length}) must both hold rows × dim = ${rows * dim} entries`,
      );
    }
    let nnz = 0;
    for (let i = 0; i < rows * dim; i++) if (mask[i] !== 0) nnz++;
    const fmt = format ?? chooseCompactFormat(rows, dim, nnz);
    checkFormat(where, fmt, dim);
    const offsets = new Uint32Array(offsetCount(fmt, rows));
    const vals = new Float32Array(nnz);
    let index: Uint8Array | Uint16Array;
    let k = 0;
    if (fmt === 'bitmap') {
      const bpr = Math.ceil(dim / 8);
      const bm = new Uint8Array(rows * bpr);
      for (let r = 0; r < rows; r++) {
        if ((r & (BITMAP_BLOCK_ROWS - 1)) === 0) offsets[r >>> BLOCK_SHIFT] = k;
        const o = r * dim;
        const b = r * bpr;
        for (let c = 0; c < dim; c++) {
          if (mask[o + c] !== 0) {
            bm[b + (c >>> 3)]! |= 1 << (c & 7);
            vals[k++] = values[o + c]!;
          }
        }
      }
      offsets[offsets.length - 1] = k;
      index = bm;
    } else {
      const cols = new Uint16Array(nnz);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        for (let c = 0; c < dim; c++) {
          if (mask[o + c] !== 0) {
            cols[k] = c;
            vals[k++] = values[o + c]!;
          }
        }
        offsets[r + 1] = k;
      }
      index = cols;
    }
    return new CompactSparseTable(rows, dim, fmt, { offsets, index, values: vals });
  }

  /**
   * Wraps existing arrays (e.g. read from a checkpoint) after checking that they are consistent: lengths,
   * offsets from 0 to nnz, and per block the set bits of its bitmaps equal to its offset difference, no bit
   * beyond dim (bitmap), or per row at most dim increasing in-range columns (csr16).
   */
  static fromArrays(rows: number, dim: number, format: CompactFormat, arrays: CompactSparseArrays): CompactSparseTable {
    const where = 'dsl/CompactSparseTable.fromArrays';
    checkShape(where, rows, dim);
    checkFormat(where, format, dim);
    const { offsets, index, values } = arrays;
    const nnz = values.length;
    const count = offsetCount(format, rows);
    const what = format === 'bitmap' ? `⌈rows/${BITMAP_BLOCK_ROWS}⌉ + 1 = ${count} block` : `rows + 1 = ${count} row`;
    if (!(offsets instanceof Uint32Array) || offsets.length !== count) {
      throw new InvalidArgumentError(
        `${where}: ${format} offsets must be a Uint32Array of ${what} offsets, got ${offsets?.length} entries; the arrays are corrupt`,
      );
    }
    if (offsets[0] !== 0 || offsets[count - 1] !== nnz) {
      throw new InvalidArgumentError(
        `${where}: ${format} offsets must run from 0 to nnz (${nnz}), got ${offsets[0]} .. ${offsets[count - 1]}; the arrays are corrupt`,
      );
    }
    if (format === 'bitmap') {
      const bpr = Math.ceil(dim / 8);
      if (!(index instanceof Uint8Array) || index.length !== rows * bpr) {
        throw new InvalidArgumentError(
          `${where}: a bitmap index must be a Uint8Array of rows × ⌈dim/8⌉ = ${rows * bpr} bytes, got ${index?.length}`,
        );
      }
      const tailShift = dim & 7;
      for (let k = 0; k < count - 1; k++) {
        const r0 = k << BLOCK_SHIFT;
        const r1 = Math.min(rows, r0 + BITMAP_BLOCK_ROWS);
        let bits = 0;
        for (let r = r0; r < r1; r++) {
          const base = r * bpr;
          for (let b = 0; b < bpr; b++) bits += popcount32(index[base + b]!);
          if (tailShift !== 0 && index[base + bpr - 1]! >>> tailShift !== 0) {
            throw new InvalidArgumentError(
              `${where}: the bitmap of row ${r} sets bits at columns ≥ dim (${dim}); the arrays are corrupt`,
            );
          }
        }
        const span = offsets[k + 1]! - offsets[k]!;
        if (bits !== span) {
          throw new InvalidArgumentError(
            `${where}: block ${k} (rows ${r0}..${r1 - 1}) has ${bits} bits set in its bitmaps but its block offsets ` +
              `give ${span} values (offsets[${k}] = ${offsets[k]}, offsets[${k + 1}] = ${offsets[k + 1]}); the arrays are corrupt`,
          );
        }
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const n = offsets[r + 1]! - offsets[r]!;
        if (n < 0 || n > dim) {
          throw new InvalidArgumentError(
            `${where}: row ${r} has ${n} values, outside [0, dim = ${dim}]; the arrays are corrupt`,
          );
        }
      }
      if (!(index instanceof Uint16Array) || index.length !== nnz) {
        throw new InvalidArgumentError(`${where}: a csr16 index must be a Uint16Array of nnz = ${nnz} columns`);
      }
      for (let r = 0; r < rows; r++) {
        let prev = -1;
        for (let k = offsets[r]!; k < offsets[r + 1]!; k++) {
          const c = index[k]!;
          if (c <= prev || c >= dim) {
            throw new InvalidArgumentError(
              `${where}: row ${r} has column ${c} out of order or ≥ dim (${dim}); the arrays are corrupt`,
            );
          }
          prev = c;
        }
      }
    }
    return new CompactSparseTable(rows, dim, format, { offsets, index, values });
  }

  /** Set bits in bitmap bytes `[a, b)`: whole 32-bit words where they fit, single bytes at the ends. */
  private bitsIn(a: number, b: number): number {
    const bm = this.index as Uint8Array;
    const words = this.words;
    let n = 0;
    while (a < b && (a & 3) !== 0) n += popcount32(bm[a++]!);
    const wEnd = b >>> 2;
    for (let w = a >>> 2; w < wEnd; w++) n += popcount32(words[w]!);
    for (let p = Math.max(a, wEnd << 2); p < b; p++) n += popcount32(bm[p]!);
    return n;
  }

  /**
   * Index into `values` of the first value of row r (no bounds check). Bitmap: from whichever end of the
   * block is nearer, so at most B/2 row bitmaps are counted.
   */
  private rowStart(r: number): number {
    if (this.format !== 'bitmap') return this.offsets[r]!;
    const bpr = this.bytesPerRow;
    const block = r >>> BLOCK_SHIFT;
    const r0 = block << BLOCK_SHIFT;
    if (r - r0 <= BITMAP_BLOCK_ROWS >>> 1) return this.offsets[block]! + this.bitsIn(r0 * bpr, r * bpr);
    const r1 = Math.min(this.rows, r0 + BITMAP_BLOCK_ROWS);
    return this.offsets[block + 1]! - this.bitsIn(r * bpr, r1 * bpr);
  }

  /** Active weights of row r. */
  rowNnz(r: number): number {
    if (!(r >= 0 && r < this.rows)) {
      throw new InvalidArgumentError(`dsl/CompactSparseTable.rowNnz: row ${r} is outside [0, ${this.rows})`);
    }
    if (this.format !== 'bitmap') return this.offsets[r + 1]! - this.offsets[r]!;
    return this.bitsIn(r * this.bytesPerRow, (r + 1) * this.bytesPerRow);
  }

  /** Decodes row r into `out[offset .. offset+dim)` (inactive weights are written as 0). */
  lookupRow(r: number, out: Float32Array, offset = 0): void {
    if (!(r >= 0 && r < this.rows)) {
      throw new InvalidArgumentError(`dsl/CompactSparseTable.lookupRow: row ${r} is outside [0, ${this.rows})`);
    }
    const d = this.dim;
    const vals = this.values;
    out.fill(0, offset, offset + d);
    let v = this.rowStart(r);
    if (this.wordRows) {
      // Whole 32-bit words per row: 4× fewer loop exits than bytes (little-endian: word w holds columns 32w..32w+31).
      const words = this.words;
      const wpr = this.bytesPerRow >>> 2;
      const base = r * wpr;
      for (let w = 0; w < wpr; w++) {
        let x = words[base + w]! | 0;
        const col = offset + (w << 5);
        while (x !== 0) {
          const low = x & -x;
          out[col + 31 - Math.clz32(low)] = vals[v++]!;
          x ^= low;
        }
      }
    } else if (this.format === 'bitmap') {
      const bm = this.index as Uint8Array;
      const bpr = this.bytesPerRow;
      const base = r * bpr;
      for (let b = 0; b < bpr; b++) {
        let x = bm[base + b]!;
        const col = offset + (b << 3);
        while (x !== 0) {
          const low = x & -x;
          out[col + 31 - Math.clz32(low)] = vals[v++]!;
          x ^= low;
        }
      }
    } else {
      const cols = this.index as Uint16Array;
      const end = this.offsets[r + 1]!;
      for (; v < end; v++) out[offset + cols[v]!] = vals[v]!;
    }
  }

  /** Decodes rows `rowIds[0..n)` into `out` (`[n × dim]`, row-major), like `EmbeddingTable.gather`. */
  gather(rowIds: ArrayLike<number>, out: Float32Array, n = rowIds.length): void {
    const d = this.dim;
    if (out.length < n * d) {
      throw new InvalidArgumentError(
        `dsl/CompactSparseTable.gather: out holds ${out.length} values, needs n × dim = ${n * d}`,
      );
    }
    for (let j = 0; j < n; j++) this.lookupRow(rowIds[j]!, out, j * d);
  }

  /** The dense `[rows × dim]` values (inactive = 0); for tests and export, not for serving. */
  toDense(): Float32Array {
    const out = new Float32Array(this.rows * this.dim);
    for (let r = 0; r < this.rows; r++) this.lookupRow(r, out, r * this.dim);
    return out;
  }
}

function checkShape(where: string, rows: number, dim: number): void {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 1) {
    throw new InvalidArgumentError(`${where}: rows (${rows}) and dim (${dim}) must be positive integers`);
  }
}

function checkFormat(where: string, format: CompactFormat, dim: number): void {
  if (format !== 'bitmap' && format !== 'csr16') {
    throw new InvalidArgumentError(`${where}: format ('${String(format)}') must be 'bitmap' or 'csr16'`);
  }
  if (format === 'csr16' && dim > CSR16_MAX_DIM) {
    throw new InvalidArgumentError(
      `${where}: csr16 addresses at most ${CSR16_MAX_DIM} columns, dim is ${dim}; use 'bitmap'`,
    );
  }
}

/** Set bits of a 32-bit word (SWAR; JS has no popcount intrinsic). */
function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
