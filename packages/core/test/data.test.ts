import { degrees, type Interactions, transposeInteractions } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { rowsOf } from './helpers.js';

const X: Interactions = {
  numUsers: 3,
  numItems: 4,
  offsets: Uint32Array.of(0, 2, 2, 5),
  items: Int32Array.of(1, 3, 0, 1, 3),
};

describe('transposeInteractions / degrees', () => {
  it('transposes users → items into items → users', () => {
    const t = transposeInteractions(X);
    expect([t.numUsers, t.numItems]).toEqual([4, 3]);
    expect(rowsOf(t)).toEqual([[2], [0, 2], [], [0, 2]]);
    expect(rowsOf(transposeInteractions(t))).toEqual(rowsOf(X));
  });

  it('counts degrees on both sides', () => {
    const d = degrees(X);
    expect(Array.from(d.users)).toEqual([2, 0, 3]);
    expect(Array.from(d.items)).toEqual([1, 2, 0, 2]);
  });
});
