/**
 * The user × item interaction graph as a graphology graph, built for Louvain.
 *
 * Node keys are decimal strings of one global index: user u is `String(u)`, item i is
 * `String(numUsers + i)`. Array-index strings hash cheaply in V8's Map and are stored as elements
 * in graphology's adjacency objects and in Louvain's key → index object, which makes them the
 * fastest keys measured (see the package README). Edge keys are the edge's ordinal, also numeric.
 */
import { type Interactions, InvalidArgumentError } from '@compactrec/core';
import { DirectedGraph, UndirectedGraph } from 'graphology';

/**
 * Which modularity the clustering maximizes:
 * - `bipartite`: Barber's bipartite modularity. The graph is directed, every edge user → item;
 *   graphology's directed (Dugué–Perez) modularity then pairs only user out-degrees with item
 *   in-degrees in its null model, which is exactly Barber's k_u·d_i / m.
 * - `unipartite`: Newman's modularity of the undirected graph (null model k_a·k_b / 2m over all
 *   node pairs, including user–user and item–item pairs that can never be linked). An ablation.
 */
export type ModularityKind = 'bipartite' | 'unipartite';

/** The graph plus the per-node facts the clustering needs afterwards. */
export interface InteractionGraph {
  /** Directed (bipartite) or undirected (unipartite) graphology graph over the active nodes. */
  readonly graph: DirectedGraph | UndirectedGraph;
  readonly modularity: ModularityKind;
  readonly numUsers: number;
  readonly numItems: number;
  /** Distinct (user, item) pairs: duplicates in the CSR are one unweighted edge. */
  readonly numEdges: number;
  /** Distinct items of each user (0 = isolated, not a node of the graph). */
  readonly userDegree: Uint32Array;
  /** Distinct users of each item (0 = isolated, not a node of the graph). */
  readonly itemDegree: Uint32Array;
  /** Seconds spent building the graph (wall clock). */
  readonly seconds: number;
  /** CPU seconds of the process (user + system, all threads) spent building it. */
  readonly cpuSeconds: number;
}

/**
 * Checks a CSR for shape and range errors before any work (item ids in [0, numItems), offsets
 * non-decreasing); throws {@link InvalidArgumentError} naming the first bad entry.
 */
export function checkInteractions(x: Interactions, where: string): void {
  if (x === null || typeof x !== 'object') throw new InvalidArgumentError(`${where}: interactions must be an object`);
  const { numUsers, numItems, offsets, items } = x;
  if (!Number.isInteger(numUsers) || numUsers < 0 || !Number.isInteger(numItems) || numItems < 0) {
    throw new InvalidArgumentError(`${where}: numUsers (${numUsers}) and numItems (${numItems}) must be integers ≥ 0`);
  }
  if (!(offsets instanceof Uint32Array) || offsets.length !== numUsers + 1 || offsets[0] !== 0) {
    throw new InvalidArgumentError(
      `${where}: offsets must be a Uint32Array of length numUsers + 1 (${numUsers + 1}) starting at 0`,
    );
  }
  if (!(items instanceof Int32Array) || items.length !== offsets[numUsers]) {
    throw new InvalidArgumentError(
      `${where}: items must be an Int32Array of length offsets[numUsers] (${offsets[numUsers]}), got ${items?.length}`,
    );
  }
  for (let u = 0; u < numUsers; u++) {
    if (offsets[u + 1]! < offsets[u]!) {
      throw new InvalidArgumentError(`${where}: offsets decrease at user ${u}; the CSR is corrupt`);
    }
  }
  for (let j = 0; j < items.length; j++) {
    const i = items[j]!;
    if (i < 0 || i >= numItems) {
      throw new InvalidArgumentError(`${where}: item id ${i} at position ${j} is outside [0, ${numItems})`);
    }
  }
}

/**
 * Builds the interaction graph of the training CSR. Users and items without interactions are
 * left out (Louvain would make each its own community, i.e. its own row); duplicate pairs become
 * one edge. Nodes are added users first, then items, and edges in CSR order, so the result (and
 * a seeded Louvain on it) is deterministic.
 */
export function buildInteractionGraph(x: Interactions, modularity: ModularityKind): InteractionGraph {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const { numUsers, numItems, offsets, items } = x;
  const userDegree = new Uint32Array(numUsers);
  const itemDegree = new Uint32Array(numItems);
  // Pass 1: distinct degrees (a stamp per item detects a user's duplicate items in O(1)).
  const lastUser = new Int32Array(numItems).fill(-1);
  let numEdges = 0;
  for (let u = 0; u < numUsers; u++) {
    for (let j = offsets[u]!; j < offsets[u + 1]!; j++) {
      const i = items[j]!;
      if (lastUser[i] === u) continue;
      lastUser[i] = u;
      userDegree[u]!++;
      itemDegree[i]!++;
      numEdges++;
    }
  }
  const graph =
    modularity === 'bipartite'
      ? new DirectedGraph({ allowSelfLoops: false })
      : new UndirectedGraph({ allowSelfLoops: false });
  // Keys are created once; every edge reuses the same string objects (hash cached).
  const keys = new Array<string>(numUsers + numItems);
  for (let u = 0; u < numUsers; u++) {
    keys[u] = String(u);
    if (userDegree[u]! > 0) graph.addNode(keys[u]!);
  }
  for (let i = 0; i < numItems; i++) {
    const k = String(numUsers + i);
    keys[numUsers + i] = k;
    if (itemDegree[i]! > 0) graph.addNode(k);
  }
  lastUser.fill(-1);
  let e = 0;
  const shared = {};
  if (graph instanceof DirectedGraph) {
    for (let u = 0; u < numUsers; u++) {
      const ku = keys[u]!;
      for (let j = offsets[u]!; j < offsets[u + 1]!; j++) {
        const i = items[j]!;
        if (lastUser[i] === u) continue;
        lastUser[i] = u;
        // One frozen-in-practice attributes object for all edges: Louvain reads no attributes.
        graph.addDirectedEdgeWithKey(e++, ku, keys[numUsers + i]!, shared);
      }
    }
  } else {
    for (let u = 0; u < numUsers; u++) {
      const ku = keys[u]!;
      for (let j = offsets[u]!; j < offsets[u + 1]!; j++) {
        const i = items[j]!;
        if (lastUser[i] === u) continue;
        lastUser[i] = u;
        graph.addUndirectedEdgeWithKey(e++, ku, keys[numUsers + i]!, shared);
      }
    }
  }
  return {
    graph,
    modularity,
    numUsers,
    numItems,
    numEdges,
    userDegree,
    itemDegree,
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: cpuSecondsSince(cpu0),
  };
}

/** CPU seconds (user + system) of this process since `start` (a `process.cpuUsage()` value). */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}
