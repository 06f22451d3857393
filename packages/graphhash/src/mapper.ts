/**
 * The GraphHash ID mappers: rows from a clustering of the interaction graph.
 *
 * - `graphhash`: one code per ID, its cluster (the reference's GraphHash).
 * - `double-graphhash`: codes [universal hash of the ID into [0, m), cluster], one table of m
 *   rows, summed (the reference's DoubleGraphHash).
 * - `graphhash-frequency`: the most frequent IDs own a row each, the others share their
 *   cluster's row (our addition, after the frequency baseline).
 *
 * IDs with no training interaction (and IDs ≥ numIds) are hashed into the cluster rows until
 * {@link GraphHashMapper.assign} places them by modularity gain.
 */
import {
  BudgetError,
  type Combine,
  deriveSeed,
  type IdMapper,
  InvalidArgumentError,
  type MapperSnapshot,
  UniversalHash,
  UsageError,
} from '@compactrec/core';
import type { GraphClustering } from './cluster.js';
import { type NarrowArray, narrowFrom, widen } from './internal/narrow.js';

/** The three GraphHash methods. */
export type GraphHashMethod = 'graphhash' | 'double-graphhash' | 'graphhash-frequency';

/** Which side of the bipartite graph a mapper serves. */
export type Side = 'user' | 'item';

/** Options of {@link createGraphHashMapper}; `rows` matters for the double and frequency methods. */
export interface GraphHashMapperOptions {
  /** @default 'graphhash' */
  method?: GraphHashMethod;
  /**
   * Table rows the budget allows: m of double-graphhash, the total of graphhash-frequency, an
   * upper bound for graphhash (whose table has exactly one row per cluster).
   * @default unchecked for graphhash; required otherwise
   */
  rows?: number;
  /** Seed of the universal hashes (double's first code, the unseen-ID fallback). @default 0 */
  seed?: number;
  /** Share of `rows` that the most frequent IDs own (graphhash-frequency). @default 0.5 */
  frequentFraction?: number;
  /** Training frequency per ID for graphhash-frequency. @default the ID's degree in the clustering */
  counts?: Uint32Array;
  /** Keep what {@link GraphHashMapper.assign} needs (see `assignmentBytes`). @default true */
  unseenAssignment?: boolean;
}

/** Defaults of {@link GraphHashMapperOptions}. */
export const DEFAULT_GRAPHHASH_MAPPER_OPTIONS: Readonly<
  Required<Pick<GraphHashMapperOptions, 'method' | 'seed' | 'frequentFraction' | 'unseenAssignment'>>
> = Object.freeze({ method: 'graphhash', seed: 0, frequentFraction: 0.5, unseenAssignment: true });

/** How {@link GraphHashMapper.assign} placed an ID. */
export interface UnseenAssignment {
  /** The cluster row the ID now maps to (its second code for double-graphhash). */
  readonly row: number;
  /**
   * `modularity`: the best modularity gain; `majority`: gains tied and the most neighbours
   * decided; `hash`: no neighbour has a cluster with a row on this side (hash fallback, not stored).
   */
  readonly reason: 'modularity' | 'majority' | 'hash';
}

/**
 * What unseen-ID assignment needs, over the OTHER side's clusters p (an unseen ID's neighbours
 * are other-side IDs): their cluster, the row of the same community on this side, and the null
 * model's total of that community.
 */
interface AssignmentContext {
  /** Other-side ID → other-side cluster (narrow; the sentinel numOtherClusters means none). */
  readonly otherCluster: NarrowArray;
  readonly numOtherClusters: number;
  /** Other-side cluster → row on this side of the same community, or −1. */
  readonly otherToOwnRow: Int32Array;
  /** Null-model total per other-side cluster's community (item degrees for a user mapper, etc.). */
  readonly nullTotals: Float64Array;
  /** γ/m (bipartite) or γ/2m (unipartite): gain = e_p − k·nullTotals[p]·nullScale. */
  readonly nullScale: number;
}

