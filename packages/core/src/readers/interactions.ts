import { access } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Interactions, RetrievalDataset, Sequences } from '../data.js';
import { DataFormatError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { Growable } from '../internal/growable.js';
import { forEachLine } from '../internal/lines.js';
import { SPACE, TAB, tokenText } from '../internal/parse.js';

/** Options of {@link readInteractionsFile}; every field is optional. */
export interface ReadInteractionsOptions {
  /** Users in the ID space (to pad with empty rows); must be at least max user id + 1. @default max user id + 1 */
  numUsers?: number;
  /** Items in the ID space; must be at least max item id + 1. @default max item id + 1 */
  numItems?: number;
}

/** Defaults of {@link ReadInteractionsOptions} (sizes come from the data). */
export const DEFAULT_READ_INTERACTIONS_OPTIONS: Readonly<ReadInteractionsOptions> = Object.freeze({});

const INT32_MAX = 2147483647;

/** What one pass over a `user item ...` or `user item` file collects, before CSR assembly. */
interface ParsedUserItems {
  /** User of each data line (lines mode) or of each pair (pairs mode). */
  readonly lineUsers: Int32Array;
  /** Items per data line, or null when every line holds one item (pairs mode). */
  readonly lineCounts: Int32Array | null;
  readonly items: Int32Array;
  readonly maxUser: number;
  readonly maxItem: number;
  /** 1-based lines where the largest user / item id was read (for the ID-space check). */
  readonly maxUserLine: number;
  readonly maxItemLine: number;
}

/**
 * An ID space may be at most this many times the number of ids in the file (and above
 * {@link SPARSE_ID_FLOOR}) before the reader refuses it: a few huge ids would otherwise allocate
 * rows for billions of users that never appear (two billion → an out-of-memory abort).
 */
export const MAX_ID_SPACE_PER_ENTRY = 64;
/** ID spaces up to this size are always accepted, however short the file (a few MB of row offsets). */
export const SPARSE_ID_FLOOR = 1 << 20;

/**
 * Parses `user item item ...` lines (mode 'lines') or `user item` lines (mode 'pairs'), tokens
 * separated by runs of spaces/tabs, all non-negative int32 decimals.
 */
async function parseUserItems(path: string, where: string, mode: 'lines' | 'pairs'): Promise<ParsedUserItems> {
  const users = new Growable(Int32Array, 1 << 14);
  const counts = mode === 'lines' ? new Growable(Int32Array, 1 << 14) : null;
  const items = new Growable(Int32Array, 1 << 16);
  let maxUser = -1;
  let maxItem = -1;
  let maxUserLine = 0;
  let maxItemLine = 0;
  await forEachLine(path, where, (buf, start, end, line) => {
    let p = start;
    let tok = 0;
    const before = items.length;
    while (p < end) {
      let c = buf[p]!;
      if (c === SPACE || c === TAB) {
        p++;
        continue;
      }
      const t0 = p;
      let v = 0;
      for (; p < end; p++) {
        c = buf[p]!;
        if (c === SPACE || c === TAB) break;
        const d = c - 48;
        if (d < 0 || d > 9) {
          const what = tok === 0 ? 'a user id' : 'an item id';
          const text = tokenText(buf, t0, end);
          throw new DataFormatError(
            path,
            line,
            /^-\d+$/.test(text)
              ? `negative id '${text}' where ${what} was expected; ids are integers from 0`
              : `'${text}' is not an integer, where ${what} was expected`,
          );
        }
        v = v * 10 + d;
      }
      if (v > INT32_MAX) {
        throw new DataFormatError(path, line, `id ${tokenText(buf, t0, end)} does not fit in int32`);
      }
      if (tok === 0) {
        users.push(v);
        if (v > maxUser) {
          maxUser = v;
          maxUserLine = line;
        }
      } else {
        if (mode === 'pairs' && tok > 1) {
          throw new DataFormatError(
            path,
            line,
            `trailing token '${tokenText(buf, t0, end)}'; a pairs file has exactly 'user item' per line`,
          );
        }
        items.push(v);
        if (v > maxItem) {
          maxItem = v;
          maxItemLine = line;
        }
      }
      tok++;
    }
    if (tok === 0) return; // whitespace-only line: blank
    if (mode === 'pairs' && tok < 2)
      throw new DataFormatError(path, line, `line has a user but no item ('user item' expected)`);
    counts?.push(items.length - before);
  });
  if (users.length === 0) throw new DataFormatError(path, 1, 'file is empty (only blank lines)');
  return {
    lineUsers: users.trimmed(),
    lineCounts: counts ? counts.trimmed() : null,
    items: items.trimmed(),
    maxUser,
    maxItem,
    maxUserLine,
    maxItemLine,
  };
}

/**
 * Refuses an ID space far sparser than the file is long (see {@link MAX_ID_SPACE_PER_ENTRY}) before
 * any row is allocated, naming the id and its line. `parts` are the files sharing the ID space.
 */
function checkIdSpace(parts: readonly { path: string; parsed: ParsedUserItems }[]): void {
  let entries = 0;
  for (const { parsed } of parts) entries += parsed.lineUsers.length + parsed.items.length;
  const limit = Math.max(SPARSE_ID_FLOOR, MAX_ID_SPACE_PER_ENTRY * entries);
  for (const side of ['user', 'item'] as const) {
    let worst: { path: string; id: number; line: number } | null = null;
    for (const { path, parsed } of parts) {
      const id = side === 'user' ? parsed.maxUser : parsed.maxItem;
      if (!worst || id > worst.id) {
        worst = { path, id, line: side === 'user' ? parsed.maxUserLine : parsed.maxItemLine };
      }
    }
    if (worst && worst.id + 1 > limit) {
      throw new DataFormatError(
        worst.path,
        worst.line,
        `${side} id ${worst.id} would make an ID space of ${(worst.id + 1).toLocaleString('en-US')} ${side}s for ${entries.toLocaleString('en-US')} ids in the file (at most ${limit.toLocaleString('en-US')} accepted); ids must be dense row numbers 0..n-1. There is no remapping option for LightGCN-format files yet: renumber the ids first (as the LightGCN datasets do with user_list.txt / item_list.txt, org_id → remap_id)`,
      );
    }
  }
}

/**
 * Assembles CSR rows from parsed lines: items of a user keep file order; a user with several
 * lines gets them concatenated; users without a line get empty rows.
 */
function buildCsr(p: ParsedUserItems, numUsers: number, numItems: number): Interactions {
  const { lineUsers, lineCounts, items } = p;
  const nLines = lineUsers.length;
  const offsets = new Uint32Array(numUsers + 1);
  let sorted = true;
  let prev = -1;
  for (let l = 0; l < nLines; l++) {
    const u = lineUsers[l]!;
    offsets[u + 1]! += lineCounts ? lineCounts[l]! : 1;
    if (u < prev || (lineCounts && u === prev)) sorted = false;
    prev = u;
  }
  for (let u = 0; u < numUsers; u++) offsets[u + 1]! += offsets[u]!;
  if (sorted) return { numUsers, numItems, offsets, items };
  const out = new Int32Array(items.length);
  const cursor = offsets.slice(0, numUsers);
  let src = 0;
  for (let l = 0; l < nLines; l++) {
    const u = lineUsers[l]!;
    const c = lineCounts ? lineCounts[l]! : 1;
    out.set(items.subarray(src, src + c), cursor[u]!);
    cursor[u]! += c;
    src += c;
  }
  return { numUsers, numItems, offsets, items: out };
}

function checkCount(where: string, name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > INT32_MAX)) {
    throw new InvalidArgumentError(`${where}: ${name} (${v}) must be a non-negative int32`);
  }
}

