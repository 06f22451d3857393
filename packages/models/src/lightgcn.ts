import type { Interactions } from '@compactrec/core';
import { getKernels } from '@compactrec/native';
import type { Tower } from './tower.js';

/** A square sparse matrix in CSR form over the graph's nodes (users first, then items). */
export interface NormalizedAdjacency {
  readonly numNodes: number;
  readonly offsets: Uint32Array;
  readonly indices: Int32Array;
  readonly values: Float32Array;
}

/**
 * LightGCN's propagation matrix Â = D^-½ A D^-½ of the symmetric user–item graph (users are nodes
 * 0..U−1, items U..U+I−1), built once from the training interactions.
 */
export function normalizedAdjacency(train: Interactions): NormalizedAdjacency {
  const U = train.numUsers;
  const N = U + train.numItems;
  const deg = new Uint32Array(N);
  for (let u = 0; u < U; u++) deg[u] = train.offsets[u + 1]! - train.offsets[u]!;
  for (let j = 0; j < train.items.length; j++) deg[U + train.items[j]!]!++;
  const offsets = new Uint32Array(N + 1);
  for (let x = 0; x < N; x++) offsets[x + 1] = offsets[x]! + deg[x]!;
  const indices = new Int32Array(offsets[N]!);
  const values = new Float32Array(offsets[N]!);
  const cursor = offsets.slice(0, N);
  for (let u = 0; u < U; u++) {
    for (let j = train.offsets[u]!; j < train.offsets[u + 1]!; j++) {
      const i = U + train.items[j]!;
      const w = 1 / Math.sqrt(deg[u]! * deg[i]!);
      indices[cursor[u]!] = i;
      values[cursor[u]!++] = w;
      indices[cursor[i]!] = u;
      values[cursor[i]!++] = w;
    }
  }
  return { numNodes: N, offsets, indices, values };
}

/** Layer-0 and final (layer-mean) embeddings of all nodes, recomputed by `refresh`. */
export interface Propagation {
  readonly adjacency: NormalizedAdjacency;
  /** Layer-0 embeddings `[numNodes × dim]` at the last refresh. */
  readonly ego: Float32Array;
  /** Final embeddings (mean of layers 0..L) `[numNodes × dim]` at the last refresh. */
  readonly final: Float32Array;
  /** Recomposes the towers' layer-0 embeddings and propagates them; returns views of the final ones. */
  refresh(): { userEmb: Float32Array; itemEmb: Float32Array };
}

/**
 * Full-graph propagation buffers for a LightGCN over two towers, allocated once (no per-step
 * allocation): `final = (E0 + ÂE0 + … + Â^L E0) / (L + 1)`.
 */
export function createPropagation(train: Interactions, user: Tower, item: Tower, layers: number): Propagation {
  const adjacency = normalizedAdjacency(train);
  const dim = user.dim;
  const N = adjacency.numNodes;
  const U = train.numUsers;
  const ego = new Float32Array(N * dim);
  const final = new Float32Array(N * dim);
  const cur = new Float32Array(N * dim);
  const next = new Float32Array(N * dim);
  const kernels = getKernels();
  const scale = 1 / (layers + 1);
  return {
    adjacency,
    ego,
    final,
    refresh() {
      user.composeAll(ego.subarray(0, U * dim));
      item.composeAll(ego.subarray(U * dim));
      final.set(ego);
      let x = ego;
      for (let l = 0; l < layers; l++) {
        const y = l % 2 === 0 ? cur : next;
        kernels.spmm({ dim, offsets: adjacency.offsets, indices: adjacency.indices, values: adjacency.values, x, y });
        for (let j = 0; j < final.length; j++) final[j]! += y[j]!;
        x = y;
      }
      for (let j = 0; j < final.length; j++) final[j]! *= scale;
      return { userEmb: final.subarray(0, U * dim), itemEmb: final.subarray(U * dim) };
    },
  };
}
