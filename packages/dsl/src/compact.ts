import { InvalidArgumentError } from '@compactrec/core';

/**
 * Storage format of a {@link CompactSparseTable}:
 *
 * - `'bitmap'`: one bit per weight (`⌈dim/8⌉` bytes per row) + the active float32 values + `(rows+1)` uint32 row offsets.
 * - `'csr16'`: one uint16 column index per active weight + the float32 values + `(rows+1)` uint32 row offsets.
 */
export type CompactFormat = 'bitmap' | 'csr16';

/** Largest `dim` the 16-bit column indices of `'csr16'` can address. */
export const CSR16_MAX_DIM = 65536;

/**
 * Exact bytes of a compact table of `rows × dim` with `nnz` stored weights, index overhead included:
 * bitmap `rows·⌈dim/8⌉ + 4·nnz + 4·(rows+1)`, csr16 `2·nnz + 4·nnz + 4·(rows+1)`.
 */
export function compactTableBytes(format: CompactFormat, rows: number, dim: number, nnz: number): number {
  const offsets = 4 * (rows + 1);
  return format === 'bitmap' ? rows * Math.ceil(dim / 8) + 4 * nnz + offsets : 6 * nnz + offsets;
}

/**
 * The smaller format for `nnz` weights in `rows × dim` (bitmap on a tie; bitmap when `dim` exceeds
 * {@link CSR16_MAX_DIM}). Bitmap wins once the density exceeds about `1/16`.
 */
export function chooseCompactFormat(rows: number, dim: number, nnz: number): CompactFormat {
  if (dim > CSR16_MAX_DIM) return 'bitmap';
  return compactTableBytes('csr16', rows, dim, nnz) < compactTableBytes('bitmap', rows, dim, nnz) ? 'csr16' : 'bitmap';
}

/** The arrays that make up a {@link CompactSparseTable} (what checkpoints store). */
export interface CompactSparseArrays {
  /** `[rows + 1]`: the values of row r are `values[offsets[r] .. offsets[r+1])`. */
  readonly offsets: Uint32Array;
  /**
   * `'bitmap'`: `Uint8Array [rows × ⌈dim/8⌉]`, column c of row r is bit `c % 8` (LSB first) of byte `r·⌈dim/8⌉ + ⌊c/8⌋`.
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

  private constructor(rows: number, dim: number, format: CompactFormat, arrays: CompactSparseArrays) {
    this.rows = rows;
    this.dim = dim;
    this.format = format;
    this.offsets = arrays.offsets;
    this.index = arrays.index;
    this.values = arrays.values;
    this.nnz = arrays.values.length;
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
    const offsets = new Uint32Array(rows + 1);
    let nnz = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      for (let c = 0; c < dim; c++) if (mask[o + c] !== 0) nnz++;
      offsets[r + 1] = nnz;
    }
    const fmt = format ?? chooseCompactFormat(rows, dim, nnz);
    checkFormat(where, fmt, dim);
    const vals = new Float32Array(nnz);
    let index: Uint8Array | Uint16Array;
    let k = 0;
    if (fmt === 'bitmap') {
      const bpr = Math.ceil(dim / 8);
      const bm = new Uint8Array(rows * bpr);
      for (let r = 0; r < rows; r++) {
        const o = r * dim;
        const b = r * bpr;
        for (let c = 0; c < dim; c++) {
          if (mask[o + c] !== 0) {
            bm[b + (c >>> 3)]! |= 1 << (c & 7);
            vals[k++] = values[o + c]!;
          }
        }
      }
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
      }
      index = cols;
    }
    return new CompactSparseTable(rows, dim, fmt, { offsets, index, values: vals });
  }

  /**
   * Wraps existing arrays (e.g. read from a checkpoint) after checking that they are consistent:
   * lengths, monotone offsets ending at nnz, per-row bit counts (bitmap) or increasing in-range columns (csr16).
   */
  static fromArrays(rows: number, dim: number, format: CompactFormat, arrays: CompactSparseArrays): CompactSparseTable {
    const where = 'dsl/CompactSparseTable.fromArrays';
    checkShape(where, rows, dim);
    checkFormat(where, format, dim);
    const { offsets, index, values } = arrays;
    const nnz = values.length;
    if (!(offsets instanceof Uint32Array) || offsets.length !== rows + 1 || offsets[0] !== 0 || offsets[rows] !== nnz) {
      throw new InvalidArgumentError(
        `${where}: offsets must be a Uint32Array of rows + 1 = ${rows + 1} entries from 0 to nnz (${nnz}); the arrays are corrupt`,
      );
    }
    for (let r = 0; r < rows; r++) {
      const n = offsets[r + 1]! - offsets[r]!;
      if (n < 0 || n > dim) {
        throw new InvalidArgumentError(
          `${where}: row ${r} has ${n} values, outside [0, dim = ${dim}]; the arrays are corrupt`,
        );
      }
    }
    if (format === 'bitmap') {
      const bpr = Math.ceil(dim / 8);
      if (!(index instanceof Uint8Array) || index.length !== rows * bpr) {
        throw new InvalidArgumentError(
          `${where}: a bitmap index must be a Uint8Array of rows × ⌈dim/8⌉ = ${rows * bpr} bytes`,
        );
      }
      for (let r = 0; r < rows; r++) {
        let bits = 0;
        for (let b = 0; b < bpr; b++) bits += popcount8(index[r * bpr + b]!);
        const tail = dim & 7 ? index[r * bpr + bpr - 1]! >>> (dim & 7) : 0;
        if (bits !== offsets[r + 1]! - offsets[r]! || tail !== 0) {
          throw new InvalidArgumentError(
            `${where}: the bitmap of row ${r} disagrees with its offsets; the arrays are corrupt`,
          );
        }
      }
    } else {
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

  /** Active weights of row r. */
  rowNnz(r: number): number {
    return this.offsets[r + 1]! - this.offsets[r]!;
  }

  /** Decodes row r into `out[offset .. offset+dim)` (inactive weights are written as 0). */
  lookupRow(r: number, out: Float32Array, offset = 0): void {
    if (!(r >= 0 && r < this.rows)) {
      throw new InvalidArgumentError(`dsl/CompactSparseTable.lookupRow: row ${r} is outside [0, ${this.rows})`);
    }
    const d = this.dim;
    const vals = this.values;
    out.fill(0, offset, offset + d);
    let v = this.offsets[r]!;
    if (this.format === 'bitmap') {
      const bm = this.index as Uint8Array;
      const bpr = Math.ceil(d / 8);
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

function popcount8(x: number): number {
  x = x - ((x >>> 1) & 0x55);
  x = (x & 0x33) + ((x >>> 2) & 0x33);
  return (x + (x >>> 4)) & 0x0f;
}
