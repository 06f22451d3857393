/**
 * How each storage kind's serving form is written for other tools: which tensors, and the one-line
 * rule that rebuilds a float32 row from them. A new storage kind is one entry in {@link TABLE_LAYOUTS};
 * a kind without an entry is written as its dequantized float32 rows (always correct, not compact).
 */
import { codeBytesPerRow, DataFormatError, type EmbeddingStorage, type StorageSnapshot } from '@compactrec/core';
import { BITMAP_BLOCK_ROWS } from '@compactrec/dsl';
import { type Tensor, tensor } from './tensor.js';

/**
 * How to rebuild row `r` (float32, `rowDim` values) of an exported table:
 * - `dense`: `values[r]` (`values` F32 or F16, `[rows, rowDim]`).
 * - `rowwise-affine`: `bias[r] + scale[r] · q[r, c]`, q the unsigned `bits`-bit codes of `codes`.
 * - `alpt`: `step[r] · (q[r, c] − 2^(bits−1))`, q as above.
 * - `csr`: zero except `row[indices[e]] = v[e]` for `e ∈ [indptr[r], indptr[r+1])`, where `v` is
 *   `values` (F32/F16) or, with `bits: 8`, `bias[r] + scale[r] · codes[e]`.
 *
 * 4-bit codes are packed two per byte, `[rows, ceil(rowDim / 2)]`: column c is the low nibble of
 * byte c/2 when c is even, the high nibble when odd.
 */
export type TableLayoutName = 'dense' | 'rowwise-affine' | 'alpt' | 'csr';

/** One exported table: tensors by short name (`values`, `codes`, `scale`, …) and its description. */
export interface TableExport {
  readonly layout: TableLayoutName;
  /** Bits per code for `rowwise-affine`, `alpt` and coded `csr`. */
  readonly bits?: number;
  readonly tensors: Readonly<Record<string, Tensor>>;
}

/** Writes one storage kind's serving snapshot as tensors (the storage itself is given for a dequantized fallback). */
export type TableLayoutWriter = (snapshot: StorageSnapshot, storage: EmbeddingStorage) => TableExport;

const RECIPES: Readonly<Record<TableLayoutName, string>> = {
  dense: 'row[r] = values[r]',
  'rowwise-affine':
    'row[r, c] = bias[r] + scale[r] * q[r, c] (q: codes; 4-bit codes packed two per byte, even column in the low nibble)',
  alpt: 'row[r, c] = step[r] * (q[r, c] - 2**(bits-1)) (q: codes; 4-bit codes packed two per byte, even column in the low nibble)',
  csr: 'row[r] = 0 except row[r, indices[e]] = v[e] for indptr[r] <= e < indptr[r+1]; v = values, or bias[r] + scale[r] * codes[e] when bits is set',
};

/** The rebuild rule of a layout, as a sentence for the metadata. */
export function layoutRecipe(layout: TableLayoutName): string {
  return RECIPES[layout];
}

function need<T>(s: StorageSnapshot, name: string, ctor: abstract new (...a: never[]) => T): T {
  const a = s.arrays[name];
  if (!(a instanceof ctor)) {
    throw new DataFormatError(`interop/${s.kind} snapshot`, 0, `array '${name}' is missing or not a ${ctor.name}`);
  }
  return a as T;
}

/** Splits interleaved `[scale0, bias0, scale1, bias1, …]` into two tensors. */
function splitScaleBias(meta: Float32Array, rows: number): { scale: Tensor; bias: Tensor } {
  const scale = new Float32Array(rows);
  const bias = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    scale[r] = meta[2 * r]!;
    bias[r] = meta[2 * r + 1]!;
  }
  return { scale: tensor('F32', [rows], scale), bias: tensor('F32', [rows], bias) };
}

const denseF32: TableLayoutWriter = (s) => ({
  layout: 'dense',
  tensors: { values: tensor('F32', [s.rows, s.rowDim], need(s, 'values', Float32Array)) },
});

const denseF16: TableLayoutWriter = (s) => ({
  layout: 'dense',
  tensors: { values: tensor('F16', [s.rows, s.rowDim], need(s, 'half', Uint16Array)) },
});

const rowwise: TableLayoutWriter = (s) => {
  const bits = Number(s.params.bits);
  const codes = need(s, 'codes', Uint8Array);
  return {
    layout: 'rowwise-affine',
    bits,
    tensors: {
      codes: tensor('U8', [s.rows, codeBytesPerRow(s.rowDim, bits)], codes),
      ...splitScaleBias(need(s, 'scaleBias', Float32Array), s.rows),
    },
  };
};

