/**
 * The writer's cache of decoded user states (window + one BSE state per model version), so an apply
 * does not read and decode every touched user from SQLite again. It is a cache of what THIS
 * connection last committed, and it must never hold anything else. The rules (enforced by
 * {@link StateStore}, tested in test/state-cache.test.ts):
 *
 * 1. Write-through: an apply mutates the cached entries and writes the same values in the same
 *    transaction. If the transaction throws (poison record, busy store, I/O error) the whole cache is
 *    dropped, because the in-memory entries may hold changes that rolled back.
 * 2. Another connection's commit (another instance sharing the store after a rebalance, a re-encode or
 *    version switch by another process) changes SQLite's `PRAGMA data_version`. Each apply reads it
 *    under the write lock (`BEGIN IMMEDIATE`) and drops the cache if it moved since the last check.
 * 3. A different pair of (active, pending) model versions drops the cache, and so does every
 *    non-apply write of this connection (version requests, switches); re-encoded users are dropped
 *    one by one.
 * 4. On partition (re)assignment the runner drops the cache too, which bounds it to the users of the
 *    partitions owned now.
 *
 * Bounded by bytes (least recently used entries go first). Not thread-safe: one per writer connection.
 */
import { InvalidArgumentError } from '@compactrec/core';
import type { BseState } from '@compactrec/sdim';
import type { UserWindow } from './window.js';

/** One cached user, as last committed by the writer. */
export interface CachedUser {
  readonly window: UserWindow;
  /** States in the order of the cache's model versions (active, pending); null = no row of that version. */
  readonly states: (BseState | null)[];
}

/** Counters of a {@link UserStateCache}, for metrics and tests. */
export interface StateCacheStats {
  /** Users found in the cache. */
  readonly hits: number;
  /** Users read from the store. */
  readonly misses: number;
  /** Whole-cache drops (data_version moved, versions changed, failed transaction, reassignment). */
  readonly invalidations: number;
  /** Entries dropped to stay within the byte budget. */
  readonly evictions: number;
  /** Entries now. */
  readonly users: number;
  /** Estimated bytes now. */
  readonly bytes: number;
}

/** Rough heap bytes of an entry: typed arrays plus the event-id strings and object overhead. */
export function cachedUserBytes(u: CachedUser): number {
  const w = u.window;
  let b = 256 + w.ts.byteLength + w.items.byteLength + w.eventIds.length * 48;
  for (const s of u.states) if (s) b += s.sums.byteLength + s.counts.byteLength + 128;
  return b;
}

/** LRU map of user id → decoded state, tagged with the store snapshot it is valid for. */
export class UserStateCache {
  readonly maxBytes: number;
  private readonly map = new Map<string, { user: CachedUser; bytes: number }>();
  private bytes = 0;
  private dataVersion: number | undefined;
  private versionsKey: string | undefined;
  private hits = 0;
  private misses = 0;
  private invalidations = 0;
  private evictions = 0;

  /** `maxBytes` 0 disables caching (every lookup misses, nothing is kept). */
  constructor(maxBytes: number) {
    if (!Number.isFinite(maxBytes) || maxBytes < 0) {
      throw new InvalidArgumentError(`bse-stream/UserStateCache: maxBytes (${maxBytes}) must be a number ≥ 0`);
    }
    this.maxBytes = maxBytes;
  }

  /**
   * Checks the cache against the store as seen inside the current write transaction: drops everything
   * unless `dataVersion` (SQLite's PRAGMA data_version of the writer connection) and the model versions
   * are the ones the cache was filled under. Returns whether the cache was kept.
   */
  validate(dataVersion: number, versionsKey: string): boolean {
    const kept = this.dataVersion === dataVersion && this.versionsKey === versionsKey;
    if (!kept) {
      if (this.map.size > 0) this.clear();
      this.dataVersion = dataVersion;
      this.versionsKey = versionsKey;
    }
    return kept;
  }

  /** The entry of `userId` (marked most recently used), or undefined. Counts a hit or a miss. */
  get(userId: string): CachedUser | undefined {
    const e = this.map.get(userId);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(userId);
    this.map.set(userId, e);
    return e.user;
  }

  /** Adds or replaces an entry (as most recently used), evicting the least recently used ones over budget. */
  set(userId: string, user: CachedUser): void {
    if (this.maxBytes === 0) return;
    const old = this.map.get(userId);
    if (old !== undefined) {
      this.bytes -= old.bytes;
      this.map.delete(userId);
    }
    const bytes = cachedUserBytes(user);
    this.map.set(userId, { user, bytes });
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) {
      for (const [id, e] of this.map) {
        if (this.bytes <= this.maxBytes || id === userId) break;
        this.map.delete(id);
        this.bytes -= e.bytes;
        this.evictions++;
      }
    }
  }

  /** Drops one user's entry. */
  delete(userId: string): void {
    const e = this.map.get(userId);
    if (e === undefined) return;
    this.map.delete(userId);
    this.bytes -= e.bytes;
  }

  /** Drops every entry and forgets the snapshot tag (the next {@link validate} starts afresh). */
  clear(): void {
    if (this.map.size > 0 || this.dataVersion !== undefined) this.invalidations++;
    this.map.clear();
    this.bytes = 0;
    this.dataVersion = undefined;
    this.versionsKey = undefined;
  }

  /** Whether `userId` has an entry (does not touch the LRU order or the counters). */
  has(userId: string): boolean {
    return this.map.has(userId);
  }

  /** Counters and size. */
  stats(): StateCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      invalidations: this.invalidations,
      evictions: this.evictions,
      users: this.map.size,
      bytes: this.bytes,
    };
  }
}
