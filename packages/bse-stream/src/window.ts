/**
 * A user's behaviour window: the L most recent distinct behaviours by event time, oldest first.
 *
 * The rule (why it is chosen, see the README): an event is keyed by (ts, eventId). The window always
 * equals the L largest keys among the distinct eventIds seen so far, whatever the arrival order:
 * - a duplicate (same eventId as an event in the window) is ignored;
 * - a late event older than the whole full window is ignored (it would be evicted at once);
 * - otherwise it is inserted at its ts position and, if the window overflows, the oldest is evicted.
 * A duplicate of an evicted event is necessarily older than the full window, so dedupe by scanning the
 * window alone is exact: no unbounded table of seen ids is needed. Because the result is a function of
 * the SET of events, replays, crash recovery and rebalances all converge to the same state.
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
  const n = w.length;
  const ids = w.eventIds;
  for (let i = 0; i < n; i++) if (ids[i] === eventId) return InsertOutcome.Duplicate;
  if (n === cap && before(ts, eventId, w.ts[0]!, ids[0]!)) return InsertOutcome.TooOld;
  let outcome: InsertOutcome = InsertOutcome.Added;
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
const FORMAT = 1;
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
 * Packs a window: magic, format, u16 length, then per entry f64 ts, u32 item, u16 id bytes, id (UTF-8).
 * About 14 + |eventId| bytes per behaviour. Written once per touched user per transaction, so ASCII
 * ids are copied by hand (TextEncoder per id cost more than the rest of the encoding).
 */
export function encodeWindow(w: UserWindow): Uint8Array {
  const ids = w.eventIds;
  const n = w.length;
  let total = 4;
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
  return out;
}

/** Unpacks {@link encodeWindow} bytes into a window of capacity `capacity` (keeps the newest if it shrank). */
export function decodeWindow(bytes: Uint8Array, capacity: number): UserWindow {
  const bad = (what: string): DataFormatError =>
    new DataFormatError('user window', 0, `bse-stream/decodeWindow: ${what}`);
  if (bytes.length < 4 || bytes[0] !== MAGIC) throw bad('not a packed window');
  if (bytes[1] !== FORMAT) throw bad(`format ${bytes[1]} is not supported (expected ${FORMAT})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
