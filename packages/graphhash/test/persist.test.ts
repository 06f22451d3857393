import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError, materializeCodes, UsageError, writeCheckpoint } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import {
  clusterToBudget,
  createGraphHashMapper,
  GRAPHHASH_METHODS,
  loadClustering,
  saveClustering,
  useClustering,
} from '../src/index.js';
import { gowallaSlice } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'compactrec-graphhash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('saveClustering / loadClustering', () => {
  it.skipIf(missingData('gowalla/train.txt'))(
    `round-trips a clustering: identical arrays, facts and mapper rows (${DATASETS_REASON})`,
    async () => {
      const x = await gowallaSlice(600);
      const c = clusterToBudget(x, { maxUserClusters: 60, maxItemClusters: 600 }, { seed: 4 });
      const path = join(dir, 'mapping.bin');
      await saveClustering(path, c);
      const l = await loadClustering(path);
      expect(l.userCluster).toEqual(c.userCluster);
      expect(l.itemCluster).toEqual(c.itemCluster);
      expect(l.userClusterCommunity).toEqual(c.userClusterCommunity);
      expect(l.itemClusterCommunity).toEqual(c.itemClusterCommunity);
      expect(l.userDegree).toEqual(c.userDegree);
      expect(l.itemDegree).toEqual(c.itemDegree);
      expect(l.search).toEqual(c.search);
      for (const k of [
        'numUsers',
        'numItems',
        'numEdges',
        'modularityKind',
        'resolution',
        'seed',
        'numCommunities',
      ] as const) {
        expect(l[k]).toBe(c[k]);
      }
      for (const k of [
        'numUserClusters',
        'numItemClusters',
        'modularity',
        'barberModularity',
        'louvainSeconds',
      ] as const) {
        expect(l[k]).toBe(c[k]);
      }
      for (const method of ['graphhash', 'double-graphhash', 'graphhash-frequency'] as const) {
        for (const side of ['user', 'item'] as const) {
          const rows = side === 'user' ? 120 : 1200;
          const a = createGraphHashMapper(c, side, { method, rows, seed: 3 });
          const b = createGraphHashMapper(l, side, { method, rows, seed: 3 });
          expect(materializeCodes(b)).toEqual(materializeCodes(a));
        }
      }
      // A pinned (loaded) clustering is what the specs use for these interactions.
      useClustering(x, l);
      const m = GRAPHHASH_METHODS.graphhash!.create(
        { numIds: x.numUsers, interactions: x, side: 'user' },
        { dim: 8, budgetBytes: 60 * 8 * 4, seed: 0 },
      );
      expect(materializeCodes(m)).toEqual(l.userCluster);
      useClustering(x, null);
    },
  );

  it.skipIf(missingData('gowalla/train.txt'))(
    `rejects a damaged file or another kind of checkpoint (${DATASETS_REASON})`,
    async () => {
      const x = await gowallaSlice(100);
      const c = clusterToBudget(x, { maxUserClusters: 20, maxItemClusters: 200 });
      const path = join(dir, 'damaged.bin');
      await saveClustering(path, c);
      const bytes = readFileSync(path);
      writeFileSync(path, bytes.subarray(0, bytes.length - 5));
      await expect(loadClustering(path)).rejects.toBeInstanceOf(DataFormatError);
      const other = join(dir, 'other.bin');
      await writeCheckpoint(other, 'mapper', {}, {});
      await expect(loadClustering(other)).rejects.toBeInstanceOf(UsageError);
      const wrong = join(dir, 'wrong.bin');
      await writeCheckpoint(wrong, 'graphhash-mapping', { version: 1, numUsers: 3 }, {});
      await expect(loadClustering(wrong)).rejects.toBeInstanceOf(DataFormatError);
    },
  );
});
