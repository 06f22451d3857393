/**
 * Louvain clustering of the interaction graph at a fixed resolution, with per-side cluster ids.
 */
import { deriveSeed, type Interactions, InvalidArgumentError, Rng } from '@compactrec/core';
import type { DirectedGraph, UndirectedGraph } from 'graphology';
import louvainModule, { type DetailedLouvainOutput, type LouvainOptions } from 'graphology-communities-louvain';
import {
  buildInteractionGraph,
  checkInteractions,
  cpuSecondsSince,
  type InteractionGraph,
  type ModularityKind,
} from './graph.js';
import { interactionModularity } from './modularity.js';

// graphology-communities-louvain is CommonJS with `export default` typings: under NodeNext the
// default import is `module.exports`, which the typings call `.default`. Accept both shapes.
interface LouvainFn {
  detailed(graph: DirectedGraph | UndirectedGraph, options?: LouvainOptions): DetailedLouvainOutput;
}
const louvain: LouvainFn =
  (louvainModule as unknown as { default?: LouvainFn }).default ?? (louvainModule as unknown as LouvainFn);

/** Options of {@link clusterInteractions}; every field is optional. */
export interface ClusterOptions {
  /** Which modularity Louvain maximizes (see {@link ModularityKind}). @default 'bipartite' */
  modularity?: ModularityKind;
  /** Louvain resolution γ; larger gives more, smaller clusters. @default 200 (the reference's Gowalla value) */
  resolution?: number;
  /** Seed of Louvain's node-order randomness (through core's Rng). @default 0 */
  seed?: number;
  /** graphology's fast local moves (queue of nodes whose neighbourhood changed). @default true */
  fastLocalMoves?: boolean;
  /** Visit nodes in a random order each pass (seeded). @default true */
  randomWalk?: boolean;
}

/** Defaults of {@link ClusterOptions}. */
export const DEFAULT_CLUSTER_OPTIONS: Readonly<Required<ClusterOptions>> = Object.freeze({
  modularity: 'bipartite',
  resolution: 200,
  seed: 0,
  fastLocalMoves: true,
  randomWalk: true,
});

/** One Louvain run of a resolution search. */
export interface ClusterSearchStep {
  readonly resolution: number;
  readonly userClusters: number;
  readonly itemClusters: number;
  /** Louvain's objective at this resolution. */
  readonly modularity: number;
  readonly seconds: number;
  /** Both cluster counts within their limits. */
  readonly feasible: boolean;
}

/** How a budget-targeted clustering was found (see `clusterToBudget`). */
export interface ClusterSearch {
  readonly maxUserClusters: number;
  readonly maxItemClusters: number;
  /** Which side's limit the search filled ('both' = the binding side). Absent in older checkpoints. */
  readonly target?: 'both' | 'user' | 'item';
  /** Earlier runs (of another search on the same graph) reused to place the bracket. */
  readonly reusedRuns?: number;
  /** Louvain runs made. */
  readonly iterations: number;
  /** Seconds of the whole search (graph construction once + every run). */
  readonly seconds: number;
  readonly steps: readonly ClusterSearchStep[];
}

/**
 * A clustering of the interaction graph: every user and item with interactions belongs to one
 * community; per side, communities are renumbered 0..k−1 by first appearance (ID order) and
 * that number is the ID's row. Isolated IDs have cluster −1.
 */
export interface GraphClustering {
  readonly numUsers: number;
  readonly numItems: number;
  /** Distinct (user, item) pairs the graph had. */
  readonly numEdges: number;
  readonly modularityKind: ModularityKind;
  readonly resolution: number;
  readonly seed: number;
  /** Communities over both sides. */
  readonly numCommunities: number;
  readonly numUserClusters: number;
  readonly numItemClusters: number;
  /** Cluster of each user, 0..numUserClusters−1, or −1 for a user without interactions. */
  readonly userCluster: Int32Array;
  /** Cluster of each item, 0..numItemClusters−1, or −1 for an item without interactions. */
  readonly itemCluster: Int32Array;
  /** Community (0..numCommunities−1) of each user cluster: links the two sides. */
  readonly userClusterCommunity: Int32Array;
  /** Community of each item cluster. */
  readonly itemClusterCommunity: Int32Array;
  /** Distinct items per user (the graph degree). */
  readonly userDegree: Uint32Array;
  /** Distinct users per item. */
  readonly itemDegree: Uint32Array;
  /** The objective Louvain maximized (its modularity kind, at `resolution`). */
  readonly modularity: number;
  /** Barber's bipartite modularity at γ = 1, comparable across resolutions and kinds. */
  readonly barberModularity: number;
  /** Seconds to build the graphology graph (wall clock). */
  readonly graphSeconds: number;
  /** Seconds of the Louvain run that produced this clustering (wall clock). */
  readonly louvainSeconds: number;
  /** CPU seconds (process user + system) of the graph build: robust to other load on the machine. */
  readonly graphCpuSeconds: number;
  /** CPU seconds of the Louvain run. */
  readonly louvainCpuSeconds: number;
  /** The resolution search, or null for a fixed resolution. */
  readonly search: ClusterSearch | null;
}

/** Resolved, validated options (internal). */
export type ResolvedClusterOptions = Readonly<Required<ClusterOptions>>;

