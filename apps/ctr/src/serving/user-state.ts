/**
 * Where a sequence model's user state comes from: the streaming BSE encoder (`compactrec bse serve`).
 *
 * - {@link StoreUserStates} (co-located, `--bse-state-dir`): reads the encoder's SQLite store directly
 *   through its public `StateStore` (a WAL reader: never waits for ingest). Gives the user's BSE state
 *   AND the behaviour window, so the short-term module sees the user's last behaviours.
 * - {@link HttpUserStates} (`--bse-url`): the encoder's HTTP batch API (`POST /v1/bse:batchGet`). The
 *   API serves BSE states, not windows, so the request carries the short-term behaviours (`recentItems`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSums, STATE_DB_FILE, StateStore } from '@compactrec/bse-stream';
import { NotFoundError } from '@compactrec/core';
import { type BseState, deserializeBse } from '@compactrec/sdim';

/** A user's state as the predictor needs it. */
export interface UserState {
  /** The BSE state (any version: the predictor checks it), or null when the encoder has none. */
  readonly bse: BseState | null;
  /** The behaviour window (item ids, oldest first), or null when the source has no windows. */
  readonly window: Int32Array | null;
}

/** A source of user states. */
export interface UserStateSource {
  /** `'store'` or `'http'` (metrics label, responses). */
  readonly kind: 'store' | 'http';
  /** Whether it gives behaviour windows (else the request must carry `recentItems`). */
  readonly hasWindows: boolean;
  get(userId: string): Promise<UserState>;
  /** Throws with a one-line reason when the source cannot answer (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Reads the encoder's store folder directly. */
export class StoreUserStates implements UserStateSource {
  readonly kind = 'store' as const;
  readonly hasWindows = true;
  private store: StateStore | null = null;
  /** Reads that saw a window and a state of different lengths (an ingest commit between them) and re-read. */
  rereads = 0;

  /**
   * Reads `stateDir` (the encoder's `--state-dir`); `windowLength` must be the store's (the model's L).
   * The store is opened on first use, so the server may start before the encoder: until the encoder
   * has created it, reads fail with a NotFoundError (→ 503, and /readyz says why).
   */
  constructor(
    readonly stateDir: string,
    readonly windowLength: number,
  ) {}

  private open(): StateStore {
    if (this.store) return this.store;
    if (!existsSync(join(this.stateDir, STATE_DB_FILE))) {
      throw new NotFoundError(
        `ctr-app/StoreUserStates: '${this.stateDir}' has no ${STATE_DB_FILE} yet; start 'compactrec bse serve --state-dir ${this.stateDir}' (or pass the encoder's --state-dir)`,
      );
    }
    this.store = StateStore.open(this.stateDir, { windowLength: this.windowLength, stateCacheMiB: 0, cacheMiB: 16 });
    return this.store;
  }

  async get(userId: string): Promise<UserState> {
    return this.getSync(userId);
  }

  /**
   * The window and the served state. They are two reads; when an ingest commit falls between them the
   * lengths disagree (the state holds exactly the window's behaviours) and both are read again.
   */
  getSync(userId: string): UserState {
    const store = this.open();
    for (let attempt = 0; ; attempt++) {
      const w = store.getWindow(userId);
      const s = store.getState(userId);
      const window = w ? Int32Array.from(w.items.subarray(0, w.length)) : null;
      const bse = s ? deserializeBse(s.bytes) : null;
      if (attempt < 5 && window && bse && bse.length !== window.length) {
        this.rereads++;
        continue;
      }
      return { bse, window };
    }
  }

  async check(): Promise<void> {
    this.open().versions();
  }

  async close(): Promise<void> {
    this.store?.close();
    this.store = null;
  }
}

/** Reads states over the encoder's HTTP batch API. */
export class HttpUserStates implements UserStateSource {
  readonly kind = 'http' as const;
  readonly hasWindows = false;

  /**
   * `url`: the encoder's base URL, e.g. http://127.0.0.1:8080; `authToken`: its bearer token when it
   * requires one (bse serve --auth-token-file).
   */
  constructor(
    readonly url: string,
    private readonly timeoutMs = 2000,
    private readonly authToken?: string,
  ) {}

  async get(userId: string): Promise<UserState> {
    const res = await fetch(`${this.url}/v1/bse:batchGet`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.authToken ? { authorization: `Bearer ${this.authToken}` } : {}),
      },
      body: JSON.stringify({ userIds: [userId] }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`BSE service ${this.url} answered ${res.status} to batchGet`);
    const body = (await res.json()) as { results: Record<string, unknown>[] };
    const r = body.results[0];
    if (r?.found !== true) return { bse: null, window: null };
    const counts = Uint32Array.from(r.counts as number[]);
    return {
      bse: {
        version: String(r.version),
        dim: Number(r.dim),
        numSignatures: Number(r.numSignatures),
        bucketsPerSignature: Number(r.bucketsPerSignature),
        sums: decodeSums(String(r.sums), r.precision === 'float32' ? 'float32' : 'float64'),
        counts,
        length: Number(r.length),
      },
      window: null,
    };
  }

  async check(): Promise<void> {
    const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`BSE service ${this.url}/healthz answered ${res.status}`);
  }

  async close(): Promise<void> {}
}
