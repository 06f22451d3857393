/**
 * Modularity of a user/item community assignment, computed straight from the CSR. Independent of
 * graphology on purpose: it checks what Louvain reports and scores clusterings loaded from disk.
 */
import { type Interactions, InvalidArgumentError } from '@compactrec/core';
import { checkInteractions, type ModularityKind } from './graph.js';

/**
 * Modularity of a partition of the interaction graph (duplicate pairs count once).
 *
 * - `bipartite` (Barber 2007): Q = (1/m) Σ_(u,i)∈E δ(c_u, c_i) − γ Σ_c K_c·D_c / m², with K_c the
 *   summed user degrees and D_c the summed item degrees in community c.
 * - `unipartite` (Newman): Q = (1/m) Σ_(u,i)∈E δ(c_u, c_i) − γ Σ_c (K_c + D_c)² / (2m)².
 *
 * @param userCommunity community label of each user (any integers ≥ 0 shared with the items; −1 or
 *   an isolated user contributes nothing)
 * @param itemCommunity community label of each item
 * @param resolution γ (1 is the classical definition)
 * @returns Q, or NaN for a graph without edges
 */
export function interactionModularity(
  x: Interactions,
  userCommunity: ArrayLike<number>,
  itemCommunity: ArrayLike<number>,
  kind: ModularityKind = 'bipartite',
  resolution = 1,
): number {
  const where = 'graphhash/interactionModularity';
  checkInteractions(x, where);
  if (userCommunity.length !== x.numUsers || itemCommunity.length !== x.numItems) {
    throw new InvalidArgumentError(
      `${where}: community arrays have lengths ${userCommunity.length}/${itemCommunity.length}; expected numUsers ${x.numUsers}/numItems ${x.numItems}`,
    );
  }
  if (!(resolution >= 0) || !Number.isFinite(resolution)) {
    throw new InvalidArgumentError(`${where}: resolution (${resolution}) must be a finite number ≥ 0`);
  }
  let maxLabel = -1;
  for (let u = 0; u < x.numUsers; u++) maxLabel = Math.max(maxLabel, userCommunity[u]!);
  for (let i = 0; i < x.numItems; i++) maxLabel = Math.max(maxLabel, itemCommunity[i]!);
  const userTotals = new Float64Array(maxLabel + 1);
  const itemTotals = new Float64Array(maxLabel + 1);
  const lastUser = new Int32Array(x.numItems).fill(-1);
  let m = 0;
  let inside = 0;
  for (let u = 0; u < x.numUsers; u++) {
    const cu = userCommunity[u]!;
    for (let j = x.offsets[u]!; j < x.offsets[u + 1]!; j++) {
      const i = x.items[j]!;
      if (lastUser[i] === u) continue;
      lastUser[i] = u;
      const ci = itemCommunity[i]!;
      if (cu < 0 || ci < 0) {
        throw new InvalidArgumentError(`${where}: user ${u} or item ${i} has an interaction but no community (−1)`);
      }
      m++;
      userTotals[cu]!++;
      itemTotals[ci]!++;
      if (cu === ci) inside++;
    }
  }
  if (m === 0) return Number.NaN;
  let nullTerm = 0;
  if (kind === 'bipartite') {
    for (let c = 0; c <= maxLabel; c++) nullTerm += userTotals[c]! * itemTotals[c]!;
    return inside / m - (resolution * nullTerm) / (m * m);
  }
  for (let c = 0; c <= maxLabel; c++) {
    const d = userTotals[c]! + itemTotals[c]!;
    nullTerm += d * d;
  }
  return inside / m - (resolution * nullTerm) / (4 * m * m);
}
