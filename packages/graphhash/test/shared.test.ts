import { fullTableBytes, type IdMapper, type Interactions, materializeCodes } from '@compactrec/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GRAPHHASH_METHODS, type GraphHashMapper, louvainRuns, rowsForBudget } from '../src/index.js';
import { gowallaSlice } from './helpers.js';

const DIM = 16;

/** One side's mapper as the retrieval harness fits it: the mapper seed differs per side, the cluster seed does not. */
function fitSide(x: Interactions, side: 'user' | 'item', fraction: number, extra = {}): GraphHashMapper {
  const numIds = side === 'user' ? x.numUsers : x.numItems;
  return GRAPHHASH_METHODS.graphhash!.create(
    { numIds, interactions: x, side },
    {
      dim: DIM,
      budgetBytes: fraction * fullTableBytes(numIds, DIM),
      seed: side === 'user' ? 6 : 7,
      extra: { clusterSeed: 3, ...extra },
    },
  ) as GraphHashMapper;
}

const limit = (x: Interactions, side: 'user' | 'item', fraction: number): number =>
  rowsForBudget(fraction * fullTableBytes(side === 'user' ? x.numUsers : x.numItems, DIM), DIM);

describe('GraphHash: one store of Louvain runs serves both sides', () => {
  let x: Interactions;
  beforeAll(async () => {
    x = await gowallaSlice(800);
  });

  it('per-side targeting: each side fills ≥ 95 % of its own rows, its mapping is the shared run at its resolution', () => {
    const users = fitSide(x, 'user', 0.25);
    const items = fitSide(x, 'item', 0.25);
    const runs = louvainRuns(x, 'bipartite', 3);
    // The per-side mapper seeds (6, 7) made no clustering of their own: one store, keyed by the run's seed.
    expect(louvainRuns(x, 'bipartite', 6).size).toBe(0);
    expect(louvainRuns(x, 'bipartite', 7).size).toBe(0);
    const ru = users.params.resolution as number;
    const ri = items.params.resolution as number;
    expect(runs.has(ru)).toBe(true);
    expect(runs.has(ri)).toBe(true);
    // The user rows are exactly the user clusters of the run at γ_u, the item rows those of the run at γ_i.
    expect(materializeCodes(users as IdMapper)).toEqual(runs.get(ru)!.userCluster);
    expect(materializeCodes(items as IdMapper)).toEqual(runs.get(ri)!.itemCluster);
    expect(users.rows / limit(x, 'user', 0.25)).toBeGreaterThanOrEqual(0.95);
    expect(items.rows / limit(x, 'item', 0.25)).toBeGreaterThanOrEqual(0.95);
    expect(users.rows).toBeLessThanOrEqual(limit(x, 'user', 0.25));
    expect(items.rows).toBeLessThanOrEqual(limit(x, 'item', 0.25));
    // Fitting the sides again clusters nothing new (every resolution is clustered once).
    const before = runs.size;
    const again = fitSide(x, 'item', 0.25);
    expect(louvainRuns(x, 'bipartite', 3).size).toBe(before);
    expect(materializeCodes(again as IdMapper)).toEqual(materializeCodes(items as IdMapper));
  });

  it('joint targeting and a fixed resolution give both sides the very same run', () => {
    const u = fitSide(x, 'user', 0.1, { targeting: 'joint' });
    const i = fitSide(x, 'item', 0.1, { targeting: 'joint' });
    expect(i.params.resolution).toBe(u.params.resolution);
    const run = louvainRuns(x, 'bipartite', 3).get(u.params.resolution as number)!;
    expect(materializeCodes(u as IdMapper)).toEqual(run.userCluster);
    expect(materializeCodes(i as IdMapper)).toEqual(run.itemCluster);
    // Joint: the binding side fills its limit, the other stays under its own.
    expect(u.rows).toBeLessThanOrEqual(limit(x, 'user', 0.1));
    expect(i.rows).toBeLessThanOrEqual(limit(x, 'item', 0.1));
    const fu = fitSide(x, 'user', 1, { resolution: 5 });
    const fi = fitSide(x, 'item', 1, { resolution: 5 });
    const r5 = louvainRuns(x, 'bipartite', 3).get(5)!;
    expect(materializeCodes(fu as IdMapper)).toEqual(r5.userCluster);
    expect(materializeCodes(fi as IdMapper)).toEqual(r5.itemCluster);
  });
});
