/**
 * Shared helpers of the `ctr serve` tests: small trained sequence models in model directories, users'
 * behaviour events, their windows, a BSE store built in-process, and the offline reference predictions.
 */
import { type BehaviourEvent, StateStore, type StoreRecord } from '@compactrec/bse-stream';
import { Rng } from '@compactrec/core';
import {
  type CtrModel,
  createSequenceCtrModel,
  openCtrData,
  SEQUENCE_EXTRAS,
  type SequenceCtrModel,
  type SequenceModelKind,
  saveSequenceCtrModel,
  trainCtr,
} from '@compactrec/ctr';
import { loadSdimModelVersion, type SdimModelVersion } from '@compactrec/sdim';
import type { Tf } from '@compactrec/tf-backend';

/** The data the test models train on: 60 users (ids 0..59), 200 items (ids 1..200), L = 32. */
export const SERVE_SPEC = 'users=60,items=200,clusters=8,length=32,perUser=4,dim=8';
export const SERVE_L = 32;
export const SERVE_ITEMS = 200;
export const SERVE_USERS = 60;

/** A trained sequence model, saved. */
export interface SavedModel {
  readonly seq: SequenceCtrModel;
  readonly dir: string;
  readonly version: string;
  /** SDIM: its BSE model version. */
  readonly bse: SdimModelVersion | null;
}

/** Trains `kind` for one epoch on {@link SERVE_SPEC} and saves it to `dir`. */
export async function trainSaved(
  tf: Tf,
  kind: SequenceModelKind,
  seed: number,
  dir: string,
  userTable: { method?: string; budget?: number; keepFullBelow?: number } = {},
): Promise<SavedModel> {
  const data = await openCtrData('seq-synthetic', SERVE_SPEC);
  const seq = createSequenceCtrModel(
    tf,
    data,
    { model: kind, dim: 8, mlp: [16], numHashes: 24, seed, ...userTable },
    { counts: data.train.counts() },
  );
  await trainCtr(seq.model, { train: data.train, valid: data.valid }, { epochs: 1, batchSize: 32, seed });
  const { bseVersion, files } = await saveSequenceCtrModel(seq, dir, { data: data.descriptor });
  const bseFile = files.find((f) => f.endsWith('.sdim'));
  return { seq, dir, version: bseVersion, bse: bseFile ? await loadSdimModelVersion(bseFile) : null };
}

/**
 * Events of users "0".."numUsers-1": user u gets a seeded number of events in [0, maxPerUser]
 * (so some have none: cold start; some more than L: evictions), items in 1..SERVE_ITEMS, ts increasing.
 */
export function makeEvents(
  seed: number,
  numUsers: number,
  maxPerUser: number,
  tsBase = 1_000_000,
  prefix = 'e',
): BehaviourEvent[] {
  const rng = new Rng(seed);
  const out: BehaviourEvent[] = [];
  for (let u = 0; u < numUsers; u++) {
    const k = u % 7 === 3 ? 0 : rng.nextInt(maxPerUser + 1);
    for (let j = 0; j < k; j++) {
      out.push({
        eventId: `${prefix}-${u}-${j}`,
        userId: String(u),
        itemId: 1 + rng.nextInt(SERVE_ITEMS),
        ts: tsBase + j * 10 + rng.nextInt(5),
      });
    }
  }
  return out;
}

/** Each user's window: the last `L` items by (ts, eventId), oldest first. */
export function windowsOf(events: readonly BehaviourEvent[], L: number): Map<string, Int32Array> {
  const by = new Map<string, BehaviourEvent[]>();
  for (const e of events) {
    const list = by.get(e.userId) ?? [];
    if (!list.some((x) => x.eventId === e.eventId)) list.push(e);
    by.set(e.userId, list);
  }
  const out = new Map<string, Int32Array>();
  for (const [u, list] of by) {
    list.sort((a, b) => a.ts - b.ts || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
    out.set(u, Int32Array.from(list.slice(-L).map((e) => e.itemId)));
  }
  return out;
}

/** The offline model's probabilities for one user's candidates with `history` (oldest first). */
export function offlinePredict(
  model: CtrModel,
  user: number,
  history: Int32Array,
  candidates: Int32Array,
  L: number,
): Float32Array {
  const n = candidates.length;
  const hists = new Int32Array(n * L);
  const len = Math.min(history.length, L);
  for (let i = 0; i < n; i++) hists.set(history.subarray(history.length - len), i * L);
  return model.predict({
    size: n,
    ids: new Int32Array(n).fill(user),
    labels: new Float32Array(n),
    dense: null,
    extras: {
      [SEQUENCE_EXTRAS.candidates]: candidates,
      [SEQUENCE_EXTRAS.histories]: hists,
      [SEQUENCE_EXTRAS.lengths]: new Int32Array(n).fill(len),
    },
  });
}

/** Builds a BSE store in-process (the encoder's own StateStore.apply), serving `model`. */
export function buildStore(
  stateDir: string,
  model: SdimModelVersion,
  events: readonly BehaviourEvent[],
  L: number,
): void {
  const store = StateStore.open(stateDir, { windowLength: L });
  try {
    store.requestVersion(model.version);
    const records: StoreRecord[] = events.map((event, offset) => ({ offset, event }));
    const r = store.apply('events', 0, records, { active: model });
    if (!r.ok) throw new Error(`buildStore: apply refused (store versions ${r.activeVersion}/${r.pendingVersion})`);
  } finally {
    store.close();
  }
}

/** Seeded candidate lists. */
export function candidatesFor(seed: number, n: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => 1 + rng.nextInt(SERVE_ITEMS));
}

/** max |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** POST JSON. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
