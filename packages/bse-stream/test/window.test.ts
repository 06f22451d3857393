import {
  createWindow,
  decodeWindow,
  type Evicted,
  encodeWindow,
  InsertOutcome,
  insertBehaviour,
  type UserWindow,
  wellFormed,
} from '@compactrec/bse-stream';
import { DataFormatError, InvalidArgumentError, Rng } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

const ev = (): Evicted => ({ item: -1, eventId: '', ts: 0 });
const ids = (w: UserWindow): string[] => w.eventIds.slice(0, w.length);

describe('window (dedupe and ordering rule)', () => {
  it('rejects a bad capacity and garbage bytes', () => {
    expect(() => createWindow(0)).toThrow(InvalidArgumentError);
    expect(() => createWindow(70000)).toThrow(InvalidArgumentError);
    expect(() => decodeWindow(new Uint8Array([1, 2, 3, 4]), 4)).toThrow(DataFormatError);
    const good = encodeWindow(createWindow(3));
    expect(() => decodeWindow(good.subarray(0, 2), 3)).toThrow(DataFormatError);
  });

  it('keeps behaviours in ts order and evicts the oldest beyond capacity', () => {
    const w = createWindow(3);
    const e = ev();
    expect(insertBehaviour(w, 'a', 10, 1, e)).toBe(InsertOutcome.Added);
    expect(insertBehaviour(w, 'c', 30, 3, e)).toBe(InsertOutcome.Added);
    expect(insertBehaviour(w, 'b', 20, 2, e)).toBe(InsertOutcome.Added); // late, fits
    expect(ids(w)).toEqual(['a', 'b', 'c']);
    expect(insertBehaviour(w, 'd', 40, 4, e)).toBe(InsertOutcome.AddedEvicted);
    expect(e).toEqual({ item: 1, eventId: 'a', ts: 10 });
    expect(ids(w)).toEqual(['b', 'c', 'd']);
    expect(Array.from(w.items.subarray(0, w.length))).toEqual([2, 3, 4]);
    // Older than the whole full window: ignored (it would be evicted at once).
    expect(insertBehaviour(w, 'z', 5, 9, e)).toBe(InsertOutcome.TooOld);
    // Late but newer than the oldest: inserted, oldest evicted.
    expect(insertBehaviour(w, 'x', 25, 7, e)).toBe(InsertOutcome.AddedEvicted);
    expect(ids(w)).toEqual(['x', 'c', 'd']);
  });

  it('ignores duplicates by eventId, and ties in ts order by eventId', () => {
    const w = createWindow(4);
    const e = ev();
    insertBehaviour(w, 'b', 10, 1, e);
    expect(insertBehaviour(w, 'b', 10, 1, e)).toBe(InsertOutcome.Duplicate);
    insertBehaviour(w, 'a', 10, 2, e);
    expect(ids(w)).toEqual(['a', 'b']);
  });

  it('ends in the same window whatever the arrival order (with duplicates)', () => {
    const rng = new Rng(7);
    const events: [string, number, number][] = [];
    for (let i = 0; i < 200; i++) events.push([`e${i}`, rng.nextInt(1000), rng.nextInt(50)]);
    for (let i = 0; i < 60; i++) events.push(events[rng.nextInt(events.length)]!); // retries
    const run = (order: [string, number, number][]): UserWindow => {
      const w = createWindow(16);
      const e = ev();
      for (const [id, ts, item] of order) insertBehaviour(w, id, ts, item, e);
      return w;
    };
    const reference = run(events);
    // Expected: the 16 largest (ts, id) keys among distinct ids.
    const distinct = [...new Map(events.map((x) => [x[0], x])).values()];
    distinct.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    expect(ids(reference)).toEqual(distinct.slice(-16).map((x) => x[0]));
    for (let trial = 0; trial < 5; trial++) {
      const shuffled = events.slice();
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.nextInt(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const w = run(shuffled);
      expect(ids(w)).toEqual(ids(reference));
      expect(Array.from(w.ts.subarray(0, w.length))).toEqual(Array.from(reference.ts.subarray(0, reference.length)));
    }
  });

  it('round-trips through encodeWindow/decodeWindow', () => {
    const w = createWindow(5);
    const e = ev();
    insertBehaviour(w, 'ünï', 1.5, 4_000_000_000, e);
    insertBehaviour(w, 'e2', 2, 0, e);
    const back = decodeWindow(encodeWindow(w), 5);
    expect(ids(back)).toEqual(['ünï', 'e2']);
    expect(back.items[0]).toBe(4_000_000_000);
    expect(back.ts[0]).toBe(1.5);
    expect(decodeWindow(encodeWindow(createWindow(2)), 2).length).toBe(0);
  });

  it('packs event ids exactly as UTF-8 (ASCII fast path, multi-byte, surrogate pairs, lone surrogates)', () => {
    const ids = ['e1', 'événement', '事件-7', 'emoji-😀', 'lone-\ud800-x', 'tail-\udc00', 'end-\ud83d'];
    const w = createWindow(ids.length);
    const e = ev();
    for (const [i, id] of ids.entries()) insertBehaviour(w, id, 100 + i, i * 3, e);
    // Reference: the format with TextEncoder for every id.
    const enc = new TextEncoder();
    const parts = ids.map((id) => enc.encode(id));
    const ref = new Uint8Array(4 + parts.reduce((n, b) => n + 14 + b.length, 0));
    const view = new DataView(ref.buffer);
    ref.set([0x57, 2]);
    view.setUint16(2, ids.length, true);
    let p = 4;
    ids.forEach((_id, i) => {
      view.setFloat64(p, 100 + i, true);
      view.setUint32(p + 8, i * 3, true);
      view.setUint16(p + 12, parts[i]!.length, true);
      ref.set(parts[i]!, p + 14);
      p += 14 + parts[i]!.length;
    });
    const got = encodeWindow(w);
    // Format 2 = the same bytes plus a 4-byte checksum.
    expect(Buffer.from(got.subarray(0, got.length - 4)).equals(Buffer.from(ref))).toBe(true);
    // Lone surrogates are stored (and compared) as U+FFFD: the decoded ids equal the in-memory ones.
    expect(decodeWindow(got, ids.length).eventIds).toEqual(ids.map(wellFormed));
    expect(w.eventIds).toEqual(ids.map(wellFormed));
  });

  it('a lone-surrogate id is a duplicate of itself after a round trip through the packed bytes', () => {
    const w = createWindow(4);
    const e = ev();
    expect(insertBehaviour(w, '\ud800', 1000, 1, e)).toBe(InsertOutcome.Added);
    const back = decodeWindow(encodeWindow(w), 4);
    expect(insertBehaviour(back, '\ud800', 1000, 1, e)).toBe(InsertOutcome.Duplicate);
    expect(back.length).toBe(1);
  });

  it('detects any flipped byte of a packed window (checksum) and still reads format 1', () => {
    const w = createWindow(4);
    const e = ev();
    insertBehaviour(w, 'a', 10, 1, e);
    insertBehaviour(w, 'b', 20, 2, e);
    const good = encodeWindow(w);
    for (let i = 2; i < good.length; i++) {
      const bad = good.slice();
      bad[i]! ^= 0x10;
      expect(() => decodeWindow(bad, 4), `byte ${i}`).toThrow(DataFormatError);
    }
    const v1 = good.slice(0, good.length - 4);
    v1[1] = 1;
    expect(ids(decodeWindow(v1, 4))).toEqual(['a', 'b']);
  });

  it('variants of one eventId: the largest ts wins, then the smallest item, whatever the arrival order', () => {
    const w = createWindow(4);
    const e = ev();
    insertBehaviour(w, 'x', 100, 7, e);
    expect(insertBehaviour(w, 'x', 100, 9, e)).toBe(InsertOutcome.Duplicate);
    expect(insertBehaviour(w, 'x', 100, 3, e)).toBe(InsertOutcome.Replaced);
    expect(e).toEqual({ item: 7, eventId: 'x', ts: 100 });
    expect(insertBehaviour(w, 'x', 50, 1, e)).toBe(InsertOutcome.Duplicate);
    insertBehaviour(w, 'y', 120, 4, e);
    expect(insertBehaviour(w, 'x', 150, 8, e)).toBe(InsertOutcome.Replaced);
    expect(ids(w)).toEqual(['y', 'x']);
    expect(Array.from(w.items.subarray(0, 2))).toEqual([4, 8]);

    // Property: with conflicting variants, every arrival order ends in the same window.
    const rng = new Rng(11);
    const events: [string, number, number][] = [];
    for (let i = 0; i < 150; i++) events.push([`e${rng.nextInt(60)}`, rng.nextInt(400), rng.nextInt(5)]);
    const run = (order: [string, number, number][]): UserWindow => {
      const win = createWindow(12);
      const scratch = ev();
      for (const [id, ts, item] of order) insertBehaviour(win, id, ts, item, scratch);
      return win;
    };
    const reference = run(events);
    for (let trial = 0; trial < 8; trial++) {
      const shuffled = events.slice();
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.nextInt(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const got = run(shuffled);
      expect(ids(got)).toEqual(ids(reference));
      expect(Array.from(got.items.subarray(0, got.length))).toEqual(
        Array.from(reference.items.subarray(0, reference.length)),
      );
      expect(Array.from(got.ts.subarray(0, got.length))).toEqual(
        Array.from(reference.ts.subarray(0, reference.length)),
      );
    }
  });
});
