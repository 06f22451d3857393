/**
 * A user's behaviour window: the L most recent distinct behaviours by event time, oldest first.
 *
 * The rule (why it is chosen, see the README): an event is keyed by (ts, eventId). Variants of one
 * eventId (a producer retry, or a producer bug that reuses an id) count as ONE event: the variant with
 * the largest ts, and among equal ts the smallest itemId. The window always equals the L largest keys
 * among these distinct events, whatever the arrival order:
 * - a variant that loses against the one in the window is a duplicate and is ignored;
 * - a variant that wins replaces it (outcome `Replaced`, the old entry is written to `evicted`);
 * - a late event older than the whole full window is ignored (it would be evicted at once);
 * - otherwise it is inserted at its ts position and, if the window overflows, the oldest is evicted.
 * A variant of an evicted event is never newer than the full window's oldest key (the winner was
 * evicted, so everything in the window is newer), so dedupe by scanning the window alone is exact: no
 * unbounded table of seen ids is needed. Because the result is a function of the SET of events,
 * replays, crash recovery and rebalances all converge to the same state.
 *
 * Event ids are compared and stored well-formed: a lone UTF-16 surrogate becomes U+FFFD (as UTF-8
 * storage would make it anyway), so an id compares equal before and after a store round trip.
 */
import { DataFormatError, InvalidArgumentError } from '@compactrec/core';

/** One user's window, oldest first: parallel arrays of `length` used entries (capacity L). */
export interface UserWindow {
  /** Event times, ascending (ties broken by eventId). */
  readonly ts: Float64Array;
  /** Item indices. */
  readonly items: Uint32Array;
  /** Event ids. */
  readonly eventIds: string[];
  length: number;
}

/** Outcomes of {@link insertBehaviour}. */
export const InsertOutcome = Object.freeze({
  /** Added; nothing evicted. */
  Added: 0,
  /** Added and the oldest behaviour evicted (written to `evicted`). */
  AddedEvicted: 1,
  /** Same eventId already in the window: ignored. */
  Duplicate: 2,
  /** Older than every behaviour of the full window: ignored. */
  TooOld: 3,
  /** A winning variant of an eventId in the window replaced it (the old entry is written to `evicted`). */
  Replaced: 4,
} as const);
/** One of the {@link InsertOutcome} values. */
export type InsertOutcome = (typeof InsertOutcome)[keyof typeof InsertOutcome];

/** An empty window of capacity `capacity`. */
export function createWindow(capacity: number): UserWindow {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 65535) {
    throw new InvalidArgumentError(`bse-stream/createWindow: capacity (${capacity}) must be an integer in [1, 65535]`);
  }
  return { ts: new Float64Array(capacity), items: new Uint32Array(capacity), eventIds: [], length: 0 };
}

function before(ts: number, id: string, ts2: number, id2: string): boolean {
  return ts < ts2 || (ts === ts2 && id < id2);
}

/**
 * `s` with every lone UTF-16 surrogate replaced by U+FFFD: exactly the string that survives a UTF-8
 * round trip. Returns `s` itself (no allocation) when it is already well formed, the usual case.
 */
export function wellFormed(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return Buffer.from(s, 'utf8').toString('utf8');
  }
  return s;
}

/** Scratch slot for the evicted item of {@link insertBehaviour} (no allocation per event). */
export interface Evicted {
  item: number;
  eventId: string;
  ts: number;
}

/**
 * Applies one behaviour to the window by the rule above. On `AddedEvicted` the evicted behaviour is
 * written to `evicted`. O(L) (a scan for duplicates and a shift), fine for L up to a few thousand.
 */
export function insertBehaviour(
  w: UserWindow,
  eventId: string,
  ts: number,
  item: number,
  evicted: Evicted,
): InsertOutcome {
  const cap = w.ts.length;
  const ids = w.eventIds;
  eventId = wellFormed(eventId);
  let n = w.length;
  let outcome: InsertOutcome = InsertOutcome.Added;
  for (let i = 0; i < n; i++) {
    if (ids[i] !== eventId) continue;
    const t = w.ts[i]!;
    // The variant with the larger ts wins; at equal ts the smaller item.
    if (ts < t || (ts === t && item >= w.items[i]!)) return InsertOutcome.Duplicate;
    evicted.item = w.items[i]!;
    evicted.eventId = eventId;
    evicted.ts = t;
    w.ts.copyWithin(i, i + 1, n);
    w.items.copyWithin(i, i + 1, n);
    ids.splice(i, 1);
    n--;
    w.length = n;
    outcome = InsertOutcome.Replaced;
    break;
  }
  if (outcome === InsertOutcome.Added && n === cap && before(ts, eventId, w.ts[0]!, ids[0]!)) {
    return InsertOutcome.TooOld;
  }
  let len = n;
  if (n === cap) {
    evicted.item = w.items[0]!;
    evicted.eventId = ids[0]!;
    evicted.ts = w.ts[0]!;
    w.ts.copyWithin(0, 1, n);
    w.items.copyWithin(0, 1, n);
    ids.shift();
    len = n - 1;
    outcome = InsertOutcome.AddedEvicted;
  }
  // Insertion position: after every key smaller than (ts, eventId); arrivals are usually the newest.
  let pos = len;
  while (pos > 0 && before(ts, eventId, w.ts[pos - 1]!, ids[pos - 1]!)) pos--;
  if (pos < len) {
    w.ts.copyWithin(pos + 1, pos, len);
    w.items.copyWithin(pos + 1, pos, len);
  }
  w.ts[pos] = ts;
  w.items[pos] = item;
  ids.splice(pos, 0, eventId);
  w.length = len + 1;
  return outcome;
}

