import { EmbeddingTable, InvalidArgumentError, Rng, SparseGradAccumulator } from '@compactrec/core';
import { describe, expect, it } from 'vitest';

describe('EmbeddingTable', () => {
  it('validates its shape', () => {
    expect(() => new EmbeddingTable(0, 4)).toThrow(InvalidArgumentError);
    expect(() => new EmbeddingTable(3, 1.5)).toThrow(InvalidArgumentError);
    expect(() => new EmbeddingTable(3, 4, new Float32Array(11))).toThrow(InvalidArgumentError);
  });

  it('exposes rows as views, gathers rows and reports bytes', () => {
    const t = new EmbeddingTable(3, 2, Float32Array.of(1, 2, 3, 4, 5, 6));
    expect(t.bytes).toBe(24);
    t.row(1)[0] = 30; // a view, not a copy
    expect(t.data[2]).toBe(30);
    const out = new Float32Array(6);
    t.gather(Int32Array.of(2, 0, 2), out);
    expect(Array.from(out)).toEqual([5, 6, 1, 2, 5, 6]);
    expect(() => t.gather(Int32Array.of(3), out)).toThrow(InvalidArgumentError);
    expect(() => t.gather(Int32Array.of(-1), out)).toThrow(InvalidArgumentError);
  });

  it('normal() is seeded', () => {
    const a = EmbeddingTable.normal(10, 4, 0.1, new Rng(1));
    const b = EmbeddingTable.normal(10, 4, 0.1, new Rng(1));
    expect(a.data).toEqual(b.data);
    expect(a.data.some((v) => v !== 0)).toBe(true);
  });
});

describe('SparseGradAccumulator', () => {
  it('de-duplicates rows and sums their gradients in first-touch order', () => {
    const acc = new SparseGradAccumulator(100, 2, 4);
    const g = Float32Array.of(1, 2, 10, 20);
    acc.add(7, g, 0, 1); // row 7 += [1, 2]
    acc.add(3, g, 2, 1); // row 3 += [10, 20]
    acc.add(7, g, 2, 0.5); // row 7 += [5, 10]
    expect(acc.count).toBe(2);
    expect(Array.from(acc.touched.subarray(0, 2))).toEqual([7, 3]);
    expect(Array.from(acc.grads.subarray(0, 4))).toEqual([6, 12, 10, 20]);
    expect(acc.slotOf(3)).toBe(2);
    expect(acc.slotOf(99)).toBe(4); // new slot, zeroed
    expect(Array.from(acc.grads.subarray(4, 6))).toEqual([0, 0]);
  });

  it('reset() forgets the batch and new slots start from zero', () => {
    const acc = new SparseGradAccumulator(10, 2, 2);
    acc.add(1, Float32Array.of(5, 5), 0, 1);
    acc.add(2, Float32Array.of(6, 6), 0, 1);
    acc.reset();
    expect(acc.count).toBe(0);
    acc.add(2, Float32Array.of(1, 1), 0, 1);
    expect(Array.from(acc.touched.subarray(0, 1))).toEqual([2]);
    expect(Array.from(acc.grads.subarray(0, 2))).toEqual([1, 1]);
  });

  it('reset() writes only the touched slots (O(touched), not O(rows))', () => {
    const rows = 1_000_000;
    const acc = new SparseGradAccumulator(rows, 1, 8);
    const inner = acc as unknown as { slot: Int32Array };
    const real = inner.slot;
    let writes = 0;
    inner.slot = new Proxy(real, {
      set(t, k, v) {
        writes++;
        (t as unknown as Record<string | symbol, unknown>)[k] = v;
        return true;
      },
      get(t, k) {
        const v = (t as unknown as Record<string | symbol, unknown>)[k];
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    for (const r of [5, 999_999, 5, 42]) acc.add(r, Float32Array.of(1), 0, 1);
    writes = 0;
    acc.reset();
    expect(writes).toBe(3);
    expect([real[5], real[999_999], real[42]]).toEqual([-1, -1, -1]);
  });

  it('refuses more distinct rows than its capacity', () => {
    const acc = new SparseGradAccumulator(10, 1, 2);
    acc.slotOf(0);
    acc.slotOf(1);
    expect(() => acc.slotOf(2)).toThrow(InvalidArgumentError);
  });
});
