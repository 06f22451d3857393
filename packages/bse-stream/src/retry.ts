/**
 * The one retry policy of the service: exponential backoff with random jitter, for every operation that
 * talks to the broker or may hit a busy store. Tests pass fast values ({@link FAST_RETRY_OPTIONS}).
 * Only errors marked `retriable: true` (CompactRecError, kafkajs errors) are retried; unknown errors and
 * programmer errors are not, so a bug never turns into an endless loop.
 */
import { CompactRecError, InvalidArgumentError } from '@compactrec/core';

/** Options of {@link withRetry} and the Kafka client's own retries. */
export interface RetryOptions {
  /** Retries after the first attempt (0 = try once). @default 8 */
  retries?: number;
  /** Delay before the first retry, ms. @default 200 */
  initialDelayMs?: number;
  /** Upper bound of one delay, ms. @default 10000 */
  maxDelayMs?: number;
  /** Growth factor of the delay per retry. @default 2 */
  factor?: number;
  /** Random jitter as a fraction of the delay: delay × (1 ± jitter). @default 0.2 */
  jitter?: number;
}

/** Production defaults of {@link RetryOptions}: ~8 retries spanning about a minute. */
export const DEFAULT_RETRY_OPTIONS: Readonly<Required<RetryOptions>> = Object.freeze({
  retries: 8,
  initialDelayMs: 200,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.2,
});

/** Fast values for tests: same shape of policy, millisecond delays. */
export const FAST_RETRY_OPTIONS: Readonly<Required<RetryOptions>> = Object.freeze({
  retries: 20,
  initialDelayMs: 50,
  maxDelayMs: 1000,
  factor: 1.5,
  jitter: 0.2,
});

/** Merges `options` over the defaults once and checks the ranges. */
export function resolveRetryOptions(options: RetryOptions = {}): Required<RetryOptions> {
  const o = { ...DEFAULT_RETRY_OPTIONS };
  for (const k of Object.keys(o) as (keyof RetryOptions)[]) {
    const v = options[k];
    if (v !== undefined) o[k] = v;
  }
  if (!Number.isInteger(o.retries) || o.retries < 0) {
    throw new InvalidArgumentError(`bse-stream/retry: retries (${o.retries}) must be a non-negative integer`);
  }
  if (!(o.initialDelayMs >= 0) || !(o.maxDelayMs >= o.initialDelayMs)) {
    throw new InvalidArgumentError(
      `bse-stream/retry: need 0 ≤ initialDelayMs (${o.initialDelayMs}) ≤ maxDelayMs (${o.maxDelayMs})`,
    );
  }
  if (!(o.factor >= 1)) throw new InvalidArgumentError(`bse-stream/retry: factor (${o.factor}) must be ≥ 1`);
  if (!(o.jitter >= 0 && o.jitter < 1))
    throw new InvalidArgumentError(`bse-stream/retry: jitter (${o.jitter}) must be in [0, 1)`);
  return o;
}

/** Delay before retry number `attempt` (0-based): min(max, initial × factor^attempt) × (1 ± jitter·u), u = `random()` in [0,1). */
export function backoffDelayMs(
  attempt: number,
  options: Required<RetryOptions>,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** attempt);
  return Math.max(0, Math.round(base * (1 + options.jitter * (2 * random() - 1))));
}

/** Whether an error may go away on retry: only errors that say so (`retriable === true`). */
export function isRetriable(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false;
  if (err instanceof CompactRecError) return err.retriable;
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}

/** Thrown when every attempt of {@link withRetry} failed with a retriable error; `cause` is the last one. */
export class RetriesExhaustedError extends CompactRecError {
  constructor(what: string, attempts: number, cause: unknown) {
    super(
      `bse-stream/withRetry: ${what} failed ${attempts} times; last error: ${String((cause as Error)?.message ?? cause)}`,
      {
        cause,
        retriable: true,
        context: { what, attempts },
      },
    );
    this.name = 'RetriesExhaustedError';
  }
}

/**
 * Runs `fn` until it succeeds, retrying retriable errors with backoff. Non-retriable errors are rethrown
 * at once. `shouldStop()` (e.g. the service is shutting down) ends the waiting early with the last error.
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T> | T,
  options: Required<RetryOptions>,
  shouldStop: () => boolean = () => false,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetriable(err)) throw err;
      if (attempt >= options.retries || shouldStop()) throw new RetriesExhaustedError(what, attempt + 1, err);
      await sleep(backoffDelayMs(attempt, options));
    }
  }
}

/** Promise-based sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The same policy in kafkajs's `retry` option shape (used by the transport only). */
export function toKafkaRetry(options: Required<RetryOptions>): {
  retries: number;
  initialRetryTime: number;
  maxRetryTime: number;
  factor: number;
  multiplier: number;
} {
  return {
    retries: options.retries,
    initialRetryTime: Math.max(1, options.initialDelayMs),
    maxRetryTime: Math.max(1, options.maxDelayMs),
    factor: options.jitter,
    multiplier: options.factor,
  };
}