function resolveCount(where: string, name: string, given: number | undefined, fromData: number): number {
  if (given === undefined) return fromData;
  if (given < fromData) {
    throw new InvalidArgumentError(
      `${where}: ${name} (${given}) is below the largest id in the file + 1 (${fromData}); raise it or omit it`,
    );
  }
  return given;
}

/**
 * Reads a LightGCN-format interactions file: one line per user, `user item item ...`, tokens
 * separated by spaces or tabs, CRLF tolerated, blank lines skipped. Lines are independent: a
 * user on several lines gets their items concatenated in file order; users that never appear
 * get empty rows. Duplicate items are kept as written.
 */
export async function readInteractionsFile(path: string, options: ReadInteractionsOptions = {}): Promise<Interactions> {
  const where = 'core/readInteractionsFile';
  checkCount(where, 'numUsers', options.numUsers);
  checkCount(where, 'numItems', options.numItems);
  const parsed = await parseUserItems(path, where, 'lines');
  if (options.numUsers === undefined || options.numItems === undefined) checkIdSpace([{ path, parsed }]);
  const numUsers = resolveCount(where, 'numUsers', options.numUsers, parsed.maxUser + 1);
  const numItems = resolveCount(where, 'numItems', options.numItems, parsed.maxItem + 1);
  return buildCsr(parsed, numUsers, numItems);
}

/**
 * Reads a LightGCN dataset directory (`train.txt` + `test.txt`) into one shared ID space:
 * numUsers/numItems are the maxima over both files + 1; the name is the directory's base name.
 */
export async function readLightGcnDataset(dir: string): Promise<RetrievalDataset> {
  const where = 'core/readLightGcnDataset';
  const trainPath = join(dir, 'train.txt');
  const testPath = join(dir, 'test.txt');
  for (const p of [trainPath, testPath]) {
    try {
      await access(p);
    } catch (err) {
      throw new NotFoundError(`${where}: ${p} is missing; a LightGCN dataset needs train.txt and test.txt`, {
        cause: err,
        context: { path: p },
      });
    }
  }
  const train = await parseUserItems(trainPath, where, 'lines');
  const test = await parseUserItems(testPath, where, 'lines');
  checkIdSpace([
    { path: trainPath, parsed: train },
    { path: testPath, parsed: test },
  ]);
  const numUsers = Math.max(train.maxUser, test.maxUser) + 1;
  const numItems = Math.max(train.maxItem, test.maxItem) + 1;
  return {
    name: basename(resolve(dir)),
    train: buildCsr(train, numUsers, numItems),
    test: buildCsr(test, numUsers, numItems),
  };
}

/**
 * Reads behaviour sequences written one user per line, `user item item ...` in time order
 * (S3Rec format). Raw ids are kept: they start at 1, so numItems = max item id + 1 and item 0
 * is free for padding; numUsers = max user id + 1 (user 0 usually has an empty row).
 */
export async function readSequencesFile(path: string): Promise<Sequences> {
  const parsed = await parseUserItems(path, 'core/readSequencesFile', 'lines');
  checkIdSpace([{ path, parsed }]);
  return buildCsr(parsed, parsed.maxUser + 1, parsed.maxItem + 1);
}

/**
 * Reads behaviour sequences written as `user item` pairs, one per line, grouped by user in time
 * order (SASRec format). A user whose pairs are not contiguous still gets them in file order.
 * Raw ids are kept (numItems = max item id + 1, so item 0 is free for padding).
 */
export async function readPairsFile(path: string): Promise<Sequences> {
  const parsed = await parseUserItems(path, 'core/readPairsFile', 'pairs');
  checkIdSpace([{ path, parsed }]);
  return buildCsr(parsed, parsed.maxUser + 1, parsed.maxItem + 1);
}
