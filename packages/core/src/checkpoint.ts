/**
 * A versioned binary container for tables, mappers, models and BSE states: a JSON description
 * plus raw typed arrays, written atomically.
 *
 * Layout (little-endian):
 * ```
 * offset 0   4 bytes  magic "CRCK"
 * offset 4   u32      format version (1)
 * offset 8   u32      JSON length J (UTF-8 bytes)
 * offset 12  J bytes  JSON {kind, header, dataBytes, arrays: [{name, dtype, length, byteOffset}]}
 *            pad      zero bytes up to the next multiple of 8 (= data start D)
 * offset D   data     each array's bytes at D + byteOffset (byteOffset a multiple of 8), dataBytes in all
 * ```
 * The file is exactly D + dataBytes long; anything else is a truncated or corrupt file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DataFormatError, InvalidArgumentError, NotFoundError, UsageError } from './errors.js';

/** Array types a checkpoint can hold. */
export type CheckpointArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** Element type names as stored in the JSON description. */
export type CheckpointDtype =
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'float32'
  | 'float64'
  | 'bigint64'
  | 'biguint64';

/** A decoded checkpoint. */
export interface Checkpoint {
  /** What the checkpoint holds, e.g. `mapper`, `model`, `bse-state`. */
  readonly kind: string;
  /** Container format version the file was written with. */
  readonly formatVersion: number;
  /** JSON-serializable metadata written by the producer. */
  readonly header: Record<string, unknown>;
  /** Arrays by name (may be views into the bytes read when aligned). */
  readonly arrays: Record<string, CheckpointArray>;
}

/** Options of {@link readCheckpoint}; every field is optional. */
export interface ReadCheckpointOptions {
  /** Expected kind; a different kind is a {@link UsageError}. @default undefined (any kind) */
  kind?: string;
}

/** The 4 magic bytes every checkpoint starts with. */
export const CHECKPOINT_MAGIC = 'CRCK';
/** The format version this build writes and the newest it reads. */
export const CHECKPOINT_FORMAT_VERSION = 1;

const PREFIX_BYTES = 12;
const MAGIC = Uint8Array.of(0x43, 0x52, 0x43, 0x4b);

const CTORS = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
  bigint64: BigInt64Array,
  biguint64: BigUint64Array,
} as const;

interface ArrayDescriptor {
  name: string;
  dtype: CheckpointDtype;
  length: number;
  byteOffset: number;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function dtypeOf(a: unknown): CheckpointDtype | undefined {
  for (const [name, ctor] of Object.entries(CTORS)) if (a instanceof ctor) return name as CheckpointDtype;
  return undefined;
}

/** Arrays are stored in memory order; every platform Node supports in practice is little-endian. */
function checkLittleEndian(where: string): void {
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) {
    throw new UsageError(`${where}: checkpoints are little-endian and this platform is big-endian`);
  }
}

