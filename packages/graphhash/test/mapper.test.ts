import {
  BudgetError,
  deriveSeed,
  embeddingBytes,
  fullTableBytes,
  type IdMapper,
  type Interactions,
  InvalidArgumentError,
  materializeCodes,
  UniversalHash,
} from '@compactrec/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import {
  clusterInteractions,
  createGraphHashMapper,
  GRAPHHASH_METHODS,
  type GraphHashMapper,
  restoreGraphHashMapper,
} from '../src/index.js';
import { csr, gowallaSlice } from './helpers.js';

const DIM = 16;

function create(name: string, x: Interactions, side: 'user' | 'item', fraction: number, extra = {}): IdMapper {
  const numIds = side === 'user' ? x.numUsers : x.numItems;
  return GRAPHHASH_METHODS[name]!.create(
    { numIds, interactions: x, side },
    { dim: DIM, budgetBytes: fraction * fullTableBytes(numIds, DIM), seed: 5, extra },
  );
}

function codesOf(m: IdMapper, ids: number[]): Int32Array {
  const out = new Int32Array(ids.length * m.codesPerId);
  m.mapInto(ids, out);
  return out;
}

describe('GraphHash specs: bad input', () => {
  const x = csr(
    [
      [0, 1],
      [1, 2],
    ],
    3,
  );
  it('needs interactions and a side', () => {
    const spec = GRAPHHASH_METHODS.graphhash!;
    const opts = { dim: 4, budgetBytes: 64, seed: 0 };
    expect(() => spec.create({ numIds: 2 }, opts)).toThrow(InvalidArgumentError);
    expect(() => spec.create({ numIds: 2, interactions: x }, opts)).toThrow(InvalidArgumentError);
    expect(() => spec.create({ numIds: 5, interactions: x, side: 'user' }, opts)).toThrow(InvalidArgumentError);
    expect(() =>
      spec.create({ numIds: 2, interactions: x, side: 'user' }, { ...opts, extra: { modularity: 'x' } }),
    ).toThrow(InvalidArgumentError);
  });

  it('throws BudgetError when the budget cannot hold one row, or a fixed resolution exceeds it', () => {
    const spec = GRAPHHASH_METHODS.graphhash!;
    expect(() =>
      spec.create({ numIds: 2, interactions: x, side: 'user' }, { dim: 4, budgetBytes: 8, seed: 0 }),
    ).toThrow(BudgetError);
    const two = csr([[0], [1]], 2); // two components → at least 2 clusters per side
    expect(() =>
      spec.create(
        { numIds: 2, interactions: two, side: 'user' },
        { dim: 4, budgetBytes: 16, seed: 0, extra: { resolution: 1 } },
      ),
    ).toThrow(BudgetError);
  });

  it('rejects out-of-range IDs in mapInto', () => {
    const m = GRAPHHASH_METHODS.graphhash!.create(
      { numIds: 2, interactions: x, side: 'user' },
      { dim: 4, budgetBytes: 32, seed: 0 },
    );
    expect(() => m.mapInto([-1], new Int32Array(1))).toThrow(InvalidArgumentError);
    expect(() => m.mapInto([0, 1], new Int32Array(1))).toThrow(InvalidArgumentError);
  });
});

