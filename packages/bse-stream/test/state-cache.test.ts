import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BehaviourEvent,
  bseDistance,
  type CachedUser,
  cachedUserBytes,
  createWindow,
  EventGenerator,
  recomputeStates,
  StateStore,
  type StoreRecord,
  sameWindow,
  UserStateCache,
} from '@compactrec/bse-stream';
import { InvalidArgumentError } from '@compactrec/core';
import { createBseState, createSdimModelVersion, deserializeBse, type SdimModelVersion } from '@compactrec/sdim';
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

function entry(model: SdimModelVersion = v1, L = 8): CachedUser {
  return { window: createWindow(L), states: [createBseState(model.hasher, model.version)] };
}

describe('UserStateCache', () => {
  it('rejects a bad budget', () => {
    expect(() => new UserStateCache(-1)).toThrow(InvalidArgumentError);
    expect(() => new UserStateCache(Number.NaN)).toThrow(InvalidArgumentError);
  });

  it('keeps entries only while the data version and the model versions stay the same', () => {
    const c = new UserStateCache(1 << 20);
    expect(c.validate(1, 'v1')).toBe(false); // first fill
    c.set('a', entry());
    expect(c.validate(1, 'v1')).toBe(true);
    expect(c.get('a')).toBeDefined();
    expect(c.validate(2, 'v1')).toBe(false); // another connection committed
    expect(c.get('a')).toBeUndefined();
    c.set('a', entry());
    expect(c.validate(2, 'v1\u0000v2')).toBe(false); // a version switch began
    expect(c.has('a')).toBe(false);
    const s = c.stats();
    expect(s.invalidations).toBe(2);
    expect(s.hits).toBe(1);
    expect(s.misses).toBe(1);
  });

  it('evicts the least recently used entries beyond its byte budget', () => {
    const one = cachedUserBytes(entry());
    const c = new UserStateCache(one * 3);
    c.validate(1, 'v1');
    for (const id of ['a', 'b', 'c']) c.set(id, entry());
    c.get('a'); // a is now the most recently used; b is the oldest
    c.set('d', entry());
    expect(c.has('b')).toBe(false);
    expect(['a', 'c', 'd'].every((id) => c.has(id))).toBe(true);
    expect(c.stats().evictions).toBe(1);
    expect(c.stats().bytes).toBe(one * 3);
    c.delete('a');
    expect(c.stats()).toMatchObject({ users: 2, bytes: one * 2 });
  });

  it('keeps nothing with a zero budget', () => {
    const c = new UserStateCache(0);
    c.validate(1, 'v1');
    c.set('a', entry());
    expect(c.get('a')).toBeUndefined();
    expect(c.stats().users).toBe(0);
  });
});

