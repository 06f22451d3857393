import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BehaviourEvent,
  bseDistance,
  CorruptWindowError,
  EventGenerator,
  encodeUserState,
  ModelRegistry,
  Reencoder,
  recomputeStates,
  STATE_DB_FILE,
  StateStore,
  type StoreRecord,
  sameWindow,
} from '@compactrec/bse-stream';
import { InvalidArgumentError, UsageError } from '@compactrec/core';
import { createSdimModelVersion, deserializeBse } from '@compactrec/sdim';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const v1 = createSdimModelVersion({
  version: 'v1',
  numItems: 50,
  dim: 8,
  seed: 1,
  hash: { numHashes: 12, bitsPerSignature: 3 },
});
const v2 = createSdimModelVersion({
  version: 'v2',
  numItems: 50,
  dim: 8,
  seed: 2,
  hash: { numHashes: 12, bitsPerSignature: 3 },
});

function records(events: readonly BehaviourEvent[], firstOffset = 0): StoreRecord[] {
  return events.map((event, i) => ({ offset: firstOffset + i, event }));
}

function expectMatchesRecompute(store: StateStore, events: readonly BehaviourEvent[], L: number, model = v1): void {
  const ref = recomputeStates(events, model, L);
  expect(store.userIds().sort()).toEqual([...ref.keys()].sort());
  for (const [userId, want] of ref) {
    const got = store.getState(userId)!;
    expect(got.version).toBe(model.version);
    expect(sameWindow(store.getWindow(userId)!, want.window)).toBe(true);
    expect(bseDistance(deserializeBse(got.bytes), want.state)).toBeLessThan(1e-9);
  }
}