/** Everything a mapper is made of (internal; built by the factory or from a snapshot). */
interface MapperState {
  readonly method: GraphHashMethod;
  readonly side: Side;
  readonly seed: number;
  readonly numIds: number;
  readonly rows: number;
  /** Rows the unseen-ID hash and assignment may use: 0..clusterRows−1. */
  readonly clusterRows: number;
  /** Row (graphhash, frequency) or second code (double) per fitted ID. */
  readonly rowOf: NarrowArray;
  readonly context: AssignmentContext | null;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  readonly assigned: Map<number, number>;
}

/** An {@link IdMapper} over a GraphHash clustering; see the module doc for the three methods. */
export class GraphHashMapper implements IdMapper {
  readonly method: GraphHashMethod;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId: number;
  readonly combine: Combine = 'sum';
  readonly weights: Float32Array | null = null;
  readonly learnableWeights = false;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** Which side of the interaction graph this mapper serves. */
  readonly side: Side;
  /** Rows of clusters (the hash-fallback range): `rows` except for graphhash-frequency. */
  readonly clusterRows: number;
  private readonly seed: number;
  private readonly rowOf: NarrowArray;
  private readonly hash: UniversalHash | null;
  private readonly fallback: UniversalHash;
  private readonly context: AssignmentContext | null;
  private readonly assigned: Map<number, number>;

  /** Use {@link createGraphHashMapper} or the method specs; this is the rebuild path. */
  constructor(state: MapperState) {
    this.method = state.method;
    this.side = state.side;
    this.seed = state.seed;
    this.numIds = state.numIds;
    this.rows = state.rows;
    this.clusterRows = state.clusterRows;
    this.rowOf = state.rowOf;
    this.context = state.context;
    this.params = state.params;
    this.assigned = state.assigned;
    this.codesPerId = state.method === 'double-graphhash' ? 2 : 1;
    this.hash =
      state.method === 'double-graphhash'
        ? new UniversalHash(state.rows, deriveSeed(state.seed, `graphhash/${state.side}/hash`))
        : null;
    this.fallback = new UniversalHash(state.clusterRows, deriveSeed(state.seed, `graphhash/${state.side}/unseen`));
  }

  /**
   * Bytes serving needs besides the table: the id → row array (narrowest type), the hash
   * parameters (a, b of each universal hash, 8 bytes each), 8 bytes per assigned unseen ID.
   */
  get mappingBytes(): number {
    return this.rowOf.byteLength + (this.hash ? 16 : 0) + 16 + this.assigned.size * 8;
  }

  /** Bytes kept only for {@link assign} (other side's clusters, per-cluster row and totals); 0 if dropped. */
  get assignmentBytes(): number {
    const c = this.context;
    return c ? c.otherCluster.byteLength + c.otherToOwnRow.byteLength + c.nullTotals.byteLength : 0;
  }

  /** Unseen IDs placed by {@link assign} so far. */
  get assignedCount(): number {
    return this.assigned.size;
  }

  /** Values per row: sum combine, so `dim`. */
  rowDim(dim: number): number {
    return dim;
  }

  /**
   * Codes of `ids[0..n)`: fitted IDs read their row; others use their assignment or the
   * seeded hash fallback into the cluster rows.
   */
  mapInto(ids: ArrayLike<number>, out: Int32Array, n: number = ids.length): void {
    const K = this.codesPerId;
    if (!Number.isInteger(n) || n < 0 || n > ids.length || out.length < n * K) {
      throw new InvalidArgumentError(
        `graphhash/${this.method}.mapInto: n (${n}) must be ≤ ids.length (${ids.length}) and out.length (${out.length}) ≥ n × ${K}`,
      );
    }
    const rowOf = this.rowOf;
    const numIds = this.numIds;
    if (K === 1) {
      for (let j = 0; j < n; j++) {
        const id = ids[j]!;
        out[j] = id >= 0 && id < numIds && id === (id | 0) ? rowOf[id]! : this.unseenRow(id);
      }
      return;
    }
    const hash = this.hash!;
    for (let j = 0; j < n; j++) {
      const id = ids[j]!;
      if (id >= 0 && id < numIds && id === (id | 0)) {
        out[2 * j] = hash.hash(id);
        out[2 * j + 1] = rowOf[id]!;
      } else {
        const row = this.unseenRow(id);
        out[2 * j] = hash.hash(id);
        out[2 * j + 1] = row;
      }
    }
  }

