import { InvalidArgumentError } from '@compactrec/core';
import { DEFAULT_DSL_OPTIONS, DslTable, pruneRateAt } from '@compactrec/dsl';
import { describe, expect, it } from 'vitest';

describe('DslOptions', () => {
  it('should have the documented frozen defaults', () => {
    expect(DEFAULT_DSL_OPTIONS).toEqual({
      density: 0.5,
      updateInterval: 1000,
      pruneRateStart: 0.5,
      pruneRateEnd: 0.005,
      schedule: 'cosine',
      growth: 'accumulated',
      seed: 0,
    });
    expect(Object.isFrozen(DEFAULT_DSL_OPTIONS)).toBe(true);
  });

  it('should reject invalid options with InvalidArgumentError', () => {
    const bad: object[] = [
      { density: 0 },
      { density: 1.5 },
      { density: Number.NaN },
      { updateInterval: 0 },
      { updateInterval: 2.5 },
      { pruneRateStart: -0.1 },
      { pruneRateEnd: 2 },
      { schedule: 'linear' },
      { growth: 'momentum' },
      { seed: 1.5 },
    ];
    for (const o of bad) expect(() => new DslTable(4, 4, 10, o), JSON.stringify(o)).toThrow(InvalidArgumentError);
    expect(() => new DslTable(0, 4, 10)).toThrow(InvalidArgumentError);
    expect(() => new DslTable(4, 4, 0)).toThrow(InvalidArgumentError);
  });

  it('should treat undefined fields as defaults', () => {
    const t = new DslTable(4, 4, 10, { density: undefined, growth: 'batch' });
    expect(t.options.density).toBe(0.5);
    expect(t.options.growth).toBe('batch');
  });
});

describe('prune-rate schedule', () => {
  it('should follow r_t = r_min + (r_0 − r_min)(1 + cos(π t/T))/2 for the cosine schedule', () => {
    const T = 10_000;
    const t = new DslTable(8, 8, T, { pruneRateStart: 0.5, pruneRateEnd: 0.005 });
    expect(t.pruneRate(0)).toBeCloseTo(0.5, 12);
    expect(t.pruneRate(T / 2)).toBeCloseTo(0.2525, 12);
    expect(t.pruneRate(T)).toBeCloseTo(0.005, 12);
    for (const step of [1, 123, 1000, 3333, 7777, 9999]) {
      const expected = 0.005 + ((0.5 - 0.005) * (1 + Math.cos((Math.PI * step) / T))) / 2;
      expect(t.pruneRate(step)).toBeCloseTo(expected, 12);
    }
    // Monotone decreasing over the run; clamped past T.
    for (let s = 100; s <= T; s += 100) expect(t.pruneRate(s)).toBeLessThan(t.pruneRate(s - 100));
    expect(t.pruneRate(2 * T)).toBeCloseTo(0.005, 12);
  });

  it('should keep r_0 throughout with the constant schedule', () => {
    const opts = { pruneRateStart: 0.3, pruneRateEnd: 0.01, schedule: 'constant' as const };
    for (const step of [0, 1, 500, 1000, 5000]) expect(pruneRateAt(step, 1000, opts)).toBe(0.3);
  });

  it('should prune ⌈r_t · nnz⌉ weights per update', () => {
    const t = new DslTable(50, 8, 1000, { density: 0.5, updateInterval: 10 });
    expect(t.activeCount).toBe(200);
    for (const step of [10, 250, 500, 990]) {
      expect(t.pruneCount(step)).toBe(Math.ceil(t.pruneRate(step) * 200 - 1e-9));
    }
    expect(t.pruneCount(0)).toBe(100);
    expect(t.pruneCount(1000)).toBe(1);
    expect(new DslTable(4, 4, 10, { density: 1 }).pruneCount(5)).toBe(0);
  });
});