/** Merges defaults (only `undefined` falls back) and validates; errors name the option. */
export function resolveClusterOptions(options: ClusterOptions, where: string): ResolvedClusterOptions {
  const o: Required<ClusterOptions> = { ...DEFAULT_CLUSTER_OPTIONS };
  for (const k of Object.keys(o) as (keyof ClusterOptions)[]) {
    if (options[k] !== undefined) (o as Record<string, unknown>)[k] = options[k];
  }
  if (o.modularity !== 'bipartite' && o.modularity !== 'unipartite') {
    throw new InvalidArgumentError(`${where}: modularity '${o.modularity}' must be 'bipartite' or 'unipartite'`);
  }
  if (!(o.resolution > 0) || !Number.isFinite(o.resolution)) {
    throw new InvalidArgumentError(`${where}: resolution (${o.resolution}) must be a positive finite number`);
  }
  if (!Number.isInteger(o.seed)) throw new InvalidArgumentError(`${where}: seed (${o.seed}) must be an integer`);
  return Object.freeze(o);
}

/**
 * Clusters the training interactions with Louvain at a fixed resolution (the reference's
 * setting). Deterministic for a seed.
 */
export function clusterInteractions(x: Interactions, options: ClusterOptions = {}): GraphClustering {
  const where = 'graphhash/clusterInteractions';
  const o = resolveClusterOptions(options, where);
  checkInteractions(x, where);
  const g = buildInteractionGraph(x, o.modularity);
  return runLouvain(x, g, o, o.resolution, null);
}

/** One seeded Louvain run on a built graph, converted to per-side clusters (internal). */
export function runLouvain(
  x: Interactions,
  g: InteractionGraph,
  o: ResolvedClusterOptions,
  resolution: number,
  search: ClusterSearch | null,
): GraphClustering {
  const { numUsers, numItems, userDegree, itemDegree } = g;
  const userCluster = new Int32Array(numUsers).fill(-1);
  const itemCluster = new Int32Array(numItems).fill(-1);
  let modularity = Number.NaN;
  let seconds = 0;
  let cpuSeconds = 0;
  let labels: Record<string, number> = {};
  if (g.numEdges > 0) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const rng = new Rng(deriveSeed(o.seed, 'graphhash/louvain')).asFunction();
    const out = louvain.detailed(g.graph, {
      resolution,
      rng,
      getEdgeWeight: null,
      fastLocalMoves: o.fastLocalMoves,
      randomWalk: o.randomWalk,
    });
    seconds = (performance.now() - t0) / 1000;
    cpuSeconds = cpuSecondsSince(cpu0);
    modularity = out.modularity;
    labels = out.communities;
  }
  // Dense community ids by first appearance (users, then items), then per-side renumbering.
  const communityOfLabel = new Map<number, number>();
  const userClusterCommunity: number[] = [];
  const itemClusterCommunity: number[] = [];
  const userClusterOfCommunity: number[] = [];
  const itemClusterOfCommunity: number[] = [];
  const communityOf = (key: number): number => {
    const label = labels[key]!;
    let c = communityOfLabel.get(label);
    if (c === undefined) {
      c = communityOfLabel.size;
      communityOfLabel.set(label, c);
      userClusterOfCommunity.push(-1);
      itemClusterOfCommunity.push(-1);
    }
    return c;
  };
  const userCommunity = new Int32Array(numUsers).fill(-1);
  const itemCommunity = new Int32Array(numItems).fill(-1);
  for (let u = 0; u < numUsers; u++) {
    if (userDegree[u] === 0) continue;
    const c = communityOf(u);
    userCommunity[u] = c;
    let k = userClusterOfCommunity[c]!;
    if (k < 0) {
      k = userClusterCommunity.length;
      userClusterOfCommunity[c] = k;
      userClusterCommunity.push(c);
    }
    userCluster[u] = k;
  }
  for (let i = 0; i < numItems; i++) {
    if (itemDegree[i] === 0) continue;
    const c = communityOf(numUsers + i);
    itemCommunity[i] = c;
    let k = itemClusterOfCommunity[c]!;
    if (k < 0) {
      k = itemClusterCommunity.length;
      itemClusterOfCommunity[c] = k;
      itemClusterCommunity.push(c);
    }
    itemCluster[i] = k;
  }
  return {
    numUsers,
    numItems,
    numEdges: g.numEdges,
    modularityKind: g.modularity,
    resolution,
    seed: o.seed,
    numCommunities: communityOfLabel.size,
    numUserClusters: userClusterCommunity.length,
    numItemClusters: itemClusterCommunity.length,
    userCluster,
    itemCluster,
    userClusterCommunity: Int32Array.from(userClusterCommunity),
    itemClusterCommunity: Int32Array.from(itemClusterCommunity),
    userDegree,
    itemDegree,
    modularity,
    barberModularity:
      g.numEdges > 0 ? interactionModularity(x, userCommunity, itemCommunity, 'bipartite', 1) : Number.NaN,
    graphSeconds: g.seconds,
    louvainSeconds: seconds,
    graphCpuSeconds: g.cpuSeconds,
    louvainCpuSeconds: cpuSeconds,
    search,
  };
}