  /** Row of an ID outside the fitted space: its assignment, else the hash fallback. */
  private unseenRow(id: number): number {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new InvalidArgumentError(`graphhash/${this.method}.mapInto: ID ${id} is not a non-negative safe integer`);
    }
    const a = this.assigned.get(id);
    return a === undefined ? this.fallback.hash(id) : a;
  }

  /**
   * Places an ID that arrived after clustering (id ≥ numIds) by its interactions: among the
   * clusters of its neighbours (other-side IDs) that have a row on this side, it joins the one
   * with the largest modularity gain e_c − γ·k·T_c/m (e_c its neighbours in c, k its degree,
   * T_c the community's null-model total); ties go to the cluster with more neighbours, then the
   * lower row. With no such neighbour it keeps the hash fallback. No re-clustering; the training
   * totals are not updated (they only change when the other side grows).
   * @param neighbors other-side IDs it interacted with (unknown ones count toward k only)
   */
  assign(id: number, neighbors: ArrayLike<number>): UnseenAssignment {
    const where = `graphhash/${this.method}.assign`;
    if (!Number.isSafeInteger(id) || id < this.numIds) {
      throw new InvalidArgumentError(
        `${where}: ID ${id} must be an integer ≥ numIds (${this.numIds}); fitted IDs already have a cluster`,
      );
    }
    const c = this.context;
    if (c === null) {
      throw new UsageError(`${where}: this mapper was built with unseenAssignment: false; rebuild it to assign IDs`);
    }
    const distinct = new Set<number>();
    for (let j = 0; j < neighbors.length; j++) {
      const v = neighbors[j]!;
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new InvalidArgumentError(`${where}: neighbour ${v} (position ${j}) is not a non-negative integer`);
      }
      distinct.add(v);
    }
    const k = distinct.size;
    const counts = new Map<number, number>();
    for (const v of distinct) {
      if (v >= c.otherCluster.length) continue;
      const p = c.otherCluster[v]!;
      if (p === c.numOtherClusters || c.otherToOwnRow[p]! < 0) continue;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    if (counts.size === 0) {
      this.assigned.delete(id);
      return { row: this.fallback.hash(id), reason: 'hash' };
    }
    let bestRow = -1;
    let bestGain = Number.NEGATIVE_INFINITY;
    let bestCount = 0;
    let tied = false;
    for (const [p, e] of counts) {
      const gain = e - k * c.nullTotals[p]! * c.nullScale;
      const row = c.otherToOwnRow[p]!;
      // Gains within 1e-12 relative count as equal: then the majority (more neighbours) decides.
      const eps = bestRow < 0 ? 0 : 1e-12 * Math.max(1, Math.abs(gain), Math.abs(bestGain));
      if (bestRow < 0 || gain > bestGain + eps) {
        bestGain = gain;
        bestRow = row;
        bestCount = e;
        tied = false;
      } else if (gain >= bestGain - eps) {
        tied = true;
        if (e > bestCount || (e === bestCount && row < bestRow)) {
          bestGain = Math.max(gain, bestGain);
          bestRow = row;
          bestCount = e;
        }
      }
    }
    this.assigned.set(id, bestRow);
    return { row: bestRow, reason: tied ? 'majority' : 'modularity' };
  }

  /** Arrays and params that rebuild this mapper exactly (assignments included). */
  snapshot(): MapperSnapshot {
    const ids = new Float64Array(this.assigned.size);
    const rows = new Int32Array(this.assigned.size);
    let j = 0;
    for (const [id, row] of this.assigned) {
      ids[j] = id;
      rows[j++] = row;
    }
    const arrays: Record<string, Int32Array | Float64Array> = {
      rowOf: widen(this.rowOf, this.rows - 1),
      assignedIds: ids,
      assignedRows: rows,
    };
    const params: Record<string, number | string | boolean> = {
      ...this.params,
      side: this.side,
      seed: this.seed,
      clusterRows: this.clusterRows,
      unseenAssignment: this.context !== null,
    };
    if (this.context) {
      arrays.otherCluster = widen(this.context.otherCluster, this.context.numOtherClusters - 1);
      arrays.otherToOwnRow = this.context.otherToOwnRow.slice();
      arrays.nullTotals = this.context.nullTotals.slice();
      params.nullScale = this.context.nullScale;
    }
    return { method: this.method, numIds: this.numIds, rows: this.rows, params, arrays };
  }
}

