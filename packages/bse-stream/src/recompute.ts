/**
 * The reference semantics of the encoder, from scratch: given the whole event log, each user's window
 * and BSE state recomputed in one pass with encodeBse (no incremental add/remove, no store, no Kafka).
 * Tests and `bse replay --verify` compare the service's state against it.
 */
import { type BseState, encodeBse, type SdimModelVersion } from '@compactrec/sdim';
import type { BehaviourEvent } from './codec.js';
import { createWindow, type Evicted, insertBehaviour, type UserWindow } from './window.js';

/** A user's recomputed window and state. */
export interface RecomputedUser {
  readonly window: UserWindow;
  readonly state: BseState;
}

/**
 * Recomputes every user's window (the L largest (ts, eventId) keys among distinct eventIds; the first
 * occurrence of an eventId wins) and its BSE state with `model`, over `events` in log order. Events
 * whose itemId is not a row of `model` are ignored (the service dead-letters them).
 */
export function recomputeStates(
  events: Iterable<BehaviourEvent>,
  model: SdimModelVersion,
  windowLength: number,
): Map<string, RecomputedUser> {
  const windows = new Map<string, UserWindow>();
  const evicted: Evicted = { item: 0, eventId: '', ts: 0 };
  for (const e of events) {
    if (!(e.itemId >= 0 && e.itemId < model.numItems)) continue;
    let w = windows.get(e.userId);
    if (!w) {
      w = createWindow(windowLength);
      windows.set(e.userId, w);
    }
    insertBehaviour(w, e.eventId, e.ts, e.itemId, evicted);
  }
  const out = new Map<string, RecomputedUser>();
  const dim = model.dim;
  const buf = new Float32Array(windowLength * dim);
  for (const [userId, w] of windows) {
    for (let i = 0; i < w.length; i++) {
      const item = w.items[i]!;
      buf.set(model.itemEmbeddings.subarray(item * dim, item * dim + dim), i * dim);
    }
    out.set(userId, { window: w, state: encodeBse(model.hasher, buf, w.length, model.version) });
  }
  return out;
}

/** Largest |a − b| over the sums, or Infinity when shapes, counts, lengths or versions differ. */
export function bseDistance(a: BseState, b: BseState): number {
  if (
    a.version !== b.version ||
    a.length !== b.length ||
    a.dim !== b.dim ||
    a.numSignatures !== b.numSignatures ||
    a.bucketsPerSignature !== b.bucketsPerSignature
  ) {
    return Number.POSITIVE_INFINITY;
  }
  for (let i = 0; i < a.counts.length; i++) if (a.counts[i] !== b.counts[i]) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.sums.length; i++) worst = Math.max(worst, Math.abs(a.sums[i]! - b.sums[i]!));
  return worst;
}

/** Whether two windows hold the same behaviours in the same order. */
export function sameWindow(a: UserWindow, b: UserWindow): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a.ts[i] !== b.ts[i] || a.items[i] !== b.items[i] || a.eventIds[i] !== b.eventIds[i]) return false;
  }
  return true;
}