const MAGIC = 0x57; // 'W'
/** Format 2 = format 1 plus a trailing FNV-1a checksum; format 1 (no checksum) is still read. */
const FORMAT = 2;

/** FNV-1a (32 bit) of bytes [0, end): the checksum of a packed window. */
function fnv1a(bytes: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 byte length of `s` (ids are almost always ASCII, where it is `s.length`). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // a surrogate pair: 2 UTF-16 units (counted in s.length), 4 bytes
        i++;
      } else n += 2; // a lone surrogate becomes U+FFFD, 3 bytes
    } else n += 2;
  }
  return n;
}

/**
 * Packs a window: magic, format, u16 length, then per entry f64 ts, u32 item, u16 id bytes, id (UTF-8),
 * then a u32 FNV-1a checksum of everything before it. About 14 + |eventId| bytes per behaviour. Written once per touched user per transaction, so ASCII
 * ids are copied by hand (TextEncoder per id cost more than the rest of the encoding).
 */
export function encodeWindow(w: UserWindow): Uint8Array {
  const ids = w.eventIds;
  const n = w.length;
  let total = 4 + 4;
  for (let i = 0; i < n; i++) total += 14 + utf8Length(ids[i]!);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out[0] = MAGIC;
  out[1] = FORMAT;
  view.setUint16(2, n, true);
  let p = 4;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    view.setFloat64(p, w.ts[i]!, true);
    view.setUint32(p + 8, w.items[i]!, true);
    p += 14;
    let ascii = true;
    for (let k = 0; k < id.length; k++) {
      const c = id.charCodeAt(k);
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      out[p + k] = c;
    }
    const len = ascii ? id.length : enc.encodeInto(id, out.subarray(p)).written;
    view.setUint16(p - 2, len, true);
    p += len;
  }
  view.setUint32(p, fnv1a(out, p), true);
  return out;
}

/**
 * Unpacks {@link encodeWindow} bytes into a window of capacity `capacity` (keeps the newest if it
 * shrank). Corrupted bytes (checksum mismatch, truncation) throw DataFormatError.
 */
export function decodeWindow(bytes: Uint8Array, capacity: number): UserWindow {
  const bad = (what: string): DataFormatError =>
    new DataFormatError('user window', 0, `bse-stream/decodeWindow: ${what}`);
  if (bytes.length < 4 || bytes[0] !== MAGIC) throw bad('not a packed window');
  if (bytes[1] !== FORMAT && bytes[1] !== 1) throw bad(`format ${bytes[1]} is not supported (expected ${FORMAT})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[1] === FORMAT) {
    if (bytes.length < 8) throw bad('truncated before the checksum');
    if (fnv1a(bytes, bytes.length - 4) !== view.getUint32(bytes.length - 4, true)) {
      throw bad('checksum mismatch (the stored window is corrupted)');
    }
    bytes = bytes.subarray(0, bytes.length - 4);
  }
  const n = view.getUint16(2, true);
  const skip = Math.max(0, n - capacity);
  const w = createWindow(capacity);
  let p = 4;
  for (let i = 0; i < n; i++) {
    if (p + 14 > bytes.length) throw bad(`truncated at entry ${i} of ${n}`);
    const ts = view.getFloat64(p, true);
    const item = view.getUint32(p + 8, true);
    const len = view.getUint16(p + 12, true);
    if (p + 14 + len > bytes.length) throw bad(`truncated at entry ${i} of ${n}`);
    if (i >= skip) {
      const j = i - skip;
      w.ts[j] = ts;
      w.items[j] = item;
      w.eventIds.push(dec.decode(bytes.subarray(p + 14, p + 14 + len)));
    }
    p += 14 + len;
  }
  w.length = n - skip;
  return w;
}
