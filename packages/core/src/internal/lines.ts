/**
 * Chunked line reading over raw bytes: files are read in large chunks and scanned with
 * `indexOf(LF)`, so readers parse numbers straight from bytes without one string per line.
 */
import { open } from 'node:fs/promises';
import { DataFormatError, InvalidArgumentError, NotFoundError } from '../errors.js';

/** Bytes read per `read()` call; a line longer than this grows the buffer. */
export const CHUNK_BYTES = 1 << 20;

const LF = 10;
const CR = 13;

/**
 * Yields the file as chunks that each end at a line boundary (the last chunk may lack a final LF).
 * The yielded buffer is reused: consume it before asking for the next chunk. Throws
 * {@link NotFoundError} for a missing file and {@link DataFormatError} (line 1) for an empty one.
 */
export async function* lineChunks(path: string, where: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<Buffer> {
  const fh = await openForRead(path, where);
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new InvalidArgumentError(`${where}: ${path} is a directory; pass a file`);
    const size = st.size;
    if (size === 0) throw new DataFormatError(path, 1, 'file is empty');
    let buf = Buffer.allocUnsafe(Math.max(16, Math.min(chunkBytes, size + 1)));
    let filled = 0;
    for (;;) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) {
        if (filled > 0) yield buf.subarray(0, filled);
        return;
      }
      filled += bytesRead;
      const lastNl = buf.lastIndexOf(LF, filled - 1);
      if (lastNl < 0) continue;
      yield buf.subarray(0, lastNl + 1);
      buf.copyWithin(0, lastNl + 1, filled);
      filled -= lastNl + 1;
    }
  } finally {
    await fh.close();
  }
}

/** Opens a file for reading, turning ENOENT/EISDIR into CompactRec errors that name the path. */
export async function openForRead(path: string, where: string) {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw fileOpenError(err, path, where);
  }
}

/** Maps a Node file-system error to {@link NotFoundError} / {@link InvalidArgumentError} when it is one of ours. */
export function fileOpenError(err: unknown, path: string, where: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') {
    return new NotFoundError(`${where}: file not found (${path}); check the path`, { cause: err, context: { path } });
  }
  if (code === 'EISDIR') {
    return new InvalidArgumentError(`${where}: ${path} is a directory; pass a file`, { cause: err });
  }
  return err;
}

/**
 * Line handler: bytes `buf[start .. end)` of line number `line` (1-based), without the LF and
 * without a trailing CR.
 */
export type LineHandler = (buf: Buffer, start: number, end: number, line: number) => void;

/**
 * Calls `onLine` for every non-empty line of a chunk from {@link lineChunks}; returns the number
 * of the line after the chunk. Empty lines (after CR stripping) are counted but skipped.
 */
export function scanLines(buf: Buffer, firstLine: number, onLine: LineHandler): number {
  const n = buf.length;
  let line = firstLine;
  let pos = 0;
  while (pos < n) {
    let nl = buf.indexOf(LF, pos);
    if (nl < 0) nl = n;
    let end = nl;
    if (end > pos && buf[end - 1] === CR) end--;
    if (end > pos) onLine(buf, pos, end, line);
    line++;
    pos = nl + 1;
  }
  return line;
}

/**
 * Reads a whole file line by line (see {@link scanLines}); returns how many lines were handled.
 * A file with no non-empty line is a {@link DataFormatError} at line 1.
 */
export async function forEachLine(path: string, where: string, onLine: LineHandler): Promise<number> {
  let line = 1;
  let handled = 0;
  const counting: LineHandler = (buf, start, end, ln) => {
    handled++;
    onLine(buf, start, end, ln);
  };
  for await (const chunk of lineChunks(path, where)) line = scanLines(chunk, line, counting);
  if (handled === 0) throw new DataFormatError(path, 1, 'file is empty (only blank lines)');
  return handled;
}