/** The JSON prefix (magic, version, length, JSON, padding) and the data layout of a checkpoint. */
function layout(
  where: string,
  kind: string,
  header: Record<string, unknown>,
  arrays: Record<string, CheckpointArray>,
): { prefix: Uint8Array; parts: { bytes: Uint8Array; at: number }[]; dataBytes: number } {
  checkLittleEndian(where);
  if (typeof kind !== 'string' || kind.length === 0) {
    throw new InvalidArgumentError(`${where}: kind must be a non-empty string (got ${String(kind)})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new InvalidArgumentError(`${where}: header must be a plain object`);
  }
  const descriptors: ArrayDescriptor[] = [];
  const parts: { bytes: Uint8Array; at: number }[] = [];
  let off = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const dtype = dtypeOf(a);
    if (dtype === undefined) {
      throw new InvalidArgumentError(
        `${where}: array '${name}' is a ${(a as object)?.constructor?.name ?? typeof a}; use an (Big)Int/Uint/Float typed array`,
      );
    }
    descriptors.push({ name, dtype, length: a.length, byteOffset: off });
    parts.push({ bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at: off });
    off = align8(off + a.byteLength);
  }
  let json: string;
  try {
    json = JSON.stringify({ kind, header, dataBytes: off, arrays: descriptors });
  } catch (err) {
    throw new InvalidArgumentError(`${where}: header is not JSON-serializable (${(err as Error).message})`, {
      cause: err,
    });
  }
  const jsonBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(align8(PREFIX_BYTES + jsonBytes.length));
  prefix.set(MAGIC, 0);
  const dv = new DataView(prefix.buffer);
  dv.setUint32(4, CHECKPOINT_FORMAT_VERSION, true);
  dv.setUint32(8, jsonBytes.length, true);
  prefix.set(jsonBytes, PREFIX_BYTES);
  return { prefix, parts, dataBytes: off };
}

/** Serializes a checkpoint to bytes (for databases and network transfer). */
export function encodeCheckpoint(
  kind: string,
  header: Record<string, unknown>,
  arrays: Record<string, CheckpointArray>,
): Uint8Array {
  const { prefix, parts, dataBytes } = layout('core/encodeCheckpoint', kind, header, arrays);
  const out = new Uint8Array(prefix.length + dataBytes);
  out.set(prefix, 0);
  for (const p of parts) out.set(p.bytes, prefix.length + p.at);
  return out;
}

/**
 * Decodes checkpoint bytes. `source` names them in errors (a path, a database key). Arrays are
 * views into `bytes` when aligned, copies otherwise.
 */
export function decodeCheckpoint(bytes: Uint8Array, source: string, options: ReadCheckpointOptions = {}): Checkpoint {
  checkLittleEndian('core/decodeCheckpoint');
  const bad = (what: string): DataFormatError => new DataFormatError(source, 0, what);
  if (bytes.length < 4 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw bad('not a CompactRec checkpoint (magic bytes CRCK missing)');
  }
  if (bytes.length < PREFIX_BYTES) throw bad(`truncated checkpoint: ${bytes.length} bytes, the prefix alone needs 12`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(4, true);
  if (version === 0 || version > CHECKPOINT_FORMAT_VERSION) {
    throw new UsageError(
      `core/readCheckpoint: ${source} has checkpoint format version ${version}; this build reads up to version ${CHECKPOINT_FORMAT_VERSION}` +
        (version > CHECKPOINT_FORMAT_VERSION ? '; upgrade @compactrec/core to read it' : ''),
      { context: { source, formatVersion: version, supported: CHECKPOINT_FORMAT_VERSION } },
    );
  }
  const jsonLength = dv.getUint32(8, true);
  if (PREFIX_BYTES + jsonLength > bytes.length) {
    throw bad(`truncated checkpoint: ${bytes.length} bytes, its description alone needs ${PREFIX_BYTES + jsonLength}`);
  }
  let desc: { kind?: unknown; header?: unknown; dataBytes?: unknown; arrays?: unknown };
  try {
    desc = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + jsonLength)),
    );
  } catch (err) {
    throw new DataFormatError(source, 0, `corrupt checkpoint description (${(err as Error).message})`, { cause: err });
  }
  const { kind, header, dataBytes, arrays } = desc ?? {};
  if (typeof kind !== 'string' || header === null || typeof header !== 'object' || !Array.isArray(arrays)) {
    throw bad('corrupt checkpoint description (kind, header or arrays missing)');
  }
  if (typeof dataBytes !== 'number' || !Number.isInteger(dataBytes) || dataBytes < 0) {
    throw bad('corrupt checkpoint description (dataBytes)');
  }
  if (options.kind !== undefined && options.kind !== kind) {
    throw new UsageError(`core/readCheckpoint: ${source} holds a '${kind}' checkpoint; expected '${options.kind}'`, {
      context: { source, kind, expected: options.kind },
    });
  }
  const dataStart = align8(PREFIX_BYTES + jsonLength);
  const expected = dataStart + dataBytes;
  if (bytes.length < expected) throw bad(`truncated checkpoint: ${bytes.length} bytes, expected ${expected}`);
  if (bytes.length > expected)
    throw bad(`corrupt checkpoint: ${bytes.length - expected} bytes after the end (${expected})`);
  const out: Record<string, CheckpointArray> = {};
  for (const d of arrays as Partial<ArrayDescriptor>[]) {
    const ctor = typeof d?.dtype === 'string' ? CTORS[d.dtype as CheckpointDtype] : undefined;
    const { name, length, byteOffset } = d ?? {};
    if (
      ctor === undefined ||
      typeof name !== 'string' ||
      !Number.isInteger(length) ||
      !Number.isInteger(byteOffset) ||
      (length as number) < 0 ||
      (byteOffset as number) < 0 ||
      (byteOffset as number) % 8 !== 0
    ) {
      throw bad(`corrupt checkpoint description (array ${JSON.stringify(d)})`);
    }
    const byteLength = (length as number) * ctor.BYTES_PER_ELEMENT;
    if ((byteOffset as number) + byteLength > dataBytes) {
      throw bad(`corrupt checkpoint: array '${name}' ends past the data section`);
    }
    const at = bytes.byteOffset + dataStart + (byteOffset as number);
    out[name] =
      at % ctor.BYTES_PER_ELEMENT === 0
        ? new ctor(bytes.buffer as ArrayBuffer, at, length as number)
        : // Copy (Buffer#slice would be a view): a fresh ArrayBuffer is always aligned.
          new ctor(new Uint8Array(bytes.subarray(at - bytes.byteOffset, at - bytes.byteOffset + byteLength)).buffer);
  }
  return { kind, formatVersion: version, header: header as Record<string, unknown>, arrays: out };
}

function tmpPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

function readError(err: unknown, path: string): unknown {
  if ((err as { code?: string }).code === 'ENOENT') {
    return new NotFoundError(`core/readCheckpoint: checkpoint not found (${path})`, { cause: err, context: { path } });
  }
  return err;
}

/** Errors from fsync on a directory that only mean "not supported here". */
function ignorableDirSyncError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'EISDIR' || code === 'EINVAL' || code === 'EPERM' || code === 'EACCES' || code === 'ENOTSUP';
}

/**
 * Writes a checkpoint atomically: to `path.tmp-<pid>-<random>`, fsync, rename over `path`, fsync
 * the directory. A crash leaves either the old file or the new one, never a mix.
 */
export async function writeCheckpoint(
  path: string,
  kind: string,
  header: Record<string, unknown>,
  arrays: Record<string, CheckpointArray>,
): Promise<void> {
  const { prefix, parts, dataBytes } = layout('core/writeCheckpoint', kind, header, arrays);
  const tmp = tmpPathFor(path);
  const fh = await open(tmp, 'w');
  let ok = false;
  try {
    const writeAll = async (b: Uint8Array, at: number): Promise<void> => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, Math.min(b.length - done, 1 << 30), at + done);
        done += bytesWritten;
      }
    };
    await writeAll(prefix, 0);
    for (const p of parts) await writeAll(p.bytes, prefix.length + p.at);
    await fh.truncate(prefix.length + dataBytes);
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(tmp, { force: true });
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    if (!ignorableDirSyncError(err)) throw err;
  }
}

/** Synchronous {@link writeCheckpoint} (same atomic protocol), for exit hooks and simple scripts. */
export function writeCheckpointSync(
  path: string,
  kind: string,
  header: Record<string, unknown>,
  arrays: Record<string, CheckpointArray>,
): void {
  const { prefix, parts, dataBytes } = layout('core/writeCheckpointSync', kind, header, arrays);
  const tmp = tmpPathFor(path);
  const fd = openSync(tmp, 'w');
  let ok = false;
  try {
    const writeAll = (b: Uint8Array, at: number): void => {
      let done = 0;
      while (done < b.length) done += writeSync(fd, b, done, Math.min(b.length - done, 1 << 30), at + done);
    };
    writeAll(prefix, 0);
    for (const p of parts) writeAll(p.bytes, prefix.length + p.at);
    ftruncateSync(fd, prefix.length + dataBytes); // zero padding after the last array
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (err) {
    if (!ignorableDirSyncError(err)) throw err;
  }
}

/** Reads and decodes a checkpoint file (see {@link decodeCheckpoint}); a missing file is a {@link NotFoundError}. */
export async function readCheckpoint(path: string, options: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readError(err, path);
  }
  return decodeCheckpoint(bytes, path, options);
}

/** Synchronous {@link readCheckpoint}. */
export function readCheckpointSync(path: string, options: ReadCheckpointOptions = {}): Checkpoint {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw readError(err, path);
  }
  return decodeCheckpoint(bytes, path, options);
}
