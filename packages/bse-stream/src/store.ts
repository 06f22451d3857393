/**
 * Layer 3: the durable state store (better-sqlite3, WAL mode). Per user: the behaviour window (see
 * window.ts) and one BSE state per model version being served or built. The consumed offset of every
 * partition lives in the SAME database and is written in the SAME transaction as the state changes it
 * covers, so after a crash at any instant the store holds exactly the effects of the events before its
 * stored offsets: the consumer resumes there (seek), nothing is lost and nothing is applied twice.
 *
 * Every apply also re-checks the stored offset inside its write transaction and skips records below
 * it, so two instances that briefly both hold a partition during a rebalance (a "zombie" batch) cannot
 * double-apply either: SQLite serialises the transactions (BEGIN IMMEDIATE), the second one sees the
 * first one's offset.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, InvalidArgumentError, UsageError } from '@compactrec/core';
import {
  bseAdd,
  bseRemove,
  createBseState,
  deserializeBse,
  type SdimModelVersion,
  serializeBse,
} from '@compactrec/sdim';
import Database from 'better-sqlite3';
import type { BehaviourEvent, DeadLetterReason } from './codec.js';
import { encodeUserState } from './recompute.js';
import { type CachedUser, type StateCacheStats, UserStateCache } from './state-cache.js';
import {
  createWindow,
  decodeWindow,
  type Evicted,
  encodeWindow,
  InsertOutcome,
  insertBehaviour,
  type UserWindow,
} from './window.js';

/** Options of {@link StateStore.open}. */
export interface StateStoreOptions {
  /** L, behaviours kept per user. Fixed for the life of a store (checked on open). @default 100 */
  windowLength?: number;
  /** How long a write waits for another process's write lock, ms. @default 10000 */
  busyTimeoutMs?: number;
  /** SQLite page cache per connection, MiB. @default 64 */
  cacheMiB?: number;
  /**
   * The writer's cache of decoded user states (see state-cache.ts for why it is always what the store
   * committed), MiB; 0 turns it off. @default 256
   */
  stateCacheMiB?: number;
  /**
   * WAL pages after which a commit checkpoints the WAL into the database file. Larger means fewer
   * checkpoints (a page rewritten by many transactions is copied once), but a bigger WAL and longer
   * checkpoints, which measurably raised the HTTP read p99 (1 → 2–3 ms at 16384) for no clear ingest gain
   * once transactions are large. @default 1000 (SQLite's default)
   */
  walAutocheckpointPages?: number;
  /**
   * Largest size of the database file, bytes (SQLite's max_page_count); 0 = no limit. A write beyond it
   * fails like a full disk (SQLITE_FULL): the consumer stops storing and health says so. @default 0
   */
  maxDbBytes?: number;
}

/** Defaults of {@link StateStoreOptions}. */
export const DEFAULT_STATE_STORE_OPTIONS: Readonly<Required<StateStoreOptions>> = Object.freeze({
  windowLength: 100,
  busyTimeoutMs: 10_000,
  cacheMiB: 64,
  stateCacheMiB: 256,
  walAutocheckpointPages: 1000,
  maxDbBytes: 0,
});

/**
 * A user's stored window failed its checksum (or cannot be decoded): the store cannot apply that
 * user's events without losing behaviours. The runner stops the partition instead of dead-lettering
 * good events; `bse replay` into a new state folder rebuilds it from the log.
 */
export class CorruptWindowError extends DataFormatError {
  constructor(
    readonly userId: string,
    cause: unknown,
  ) {
    super(
      'user window',
      0,
      `bse-stream/StateStore: the stored window of user '${userId}' is corrupted (${String((cause as Error)?.message ?? cause)}); ` +
        'its events are not applied; rebuild the state with `compactrec bse replay` into a new --state-dir',
    );
    this.name = 'CorruptWindowError';
  }
}

/** Where a partition's stored offset points: the next offset and the fingerprint of the record before it. */
export interface PartitionMark {
  readonly nextOffset: number;
  /** {@link recordFingerprint} of record nextOffset − 1 as applied, or undefined (stores written before it existed). */
  readonly fingerprint: number | undefined;
}

/** One consumed message as the store sees it: an event to apply, or a dead-lettered message to count. */
export type StoreRecord = (
  | { readonly offset: number; readonly event: BehaviourEvent; readonly reason?: undefined }
  | { readonly offset: number; readonly event?: undefined; readonly reason: DeadLetterReason }
) & {
  /** {@link recordFingerprint} of the Kafka record, stored with the offset it ends at (log identity check). */
  readonly fingerprint?: number;
};

/**
 * FNV-1a (32 bit) of a Kafka record's value and timestamp: stored with the offset after it, so that on
 * every assignment the runner can check that the record before the stored offset is still the one it
 * applied (a re-created topic or a changed offset shows up as a mismatch).
 */
