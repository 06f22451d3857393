/**
 * A deterministic stream of behaviour events for load generation, tests and demos: users with a
 * skewed activity (a few heavy users, a long tail), items drawn uniformly, event times that mostly
 * increase, with a chosen share of producer-retry duplicates and of late (out-of-order) events.
 */
import { deriveSeed, InvalidArgumentError, Rng } from '@compactrec/core';
import type { BehaviourEvent } from './codec.js';

/** Options of {@link EventGenerator}. */
export interface EventGeneratorOptions {
  /** Seed of every random choice. @default 0 */
  seed?: number;
  /** Distinct users. @default 1000 */
  numUsers?: number;
  /** Item indices are drawn from [0, numItems). @default 1000 */
  numItems?: number;
  /** Event time of the first event, epoch ms. @default 1767225600000 (2026-01-01) */
  startTs?: number;
  /** Event-time step between consecutive events, ms. @default 10 */
  stepMs?: number;
  /** Share of events that repeat an earlier event verbatim (same eventId). @default 0 */
  duplicateRate?: number;
  /** Share of events whose ts is moved back by up to `maxLatenessMs`. @default 0 */
  lateRate?: number;
  /** Largest lateness, ms. @default 60000 */
  maxLatenessMs?: number;
  /** Prefix of user ids (`<prefix><n>`). @default 'u' */
  userPrefix?: string;
  /** Prefix of event ids (`<prefix><seq>`); give each producer its own. @default 'e' */
  eventPrefix?: string;
}

/** Defaults of {@link EventGeneratorOptions}. */
export const DEFAULT_EVENT_GENERATOR_OPTIONS: Readonly<Required<EventGeneratorOptions>> = Object.freeze({
  seed: 0,
  numUsers: 1000,
  numItems: 1000,
  startTs: 1_767_225_600_000,
  stepMs: 10,
  duplicateRate: 0,
  lateRate: 0,
  maxLatenessMs: 60_000,
  userPrefix: 'u',
  eventPrefix: 'e',
});

/** Generates events one at a time (`next()`), reproducibly from the seed. */
export class EventGenerator {
  private readonly o: Required<EventGeneratorOptions>;
  private readonly rng: Rng;
  private readonly recent: BehaviourEvent[] = [];
  private seq = 0;

  constructor(options: EventGeneratorOptions = {}) {
    const o = { ...DEFAULT_EVENT_GENERATOR_OPTIONS };
    for (const k of Object.keys(o) as (keyof EventGeneratorOptions)[]) {
      if (options[k] !== undefined) (o as Record<string, unknown>)[k] = options[k];
    }
    for (const k of ['numUsers', 'numItems'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) {
        throw new InvalidArgumentError(`bse-stream/EventGenerator: ${k} (${o[k]}) must be a positive integer`);
      }
    }
    for (const k of ['duplicateRate', 'lateRate'] as const) {
      if (!(o[k] >= 0 && o[k] < 1))
        throw new InvalidArgumentError(`bse-stream/EventGenerator: ${k} (${o[k]}) must be in [0, 1)`);
    }
    this.o = o;
    this.rng = new Rng(deriveSeed(o.seed, 'bse-stream/events'));
  }

  /** The next event (a fresh one, or a verbatim repeat of a recent one with probability duplicateRate). */
  next(): BehaviourEvent {
    const o = this.o;
    const rng = this.rng;
    if (this.recent.length > 0 && rng.next() < o.duplicateRate) {
      return this.recent[rng.nextInt(this.recent.length)]!;
    }
    // Skewed users: u = floor(N · x^2) puts ~30% of events on the first 10% of users.
    const x = rng.next();
    const user = Math.min(o.numUsers - 1, Math.floor(o.numUsers * x * x));
    let ts = o.startTs + this.seq * o.stepMs;
    if (o.lateRate > 0 && rng.next() < o.lateRate) ts = Math.max(0, ts - 1 - rng.nextInt(o.maxLatenessMs));
    const event: BehaviourEvent = {
      eventId: `${o.eventPrefix}${this.seq++}`,
      userId: `${o.userPrefix}${user}`,
      itemId: rng.nextInt(o.numItems),
      ts,
    };
    if (o.duplicateRate > 0) {
      if (this.recent.length < 256) this.recent.push(event);
      else this.recent[rng.nextInt(256)] = event;
    }
    return event;
  }

  /** The next `n` events. */
  take(n: number): BehaviourEvent[] {
    const out: BehaviourEvent[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next();
    return out;
  }
}