describe('StateStore with the state cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bse-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('serves repeated users from the cache and writes exactly what an uncached store writes', () => {
    const events = new EventGenerator({ seed: 7, numUsers: 15, numItems: 50, duplicateRate: 0.1, lateRate: 0.2 }).take(
      2000,
    );
    const cached = StateStore.open(join(dir, 'a'), { windowLength: 8 });
    const plain = StateStore.open(join(dir, 'b'), { windowLength: 8, stateCacheMiB: 0 });
    for (const s of [cached, plain]) {
      s.requestVersion('v1');
      for (let i = 0; i < events.length; i += 100)
        s.apply('t', 0, records(events.slice(i, i + 100), i), { active: v1 });
    }
    expect(cached.cacheStats().hits).toBeGreaterThan(200);
    expect(cached.cacheStats().misses).toBe(15);
    expect(plain.cacheStats().hits).toBe(0);
    for (const id of plain.userIds()) {
      expect(Buffer.from(cached.getState(id)!.bytes).equals(Buffer.from(plain.getState(id)!.bytes))).toBe(true);
    }
    expectMatchesRecompute(cached, events, 8);
    cached.close();
    plain.close();
  });

  it("drops the cache when another connection committed (a rebalance's new owner), never applying on a stale state", () => {
    const events = new EventGenerator({ seed: 8, numUsers: 4, numItems: 50 }).take(600);
    const a = StateStore.open(dir, { windowLength: 8 });
    const b = StateStore.open(dir, { windowLength: 8 });
    a.requestVersion('v1');
    a.apply('t', 0, records(events.slice(0, 200)), { active: v1 }); // a caches the 4 users
    // b writes the same users (through another partition: users may span partitions).
    b.apply('t', 1, records(events.slice(200, 400)), { active: v1 });
    const before = a.cacheStats().invalidations;
    a.apply('t', 0, records(events.slice(400), 200), { active: v1 });
    expect(a.cacheStats().invalidations).toBe(before + 1);
    expectMatchesRecompute(a, events, 8);
    a.close();
    b.close();
  });

  it('drops the cache when a transaction fails, so rolled-back changes are never applied', () => {
    const good = new EventGenerator({ seed: 9, numUsers: 3, numItems: 50 }).take(40);
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    store.apply('t', 0, records(good.slice(0, 20)), { active: v1 });
    // A chunk whose last record cannot be written (a null user id breaks the NOT NULL key): the whole
    // chunk rolls back after its good records were already applied to the cached windows and states.
    const poison = { eventId: 'poison', userId: null, itemId: 1, ts: 9e12 } as unknown as BehaviourEvent;
    expect(() => store.apply('t', 0, records([...good.slice(20), poison], 20), { active: v1 })).toThrow();
    expect(store.nextOffsets('t').get(0)).toBe(20);
    // The runner's retry without the poison record must start from the committed state.
    store.apply('t', 0, records(good.slice(20), 20), { active: v1 });
    expectMatchesRecompute(store, good, 8);
    expect(store.getWindow(good[0]!.userId)!.eventIds).not.toContain('poison');
    store.close();
  });

  it('keeps both versions right through re-encode, cancel and switch (re-encoded users leave the cache)', () => {
    const events = new EventGenerator({ seed: 10, numUsers: 12, numItems: 50, lateRate: 0.1 }).take(1200);
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    store.apply('t', 0, records(events.slice(0, 300)), { active: v1 });
    store.requestVersion('v2');
    // Cached with no v2 state yet; then v2 is built for some of them from their windows.
    store.apply('t', 0, records(events.slice(300, 500), 300), { active: v1, pending: v2 });
    expect(store.reencodeStep(v2, 6)).toBe(6);
    // Ingest must now keep the re-encoded users' v2 states current, not the cached "no v2 yet".
    store.apply('t', 0, records(events.slice(500, 700), 500), { active: v1, pending: v2 });
    // Cancel (drops the v2 states) and request again.
    expect(store.requestVersion('v1', { cancelPending: true })).toEqual({
      active: 'v1',
      pending: undefined,
      cancelled: 'v2',
    });
    store.apply('t', 0, records(events.slice(700, 900), 700), { active: v1 });
    expect(store.requestVersion('v2')).toEqual({ active: 'v1', pending: 'v2' });
    expect(store.missingStates('v2')).toBe(12);
    store.apply('t', 0, records(events.slice(900, 1000), 900), { active: v1, pending: v2 });
    while (store.reencodeStep(v2, 5) > 0);
    store.apply('t', 0, records(events.slice(1000, 1100), 1000), { active: v1, pending: v2 });
    expect(store.completeReencode('v2')).toBe(true);
    store.apply('t', 0, records(events.slice(1100), 1100), { active: v2 });
    expectMatchesRecompute(store, events, 8, v2);
    store.close();
  });

  it('can be dropped on demand (partition reassignment)', () => {
    const events = new EventGenerator({ seed: 12, numUsers: 3, numItems: 50 }).take(50);
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('v1');
    store.apply('t', 0, records(events), { active: v1 });
    expect(store.cacheStats().users).toBe(3);
    store.invalidateCache();
    expect(store.cacheStats().users).toBe(0);
    store.close();
  });

  it('rejects bad cache and checkpoint options', () => {
    expect(() => StateStore.open(dir, { stateCacheMiB: -1 })).toThrow(InvalidArgumentError);
    expect(() => StateStore.open(dir, { walAutocheckpointPages: Number.NaN })).toThrow(InvalidArgumentError);
  });
});