/** Top-k IDs by count (ties: lower ID first), as a list of IDs in rank order. */
function topK(counts: Uint32Array, k: number): Int32Array {
  const order = new Int32Array(counts.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => counts[b]! - counts[a]! || a - b);
  return order.slice(0, k);
}

/**
 * Builds a mapper of one side from a clustering (for a clustering loaded from disk or shared
 * between methods). graphhash uses the side's cluster count as rows; double-graphhash and
 * graphhash-frequency need `rows` (≥ the side's cluster count, resp. ≥ clusters + frequent IDs).
 * @throws BudgetError when `rows` is below what the clustering needs (naming both numbers)
 */
export function createGraphHashMapper(
  clustering: GraphClustering,
  side: Side,
  options: GraphHashMapperOptions = {},
): GraphHashMapper {
  const where = 'graphhash/createGraphHashMapper';
  const method = options.method ?? DEFAULT_GRAPHHASH_MAPPER_OPTIONS.method;
  const seed = options.seed ?? DEFAULT_GRAPHHASH_MAPPER_OPTIONS.seed;
  const frequentFraction = options.frequentFraction ?? DEFAULT_GRAPHHASH_MAPPER_OPTIONS.frequentFraction;
  const unseenAssignment = options.unseenAssignment ?? DEFAULT_GRAPHHASH_MAPPER_OPTIONS.unseenAssignment;
  if (method !== 'graphhash' && method !== 'double-graphhash' && method !== 'graphhash-frequency') {
    throw new InvalidArgumentError(
      `${where}: unknown method '${method}'; use graphhash, double-graphhash or graphhash-frequency`,
    );
  }
  if (side !== 'user' && side !== 'item')
    throw new InvalidArgumentError(`${where}: side '${side}' must be 'user' or 'item'`);
  if (!Number.isInteger(seed)) throw new InvalidArgumentError(`${where}: seed (${seed}) must be an integer`);
  if (!(frequentFraction >= 0 && frequentFraction < 1)) {
    throw new InvalidArgumentError(`${where}: frequentFraction (${frequentFraction}) must be in [0, 1)`);
  }
  const isUser = side === 'user';
  const numIds = isUser ? clustering.numUsers : clustering.numItems;
  const cluster = isUser ? clustering.userCluster : clustering.itemCluster;
  const k = isUser ? clustering.numUserClusters : clustering.numItemClusters;
  const degree = isUser ? clustering.userDegree : clustering.itemDegree;
  const rowsOpt = options.rows;
  if (rowsOpt !== undefined && (!Number.isInteger(rowsOpt) || rowsOpt < 1)) {
    throw new InvalidArgumentError(`${where}: rows (${rowsOpt}) must be a positive integer`);
  }
  if (method !== 'graphhash' && rowsOpt === undefined) {
    throw new InvalidArgumentError(`${where}: ${method} needs rows (the table size the budget allows)`);
  }
  const tooFew = (r: number): never => {
    throw new BudgetError(
      `${where}: rows (${r}) is below the ${k} ${side} clusters of the clustering (resolution ${clustering.resolution}); lower the resolution or raise the budget`,
      { context: { rows: r, clusters: k, resolution: clustering.resolution } },
    );
  };
  // Row of each of this side's clusters (−1 = none), and the table layout.
  const clusterRow = new Int32Array(k);
  let rows: number;
  let clusterRows: number;
  let frequent = 0;
  const rowOfWide = new Int32Array(numIds).fill(-1);
  if (method === 'graphhash-frequency') {
    const total = rowsOpt!;
    const counts = options.counts ?? degree;
    if (counts.length !== numIds) {
      throw new InvalidArgumentError(`${where}: counts has length ${counts.length}; expected numIds ${numIds}`);
    }
    frequent = Math.min(numIds, Math.floor(frequentFraction * total));
    const top = topK(counts, frequent);
    const isFrequent = new Uint8Array(numIds);
    for (let r = 0; r < frequent; r++) isFrequent[top[r]!] = 1;
    // Only clusters with a non-frequent member get a row (a cluster of frequent IDs only would waste it).
    clusterRow.fill(-1);
    let next = 0;
    for (let id = 0; id < numIds; id++) {
      const q = cluster[id]!;
      if (q >= 0 && isFrequent[id] === 0 && clusterRow[q]! < 0) clusterRow[q] = 0;
    }
    for (let q = 0; q < k; q++) if (clusterRow[q]! === 0) clusterRow[q] = next++;
    clusterRows = next;
    if (clusterRows + frequent > total) {
      throw new BudgetError(
        `${where}: rows (${total}) is below ${clusterRows} cluster rows + ${frequent} frequent IDs (resolution ${clustering.resolution}); lower the resolution or frequentFraction`,
        { context: { rows: total, clusterRows, frequent, resolution: clustering.resolution } },
      );
    }
    rows = clusterRows + frequent;
    for (let r = 0; r < frequent; r++) rowOfWide[top[r]!] = clusterRows + r;
    // Degenerate (no shared rows): unseen IDs hash over all rows; an empty table gets one row.
    rows = Math.max(1, rows);
    if (clusterRows === 0) clusterRows = rows;
  } else {
    for (let q = 0; q < k; q++) clusterRow[q] = q;
    if (method === 'graphhash') {
      rows = Math.max(1, k);
      if (rowsOpt !== undefined && rowsOpt < k) tooFew(rowsOpt);
    } else {
      rows = rowsOpt!;
      if (rows < k) tooFew(rows);
    }
    clusterRows = rows;
  }
  const fallback = new UniversalHash(clusterRows, deriveSeed(seed, `graphhash/${side}/unseen`));
  for (let id = 0; id < numIds; id++) {
    if (rowOfWide[id]! >= 0) continue;
    const q = cluster[id]!;
    rowOfWide[id] = q >= 0 ? clusterRow[q]! : fallback.hash(id);
  }
  const context = unseenAssignment ? buildContext(clustering, side, clusterRow) : null;
  const params: Record<string, number | string | boolean> = {
    resolution: clustering.resolution,
    modularityKind: clustering.modularityKind,
    modularity: clustering.modularity,
    barberModularity: clustering.barberModularity,
    communities: clustering.numCommunities,
    clusters: k,
  };
  if (method === 'double-graphhash') params.m = rows;
  if (method === 'graphhash-frequency') {
    params.frequent = frequent;
    params.frequentFraction = frequentFraction;
  }
  return new GraphHashMapper({
    method,
    side,
    seed,
    numIds,
    rows,
    clusterRows,
    rowOf: narrowFrom(rowOfWide, rows - 1),
    context,
    params: Object.freeze(params),
    assigned: new Map(),
  });
}

