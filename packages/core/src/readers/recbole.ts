import { DataFormatError } from '../errors.js';
import { Growable } from '../internal/growable.js';
import { forEachLine } from '../internal/lines.js';
import { parseDecimal, TAB } from '../internal/parse.js';

/**
 * A RecBole `.inter` file: one row per interaction, user/item tokens remapped to dense 0-based
 * ids in order of first appearance (so the first row's user is 0), the original tokens kept.
 */
export interface RecboleInteractions {
  /** Dense user id per row. */
  readonly users: Int32Array;
  /** Dense item id per row. */
  readonly items: Int32Array;
  readonly ratings: Float32Array;
  /** As written (seconds since the epoch in MovieLens); float64 keeps them exact. */
  readonly timestamps: Float64Array;
  readonly numUsers: number;
  readonly numItems: number;
  /** Original token of each dense user id. */
  readonly userTokens: readonly string[];
  /** Original token of each dense item id. */
  readonly itemTokens: readonly string[];
  readonly numRows: number;
}

/** Header columns {@link readRecboleInter} needs (any order; extra columns are ignored). */
const REQUIRED = ['user_id:token', 'item_id:token', 'rating:float', 'timestamp:float'] as const;

/**
 * Reads a RecBole atomic `.inter` file (tab-separated, typed header line such as
 * `user_id:token item_id:token rating:float timestamp:float`). The header must contain those four
 * columns with those types; every row must have as many fields as the header.
 */
export async function readRecboleInter(path: string): Promise<RecboleInteractions> {
  const where = 'core/readRecboleInter';
  const users = new Growable(Int32Array, 1 << 14);
  const items = new Growable(Int32Array, 1 << 14);
  const ratings = new Growable(Float32Array, 1 << 14);
  const timestamps = new Growable(Float64Array, 1 << 14);
  const userIds = new Map<string, number>();
  const itemIds = new Map<string, number>();
  const userTokens: string[] = [];
  const itemTokens: string[] = [];
  let columns = -1;
  let col: number[] = [];
  // Field boundaries of the current row (reused).
  const fs = new Int32Array(64);
  const fe = new Int32Array(64);
  const idOf = (map: Map<string, number>, tokens: string[], t: string): number => {
    let id = map.get(t);
    if (id === undefined) {
      id = tokens.length;
      map.set(t, id);
      tokens.push(t);
    }
    return id;
  };
  await forEachLine(path, where, (buf, start, end, line) => {
    if (columns < 0) {
      const header = buf.toString('utf8', start, end).split('\t');
      col = REQUIRED.map((want) => {
        const name = want.split(':')[0]!;
        const i = header.findIndex((h) => h.split(':')[0] === name);
        if (i < 0) {
          throw new DataFormatError(path, line, `header lacks column '${want}' (header: ${header.join(' | ')})`);
        }
        if (header[i] !== want) {
          throw new DataFormatError(path, line, `header column '${header[i]}' should be '${want}'`);
        }
        return i;
      });
      columns = header.length;
      if (columns > fs.length)
        throw new DataFormatError(path, line, `header has ${columns} columns; at most 64 supported`);
      return;
    }
    let n = 0;
    let p = start;
    for (;;) {
      let e = p;
      while (e < end && buf[e] !== TAB) e++;
      if (n < columns) {
        fs[n] = p;
        fe[n] = e;
      }
      n++;
      if (e >= end) break;
      p = e + 1;
    }
    if (n !== columns)
      throw new DataFormatError(path, line, `row has ${n} tab-separated fields; the header has ${columns}`);
    const [cu, ci, cr, ct] = col as [number, number, number, number];
    if (fe[cu] === fs[cu] || fe[ci] === fs[ci]) throw new DataFormatError(path, line, 'empty user_id or item_id');
    users.push(idOf(userIds, userTokens, buf.toString('utf8', fs[cu], fe[cu])));
    items.push(idOf(itemIds, itemTokens, buf.toString('utf8', fs[ci], fe[ci])));
    const r = parseDecimal(buf, fs[cr]!, fe[cr]!);
    if (Number.isNaN(r)) {
      throw new DataFormatError(path, line, `rating '${buf.toString('utf8', fs[cr], fe[cr])}' is not a number`);
    }
    const t = parseDecimal(buf, fs[ct]!, fe[ct]!);
    if (Number.isNaN(t)) {
      throw new DataFormatError(path, line, `timestamp '${buf.toString('utf8', fs[ct], fe[ct])}' is not a number`);
    }
    ratings.push(r);
    timestamps.push(t);
  });
  if (users.length === 0) throw new DataFormatError(path, 2, 'file has a header but no rows');
  return {
    users: users.trimmed(),
    items: items.trimmed(),
    ratings: ratings.trimmed(),
    timestamps: timestamps.trimmed(),
    numUsers: userTokens.length,
    numItems: itemTokens.length,
    userTokens,
    itemTokens,
    numRows: users.length,
  };
}
