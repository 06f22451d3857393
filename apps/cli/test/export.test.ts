import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@compactrec/cli';
import { degrees, generateRetrievalDataset } from '@compactrec/core';
import { createFeatureEmbedding, saveFeatureEmbeddings } from '@compactrec/embedding';
import { clusterInteractions, saveClustering } from '@compactrec/graphhash';
import { readExport, reconstructEmbeddings } from '@compactrec/interop';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capture } from './capture.js';

const data = generateRetrievalDataset({ numUsers: 200, numItems: 300, communities: 5, meanDegree: 8, seed: 2 });

describe('compactrec export', () => {
  afterEach(() => vi.restoreAllMocks());

  it('exports a feature-embeddings checkpoint (file or model directory) whose rebuilt embeddings equal the served ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-export-'));
    const deg = degrees(data.train);
    const item = createFeatureEmbedding(
      'graphhash+int8',
      { numIds: data.train.numItems, counts: deg.items, interactions: data.train, side: 'item' },
      { dim: 8, budgetBytes: Math.floor(0.3 * data.train.numItems * 8 * 4), seed: 1 },
    );
    await saveFeatureEmbeddings(join(dir, 'embeddings.ckpt'), { item });
    const io = capture();
    expect(await main(['export', '--from', dir, '--format', 'npy', '--out', join(dir, 'npy')])).toBe(0);
    expect(io.out()).toMatch(/item\s+graphhash\+int8 .*table int8 as rowwise-affine 8-bit/);
    expect(await main(['export', '--from', join(dir, 'embeddings.ckpt'), '--out', join(dir, 'm.safetensors')])).toBe(0);
    const ids = Int32Array.from({ length: data.train.numItems }, (_, i) => i);
    const want = new Float32Array(ids.length * 8);
    item.lookup(ids, want);
    for (const path of [join(dir, 'npy'), join(dir, 'm.safetensors')]) {
      const got = reconstructEmbeddings(await readExport(path), 'item', ids);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it('exports a GraphHash mapping (compactrec cluster --out) as ID → cluster arrays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-export-'));
    const c = clusterInteractions(data.train, { resolution: 1, seed: 0 });
    await saveClustering(join(dir, 'map.bin'), c);
    capture();
    expect(await main(['export', '--from', join(dir, 'map.bin'), '--format', 'npy', '--out', join(dir, 'o')])).toBe(0);
    const back = await readExport(join(dir, 'o'));
    expect(Array.from(back.tensors['user.mapping.codes']!.data as Int32Array)).toEqual(Array.from(c.userCluster));
    expect(back.metadata.features.item!.mapping.rows).toBe(c.numItemClusters);
    expect(JSON.parse(await readFile(join(dir, 'o', 'metadata.json'), 'utf8')).format).toBe('compactrec-export');
  });

  it('one-line errors naming the input for a missing path, a foreign file and a bad format', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-export-'));
    await writeFile(join(dir, 'notes.txt'), 'hello');
    const io = capture();
    expect(await main(['export', '--from', join(dir, 'nope'), '--out', join(dir, 'x')])).not.toBe(0);
    expect(io.err()).toMatch(/nope does not exist/);
    expect(await main(['export', '--from', join(dir, 'notes.txt'), '--out', join(dir, 'x')])).not.toBe(0);
    expect(io.err()).toMatch(/notes\.txt is not a CompactRec checkpoint/);
    expect(await main(['export', '--from', dir, '--out', join(dir, 'x')])).not.toBe(0);
    expect(io.err()).toMatch(/model directory .* has no feature-embeddings checkpoints/);
    expect(await main(['export', '--from', dir, '--format', 'csv', '--out', join(dir, 'x')])).not.toBe(0);
    expect(io.err()).toMatch(/--format 'csv'/);
  });
});