/** The assignment context of `side` (see {@link AssignmentContext}). */
function buildContext(clustering: GraphClustering, side: Side, clusterRow: Int32Array): AssignmentContext {
  const isUser = side === 'user';
  const ownCommunity = isUser ? clustering.userClusterCommunity : clustering.itemClusterCommunity;
  const otherCommunity = isUser ? clustering.itemClusterCommunity : clustering.userClusterCommunity;
  const otherClusterWide = isUser ? clustering.itemCluster : clustering.userCluster;
  const otherDegree = isUser ? clustering.itemDegree : clustering.userDegree;
  const ownCluster = isUser ? clustering.userCluster : clustering.itemCluster;
  const ownDegree = isUser ? clustering.userDegree : clustering.itemDegree;
  const kOther = otherCommunity.length;
  const ownRowOfCommunity = new Int32Array(clustering.numCommunities).fill(-1);
  for (let q = 0; q < ownCommunity.length; q++) ownRowOfCommunity[ownCommunity[q]!] = clusterRow[q]!;
  const otherToOwnRow = new Int32Array(kOther);
  for (let p = 0; p < kOther; p++) otherToOwnRow[p] = ownRowOfCommunity[otherCommunity[p]!]!;
  const nullTotals = new Float64Array(kOther);
  for (let v = 0; v < otherClusterWide.length; v++) {
    const p = otherClusterWide[v]!;
    if (p >= 0) nullTotals[p]! += otherDegree[v]!;
  }
  const m = clustering.numEdges;
  let nullScale = m > 0 ? clustering.resolution / m : 0;
  if (clustering.modularityKind === 'unipartite') {
    // Newman's null model counts every node's degree: add this side's members of each community.
    const otherOfCommunity = new Int32Array(clustering.numCommunities).fill(-1);
    for (let p = 0; p < kOther; p++) otherOfCommunity[otherCommunity[p]!] = p;
    for (let v = 0; v < ownCluster.length; v++) {
      const q = ownCluster[v]!;
      if (q < 0) continue;
      const p = otherOfCommunity[ownCommunity[q]!]!;
      if (p >= 0) nullTotals[p]! += ownDegree[v]!;
    }
    nullScale = m > 0 ? clustering.resolution / (2 * m) : 0;
  }
  return {
    otherCluster: narrowFrom(otherClusterWide, kOther - 1),
    numOtherClusters: kOther,
    otherToOwnRow,
    nullTotals,
    nullScale,
  };
}

