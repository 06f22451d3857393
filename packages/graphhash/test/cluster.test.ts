import { BudgetError, InvalidArgumentError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import { clusterInteractions, clusterToBudget, rowsForBudget } from '../src/index.js';
import { csr, gowallaSlice } from './helpers.js';

describe('clusterInteractions', () => {
  it('rejects bad input before any work', () => {
    expect(() => clusterInteractions(csr([[0, 5]], 3))).toThrow(InvalidArgumentError);
    expect(() => clusterInteractions(csr([[0]], 1), { resolution: 0 })).toThrow(InvalidArgumentError);
    expect(() => clusterInteractions(csr([[0]], 1), { resolution: Number.NaN })).toThrow(InvalidArgumentError);
    expect(() => clusterInteractions(csr([[0]], 1), { modularity: 'tripartite' as unknown as 'bipartite' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => clusterInteractions(csr([[0]], 1), { seed: 0.5 })).toThrow(InvalidArgumentError);
  });

  it('handles a graph without edges: every ID isolated, no clusters', () => {
    const c = clusterInteractions(csr([[], []], 3));
    expect(c.numEdges).toBe(0);
    expect(c.numUserClusters).toBe(0);
    expect(c.numItemClusters).toBe(0);
    expect([...c.userCluster]).toEqual([-1, -1]);
    expect([...c.itemCluster]).toEqual([-1, -1, -1]);
  });

  it('leaves isolated IDs out and collapses duplicate pairs', () => {
    // Two components {u0, u1, i0, i1} and {u3, i3}; user 2 and item 2 have no interaction.
    const x = csr([[0, 1, 1], [0, 1], [], [3, 3]], 4);
    const c = clusterInteractions(x, { resolution: 1 });
    expect(c.numEdges).toBe(5);
    expect([...c.userDegree]).toEqual([2, 2, 0, 1]);
    expect([...c.itemDegree]).toEqual([2, 2, 0, 1]);
    expect(c.userCluster[2]).toBe(-1);
    expect(c.itemCluster[2]).toBe(-1);
    expect(c.numUserClusters).toBe(2);
    expect(c.numItemClusters).toBe(2);
    // Per-side ids by first appearance; the two sides of a component share the community.
    expect([...c.userCluster]).toEqual([0, 0, -1, 1]);
    expect([...c.itemCluster]).toEqual([0, 0, -1, 1]);
    expect(c.userClusterCommunity[0]).toBe(c.itemClusterCommunity[0]);
    expect(c.userClusterCommunity[1]).toBe(c.itemClusterCommunity[1]);
  });

  it.skipIf(missingData('gowalla/train.txt'))(
    `is deterministic under a fixed seed (real Gowalla slice) (${DATASETS_REASON})`,
    async () => {
      const x = await gowallaSlice(800);
      const a = clusterInteractions(x, { resolution: 30, seed: 7 });
      const b = clusterInteractions(x, { resolution: 30, seed: 7 });
      expect(b.userCluster).toEqual(a.userCluster);
      expect(b.itemCluster).toEqual(a.itemCluster);
      expect(b.modularity).toBe(a.modularity);
      // Larger resolution, more clusters; every user/item of the slice has a cluster.
      const c = clusterInteractions(x, { resolution: 120, seed: 7 });
      expect(c.numUserClusters).toBeGreaterThan(a.numUserClusters);
      expect(a.userCluster.every((k) => k >= 0 && k < a.numUserClusters)).toBe(true);
      expect(a.itemCluster.every((k) => k >= 0 && k < a.numItemClusters)).toBe(true);
    },
  );
});

describe('clusterToBudget', () => {
  it('rejects bad limits and options', () => {
    const x = csr([[0]], 1);
    expect(() => clusterToBudget(x, { maxUserClusters: 0, maxItemClusters: 3 })).toThrow(InvalidArgumentError);
    expect(() => clusterToBudget(x, { maxUserClusters: 1, maxItemClusters: 1 }, { tolerance: 1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => rowsForBudget(-1, 64)).toThrow(InvalidArgumentError);
    expect(rowsForBudget(0.25 * 29858 * 64 * 4, 64)).toBe(7464);
  });

  it('throws BudgetError when the graph has more components than the limit allows', () => {
    const x = csr([[0], [1], [2]], 3);
    expect(() => clusterToBudget(x, { maxUserClusters: 2, maxItemClusters: 3 })).toThrow(BudgetError);
  });

  it.skipIf(missingData('gowalla/train.txt'))(
    `lands under both limits, as close as it got (real Gowalla slice) (${DATASETS_REASON})`,
    async () => {
      const x = await gowallaSlice(800);
      const limits = { maxUserClusters: Math.floor(0.1 * x.numUsers), maxItemClusters: Math.floor(0.1 * x.numItems) };
      const seen: number[] = [];
      const c = clusterToBudget(x, limits, { seed: 2, onStep: (s) => seen.push(s.resolution) });
      expect(c.numUserClusters).toBeLessThanOrEqual(limits.maxUserClusters);
      expect(c.numItemClusters).toBeLessThanOrEqual(limits.maxItemClusters);
      const search = c.search!;
      expect(search.iterations).toBe(search.steps.length);
      expect(seen).toEqual(search.steps.map((s) => s.resolution));
      // The result is the feasible step that fills the binding limit best.
      const fill = (u: number, i: number): number => Math.max(u / limits.maxUserClusters, i / limits.maxItemClusters);
      const feasible = search.steps.filter((s) => s.feasible);
      const bestFill = Math.max(...feasible.map((s) => fill(s.userClusters, s.itemClusters)));
      expect(fill(c.numUserClusters, c.numItemClusters)).toBe(bestFill);
      expect(feasible.some((s) => s.resolution === c.resolution)).toBe(true);
      // Within the default 2% tolerance unless the search ran out of iterations.
      if (search.iterations < 12) expect(bestFill).toBeGreaterThanOrEqual(0.98);
    },
  );
});
