/**
 * One store of Louvain runs per (interactions, modularity, seed), shared by every GraphHash mapper
 * fitted on those interactions: the user side and the item side of a run take their clusters from
 * the same Louvain run whenever they use the same resolution, and no resolution is clustered twice.
 */
import type { Interactions } from '@compactrec/core';
import { DEFAULT_CLUSTER_OPTIONS, type GraphClustering, resolveClusterOptions, runLouvain } from './cluster.js';
import { buildInteractionGraph, type ModularityKind } from './graph.js';
import type { Side } from './mapper.js';
import { clusterToBudget, type LouvainRunStore } from './target.js';

/**
 * How a GraphHash side picks its resolution:
 * - `'per-side'`: each side searches the resolution whose own cluster count fills its own row
 *   limit (the two searches share their Louvain runs); the sides may end at two resolutions.
 * - `'joint'`: one resolution for both sides, the binding side filling its limit (the other side
 *   may get far fewer rows than its budget allows).
 */
export type GraphHashTargeting = 'per-side' | 'joint';

/** What {@link sideClustering} needs to pick one side's clustering. */
export interface SideClusteringRequest {
  readonly side: Side;
  /** Cluster rows this side may use. */
  readonly ownLimit: number;
  /** Cluster rows the other side may use (only `'joint'` targeting reads it). */
  readonly otherLimit: number;
  readonly modularity: ModularityKind;
  /** Louvain's seed: the run's seed, the same for both sides. */
  readonly seed: number;
  /** Fixed resolution (no search). */
  readonly resolution?: number | undefined;
  readonly targeting: GraphHashTargeting;
  readonly tolerance: number;
  readonly maxIterations: number;
}

const stores = new WeakMap<Interactions, Map<string, LouvainRunStore>>();

function storeFor(x: Interactions, modularity: ModularityKind, seed: number): LouvainRunStore {
  let byKey = stores.get(x);
  if (byKey === undefined) {
    byKey = new Map();
    stores.set(x, byKey);
  }
  const key = JSON.stringify([modularity, seed]);
  let s = byKey.get(key);
  if (s === undefined) {
    s = { graph: null, runs: new Map() };
    byKey.set(key, s);
  }
  return s;
}

/**
 * The Louvain runs made so far on `x` for this modularity and seed, by resolution (a copy of the
 * store's index; the clusterings are the store's own objects). For tests and reports.
 */
export function louvainRuns(
  x: Interactions,
  modularity: ModularityKind = DEFAULT_CLUSTER_OPTIONS.modularity,
  seed = 0,
): ReadonlyMap<number, GraphClustering> {
  return new Map(stores.get(x)?.get(JSON.stringify([modularity, seed]))?.runs ?? []);
}

/**
 * The clustering one side of a GraphHash fit takes its clusters from: the run at the fixed
 * resolution, or the budget-targeted run (per side or joint), drawn from the shared store.
 */
export function sideClustering(x: Interactions, r: SideClusteringRequest): GraphClustering {
  const store = storeFor(x, r.modularity, r.seed);
  if (r.resolution !== undefined) {
    let c = store.runs.get(r.resolution);
    if (c === undefined) {
      const o = resolveClusterOptions(
        { modularity: r.modularity, seed: r.seed, resolution: r.resolution },
        'graphhash',
      );
      if (store.graph === null) store.graph = buildInteractionGraph(x, r.modularity);
      c = runLouvain(x, store.graph, o, r.resolution, null);
      store.runs.set(r.resolution, c);
    }
    return c;
  }
  const [capU, capI] = r.side === 'user' ? [r.ownLimit, r.otherLimit] : [r.otherLimit, r.ownLimit];
  return clusterToBudget(
    x,
    { maxUserClusters: capU, maxItemClusters: capI },
    {
      modularity: r.modularity,
      seed: r.seed,
      tolerance: r.tolerance,
      maxIterations: r.maxIterations,
      target: r.targeting === 'joint' ? 'both' : r.side,
      store,
    },
  );
}