/**
 * Rebuilds a mapper from {@link GraphHashMapper.snapshot} output; checks shapes and names the
 * first missing or inconsistent part.
 */
export function restoreGraphHashMapper(s: MapperSnapshot): GraphHashMapper {
  const where = `graphhash/restore(${s?.method})`;
  const method = s.method as GraphHashMethod;
  if (method !== 'graphhash' && method !== 'double-graphhash' && method !== 'graphhash-frequency') {
    throw new InvalidArgumentError(`${where}: not a GraphHash snapshot`);
  }
  const p = s.params;
  const side = p.side;
  const seed = p.seed;
  const clusterRows = p.clusterRows;
  if ((side !== 'user' && side !== 'item') || typeof seed !== 'number' || typeof clusterRows !== 'number') {
    throw new InvalidArgumentError(`${where}: params side, seed or clusterRows missing`);
  }
  const rowOf = s.arrays.rowOf;
  if (!(rowOf instanceof Int32Array) || rowOf.length !== s.numIds) {
    throw new InvalidArgumentError(`${where}: arrays.rowOf must be an Int32Array of length numIds (${s.numIds})`);
  }
  for (let i = 0; i < rowOf.length; i++) {
    if (rowOf[i]! < 0 || rowOf[i]! >= s.rows) {
      throw new InvalidArgumentError(`${where}: rowOf[${i}] (${rowOf[i]}) is outside [0, ${s.rows})`);
    }
  }
  const ids = s.arrays.assignedIds;
  const rows = s.arrays.assignedRows;
  const assigned = new Map<number, number>();
  if (ids !== undefined || rows !== undefined) {
    if (!(ids instanceof Float64Array) || !(rows instanceof Int32Array) || ids.length !== rows.length) {
      throw new InvalidArgumentError(
        `${where}: arrays.assignedIds (Float64Array) and assignedRows (Int32Array) must match`,
      );
    }
    for (let j = 0; j < ids.length; j++) assigned.set(ids[j]!, rows[j]!);
  }
  let context: AssignmentContext | null = null;
  if (p.unseenAssignment === true) {
    const oc = s.arrays.otherCluster;
    const o2r = s.arrays.otherToOwnRow;
    const nt = s.arrays.nullTotals;
    if (
      !(oc instanceof Int32Array) ||
      !(o2r instanceof Int32Array) ||
      !(nt instanceof Float64Array) ||
      nt.length !== o2r.length ||
      typeof p.nullScale !== 'number'
    ) {
      throw new InvalidArgumentError(
        `${where}: assignment arrays (otherCluster, otherToOwnRow, nullTotals, nullScale) missing`,
      );
    }
    context = {
      otherCluster: narrowFrom(oc, o2r.length - 1),
      numOtherClusters: o2r.length,
      otherToOwnRow: o2r.slice(),
      nullTotals: nt.slice(),
      nullScale: p.nullScale,
    };
  }
  const params: Record<string, number | string | boolean> = { ...p };
  for (const key of ['side', 'seed', 'clusterRows', 'unseenAssignment', 'nullScale']) delete params[key];
  return new GraphHashMapper({
    method,
    side,
    seed,
    numIds: s.numIds,
    rows: s.rows,
    clusterRows,
    rowOf: narrowFrom(rowOf, s.rows - 1),
    context,
    params: Object.freeze(params),
    assigned,
  });
}
