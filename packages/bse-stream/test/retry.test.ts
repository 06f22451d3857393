import {
  backoffDelayMs,
  isRetriable,
  RetriesExhaustedError,
  resolveRetryOptions,
  withRetry,
} from '@compactrec/bse-stream';
import { CompactRecError, InvalidArgumentError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

const fast = resolveRetryOptions({ retries: 3, initialDelayMs: 1, maxDelayMs: 4, factor: 2, jitter: 0 });

describe('retry', () => {
  it('rejects invalid options', () => {
    expect(() => resolveRetryOptions({ retries: -1 })).toThrow(InvalidArgumentError);
    expect(() => resolveRetryOptions({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow(InvalidArgumentError);
    expect(() => resolveRetryOptions({ jitter: 1 })).toThrow(InvalidArgumentError);
    expect(() => resolveRetryOptions({ factor: 0.5 })).toThrow(InvalidArgumentError);
  });

  it('backs off exponentially up to the cap, with bounded jitter', () => {
    expect([0, 1, 2, 3, 4].map((a) => backoffDelayMs(a, fast))).toEqual([1, 2, 4, 4, 4]);
    const j = resolveRetryOptions({ initialDelayMs: 100, maxDelayMs: 100, jitter: 0.2 });
    expect(backoffDelayMs(0, j, () => 0)).toBe(80);
    expect(backoffDelayMs(0, j, () => 0.999999)).toBe(120);
  });

  it('only retries errors marked retriable', () => {
    expect(isRetriable(new CompactRecError('x', { retriable: true }))).toBe(true);
    expect(isRetriable(new CompactRecError('x'))).toBe(false);
    expect(isRetriable(Object.assign(new Error('kafka'), { retriable: true }))).toBe(true);
    expect(isRetriable(new Error('unknown'))).toBe(false);
    expect(isRetriable(Object.assign(new TypeError('bug'), { retriable: true }))).toBe(false);
  });

  it('retries until success, stops at once on a non-retriable error, and gives up after `retries`', async () => {
    let calls = 0;
    const v = await withRetry(
      'op',
      () => {
        if (++calls < 3) throw new CompactRecError('flaky', { retriable: true });
        return 'done';
      },
      fast,
    );
    expect(v).toBe('done');
    expect(calls).toBe(3);

    calls = 0;
    await expect(
      withRetry(
        'op',
        () => {
          calls++;
          throw new InvalidArgumentError('bad');
        },
        fast,
      ),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(calls).toBe(1);

    calls = 0;
    const err = await withRetry(
      'op',
      () => {
        calls++;
        throw new CompactRecError('down', { retriable: true });
      },
      fast,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect(calls).toBe(4);
  });
});
