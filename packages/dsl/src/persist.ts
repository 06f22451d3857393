import {
  type Checkpoint,
  DataFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  InvalidArgumentError,
  readCheckpoint,
  UsageError,
  writeCheckpoint,
} from '@compactrec/core';
import { BITMAP_BLOCK_ROWS, type CompactFormat, CompactSparseTable } from './compact.js';

/** Checkpoint kind of a compact sparse table. */
export const DSL_COMPACT_TABLE_KIND = 'dsl-compact-table';
/**
 * Layout version of the header and arrays inside the checkpoint (bumped on incompatible changes).
 * Version 2: `'bitmap'` tables store block offsets (one per `BITMAP_BLOCK_ROWS` rows) instead of per-row
 * offsets. Version-1 files still load: their per-row offsets are checked against the bitmaps and converted.
 */
export const DSL_COMPACT_TABLE_VERSION = 2;

function parts(
  table: CompactSparseTable,
): [Record<string, unknown>, Record<string, Uint32Array | Uint8Array | Uint16Array | Float32Array>] {
  if (!(table instanceof CompactSparseTable)) {
    throw new InvalidArgumentError(
      'dsl/saveCompactTable: table must be a CompactSparseTable (use DslTable.toCompact())',
    );
  }
  const header = {
    version: DSL_COMPACT_TABLE_VERSION,
    rows: table.rows,
    dim: table.dim,
    format: table.format,
    nnz: table.nnz,
  };
  return [header, { offsets: table.offsets, index: table.index, values: table.values }];
}

function fromCheckpoint(cp: Checkpoint, source: string): CompactSparseTable {
  const h = cp.header as { version?: unknown; rows?: unknown; dim?: unknown; format?: unknown; nnz?: unknown };
  if (h.version !== DSL_COMPACT_TABLE_VERSION && h.version !== 1) {
    throw new UsageError(
      `dsl/loadCompactTable: ${source} has table layout version ${String(h.version)}; this build reads versions 1 ` +
        `to ${DSL_COMPACT_TABLE_VERSION}: load it with the build that wrote it, or re-export the table from its DslTable`,
      { context: { source, version: h.version } },
    );
  }
  const { offsets, index, values } = cp.arrays;
  if (
    typeof h.rows !== 'number' ||
    typeof h.dim !== 'number' ||
    (h.format !== 'bitmap' && h.format !== 'csr16') ||
    !(offsets instanceof Uint32Array) ||
    !(index instanceof Uint8Array || index instanceof Uint16Array) ||
    !(values instanceof Float32Array) ||
    values.length !== h.nnz
  ) {
    throw new DataFormatError(source, 0, 'corrupt dsl-compact-table checkpoint (header or arrays missing or mistyped)');
  }
  // Version 1 stored per-row offsets for bitmap tables too; csr16 is unchanged.
  const v1Bitmap = h.version === 1 && h.format === 'bitmap';
  let table: CompactSparseTable;
  try {
    const stored = v1Bitmap ? blockOffsetsOfRowOffsets(offsets, h.rows) : offsets;
    table = CompactSparseTable.fromArrays(h.rows, h.dim, h.format as CompactFormat, { offsets: stored, index, values });
  } catch (err) {
    throw new DataFormatError(source, 0, `corrupt dsl-compact-table checkpoint (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (v1Bitmap) {
    // The block offsets only check block totals; the dropped per-row offsets must agree with the bitmaps too.
    let start = 0;
    for (let r = 0; r < table.rows; r++) {
      start += table.rowNnz(r);
      if (offsets[r + 1] !== start) {
        throw new DataFormatError(
          source,
          0,
          `corrupt version-1 dsl-compact-table checkpoint: offsets[${r + 1}] is ${offsets[r + 1]} but the bitmaps ` +
            `of rows 0..${r} hold ${start} weights`,
        );
      }
    }
  }
  return table;
}

/** The `⌈rows/B⌉ + 1` block offsets of version-1 per-row offsets (`[rows + 1]`, checked for length). */
function blockOffsetsOfRowOffsets(rowOffsets: Uint32Array, rows: number): Uint32Array {
  if (rowOffsets.length !== rows + 1) {
    throw new InvalidArgumentError(
      `dsl/loadCompactTable: version-1 bitmap offsets must hold rows + 1 = ${rows + 1} entries, got ${rowOffsets.length}`,
    );
  }
  const blocks = Math.ceil(rows / BITMAP_BLOCK_ROWS);
  const out = new Uint32Array(blocks + 1);
  for (let k = 0; k < blocks; k++) out[k] = rowOffsets[k * BITMAP_BLOCK_ROWS]!;
  out[blocks] = rowOffsets[rows]!;
  return out;
}

/** Writes a compact table as a core checkpoint of kind `'dsl-compact-table'` (atomically). */
export async function saveCompactTable(path: string, table: CompactSparseTable): Promise<void> {
  const [header, arrays] = parts(table);
  await writeCheckpoint(path, DSL_COMPACT_TABLE_KIND, header, arrays);
}

/**
 * Reads a table written by {@link saveCompactTable} (layout version 1 or 2); the arrays are validated before use.
 * @throws NotFoundError (missing file), UsageError (other kind or version), DataFormatError (corrupt).
 */
export async function loadCompactTable(path: string): Promise<CompactSparseTable> {
  return fromCheckpoint(await readCheckpoint(path, { kind: DSL_COMPACT_TABLE_KIND }), path);
}

/** {@link saveCompactTable} to bytes (for databases and network transfer). */
export function encodeCompactTable(table: CompactSparseTable): Uint8Array {
  const [header, arrays] = parts(table);
  return encodeCheckpoint(DSL_COMPACT_TABLE_KIND, header, arrays);
}

/** {@link loadCompactTable} from bytes; `source` names them in errors. */
export function decodeCompactTable(bytes: Uint8Array, source = 'bytes'): CompactSparseTable {
  return fromCheckpoint(decodeCheckpoint(bytes, source, { kind: DSL_COMPACT_TABLE_KIND }), source);
}
