import { deriveSeed, fmix32, hashString, Rng } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

function take(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextU32());
}

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    expect(take(new Rng(42), 50)).toEqual(take(new Rng(42), 50));
    expect(take(new Rng(42), 50)).not.toEqual(take(new Rng(43), 50));
    // Seeds are taken mod 2^32.
    expect(take(new Rng(-1), 5)).toEqual(take(new Rng(0xffffffff), 5));
    for (const v of take(new Rng(1), 1000)) {
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    }
  });

  it('resumes exactly from state()/setState()', () => {
    const a = new Rng(9);
    take(a, 17);
    const s = a.state();
    expect(s).toBeInstanceOf(Uint32Array);
    const expected = take(a, 20);
    const b = new Rng(123);
    take(b, 3);
    b.setState(s);
    expect(take(b, 20)).toEqual(expected);
    s[0] = 0; // state() is a copy
    expect(take(a, 1)).toEqual(take(b, 1));
  });

  it('setState() drops a cached normal deviate', () => {
    const a = new Rng(9);
    a.normal(); // the polar method caches a second deviate
    const s = a.state();
    const fresh = new Rng(0);
    fresh.setState(s);
    const reference = [fresh.normal(), fresh.normal()];
    a.setState(s);
    expect([a.normal(), a.normal()]).toEqual(reference);
  });

  it('nextInt(n) covers exactly [0, n)', () => {
    const rng = new Rng(5);
    for (const n of [1, 2, 3, 7, 1000]) {
      const seen = new Uint8Array(n);
      for (let i = 0; i < 20 * n + 50; i++) {
        const v = rng.nextInt(n);
        expect(Number.isInteger(v) && v >= 0 && v < n).toBe(true);
        seen[v] = 1;
      }
      expect(seen.every((x) => x === 1)).toBe(true);
    }
    for (let i = 0; i < 100; i++) {
      const v = rng.nextInt(2 ** 32);
      expect(v >= 0 && v < 2 ** 32).toBe(true);
    }
    for (let i = 0; i < 1000; i++) {
      const u = rng.next();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });

  it('normal() has mean 0 and variance 1; fillNormal scales by std', () => {
    const rng = new Rng(2024);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.normal();
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    // Standard errors: mean 1/sqrt(n) ≈ 0.0022, variance sqrt(2/n) ≈ 0.0032; allow ~5 SE.
    expect(Math.abs(mean)).toBeLessThan(0.012);
    expect(Math.abs(variance - 1)).toBeLessThan(0.016);
    const out = new Float64Array(100_000);
    new Rng(1).fillNormal(out, 0.1);
    let v = 0;
    for (const x of out) v += x * x;
    expect(Math.sqrt(v / out.length)).toBeCloseTo(0.1, 2);
  });

  it('shuffle() is a seeded permutation', () => {
    const a = Int32Array.from({ length: 100 }, (_, i) => i);
    const b = a.slice();
    new Rng(3).shuffle(a);
    new Rng(3).shuffle(b);
    expect(a).toEqual(b);
    expect(Array.from(a)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(a.slice().sort())).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('asFunction() draws from the same stream', () => {
    const f = new Rng(11).asFunction();
    const r = new Rng(11);
    expect([f(), f(), f()]).toEqual([r.next(), r.next(), r.next()]);
  });
});

describe('deriveSeed / hashString / fmix32', () => {
  it('derives stable, label-dependent seeds', () => {
    expect(deriveSeed(1, 'items')).toBe(deriveSeed(1, 'items'));
    expect(deriveSeed(1, 'items')).not.toBe(deriveSeed(1, 'users'));
    expect(deriveSeed(1, 'items')).not.toBe(deriveSeed(2, 'items'));
    expect(deriveSeed(1, 3)).toBe(deriveSeed(1, '3'));
    const seeds = new Set(Array.from({ length: 1000 }, (_, i) => deriveSeed(7, i)));
    expect(seeds.size).toBe(1000);
  });

  it('hashString is a uint32 and fmix32 is a bijection on a sample', () => {
    const h = hashString('compactrec');
    expect(h).toBe(hashString('compactrec'));
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    expect(fmix32(0)).toBe(0);
    const outs = new Set<number>();
    for (let i = 0; i < 100_000; i++) outs.add(fmix32(i * 2654435761));
    expect(outs.size).toBe(100_000);
  });
});