describe.skipIf(missingData('gowalla/train.txt'))(`GraphHash mappers on a Gowalla slice (${DATASETS_REASON})`, () => {
  let x: Interactions;
  beforeAll(async () => {
    x = await gowallaSlice(800);
  });

  it('graphhash: row = cluster, rows within the budget, narrow mapping array', () => {
    const users = create('graphhash', x, 'user', 0.2, { targeting: 'joint' }) as GraphHashMapper;
    const items = create('graphhash', x, 'item', 0.2, { targeting: 'joint' }) as GraphHashMapper;
    // Joint targeting: one clustering served both sides (same resolution and community count).
    expect(items.params.resolution).toBe(users.params.resolution);
    expect(items.params.communities).toBe(users.params.communities);
    for (const [m, n] of [
      [users, x.numUsers],
      [items, x.numItems],
    ] as const) {
      expect(m.codesPerId).toBe(1);
      expect(m.rows).toBe(m.params.clusters);
      expect(embeddingBytes(m, DIM)).toBeLessThanOrEqual(0.2 * fullTableBytes(n, DIM));
      const codes = materializeCodes(m);
      expect(codes.every((r) => r >= 0 && r < m.rows)).toBe(true);
      const bytesPerId = m.rows <= 255 ? 1 : m.rows <= 65535 ? 2 : 4;
      expect(m.mappingBytes).toBe(n * bytesPerId + 16);
    }
    // Same clustering as a direct fixed-resolution run at the chosen resolution and seed.
    const direct = clusterInteractions(x, { resolution: users.params.resolution as number, seed: 5 });
    expect(materializeCodes(users)).toEqual(direct.userCluster);
  });

  it('double-graphhash: codes [universal hash, cluster] into m budget rows', () => {
    const m = create('double-graphhash', x, 'item', 0.2) as GraphHashMapper;
    expect(m.codesPerId).toBe(2);
    expect(m.rows).toBe(Math.floor(0.2 * x.numItems));
    expect(m.params.m).toBe(m.rows);
    const plain = create('graphhash', x, 'item', 0.2);
    const h = new UniversalHash(m.rows, deriveSeed(5, 'graphhash/item/hash'));
    const ids = [0, 1, 2, 100, x.numItems - 1];
    const codes = codesOf(m, ids);
    const clusters = codesOf(plain, ids);
    ids.forEach((id, j) => {
      expect(codes[2 * j]).toBe(h.hash(id));
      expect(codes[2 * j + 1]).toBe(clusters[j]);
    });
    expect(m.mappingBytes).toBe(m.numIds * (m.rows <= 65535 ? 2 : 4) + 32);
  });

  it('graphhash-frequency: the top IDs own distinct rows above the cluster rows', () => {
    const m = create('graphhash-frequency', x, 'user', 0.2) as GraphHashMapper;
    const budgetRows = Math.floor(0.2 * x.numUsers);
    const frequent = m.params.frequent as number;
    expect(frequent).toBe(Math.floor(0.5 * budgetRows));
    expect(m.rows).toBeLessThanOrEqual(budgetRows);
    expect(m.rows).toBe(m.clusterRows + frequent);
    const degree = new Uint32Array(x.numUsers);
    for (let u = 0; u < x.numUsers; u++) degree[u] = new Set(x.items.subarray(x.offsets[u]!, x.offsets[u + 1]!)).size;
    const order = [...degree.keys()].sort((a, b) => degree[b]! - degree[a]! || a - b);
    const codes = materializeCodes(m);
    const own = order.slice(0, frequent).map((id) => codes[id]!);
    expect(new Set(own).size).toBe(frequent);
    expect(own.every((r) => r >= m.clusterRows)).toBe(true);
    expect(order.slice(frequent).every((id) => codes[id]! < m.clusterRows)).toBe(true);
  });

  it('snapshot → restore gives identical codes and parameters', () => {
    for (const name of Object.keys(GRAPHHASH_METHODS)) {
      const m = create(name, x, 'user', 0.2) as GraphHashMapper;
      m.assign(x.numUsers + 3, [0, 1, 2]);
      const r = GRAPHHASH_METHODS[name]!.restore(m.snapshot()) as GraphHashMapper;
      const ids = [...Array(x.numUsers).keys(), x.numUsers, x.numUsers + 3, 2 ** 40];
      expect(codesOf(r, ids)).toEqual(codesOf(m, ids));
      expect(r.params).toEqual(m.params);
      expect([r.rows, r.numIds, r.mappingBytes, r.assignmentBytes]).toEqual([
        m.rows,
        m.numIds,
        m.mappingBytes,
        m.assignmentBytes,
      ]);
      expect(r.assign(x.numUsers + 9, [4, 5])).toEqual(m.assign(x.numUsers + 9, [4, 5]));
    }
  });

  it('createGraphHashMapper checks rows against the clustering', () => {
    const c = clusterInteractions(x, { resolution: 10 });
    expect(() => createGraphHashMapper(c, 'user', { method: 'double-graphhash' })).toThrow(InvalidArgumentError);
    expect(() => createGraphHashMapper(c, 'user', { method: 'double-graphhash', rows: 1 })).toThrow(BudgetError);
    expect(() => createGraphHashMapper(c, 'user', { method: 'graphhash', rows: 1 })).toThrow(BudgetError);
    expect(() => restoreGraphHashMapper({ method: 'graphhash', numIds: 1, rows: 1, params: {}, arrays: {} })).toThrow(
      InvalidArgumentError,
    );
  });
});
