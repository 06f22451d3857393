import { InvalidArgumentError, UsageError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import {
  assignUnseen,
  clusterInteractions,
  createGraphHashMapper,
  type GraphClustering,
  type GraphHashMapper,
} from '../src/index.js';
import { csr, gowallaSlice } from './helpers.js';

/** Two dense blocks: users 0–2 × items 0–2 and users 3–5 × items 3–5, so two clusters per side. */
const BLOCKS = csr(
  [
    [0, 1, 2],
    [0, 1, 2],
    [0, 1, 2],
    [3, 4, 5],
    [3, 4, 5],
    [3, 4, 5],
  ],
  6,
);

function rowOf(m: GraphHashMapper, id: number): number {
  const out = new Int32Array(m.codesPerId);
  m.mapInto([id], out);
  return out[m.codesPerId - 1]!;
}

describe('assignUnseen', () => {
  const c = clusterInteractions(BLOCKS, { resolution: 1 });
  const users = createGraphHashMapper(c, 'user');
  const items = createGraphHashMapper(c, 'item');

  it('clusters the two blocks apart (fixture check)', () => {
    expect(c.numUserClusters).toBe(2);
    expect(rowOf(users, 0)).not.toBe(rowOf(users, 3));
  });

  it('rejects fitted IDs, bad neighbours and non-GraphHash mappers', () => {
    expect(() => assignUnseen(users, 2, [0])).toThrow(InvalidArgumentError);
    expect(() => assignUnseen(users, 10, [-1])).toThrow(InvalidArgumentError);
    const fake = { method: 'modulo' } as unknown as GraphHashMapper;
    expect(() => assignUnseen(fake, 10, [0])).toThrow(InvalidArgumentError);
    const noCtx = createGraphHashMapper(c, 'user', { unseenAssignment: false });
    expect(noCtx.assignmentBytes).toBe(0);
    expect(() => assignUnseen(noCtx, 10, [0])).toThrow(UsageError);
  });

  it('an ID whose neighbours are all in cluster c joins c, and mapInto returns it', () => {
    const before = rowOf(users, 100);
    const a = assignUnseen(users, 100, [3, 4, 5]);
    expect(a.row).toBe(rowOf(users, 3));
    expect(a.reason).toBe('modularity');
    expect(rowOf(users, 100)).toBe(a.row);
    expect(users.assignedCount).toBe(1);
    expect(users.mappingBytes).toBe(6 + 16 + 8);
    // The item side works the same way: neighbours are users.
    expect(assignUnseen(items, 50, [0, 1]).row).toBe(rowOf(items, 0));
    // An unassigned unseen ID used its hash fallback before.
    expect(before).toBeGreaterThanOrEqual(0);
    expect(before).toBeLessThan(users.rows);
  });

  it('with no clustered neighbour it keeps the hash fallback', () => {
    const id = 12345;
    const hashed = rowOf(users, id);
    const none = assignUnseen(users, id, []);
    expect(none).toEqual({ row: hashed, reason: 'hash' });
    // Neighbours outside the fitted item space are unknown too.
    expect(assignUnseen(users, id, [999, 1000])).toEqual({ row: hashed, reason: 'hash' });
    expect(rowOf(users, id)).toBe(hashed);
  });

  it('maximizes the modularity gain, and breaks exact ties by majority', () => {
    // Hand-made clustering: users 0–1 in community 0, users 2–3 in community 1; items 0–3 in
    // community 0 (item degrees 1 each), item 4 in community 1 with degree 10. m = 14.
    const clustering: GraphClustering = {
      numUsers: 4,
      numItems: 5,
      numEdges: 14,
      modularityKind: 'bipartite',
      resolution: 1,
      seed: 0,
      numCommunities: 2,
      numUserClusters: 2,
      numItemClusters: 2,
      userCluster: Int32Array.of(0, 0, 1, 1),
      itemCluster: Int32Array.of(0, 0, 0, 0, 1),
      userClusterCommunity: Int32Array.of(0, 1),
      itemClusterCommunity: Int32Array.of(0, 1),
      userDegree: Uint32Array.of(2, 2, 5, 5),
      itemDegree: Uint32Array.of(1, 1, 1, 1, 10),
      modularity: 0,
      barberModularity: 0,
      graphSeconds: 0,
      louvainSeconds: 0,
      graphCpuSeconds: 0,
      louvainCpuSeconds: 0,
      search: null,
    };
    const m = createGraphHashMapper(clustering, 'user');
    // Neighbours items 0 and 4 (k = 2): gain(c0) = 1 − 2·4/14 ≈ 0.43, gain(c1) = 1 − 2·10/14 ≈ −0.43.
    expect(assignUnseen(m, 10, [0, 4])).toEqual({ row: 0, reason: 'modularity' });
    // More neighbours do not win by themselves: items 3 and 4 in community 1 (totals 3 vs 10);
    // neighbours items 0, 3, 4 (k = 3): gain(c0) = 1 − 3·3/14 ≈ 0.36 > gain(c1) = 2 − 3·10/14 ≈ −0.14.
    const strong = createGraphHashMapper(
      { ...clustering, itemCluster: Int32Array.of(0, 0, 0, 1, 1), itemDegree: Uint32Array.of(1, 1, 1, 5, 5) },
      'user',
    );
    expect(assignUnseen(strong, 13, [0, 3, 4])).toEqual({ row: 0, reason: 'modularity' });
    // An exact tie (equal counts, equal totals): the majority rule, then the lower row.
    const tie: GraphClustering = { ...clustering, itemDegree: Uint32Array.of(1, 1, 1, 1, 4) };
    const t = createGraphHashMapper(tie, 'user');
    // Neighbours items 0 and 4: both gains 1 − 2·4/14 → tie; equal counts → lower row.
    expect(assignUnseen(t, 11, [0, 4])).toEqual({ row: 0, reason: 'majority' });
    // Equal totals but 2 neighbours in c0 vs 1 in c1: the gain itself prefers c0.
    expect(assignUnseen(t, 12, [0, 1, 4])).toEqual({ row: 0, reason: 'modularity' });
  });

  it('places new Gowalla users near their items (real slice)', async () => {
    const x = await gowallaSlice(800);
    const cl = clusterInteractions(x, { resolution: 20, seed: 1 });
    const m = createGraphHashMapper(cl, 'user');
    // Re-insert existing users as if they were new: most should land in their own cluster.
    let same = 0;
    const n = 200;
    for (let u = 0; u < n; u++) {
      const a = assignUnseen(m, x.numUsers + u, x.items.subarray(x.offsets[u]!, x.offsets[u + 1]!));
      if (a.row === cl.userCluster[u]) same++;
    }
    expect(same / n).toBeGreaterThan(0.6);
  });
});
