/**
 * Multi-host building blocks without Kafka (issue #16): the sticky assignment, read routing, and the
 * store's prepare/commit split, partition drop and restore.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BehaviourEvent,
  bseDistance,
  EventGenerator,
  encodeWindow,
  PreparedApply,
  partitionOfUser,
  RoutingTable,
  recomputeStates,
  StateStore,
  type StoreRecord,
  sameWindow,
  stickyAssignment,
} from '@compactrec/bse-stream';
import { createSdimModelVersion, deserializeBse } from '@compactrec/sdim';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const v1 = createSdimModelVersion({
  version: 'v1',
  numItems: 50,
  dim: 8,
  seed: 1,
  hash: { numHashes: 12, bitsPerSignature: 3 },
});
const P8 = [0, 1, 2, 3, 4, 5, 6, 7];

function checkCover(a: Map<string, number[]>, partitions: readonly number[]): void {
  const all = [...a.values()].flat().sort((x, y) => x - y);
  expect(all).toEqual([...partitions]);
}

describe('stickyAssignment', () => {
  it('a joining member takes only what balance needs; the others keep their own partitions', () => {
    const a = stickyAssignment(P8, [
      { id: 'a', owned: [0, 1, 2, 3] },
      { id: 'b', owned: [4, 5, 6, 7] },
      { id: 'c', owned: [] },
    ]);
    checkCover(a, P8);
    expect(a.get('c')!.length).toBeGreaterThanOrEqual(2);
    expect([...a.values()].map((x) => x.length).sort()).toEqual([2, 3, 3]);
    for (const p of a.get('a')!) expect([0, 1, 2, 3]).toContain(p);
    for (const p of a.get('b')!) expect([4, 5, 6, 7]).toContain(p);
  });

  it("a member's partitions go to the others when it leaves; nobody else moves; same input, same answer", () => {
    const before = [
      { id: 'a', owned: [0, 1, 2] },
      { id: 'b', owned: [3, 4, 5] },
    ];
    const a = stickyAssignment(P8, before);
    checkCover(a, P8);
    expect(a.get('a')!.slice(0, 3)).toEqual([0, 1, 2]);
    expect(a.get('b')).toEqual(expect.arrayContaining([3, 4, 5]));
    expect(stickyAssignment(P8, [...before].reverse())).toEqual(a);
  });

  it('a free partition goes to a member that keeps its standby copy, within the balance', () => {
    // c left; its partitions 6 and 7 are free; b keeps a standby copy of 7, a of 6.
    const a = stickyAssignment(P8, [
      { id: 'a', owned: [0, 1, 2], standby: [6] },
      { id: 'b', owned: [3, 4, 5], standby: [7] },
    ]);
    checkCover(a, P8);
    expect(a.get('a')).toEqual([0, 1, 2, 6]);
    expect(a.get('b')).toEqual([3, 4, 5, 7]);
    // Without standby copies the same input gives partition order.
    const plain = stickyAssignment(P8, [
      { id: 'a', owned: [0, 1, 2] },
      { id: 'b', owned: [3, 4, 5] },
    ]);
    expect(plain.get('a')).toEqual([0, 1, 2, 6]);
    const swapped = stickyAssignment(P8, [
      { id: 'a', owned: [0, 1, 2], standby: [7] },
      { id: 'b', owned: [3, 4, 5], standby: [6] },
    ]);
    expect(swapped.get('a')).toEqual([0, 1, 2, 7]);
    expect(swapped.get('b')).toEqual([3, 4, 5, 6]);
  });

  it('a partition claimed by two members goes to one of them', () => {
    const a = stickyAssignment(P8, [
      { id: 'a', owned: P8 },
      { id: 'b', owned: P8 },
    ]);
    checkCover(a, P8);
    expect(a.get('a')!.length).toBe(4);
  });
});

describe('RoutingTable', () => {
  const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
  it('answers locally only for complete owned partitions, forwards once to the owner, 503 otherwise', () => {
    const t = new RoutingTable();
    expect(t.route('u1', false).kind).toBe('unavailable');
    const owners = P8.map((p) => [p, p < 4 ? 'http://a:1' : 'http://b:2'] as const);
    t.update({ partitions: 8, self: 'http://a:1', ready: [0, 1, 2], owners });
    const kinds = new Set<string>();
    for (const u of users) {
      const p = partitionOfUser(u, 8);
      const r = t.route(u, false);
      kinds.add(r.kind);
      if (p <= 2) expect(r).toEqual({ kind: 'local', self: 'http://a:1' });
      else if (p === 3)
        expect(r.kind).toBe('unavailable'); // ours, still restoring
      else expect(r).toEqual({ kind: 'forward', url: 'http://b:2' });
      // A forwarded request is never forwarded again.
      if (p > 2) expect(t.route(u, true).kind).toBe('unavailable');
    }
    expect(kinds).toEqual(new Set(['local', 'forward', 'unavailable']));
    // During a rebalance (no owners known) only complete local partitions answer.
    t.update({ partitions: 8, self: 'http://a:1', ready: [0], owners: [] });
    for (const u of users) expect(t.route(u, false).kind).toBe(partitionOfUser(u, 8) === 0 ? 'local' : 'unavailable');
  });

  it('places users in [0, partitions) deterministically, spread over every partition', () => {
    const seen = new Set(users.map((u) => partitionOfUser(u, 8)));
    expect(seen).toEqual(new Set(P8));
    expect(users.map((u) => partitionOfUser(u, 8))).toEqual(users.map((u) => partitionOfUser(u, 8)));
  });
});

describe('StateStore multi-host operations', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bse-mh-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const L = 10;
  const gen = () => new EventGenerator({ seed: 3, numUsers: 40, numItems: 50 });
  const recs = (events: readonly BehaviourEvent[], from = 0): StoreRecord[] =>
    events.map((event, i) => ({ offset: from + i, event }));

  it('prepareApply writes nothing; commitPrepared writes exactly what apply would', () => {
    const g = gen();
    const events = Array.from({ length: 500 }, () => g.next());
    const a = StateStore.open(join(dir, 'a'), { windowLength: L });
    const b = StateStore.open(join(dir, 'b'), { windowLength: L });
    try {
      for (const s of [a, b]) s.requestVersion('v1');
      a.apply('t', 0, recs(events), { active: v1 });
      const prepared = b.prepareApply('t', 0, recs(events), { active: v1 });
      expect(prepared).toBeInstanceOf(PreparedApply);
      const p = prepared as PreparedApply;
      expect(b.userIds()).toEqual([]);
      expect(b.nextOffsets('t').size).toBe(0);
      expect(p.windows.length).toBe(new Set(events.map((e) => e.userId)).size);
      const r = b.commitPrepared(p);
      expect(r.ok).toBe(true);
      expect(b.nextOffsets('t').get(0)).toBe(500);
      expect(b.userIds()).toEqual(a.userIds());
      for (const u of a.userIds()) {
        expect(sameWindow(a.getWindow(u)!, b.getWindow(u)!)).toBe(true);
        expect(bseDistance(deserializeBse(a.getState(u)!.bytes), deserializeBse(b.getState(u)!.bytes))).toBe(0);
      }
      expect(b.userIdsOf(0)).toEqual(b.userIds());
    } finally {
      a.close();
      b.close();
    }
  });

  it('a prepared apply whose partition moved meanwhile commits nothing (ok: false)', () => {
    const g = gen();
    const events = Array.from({ length: 300 }, () => g.next());
    const s = StateStore.open(dir, { windowLength: L });
    try {
      s.requestVersion('v1');
      const p = s.prepareApply('t', 0, recs(events.slice(0, 100)), { active: v1 }) as PreparedApply;
      s.abortPrepared();
      s.apply('t', 0, recs(events.slice(0, 200)), { active: v1 });
      const r = s.commitPrepared(p);
      expect(r.ok).toBe(false);
      expect(s.nextOffsets('t').get(0)).toBe(200);
      const ref = recomputeStates(events.slice(0, 200), v1, L);
      for (const [u, want] of ref) expect(sameWindow(s.getWindow(u)!, want.window)).toBe(true);
    } finally {
      s.close();
    }
  });

  it('drops one partition alone, and a restore of its windows equals the applied state', () => {
    const g = gen();
    const events = Array.from({ length: 600 }, () => g.next());
    const byPart = (p: number) => events.filter((e) => partitionOfUser(e.userId, 2) === p);
    const s = StateStore.open(join(dir, 's'), { windowLength: L });
    const r = StateStore.open(join(dir, 'r'), { windowLength: L });
    try {
      s.requestVersion('v1');
      r.requestVersion('v1');
      s.apply('t', 0, recs(byPart(0)), { active: v1 });
      s.apply('t', 1, recs(byPart(1)), { active: v1 });
      const p1 = s.userIdsOf(1);
      // "Restore" partition 1 into r from s's windows (what the changelog carries), in two chunks.
      const rows = p1.map((u) => ({
        userId: u,
        window: encodeWindow(s.getWindow(u)!),
      }));
      r.restoreUsers(1, rows.slice(0, 5), [v1]);
      r.restoreUsers(1, rows.slice(5), [v1]);
      r.setPartitionMark('t', 1, byPart(1).length, 12345);
      expect(r.userIdsOf(1)).toEqual(p1);
      expect(r.partitionMarks('t').get(1)).toEqual({ nextOffset: byPart(1).length, fingerprint: 12345 });
      for (const u of p1) {
        expect(sameWindow(r.getWindow(u)!, s.getWindow(u)!)).toBe(true);
        expect(bseDistance(deserializeBse(r.getState(u)!.bytes), deserializeBse(s.getState(u)!.bytes))).toBeLessThan(
          1e-9,
        );
      }
      const p0 = s.userIdsOf(0);
      expect(s.dropPartition('t', 1)).toBe(p1.length);
      expect(s.userIdsOf(1)).toEqual([]);
      expect(s.userIdsOf(0)).toEqual(p0);
      expect(s.userIds()).toEqual(p0);
      expect(s.nextOffsets('t').has(1)).toBe(false);
      expect(s.nextOffsets('t').get(0)).toBe(byPart(0).length);
      for (const u of p1) expect(s.getState(u)).toBeUndefined();
    } finally {
      s.close();
      r.close();
    }
  });
});
