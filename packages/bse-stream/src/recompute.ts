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
 * The BSE state of a window under `model`, from scratch. The rule for items the model does not know
 * (itemId ≥ numItems, e.g. a window built under a model with more items, or a new item the model has
 * not learnt yet): they stay in the window and add nothing to this model's state, so `length` counts
 * the known items only. Live ingest follows the same rule. `buf` is scratch space (at least
 * window capacity × dim floats); only the rows of known items are written and used.
 */
export function encodeUserState(model: SdimModelVersion, w: UserWindow, buf?: Float32Array): BseState {
  const dim = model.dim;
  const scratch = buf && buf.length >= w.length * dim ? buf : new Float32Array(Math.max(1, w.length) * dim);
  let n = 0;
  for (let i = 0; i < w.length; i++) {
    const item = w.items[i]!;
    if (item >= model.numItems) continue;
    scratch.set(model.itemEmbeddings.subarray(item * dim, item * dim + dim), n * dim);
    n++;
  }
  return encodeBse(model.hasher, scratch, n, model.version);
}

/**
 * Recomputes every user's window (the L largest (ts, eventId) keys among distinct events, where
 * variants of one eventId count once: the largest ts wins, then the smallest itemId; see window.ts)
 * and its BSE state with `model` ({@link encodeUserState}), over `events` in any order.
 */
export function recomputeStates(
  events: Iterable<BehaviourEvent>,
  model: SdimModelVersion,
  windowLength: number,
): Map<string, RecomputedUser> {
  const windows = new Map<string, UserWindow>();
  const evicted: Evicted = { item: 0, eventId: '', ts: 0 };
  for (const e of events) {
    let w = windows.get(e.userId);
    if (!w) {
      w = createWindow(windowLength);
      windows.set(e.userId, w);
    }
    insertBehaviour(w, e.eventId, e.ts, e.itemId, evicted);
  }
  const out = new Map<string, RecomputedUser>();
  const buf = new Float32Array(windowLength * model.dim);
  for (const [userId, w] of windows) out.set(userId, { window: w, state: encodeUserState(model, w, buf) });
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
