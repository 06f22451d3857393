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
import { type CompactFormat, CompactSparseTable } from './compact.js';

/** Checkpoint kind of a compact sparse table. */
export const DSL_COMPACT_TABLE_KIND = 'dsl-compact-table';
/** Layout version of the header and arrays inside the checkpoint (bumped on incompatible changes). */
export const DSL_COMPACT_TABLE_VERSION = 1;

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
  if (h.version !== DSL_COMPACT_TABLE_VERSION) {
    throw new UsageError(
      `dsl/loadCompactTable: ${source} has table layout version ${String(h.version)}; this build reads version ${DSL_COMPACT_TABLE_VERSION}`,
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
  try {
    return CompactSparseTable.fromArrays(h.rows, h.dim, h.format as CompactFormat, { offsets, index, values });
  } catch (err) {
    throw new DataFormatError(source, 0, `corrupt dsl-compact-table checkpoint (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** Writes a compact table as a core checkpoint of kind `'dsl-compact-table'` (atomically). */
export async function saveCompactTable(path: string, table: CompactSparseTable): Promise<void> {
  const [header, arrays] = parts(table);
  await writeCheckpoint(path, DSL_COMPACT_TABLE_KIND, header, arrays);
}

/**
 * Reads a table written by {@link saveCompactTable}; the arrays are validated before use.
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
