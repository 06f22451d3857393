/**
 * Saving and loading a whole clustering as a core checkpoint (kind `graphhash-mapping`), so the
 * `compactrec cluster` command can cluster once and training runs reuse the result.
 */
import { DataFormatError, readCheckpoint, writeCheckpoint } from '@compactrec/core';
import type { ClusterSearch, GraphClustering } from './cluster.js';

/** The checkpoint kind of a saved clustering. */
export const CLUSTERING_CHECKPOINT_KIND = 'graphhash-mapping';
/** Version of the header layout inside the checkpoint. */
const CLUSTERING_VERSION = 1;

/** Writes `clustering` to `path` atomically (core checkpoint, kind `graphhash-mapping`). */
export async function saveClustering(path: string, clustering: GraphClustering): Promise<void> {
  const c = clustering;
  await writeCheckpoint(
    path,
    CLUSTERING_CHECKPOINT_KIND,
    {
      version: CLUSTERING_VERSION,
      numUsers: c.numUsers,
      numItems: c.numItems,
      numEdges: c.numEdges,
      modularityKind: c.modularityKind,
      resolution: c.resolution,
      seed: c.seed,
      numCommunities: c.numCommunities,
      numUserClusters: c.numUserClusters,
      numItemClusters: c.numItemClusters,
      // JSON has no NaN (graph without edges): store null.
      modularity: Number.isNaN(c.modularity) ? null : c.modularity,
      barberModularity: Number.isNaN(c.barberModularity) ? null : c.barberModularity,
      graphSeconds: c.graphSeconds,
      louvainSeconds: c.louvainSeconds,
      graphCpuSeconds: c.graphCpuSeconds,
      louvainCpuSeconds: c.louvainCpuSeconds,
      search: c.search,
    },
    {
      userCluster: c.userCluster,
      itemCluster: c.itemCluster,
      userClusterCommunity: c.userClusterCommunity,
      itemClusterCommunity: c.itemClusterCommunity,
      userDegree: c.userDegree,
      itemDegree: c.itemDegree,
    },
  );
}

/**
 * Reads a clustering written by {@link saveClustering}; checks every array's type, length and
 * range, so a damaged file is a DataFormatError naming what is wrong.
 */
export async function loadClustering(path: string): Promise<GraphClustering> {
  const ck = await readCheckpoint(path, { kind: CLUSTERING_CHECKPOINT_KIND });
  const h = ck.header;
  const bad = (what: string): never => {
    throw new DataFormatError(path, 0, `graphhash/loadClustering: ${what}`);
  };
  if (h.version !== CLUSTERING_VERSION)
    bad(`header version ${String(h.version)}; this build reads ${CLUSTERING_VERSION}`);
  const int = (k: string): number => {
    const v = h[k];
    return typeof v === 'number' && Number.isInteger(v) && v >= 0
      ? v
      : bad(`header.${k} (${String(v)}) is not an integer ≥ 0`);
  };
  const numUsers = int('numUsers');
  const numItems = int('numItems');
  const numUserClusters = int('numUserClusters');
  const numItemClusters = int('numItemClusters');
  const numCommunities = int('numCommunities');
  const kind = h.modularityKind;
  if (kind !== 'bipartite' && kind !== 'unipartite') bad(`header.modularityKind '${String(kind)}'`);
  const arr = <T>(name: string, ctor: new (n: number) => T, length: number): T => {
    const a = ck.arrays[name];
    if (!(a instanceof (ctor as unknown as typeof Int32Array)) || a.length !== length) {
      bad(`array ${name} missing or not of length ${length}`);
    }
    return a as T;
  };
  const userCluster = arr('userCluster', Int32Array, numUsers);
  const itemCluster = arr('itemCluster', Int32Array, numItems);
  const userClusterCommunity = arr('userClusterCommunity', Int32Array, numUserClusters);
  const itemClusterCommunity = arr('itemClusterCommunity', Int32Array, numItemClusters);
  const userDegree = arr('userDegree', Uint32Array, numUsers);
  const itemDegree = arr('itemDegree', Uint32Array, numItems);
  const inRange = (a: Int32Array, lo: number, hi: number, name: string): void => {
    for (let i = 0; i < a.length; i++)
      if (a[i]! < lo || a[i]! >= hi) bad(`${name}[${i}] (${a[i]}) outside [${lo}, ${hi})`);
  };
  inRange(userCluster, -1, numUserClusters, 'userCluster');
  inRange(itemCluster, -1, numItemClusters, 'itemCluster');
  inRange(userClusterCommunity, 0, numCommunities, 'userClusterCommunity');
  inRange(itemClusterCommunity, 0, numCommunities, 'itemClusterCommunity');
  const num = (k: string): number => {
    const v = h[k];
    // null: NaN was written (JSON has none); absent: a field this reader knows but the writer did not.
    return v === null || v === undefined ? Number.NaN : typeof v === 'number' ? v : bad(`header.${k} is not a number`);
  };
  return {
    numUsers,
    numItems,
    numEdges: int('numEdges'),
    modularityKind: kind as GraphClustering['modularityKind'],
    resolution: num('resolution'),
    seed: num('seed'),
    numCommunities,
    numUserClusters,
    numItemClusters,
    userCluster,
    itemCluster,
    userClusterCommunity,
    itemClusterCommunity,
    userDegree,
    itemDegree,
    modularity: num('modularity'),
    barberModularity: num('barberModularity'),
    graphSeconds: num('graphSeconds'),
    louvainSeconds: num('louvainSeconds'),
    graphCpuSeconds: num('graphCpuSeconds'),
    louvainCpuSeconds: num('louvainCpuSeconds'),
    search: (h.search ?? null) as ClusterSearch | null,
  };
}