describe('StateStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bse-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('rejects bad options and a changed window length', () => {
    expect(() => StateStore.open(dir, { windowLength: 0 })).toThrow(InvalidArgumentError);
    expect(() => StateStore.open('')).toThrow(InvalidArgumentError);
    StateStore.open(dir, { windowLength: 8 }).close();
    expect(() => StateStore.open(dir, { windowLength: 9 })).toThrow(UsageError);
  });

  it('is empty and serves nothing before the first event', () => {
    const store = StateStore.open(dir, { windowLength: 8 });
    expect(store.isEmpty()).toBe(true);
    expect(store.getState('nobody')).toBeUndefined();
    expect(store.versions()).toEqual({ active: undefined, pending: undefined });
    store.close();
    expect(() => store.getState('x')).toThrow(UsageError);
  });

  it('incremental add/remove equals a from-scratch recomputation (duplicates, late events, evictions)', () => {
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    const events = new EventGenerator({
      seed: 3,
      numUsers: 20,
      numItems: 50,
      duplicateRate: 0.1,
      lateRate: 0.2,
      stepMs: 5,
      maxLatenessMs: 400,
    }).take(3000);
    for (let i = 0; i < events.length; i += 250) {
      const r = store.apply('t', 0, records(events.slice(i, i + 250), i), { active: v1 });
      expect(r.ok).toBe(true);
    }
    expectMatchesRecompute(store, events, 8);
    const c = store.counters();
    expect(c.get('duplicates')).toBeGreaterThan(0);
    expect(c.get('too_old')).toBeGreaterThan(0);
    expect((c.get('applied') ?? 0) + (c.get('duplicates') ?? 0) + (c.get('too_old') ?? 0)).toBe(3000);
    expect(c.get('users')).toBe(20);
    expect(store.nextOffsets('t').get(0)).toBe(3000);
    store.close();
  });

  it('skips records below the stored offset, so a re-delivered batch is not applied twice', () => {
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    const events = new EventGenerator({ seed: 4, numUsers: 5, numItems: 50 }).take(100);
    store.apply('t', 1, records(events.slice(0, 60)), { active: v1 });
    // Redelivery from offset 40 (e.g. Kafka's committed offset lagged behind the store).
    const r = store.apply('t', 1, records(events.slice(40), 40), { active: v1 });
    expect(r.skipped).toBe(20);
    expect(r.applied).toBe(40);
    expect(r.nextOffset).toBe(100);
    expectMatchesRecompute(store, events, 8);
    expect(store.counters().get('applied')).toBe(100);
    store.close();
  });

  it('counts dead letters by reason and advances the offset past them', () => {
    const store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    const r = store.apply(
      't',
      0,
      [
        { offset: 0, reason: 'not-json' },
        { offset: 1, event: { eventId: 'a', userId: 'u', itemId: 1, ts: 1 } },
        { offset: 2, reason: 'unknown-item' },
        { offset: 3, reason: 'not-json' },
      ],
      { active: v1 },
    );
    expect(r.deadLettered).toBe(3);
    expect(r.nextOffset).toBe(4);
    const c = store.counters();
    expect(c.get('dlq:not-json')).toBe(2);
    expect(c.get('dlq:unknown-item')).toBe(1);
    expect(store.getWindow('u')!.length).toBe(1);
    store.close();
  });

  it('state and offsets survive a reopen together (two connections to one folder see each other)', () => {
    const a = StateStore.open(dir, { windowLength: 8 });
    a.requestVersion('v1');
    const events = new EventGenerator({ seed: 5, numUsers: 10, numItems: 50 }).take(400);
    a.apply('t', 0, records(events.slice(0, 200)), { active: v1 });
    // A second instance on the same folder takes over the partition.
    const b = StateStore.open(dir, { windowLength: 8 });
    expect(b.nextOffsets('t').get(0)).toBe(200);
    const r = b.apply('t', 0, records(events.slice(150), 150), { active: v1 });
    expect(r.skipped).toBe(50);
    // A zombie batch from the first instance is skipped entirely.
    expect(a.apply('t', 0, records(events.slice(200, 300), 200), { active: v1 }).skipped).toBe(100);
    a.close();
    expectMatchesRecompute(b, events, 8);
    b.close();
  });

  it('refuses an apply built for other model versions (nothing written)', () => {
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    const r = store.apply('t', 0, records([{ eventId: 'a', userId: 'u', itemId: 1, ts: 1 }]), { active: v2 });
    expect(r.ok).toBe(false);
    expect(r.activeVersion).toBe('v1');
    expect(store.getState('u')).toBeUndefined();
    expect(store.nextOffsets('t').size).toBe(0);
    store.close();
  });

  it('blue/green: serves v1 while v2 is built, keeps both current, then switches atomically', () => {
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    const events = new EventGenerator({ seed: 6, numUsers: 30, numItems: 50, lateRate: 0.1 }).take(1500);
    store.apply('t', 0, records(events.slice(0, 1000)), { active: v1 });
    expect(store.requestVersion('v2')).toEqual({ active: 'v1', pending: 'v2' });
    expect(store.missingStates('v2')).toBe(30);
    expect(store.reencodeStep(v2, 10)).toBe(10);
    expect(store.completeReencode('v2')).toBe(false); // 20 users still lack v2
    // Ingest during the re-encode updates both versions.
    store.apply('t', 0, records(events.slice(1000), 1000), { active: v1, pending: v2 });
    expect(store.getState(events[0]!.userId)!.version).toBe('v1');
    while (store.reencodeStep(v2, 10) > 0);
    expect(store.completeReencode('v2')).toBe(true);
    expect(store.versions()).toEqual({ active: 'v2', pending: undefined });
    expect(store.reencodeStep(v2, 10)).toBe(-1);
    expectMatchesRecompute(store, events, 8, v2);
    // Old version's states are gone.
    expect(store.getStateOf(events[0]!.userId, 'v1')).toBeUndefined();
    store.close();
  });

  it('a lone-surrogate eventId retried after a reopen is a duplicate (issue #17 case 2, no Kafka)', () => {
    const e: BehaviourEvent = { eventId: '\ud800', userId: 'u1', itemId: 1, ts: 1000 };
    let store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    store.apply('t', 0, records([e]), { active: v1 });
    store.close();
    store = StateStore.open(dir, { windowLength: 4 });
    const r = store.apply('t', 0, records([e], 1), { active: v1 });
    expect(r.duplicates).toBe(1);
    expect(store.getWindow('u1')!.length).toBe(1);
    store.close();
  });

  it('keeps a pending switch when the active version is asked for, unless cancelPending', () => {
    const store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    store.apply('t', 0, records([{ eventId: 'a', userId: 'u', itemId: 1, ts: 1 }]), { active: v1 });
    expect(store.requestVersion('v2')).toEqual({ active: 'v1', pending: 'v2' });
    expect(store.reencodeStep(v2, 10)).toBe(1);
    // A restart with --model-version v1 (or none): the switch goes on, its states are kept.
    expect(store.requestVersion('v1')).toEqual({ active: 'v1', pending: 'v2' });
    expect(store.getStateOf('u', 'v2')).toBeDefined();
    expect(store.requestVersion('v1', { cancelPending: true })).toEqual({
      active: 'v1',
      pending: undefined,
      cancelled: 'v2',
    });
    expect(store.getStateOf('u', 'v2')).toBeUndefined();
    store.close();
  });

  it('re-encodes for a model with fewer items by the unknown-item rule, with no stale buffer rows', () => {
    const small = createSdimModelVersion({
      version: 'v3',
      numItems: 20,
      dim: 8,
      seed: 3,
      hash: { numHashes: 12, bitsPerSignature: 3 },
    });
    const store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    const events: BehaviourEvent[] = [
      { eventId: 'a1', userId: 'a', itemId: 5, ts: 1 },
      { eventId: 'a2', userId: 'a', itemId: 7, ts: 2 },
      { eventId: 'b1', userId: 'b', itemId: 45, ts: 1 }, // unknown to v3
      { eventId: 'b2', userId: 'b', itemId: 7, ts: 2 },
    ];
    store.apply('t', 0, records(events), { active: v1 });
    store.requestVersion('v3');
    while (store.reencodeStep(small, 1) > 0);
    for (const u of ['a', 'b']) {
      const got = deserializeBse(store.getStateOf(u, 'v3')!);
      const want = encodeUserState(small, store.getWindow(u)!);
      expect(Array.from(got.counts)).toEqual(Array.from(want.counts));
      expect(Array.from(got.sums)).toEqual(Array.from(want.sums));
    }
    expect(deserializeBse(store.getStateOf('b', 'v3')!).length).toBe(1);
    expect(store.completeReencode('v3')).toBe(true);
    // Live events follow the same rule: an item unknown to v3 enters the window, not the state.
    store.apply('t', 0, records([{ eventId: 'a3', userId: 'a', itemId: 30, ts: 3 }], 4), { active: small });
    expect(store.getWindow('a')!.length).toBe(3);
    expect(store.counters().get('unknown_items')).toBe(1);
    expectMatchesRecompute(store, [...events, { eventId: 'a3', userId: 'a', itemId: 30, ts: 3 }], 4, small);
    store.close();
  });

  it('rebuilds a corrupted state from the window and refuses a corrupted window (nothing written)', () => {
    const store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    const events = new EventGenerator({ seed: 7, numUsers: 3, numItems: 50 }).take(30);
    store.apply('t', 0, records(events), { active: v1 });
    store.close();
    const db = new Database(join(dir, STATE_DB_FILE));
    const flip = (table: string, col: string, user: string) => {
      const b = Buffer.from(
        (db.prepare(`SELECT ${col} FROM ${table} WHERE user_id = ?`).get(user) as Record<string, Buffer>)[col]!,
      );
      b[b.length - 6]! ^= 0x20;
      db.prepare(`UPDATE ${table} SET ${col} = ? WHERE user_id = ?`).run(b, user);
    };
    flip('states', 'state', 'u0');
    flip('users', 'win', 'u1');
    db.close();
    const s2 = StateStore.open(dir, { windowLength: 4 });
    const more = [
      { eventId: 'n0', userId: 'u0', itemId: 3, ts: 2e12 },
      { eventId: 'n1', userId: 'u1', itemId: 3, ts: 2e12 },
    ];
    s2.apply('t', 0, records(more.slice(0, 1), 30), { active: v1 });
    expect(s2.counters().get('repaired_states')).toBe(1);
    expect(() => s2.apply('t', 0, records(more.slice(1), 31), { active: v1 })).toThrow(CorruptWindowError);
    expect(s2.nextOffsets('t').get(0)).toBe(31);
    s2.close();
  });

  it('stores the fingerprint of the record before each stored offset', () => {
    const store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    const recs = records(new EventGenerator({ seed: 8, numUsers: 2, numItems: 50 }).take(3)).map((r, i) => ({
      ...r,
      fingerprint: 100 + i,
    }));
    store.apply('t', 2, recs, { active: v1 });
    expect(store.partitionMarks('t').get(2)).toEqual({ nextOffset: 3, fingerprint: 102 });
    store.close();
  });

  it('a corrupted window blocks a model switch, and the re-encoder says so (blocked)', async () => {
    const store = StateStore.open(dir, { windowLength: 4 });
    store.requestVersion('v1');
    store.apply('t', 0, records(new EventGenerator({ seed: 9, numUsers: 2, numItems: 50 }).take(10)), { active: v1 });
    store.close();
    const db = new Database(join(dir, STATE_DB_FILE));
    const b = Buffer.from((db.prepare('SELECT win FROM users WHERE user_id = ?').get('u1') as { win: Buffer }).win);
    b[6]! ^= 0x01;
    db.prepare('UPDATE users SET win = ? WHERE user_id = ?').run(b, 'u1');
    db.close();
    const s2 = StateStore.open(dir, { windowLength: 4 });
    s2.requestVersion('v2');
    const registry = new ModelRegistry(dir);
    registry.put(v2);
    const re = new Reencoder(s2, registry, { pollMs: 10 });
    re.start();
    for (let i = 0; i < 200 && !re.blocked; i++) await new Promise((r) => setTimeout(r, 10));
    re.stop();
    expect(re.blocked).toBeInstanceOf(CorruptWindowError);
    expect(re.blocked!.userId).toBe('u1');
    expect(s2.versions()).toEqual({ active: 'v1', pending: 'v2' });
    s2.close();
  });
});