const alpt: TableLayoutWriter = (s) => {
  const bits = Number(s.params.bits);
  return {
    layout: 'alpt',
    bits,
    tensors: {
      codes: tensor('U8', [s.rows, codeBytesPerRow(s.rowDim, bits)], need(s, 'codes', Uint8Array)),
      step: tensor('F32', [s.rows], need(s, 'steps', Float32Array)),
    },
  };
};

/** DSL's compact index (bitmap blocks or csr16) as a standard CSR `indptr` + `indices`. */
function dslIndex(s: StorageSnapshot): { indptr: Int32Array; indices: Int32Array } {
  const offsets = need(s, 'offsets', Uint32Array);
  const R = s.rows;
  const d = s.rowDim;
  const nnz = offsets[offsets.length - 1]!;
  const indptr = new Int32Array(R + 1);
  const indices = new Int32Array(nnz);
  if (s.params.format === 'csr16') {
    const cols = need(s, 'index', Uint16Array);
    for (let r = 0; r <= R; r++) indptr[r] = offsets[r]!;
    for (let e = 0; e < nnz; e++) indices[e] = cols[e]!;
    return { indptr, indices };
  }
  // Bitmap: values are stored row-major, columns ascending; each block of rows starts at offsets[block].
  const bm = need(s, 'index', Uint8Array);
  const bpr = Math.ceil(d / 8);
  let e = 0;
  for (let r = 0; r < R; r++) {
    const blk = Math.floor(r / BITMAP_BLOCK_ROWS);
    if (r % BITMAP_BLOCK_ROWS === 0 && offsets[blk] !== e) {
      throw new DataFormatError(
        `interop/${s.kind} snapshot`,
        0,
        `bitmap block of row ${r} starts at value ${offsets[blk]} but the rows before it hold ${e}`,
      );
    }
    indptr[r] = e;
    for (let c = 0; c < d; c++) if ((bm[r * bpr + (c >>> 3)]! >>> (c & 7)) & 1) indices[e++] = c;
  }
  indptr[R] = e;
  if (e !== nnz)
    throw new DataFormatError(`interop/${s.kind} snapshot`, 0, `bitmap holds ${e} values but offsets say ${nnz}`);
  return { indptr, indices };
}

const dslSparse: TableLayoutWriter = (s, storage) => {
  const { indptr, indices } = dslIndex(s);
  const nnz = indices.length;
  const index = { indptr: tensor('I32', [s.rows + 1], indptr), indices: tensor('I32', [nnz], indices) };
  const inner = s.params.values;
  if (inner === undefined) {
    return { layout: 'csr', tensors: { ...index, values: tensor('F32', [nnz], need(s, 'values', Float32Array)) } };
  }
  const codes = need(s, 'codes', Uint8Array);
  if (inner === 'fp16') {
    const half = new Uint16Array(nnz);
    for (let e = 0; e < nnz; e++) half[e] = codes[2 * e]! | (codes[2 * e + 1]! << 8);
    return { layout: 'csr', tensors: { ...index, values: tensor('F16', [nnz], half) } };
  }
  if (inner === 'int8') {
    return {
      layout: 'csr',
      bits: 8,
      tensors: {
        ...index,
        codes: tensor('U8', [nnz], codes),
        ...splitScaleBias(need(s, 'meta', Float32Array), s.rows),
      },
    };
  }
  return dequantized(s, storage);
};

/** Fallback for a kind without a layout: every row dequantized to float32 through the storage itself. */
export const dequantized: TableLayoutWriter = (s, storage) => {
  const rows = new Int32Array(s.rows);
  for (let r = 0; r < s.rows; r++) rows[r] = r;
  const values = new Float32Array(s.rows * s.rowDim);
  storage.gather(rows, values, s.rows);
  return { layout: 'dense', tensors: { values: tensor('F32', [s.rows, s.rowDim], values) } };
};

/**
 * Export writers by storage kind (the `kind` of its snapshot). One line per kind; kinds not listed
 * are written by {@link dequantized}.
 */
export const TABLE_LAYOUTS: Readonly<Record<string, TableLayoutWriter>> = Object.freeze({
  float32: denseF32,
  fp16: denseF16,
  int8: rowwise,
  int4: rowwise,
  alpt8: alpt,
  alpt4: alpt,
  dsl: dslSparse,
  'dsl+fp16': dslSparse,
  'dsl+int8': dslSparse,
});