export function recordFingerprint(value: Uint8Array | null, timestamp: number): number {
  let h = 0x811c9dc5;
  if (value) {
    for (let i = 0; i < value.length; i++) {
      h ^= value[i]!;
      h = Math.imul(h, 0x01000193);
    }
  }
  const t = String(timestamp);
  for (let i = 0; i < t.length; i++) {
    h ^= t.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The models an apply builds states with; must match the store's active/pending versions. */
export interface ApplyModels {
  readonly active: SdimModelVersion;
  readonly pending?: SdimModelVersion | undefined;
}

/** What one {@link StateStore.apply} did. */
export interface ApplyResult {
  /** False when the store's model versions changed under the caller: load them and call again. Nothing was written. */
  readonly ok: boolean;
  /** The store's versions (when !ok, the ones to load). */
  readonly activeVersion: string | undefined;
  readonly pendingVersion: string | undefined;
  /** Events that changed a window. */
  readonly applied: number;
  readonly duplicates: number;
  readonly tooOld: number;
  readonly deadLettered: number;
  /** Records below the stored offset (already applied by an earlier run or another instance). */
  readonly skipped: number;
  /** Stored next offset of the partition after the apply. */
  readonly nextOffset: number;
  /** Distinct users written. */
  readonly users: number;
}

/** A user's served state as stored: the serialized BSE (see sdim's serializeBse) and its version. */
export interface StoredState {
  readonly userId: string;
  readonly version: string;
  /** serializeBse bytes. */
  readonly bytes: Uint8Array;
}

/** Counter names kept in the store (exact across restarts, shared by instances). */
export type StoreCounter =
  | 'applied'
  | 'duplicates'
  | 'too_old'
  | 'users'
  | 'replaced'
  | 'unknown_items'
  | 'repaired_states'
  | 'rebuilt_users'
  | `dlq:${DeadLetterReason}`;

interface UserCtx extends CachedUser {
  readonly isNew: boolean;
}

/** An apply computed but not yet written (see {@link StateStore.prepareApply}). */
export interface ComputedApply {
  readonly topic: string;
  readonly partition: number;
  /** Stored next offset when computed (-1 = none). */
  readonly stored: number;
  /** The writer connection's PRAGMA data_version when computed. */
  readonly dataVersion: number;
  readonly users: Map<string, UserCtx>;
  /** Packed windows already encoded (by prepareApply), reused by the write. */
  readonly encoded: Map<string, Uint8Array>;
  readonly versions: SdimModelVersion[];
  readonly fingerprint: number | undefined;
  readonly counts: { replaced: number; unknownItems: number; repaired: number; newUsers: number };
  readonly dlq: Map<DeadLetterReason, number>;
  readonly result: ApplyResult;
}

/**
 * An apply computed by {@link StateStore.prepareApply} and not yet committed: `windows` are the changed
 * users' packed windows (what the changelog carries), `result` what the commit will report.
 */
export class PreparedApply {
  /** @internal */
  constructor(
    readonly computed: ComputedApply,
    readonly windows: readonly { userId: string; window: Uint8Array }[],
  ) {}
  get result(): ApplyResult {
    return this.computed.result;
  }
  /** The record fingerprint stored with the offset the chunk ends at (the log identity check). */
  get fingerprint(): number | undefined {
    return this.computed.fingerprint;
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offsets (topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, part));
CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, win BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS states (user_id TEXT NOT NULL, version TEXT NOT NULL, state BLOB NOT NULL,
  PRIMARY KEY (user_id, version));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** Name of the database file inside a state folder. */
export const STATE_DB_FILE = 'bse-state.sqlite';

/**
 * The encoder's durable state. One writer connection (transactions) and one reader connection (HTTP
 * reads never wait for a write: WAL readers see the last committed snapshot).
 */
export class StateStore {
  readonly windowLength: number;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly reader: Database.Database;
  private readonly s: ReturnType<StateStore['prepareWriter']>;
  private readonly r: ReturnType<StateStore['prepareReader']>;
  private readonly evicted: Evicted = { item: 0, eventId: '', ts: 0 };
  private readonly applyTx: Database.Transaction<StateStore['applyRecords']>;
  private readonly cache: UserStateCache;
  private closed = false;
  private repairedInTx = 0;

  private constructor(path: string, options: Required<StateStoreOptions>) {
    this.path = path;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: a commit is atomic and survives a process crash (SIGKILL); on power loss the last
    // transactions may roll back, together with their offsets, and are simply consumed again.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    this.db.pragma(`cache_size = -${options.cacheMiB * 1024}`);
    this.db.pragma('temp_store = MEMORY');
    this.db.pragma(`wal_autocheckpoint = ${options.walAutocheckpointPages}`);
    if (options.maxDbBytes > 0) {
      const page = this.db.pragma('page_size', { simple: true }) as number;
      this.db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxDbBytes / page))}`);
    }
    this.db.exec(SCHEMA);
    // Stores from before the log-identity check lack the fingerprint column.
    const cols = (this.db.prepare('PRAGMA table_info(offsets)').all() as { name: string }[]).map((c) => c.name);
    if (!cols.includes('last_fp')) this.db.exec('ALTER TABLE offsets ADD COLUMN last_fp INTEGER');
    // Partition-local state (multi-host): each user row names the input partition its events come from,
    // so one partition's users can be dropped and restored on their own. Older stores lack the column.
    const userCols = (this.db.prepare('PRAGMA table_info(users)').all() as { name: string }[]).map((c) => c.name);
    if (!userCols.includes('part')) this.db.exec('ALTER TABLE users ADD COLUMN part INTEGER');
    this.db.exec('CREATE INDEX IF NOT EXISTS users_part ON users (part)');
    this.windowLength = this.initMeta(options.windowLength);
    this.reader = new Database(path);
    this.reader.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    this.reader.pragma(`cache_size = -${options.cacheMiB * 1024}`);
    this.reader.pragma('query_only = 1');
    this.s = this.prepareWriter();
    this.r = this.prepareReader();
    this.applyTx = this.db.transaction(this.applyRecords.bind(this));
    this.cache = new UserStateCache(options.stateCacheMiB * 1024 * 1024);
  }

  /**
   * Opens (creating if needed) the store in folder `stateDir`. Several processes may open the same
   * folder (instances of one consumer group on one host); SQLite serialises their writes.
   */
  static open(stateDir: string, options: StateStoreOptions = {}): StateStore {
    const o = { ...DEFAULT_STATE_STORE_OPTIONS };
    for (const k of Object.keys(o) as (keyof StateStoreOptions)[]) if (options[k] !== undefined) o[k] = options[k]!;
    if (!Number.isInteger(o.windowLength) || o.windowLength < 1 || o.windowLength > 65535) {
      throw new InvalidArgumentError(
        `bse-stream/StateStore.open: windowLength (${o.windowLength}) must be an integer in [1, 65535]`,
      );
    }
    for (const k of ['cacheMiB', 'stateCacheMiB', 'walAutocheckpointPages', 'busyTimeoutMs', 'maxDbBytes'] as const) {
      if (!(Number.isFinite(o[k]) && o[k] >= 0)) {
        throw new InvalidArgumentError(`bse-stream/StateStore.open: ${k} (${o[k]}) must be a number ≥ 0`);
      }
    }
    if (typeof stateDir !== 'string' || stateDir === '') {
      throw new InvalidArgumentError('bse-stream/StateStore.open: stateDir must be a folder path; pass --state-dir');
    }
    mkdirSync(stateDir, { recursive: true });
    return new StateStore(join(stateDir, STATE_DB_FILE), o);
  }

  private initMeta(windowLength: number): number {
    const get = this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    return this.db
      .transaction(() => {
        const stored = get.get('windowLength') as string | undefined;
        if (stored === undefined) {
          this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('windowLength', String(windowLength));
          return windowLength;
        }
        if (Number(stored) !== windowLength) {
          throw new UsageError(
            `bse-stream/StateStore.open: the store was built with windowLength ${stored}, not ${windowLength}; ` +
              'use the same --window-length or rebuild into a new --state-dir with `bse replay`',
          );
        }
        return windowLength;
      })
      .immediate();
  }

  private prepareWriter() {
    const db = this.db;
    return {
      meta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      delMeta: db.prepare('DELETE FROM meta WHERE key = ?'),
      offset: db.prepare('SELECT next_offset FROM offsets WHERE topic = ? AND part = ?').pluck(),
      setOffset: db.prepare(
        'INSERT INTO offsets (topic, part, next_offset, last_fp) VALUES (?, ?, ?, ?) ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset, last_fp = excluded.last_fp',
      ),
      window: db.prepare('SELECT win FROM users WHERE user_id = ?').pluck(),
      setWindow: db.prepare(
        'INSERT INTO users (user_id, win) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET win = excluded.win',
      ),
      setWindowIn: db.prepare(
        'INSERT INTO users (user_id, win, part) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET win = excluded.win, part = excluded.part',
      ),
      dropStates: db.prepare('DELETE FROM states WHERE user_id IN (SELECT user_id FROM users WHERE part = ?)'),
      dropUsers: db.prepare('DELETE FROM users WHERE part = ?'),
      dropOffset: db.prepare('DELETE FROM offsets WHERE topic = ? AND part = ?'),
      state: db.prepare('SELECT state FROM states WHERE user_id = ? AND version = ?').pluck(),
      setState: db.prepare(
        'INSERT INTO states (user_id, version, state) VALUES (?, ?, ?) ON CONFLICT (user_id, version) DO UPDATE SET state = excluded.state',
      ),
      addCounter: db.prepare(
        'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
      ),
      missing: db.prepare(
        'SELECT u.user_id AS userId, u.win AS win FROM users u WHERE NOT EXISTS ' +
          '(SELECT 1 FROM states s WHERE s.user_id = u.user_id AND s.version = ?) LIMIT ?',
      ),
      deleteVersion: db.prepare('DELETE FROM states WHERE version = ?'),
      // Changes when ANOTHER connection commits (never for this one's own commits): the cache check.
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
  }

  private prepareReader() {
    const db = this.reader;
    return {
      meta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      state: db.prepare(
        "SELECT version, state FROM states WHERE user_id = ? AND version = (SELECT value FROM meta WHERE key = 'activeVersion')",
      ),
      stateOf: db.prepare('SELECT state FROM states WHERE user_id = ? AND version = ?').pluck(),
      window: db.prepare('SELECT win FROM users WHERE user_id = ?').pluck(),
      offsets: db.prepare('SELECT part, next_offset FROM offsets WHERE topic = ? ORDER BY part'),
      marks: db.prepare('SELECT part, next_offset, last_fp FROM offsets WHERE topic = ? ORDER BY part'),
      counters: db.prepare('SELECT name, value FROM counters'),
      users: db.prepare('SELECT user_id FROM users ORDER BY user_id').pluck(),
      partUsers: db.prepare('SELECT count(*) FROM users WHERE part = ?').pluck(),
      missing: db
        .prepare(
          'SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM states s WHERE s.user_id = u.user_id AND s.version = ?)',
        )
        .pluck(),
    };
  }

  private checkOpen(fn: string): void {
    if (this.closed) throw new UsageError(`bse-stream/StateStore.${fn}: the store is closed`);
  }

  /** The served version and the version being built (blue/green), as committed. */
  versions(): { active: string | undefined; pending: string | undefined } {
    this.checkOpen('versions');
    return {
      active: (this.r.meta.get('activeVersion') as string | undefined) ?? undefined,
      pending: (this.r.meta.get('pendingVersion') as string | undefined) ?? undefined,
    };
  }

  /**
   * Chooses the model version to serve. On an empty store (no active version) it becomes active at
   * once. Otherwise, if it differs from the active one, it becomes the pending version: every user is
   * re-encoded from its stored window ({@link reencodeStep}) while the active one keeps being served,
   * then it is switched in one transaction. Asking for the active version while another one is pending
   * keeps the pending switch (it is the operator's, and survives restarts) unless `cancelPending` is
   * set: then the pending version and its states are dropped and `cancelled` names it. Returns what the
   * store holds afterwards.
   */
  requestVersion(
    version: string,
    options: { cancelPending?: boolean } = {},
  ): { active: string; pending: string | undefined; cancelled?: string } {
    this.checkOpen('requestVersion');
    // It may delete a pending version's states: no cached entry survives it.
    this.cache.clear();
    return this.db
      .transaction(() => {
        const active = this.s.meta.get('activeVersion') as string | undefined;
        if (active === undefined) {
          this.s.setMeta.run('activeVersion', version);
          this.s.delMeta.run('pendingVersion');
          return { active: version, pending: undefined };
        }
        if (active === version) {
          const pending = this.s.meta.get('pendingVersion') as string | undefined;
          if (pending !== undefined && options.cancelPending === true) {
            this.s.delMeta.run('pendingVersion');
            this.s.deleteVersion.run(pending);
            return { active, pending: undefined, cancelled: pending };
          }
          return { active, pending };
        }
        const pending = this.s.meta.get('pendingVersion') as string | undefined;
        if (pending !== undefined && pending !== version) this.s.deleteVersion.run(pending);
        this.s.setMeta.run('pendingVersion', version);
        return { active, pending: version };
      })
      .immediate();
  }

  /** Next offset to consume per partition of `topic` (partitions never consumed are absent). */
  nextOffsets(topic: string): Map<number, number> {
    this.checkOpen('nextOffsets');
    const out = new Map<number, number>();
    for (const row of this.r.offsets.all(topic) as { part: number; next_offset: number }[]) {
      out.set(row.part, row.next_offset);
    }
    return out;
  }

  /** Next offset and the fingerprint of the record before it, per partition of `topic`. */
  partitionMarks(topic: string): Map<number, PartitionMark> {
    this.checkOpen('partitionMarks');
    const out = new Map<number, PartitionMark>();
    for (const row of this.r.marks.all(topic) as { part: number; next_offset: number; last_fp: number | null }[]) {
      out.set(row.part, { nextOffset: row.next_offset, fingerprint: row.last_fp ?? undefined });
    }
    return out;
  }

  /**
   * Applies consecutive records of one partition in ONE transaction: window updates, incremental BSE
   * add/remove for every version in `models`, counters, and the partition's next offset. Records below
   * the stored next offset are skipped. `records` must be in offset order. An item that is not a row of
   * a model stays in the window and adds nothing to that model's state (the rule of
   * {@link encodeUserState}). A user whose stored window is corrupted throws {@link CorruptWindowError}
   * (nothing is written); a corrupted state is rebuilt from the window (counted as `repaired_states`).
   */
  apply(topic: string, partition: number, records: readonly StoreRecord[], models: ApplyModels): ApplyResult {
    this.checkOpen('apply');
    try {
      return this.applyTx.immediate(topic, partition, records, models);
    } catch (err) {
      // The transaction rolled back, but cached entries may already hold some of its changes.
      this.cache.clear();
      throw err;
    }
  }

  /**
   * First half of an apply whose changes must reach a changelog before they are committed locally
   * (multi-host mode, see changelog.ts): computes what {@link apply} would write — the changed users'
   * windows and states and the partition's next offset — WITHOUT writing anything. Publish
   * {@link PreparedApply.windows} (Kafka transaction), then {@link commitPrepared}; if the publish fails,
   * call {@link abortPrepared}. Only one prepared apply may be open at a time and nothing else may
   * write a prepared partition's users in between (the runner applies one chunk at a time).
   */
  prepareApply(
    topic: string,
    partition: number,
    records: readonly StoreRecord[],
    models: ApplyModels,
  ): PreparedApply | ApplyResult {
    this.checkOpen('prepareApply');
    try {
      const c = this.computeApply(topic, partition, records, models);
      if (!c.result.ok) return c.result;
      const windows: { userId: string; window: Uint8Array }[] = [];
      for (const [userId, u] of c.users) {
        const bytes = encodeWindow(u.window);
        c.encoded.set(userId, bytes);
        windows.push({ userId, window: bytes });
      }
      return new PreparedApply(c, windows);
    } catch (err) {
      this.cache.clear();
      throw err;
    }
  }

  /**
   * Second half of a prepared apply: writes it in ONE transaction if the store still is where it was
   * prepared (same stored offset, versions and no other connection's commit); else writes nothing and
   * returns `ok: false` (prepare again — the changelog already holding the chunk is harmless: the
   * same events give the same windows).
   */
  commitPrepared(prepared: PreparedApply): ApplyResult {
    this.checkOpen('commitPrepared');
    const c = prepared.computed;
    try {
      return this.db
        .transaction(() => {
          const s = this.s;
          const stored = (s.offset.get(c.topic, c.partition) as number | undefined) ?? -1;
          const active = (s.meta.get('activeVersion') as string | undefined) ?? undefined;
          const pending = (s.meta.get('pendingVersion') as string | undefined) ?? undefined;
          if (
            stored !== c.stored ||
            active !== c.result.activeVersion ||
            pending !== c.result.pendingVersion ||
            (s.dataVersion.get() as number) !== c.dataVersion
          ) {
            this.cache.clear();
            return { ...c.result, ok: false, nextOffset: stored };
          }
          this.writeApply(c);
          return c.result;
        })
        .immediate();
    } catch (err) {
      this.cache.clear();
      throw err;
    }
  }

  /** Forgets a prepared apply that will not be committed (its changes live only in the cache). */
  abortPrepared(): void {
    this.cache.clear();
  }

  /**
   * Drops every user of input partition `partition` (windows and states) and its stored offset, in one
   * transaction: the start of a restore from the changelog. Returns the users dropped.
   */
  dropPartition(topic: string, partition: number): number {
    this.checkOpen('dropPartition');
    this.cache.clear();
    return this.db
      .transaction(() => {
        this.s.dropStates.run(partition);
        const n = this.s.dropUsers.run(partition).changes;
        this.s.dropOffset.run(topic, partition);
        return n;
      })
      .immediate();
  }

  /**
   * Writes restored users of input partition `partition` in one transaction: each packed window (its
   * checksum is checked; a bad one throws, nothing written) and the state of every model in `models`
   * encoded from it ({@link encodeUserState}, the same rule as live ingest). A later call for the same
   * user replaces it (changelog order: later wins).
   */
  restoreUsers(
    partition: number,
    entries: readonly { userId: string; window: Uint8Array }[],
    models: readonly SdimModelVersion[],
  ): void {
    this.checkOpen('restoreUsers');
    const L = this.windowLength;
    const bufs = models.map((m) => new Float32Array(L * m.dim));
    this.db
      .transaction(() => {
        for (const e of entries) {
          let w: UserWindow;
          try {
            w = decodeWindow(e.window, L);
          } catch (err) {
            throw new CorruptWindowError(e.userId, err);
          }
          this.s.setWindowIn.run(e.userId, e.window, partition);
          for (let v = 0; v < models.length; v++) {
            const m = models[v]!;
            this.s.setState.run(e.userId, m.version, serializeBse(encodeUserState(m, w, bufs[v])));
          }
        }
      })
      .immediate();
  }

  /** Sets the stored offset (and fingerprint of the record before it) of a partition: the end of a restore. */
  setPartitionMark(topic: string, partition: number, nextOffset: number, fingerprint: number | undefined): void {
    this.checkOpen('setPartitionMark');
    this.s.setOffset.run(topic, partition, nextOffset, fingerprint ?? null);
  }

  /** Users stored for input partition `partition` (rows written before partitions were recorded are not counted). */
  partitionUsers(partition: number): number {
    this.checkOpen('partitionUsers');
    return this.r.partUsers.get(partition) as number;
  }

  /**
   * Drops the writer's cache of decoded states (the runner calls it when partitions are assigned).
   * Never needed for correctness within one connection; it bounds the cache to the owned partitions.
   */
  invalidateCache(): void {
    this.cache.clear();
  }

  /** Hits, misses, invalidations and size of the writer's state cache. */
  cacheStats(): StateCacheStats {
    return this.cache.stats();
  }

  private applyRecords(
    topic: string,
    partition: number,
    records: readonly StoreRecord[],
    models: ApplyModels,
  ): ApplyResult {
    const c = this.computeApply(topic, partition, records, models);
    if (c.result.ok) this.writeApply(c);
    return c.result;
  }

  /** What an apply changes, computed from the store (and cache) without writing. */
  private computeApply(
    topic: string,
    partition: number,
    records: readonly StoreRecord[],
    models: ApplyModels,
  ): ComputedApply {
    const s = this.s;
    const active = (s.meta.get('activeVersion') as string | undefined) ?? undefined;
    const pending = (s.meta.get('pendingVersion') as string | undefined) ?? undefined;
    const stored = (s.offset.get(topic, partition) as number | undefined) ?? -1;
    const dataVersion = s.dataVersion.get() as number;
    const base = { activeVersion: active, pendingVersion: pending, users: 0 };
    const empty = {
      topic,
      partition,
      stored,
      dataVersion,
      users: new Map<string, UserCtx>(),
      encoded: new Map<string, Uint8Array>(),
      versions: [] as SdimModelVersion[],
      fingerprint: undefined,
      counts: { replaced: 0, unknownItems: 0, repaired: 0, newUsers: 0 },
      dlq: new Map<DeadLetterReason, number>(),
    };
    if (active !== models.active.version || pending !== models.pending?.version) {
      return {
        ...empty,
        result: {
          ...base,
          ok: false,
          applied: 0,
          duplicates: 0,
          tooOld: 0,
          deadLettered: 0,
          skipped: 0,
          nextOffset: stored,
        },
      };
    }
    const versions: SdimModelVersion[] = models.pending ? [models.active, models.pending] : [models.active];
    this.repairedInTx = 0;
    // Drop the cache if anyone else committed or the versions changed (under the write lock in apply()).
    this.cache.validate(dataVersion, pending === undefined ? active! : `${active}\u0000${pending}`);
    const users = new Map<string, UserCtx>();
    let applied = 0;
    let duplicates = 0;
    let tooOld = 0;
    let deadLettered = 0;
    let skipped = 0;
    let newUsers = 0;
    let replaced = 0;
    let unknownItems = 0;
    let next = stored;
    let fingerprint: number | undefined;
    const activeItems = models.active.numItems;
    const dlq = new Map<DeadLetterReason, number>();
    const L = this.windowLength;
    const evicted = this.evicted;
    for (const rec of records) {
      if (rec.offset < stored) {
        skipped++;
        continue;
      }
      next = rec.offset + 1;
      fingerprint = rec.fingerprint;
      if (rec.event === undefined) {
        deadLettered++;
        dlq.set(rec.reason, (dlq.get(rec.reason) ?? 0) + 1);
        continue;
      }
      const e = rec.event;
      let u = users.get(e.userId);
      if (u === undefined) {
        u = this.loadUser(e.userId, versions, L);
        if (u.isNew) newUsers++;
        users.set(e.userId, u);
      }
      const outcome = insertBehaviour(u.window, e.eventId, e.ts, e.itemId, evicted);
      if (outcome === InsertOutcome.Duplicate) {
        duplicates++;
        continue;
      }
      if (outcome === InsertOutcome.TooOld) {
        tooOld++;
        continue;
      }
      applied++;
      if (outcome === InsertOutcome.Replaced) replaced++;
      if (e.itemId >= activeItems) unknownItems++;
      const removes = outcome === InsertOutcome.AddedEvicted || outcome === InsertOutcome.Replaced;
      for (let v = 0; v < versions.length; v++) {
        const st = u.states[v];
        if (!st) continue;
        const m = versions[v]!;
        const dim = m.dim;
        // Items a model does not know add nothing to its state (same rule as encodeUserState).
        if (removes && evicted.item < m.numItems) {
          bseRemove(st, m.hasher, m.itemEmbeddings.subarray(evicted.item * dim, evicted.item * dim + dim));
        }
        if (e.itemId < m.numItems) {
          bseAdd(st, m.hasher, m.itemEmbeddings.subarray(e.itemId * dim, e.itemId * dim + dim));
        }
      }
    }
    const repaired = this.repairedInTx;
    this.repairedInTx = 0;
    return {
      topic,
      partition,
      stored,
      dataVersion,
      users,
      encoded: new Map(),
      versions,
      fingerprint,
      counts: { replaced, unknownItems, repaired, newUsers },
      dlq,
      result: {
        ...base,
        ok: true,
        applied,
        duplicates,
        tooOld,
        deadLettered,
        skipped,
        nextOffset: next,
        users: users.size,
      },
    };
  }

  /** Writes a computed apply (inside the caller's transaction). */
  private writeApply(c: ComputedApply): void {
    const s = this.s;
    const r = c.result;
    for (const [userId, u] of c.users) {
      s.setWindowIn.run(userId, c.encoded.get(userId) ?? encodeWindow(u.window), c.partition);
      for (let v = 0; v < c.versions.length; v++) {
        const st = u.states[v];
        if (st) s.setState.run(userId, c.versions[v]!.version, serializeBse(st));
      }
    }
    if (r.nextOffset !== c.stored) s.setOffset.run(c.topic, c.partition, r.nextOffset, c.fingerprint ?? null);
    if (r.applied) s.addCounter.run('applied', r.applied);
    if (c.counts.replaced) s.addCounter.run('replaced', c.counts.replaced);
    if (c.counts.unknownItems) s.addCounter.run('unknown_items', c.counts.unknownItems);
    if (c.counts.repaired) s.addCounter.run('repaired_states', c.counts.repaired);
    if (r.duplicates) s.addCounter.run('duplicates', r.duplicates);
    if (r.tooOld) s.addCounter.run('too_old', r.tooOld);
    if (c.counts.newUsers) s.addCounter.run('users', c.counts.newUsers);
    for (const [reason, n] of c.dlq) s.addCounter.run(`dlq:${reason}`, n);
  }

  /** A user's window and states: from the cache, else from the store (then cached), else new (then cached). */
  private loadUser(userId: string, versions: readonly SdimModelVersion[], L: number): UserCtx {
    const hit = this.cache.get(userId);
    if (hit !== undefined) return { window: hit.window, states: hit.states, isNew: false };
    const win = this.s.window.get(userId) as Uint8Array | undefined;
    let u: UserCtx;
    if (win === undefined) {
      u = {
        window: createWindow(L),
        states: versions.map((m) => createBseState(m.hasher, m.version)),
        isNew: true,
      };
    } else {
      let window: UserWindow;
      try {
        window = decodeWindow(win, L);
      } catch (err) {
        throw new CorruptWindowError(userId, err);
      }
      const states = versions.map((m) => {
        const bytes = this.s.state.get(userId, m.version) as Uint8Array | undefined;
        if (bytes === undefined) return null;
        try {
          return deserializeBse(bytes);
        } catch {
          // A state is a function of the window: rebuild it (the apply writes it back).
          this.repairedInTx++;
          return encodeUserState(m, window);
        }
      });
      u = { window, states, isNew: false };
    }
    // Cached now, mutated in place by the apply: valid once it commits, dropped by apply() if it throws.
    this.cache.set(userId, { window: u.window, states: u.states });
    return u;
  }

  /**
   * Builds up to `limit` missing states of the pending version `model` from the stored windows, in
   * one transaction. Returns how many it built, or -1 if `model` is no longer the pending version.
   */
  reencodeStep(model: SdimModelVersion, limit: number): number {
    this.checkOpen('reencodeStep');
    return this.db
      .transaction(() => {
        if (this.s.meta.get('pendingVersion') !== model.version) return -1;
        const rows = this.s.missing.all(model.version, limit) as { userId: string; win: Uint8Array }[];
        // Their cached entries lack this version's state: drop them (before writing, so a throw is safe).
        for (const row of rows) this.cache.delete(row.userId);
        const buf = new Float32Array(this.windowLength * model.dim);
        for (const row of rows) {
          let w: UserWindow;
          try {
            w = decodeWindow(row.win, this.windowLength);
          } catch (err) {
            throw new CorruptWindowError(row.userId, err);
          }
          this.s.setState.run(row.userId, model.version, serializeBse(encodeUserState(model, w, buf)));
        }
        return rows.length;
      })
      .immediate();
  }

  /**
   * Switches the served version to the pending `version` if every user has a state of it (in one
   * transaction, then drops the old version's states). Returns whether it switched.
   */
  completeReencode(version: string): boolean {
    this.checkOpen('completeReencode');
    this.cache.clear();
    return this.db
      .transaction(() => {
        if (this.s.meta.get('pendingVersion') !== version) return false;
        if ((this.s.missing.all(version, 1) as unknown[]).length > 0) return false;
        const old = this.s.meta.get('activeVersion') as string | undefined;
        this.s.setMeta.run('activeVersion', version);
        this.s.delMeta.run('pendingVersion');
        if (old !== undefined && old !== version) this.s.deleteVersion.run(old);
        return true;
      })
      .immediate();
  }

  /**
   * Rebuilds every stored state of `userId` whose bytes fail their checksum from the user's window, with
   * `models` (by version), in one transaction. Returns how many it rebuilt. Throws
   * {@link CorruptWindowError} when the window itself is corrupted.
   */
  repairUser(userId: string, models: ReadonlyMap<string, SdimModelVersion>): number {
    this.checkOpen('repairUser');
    this.cache.delete(userId);
    return this.db
      .transaction(() => {
        const win = this.s.window.get(userId) as Uint8Array | undefined;
        if (win === undefined) return 0;
        let w: UserWindow;
        try {
          w = decodeWindow(win, this.windowLength);
        } catch (err) {
          throw new CorruptWindowError(userId, err);
        }
        let n = 0;
        for (const [version, model] of models) {
          const bytes = this.s.state.get(userId, version) as Uint8Array | undefined;
          if (bytes === undefined) continue;
          try {
            deserializeBse(bytes);
          } catch {
            this.s.setState.run(userId, version, serializeBse(encodeUserState(model, w)));
            n++;
          }
        }
        if (n) this.s.addCounter.run('repaired_states', n);
        return n;
      })
      .immediate();
  }

  /**
   * Replaces a user's (corrupted) window with `window`, rebuilt from the log up to `upTo` (partition →
   * next offset), and writes its states for `models`, in one transaction, if the stored offsets of
   * `upTo`'s partitions are still those (else nothing is written and it returns false: read again).
   */
  rebuildUser(
    topic: string,
    userId: string,
    window: UserWindow,
    upTo: ReadonlyMap<number, number>,
    models: readonly SdimModelVersion[],
  ): boolean {
    this.checkOpen('rebuildUser');
    this.cache.delete(userId);
    return this.db
      .transaction(() => {
        for (const [p, next] of upTo) {
          if (((this.s.offset.get(topic, p) as number | undefined) ?? 0) !== next) return false;
        }
        this.s.setWindow.run(userId, encodeWindow(window));
        for (const m of models) this.s.setState.run(userId, m.version, serializeBse(encodeUserState(m, window)));
        this.s.addCounter.run('rebuilt_users', 1);
        return true;
      })
      .immediate();
  }

  /** Users still lacking a state of `version` (progress of a re-encode). */
  missingStates(version: string): number {
    this.checkOpen('missingStates');
    return this.r.missing.get(version) as number;
  }

  /** The served (active-version) state of a user, or undefined for an unknown user. */
  getState(userId: string): StoredState | undefined {
    this.checkOpen('getState');
    const row = this.r.state.get(userId) as { version: string; state: Uint8Array } | undefined;
    return row ? { userId, version: row.version, bytes: row.state } : undefined;
  }

  /** A user's state of a specific version (e.g. the pending one), or undefined. */
  getStateOf(userId: string, version: string): Uint8Array | undefined {
    this.checkOpen('getStateOf');
    return (this.r.stateOf.get(userId, version) as Uint8Array | undefined) ?? undefined;
  }

  /** A user's window, or undefined for an unknown user. */
  getWindow(userId: string): UserWindow | undefined {
    this.checkOpen('getWindow');
    const bytes = this.r.window.get(userId) as Uint8Array | undefined;
    return bytes === undefined ? undefined : decodeWindow(bytes, this.windowLength);
  }

  /** Every user id, sorted (for verification tools; O(users)). */
  userIds(): string[] {
    this.checkOpen('userIds');
    return this.r.users.all() as string[];
  }

  /** The store's counters (applied, duplicates, too_old, users, dlq:<reason>). */
  counters(): Map<string, number> {
    this.checkOpen('counters');
    const out = new Map<string, number>();
    for (const row of this.r.counters.all() as { name: string; value: number }[]) out.set(row.name, row.value);
    return out;
  }

  /** Users of input partition `partition`, sorted (for verification tools; O(users of it)). */
  userIdsOf(partition: number): string[] {
    this.checkOpen('userIdsOf');
    return this.reader
      .prepare('SELECT user_id FROM users WHERE part = ? ORDER BY user_id')
      .pluck()
      .all(partition) as string[];
  }

  /** A value of the store's meta table (e.g. `mode`), or undefined. */
  metaValue(key: string): string | undefined {
    this.checkOpen('metaValue');
    return (this.r.meta.get(key) as string | undefined) ?? undefined;
  }

  /** Sets a value of the store's meta table. */
  setMetaValue(key: string, value: string): void {
    this.checkOpen('setMetaValue');
    this.s.setMeta.run(key, value);
  }

  /** True when the store holds no users and no offsets (a fresh replay target). */
  isEmpty(): boolean {
    this.checkOpen('isEmpty');
    const users = this.reader.prepare('SELECT count(*) FROM users').pluck().get() as number;
    const offsets = this.reader.prepare('SELECT count(*) FROM offsets').pluck().get() as number;
    return users === 0 && offsets === 0;
  }

  /** Closes both connections (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
    this.db.close();
  }
}
