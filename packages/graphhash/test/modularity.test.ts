import { InvalidArgumentError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import { clusterInteractions, type GraphClustering, interactionModularity } from '../src/index.js';
import { csr, gowallaSlice } from './helpers.js';

// Users u0..u2, items i0..i2; edges u0–i0, u0–i1, u1–i0, u1–i1, u2–i1, u2–i2 (m = 6).
const SMALL = csr(
  [
    [0, 1],
    [0, 1],
    [1, 2],
  ],
  3,
);

/** Per-node community labels of a clustering (shared label space across the sides). */
function labels(c: GraphClustering): { users: Int32Array; items: Int32Array } {
  const users = c.userCluster.map((k) => (k < 0 ? -1 : c.userClusterCommunity[k]!));
  const items = c.itemCluster.map((k) => (k < 0 ? -1 : c.itemClusterCommunity[k]!));
  return { users, items };
}

describe('interactionModularity', () => {
  it('rejects community arrays of the wrong length', () => {
    expect(() => interactionModularity(SMALL, [0, 0], [0, 0, 1])).toThrow(InvalidArgumentError);
  });

  it('matches a hand-computed Barber modularity', () => {
    // A = {u0, u1, i0, i1}, B = {u2, i2}. Inside edges 5 of 6; K_A = 4, D_A = 5, K_B = 2, D_B = 1.
    // Q = 5/6 − (4·5 + 2·1)/36 = 2/9.
    expect(interactionModularity(SMALL, [0, 0, 1], [0, 0, 1])).toBeCloseTo(2 / 9, 12);
    // γ = 2: 5/6 − 2·22/36 = −7/18.
    expect(interactionModularity(SMALL, [0, 0, 1], [0, 0, 1], 'bipartite', 2)).toBeCloseTo(-7 / 18, 12);
    // Newman (unipartite): total degrees 9 and 3 → 5/6 − (81 + 9)/144 = 5/24.
    expect(interactionModularity(SMALL, [0, 0, 1], [0, 0, 1], 'unipartite')).toBeCloseTo(5 / 24, 12);
    // One community: Barber Q = 1 − 6·6/36 = 0.
    expect(interactionModularity(SMALL, [0, 0, 0], [0, 0, 0])).toBeCloseTo(0, 12);
  });

  it('counts a duplicated pair once', () => {
    const dup = csr(
      [
        [0, 1, 1],
        [0, 1],
        [1, 2, 2],
      ],
      3,
    );
    expect(interactionModularity(dup, [0, 0, 1], [0, 0, 1])).toBeCloseTo(2 / 9, 12);
  });

  it.skipIf(missingData('gowalla/train.txt'))(
    `equals what directed Louvain reports: graphology directed modularity is Barber modularity (${DATASETS_REASON})`,
    async () => {
      const small = clusterInteractions(SMALL, { resolution: 1, seed: 3 });
      const s = labels(small);
      expect(small.modularity).toBeCloseTo(interactionModularity(SMALL, s.users, s.items), 12);
      // Brute force over all 2^6 two-way splits: Louvain must reach the best one on this tiny graph.
      let best = Number.NEGATIVE_INFINITY;
      for (let mask = 0; mask < 64; mask++) {
        const bit = (b: number): number => (mask >> b) & 1;
        best = Math.max(best, interactionModularity(SMALL, [bit(0), bit(1), bit(2)], [bit(3), bit(4), bit(5)]));
      }
      expect(small.modularity).toBeCloseTo(best, 12);

      const x = await gowallaSlice(600);
      for (const resolution of [1, 20]) {
        const c = clusterInteractions(x, { resolution, seed: 1 });
        const l = labels(c);
        expect(c.modularity).toBeCloseTo(interactionModularity(x, l.users, l.items, 'bipartite', resolution), 9);
        expect(c.barberModularity).toBeCloseTo(interactionModularity(x, l.users, l.items), 12);
      }
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `equals what undirected Louvain reports for the unipartite ablation (${DATASETS_REASON})`,
    async () => {
      const x = await gowallaSlice(600);
      const c = clusterInteractions(x, { resolution: 5, seed: 1, modularity: 'unipartite' });
      const l = labels(c);
      expect(c.modularityKind).toBe('unipartite');
      expect(c.modularity).toBeCloseTo(interactionModularity(x, l.users, l.items, 'unipartite', 5), 9);
    },
  );
});
