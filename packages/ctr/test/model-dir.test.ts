import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, UsageError } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CTR_MODEL_FILES,
  createCtrModel,
  FieldVocabulary,
  loadCtrModel,
  SyntheticCtr,
  saveCtrModel,
} from '../src/index.js';
import { cpuTf, firstBatch } from './helpers.js';

const DATA = new SyntheticCtr({
  fields: 4,
  cardinality: [200, 150, 5, 90],
  trainRows: 256,
  validRows: 64,
  testRows: 64,
});
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ctr-model-dir-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('model directory', () => {
  for (const [model, method] of [
    ['deepfm', 'hash-embedding'],
    ['dlrm', 'double-frequency'],
    ['lr', 'qr'],
  ] as const) {
    it(`${model}/${method}: loads back to identical predictions`, async () => {
      const tf = await cpuTf();
      const m = createCtrModel(
        tf,
        DATA.schema,
        { model, method, budget: 0.3, keepFullBelow: 10, dim: 8, mlp: [8], lr: 0.01 },
        { counts: DATA.expectedCounts() },
      );
      const batch = await firstBatch(DATA.train, 128);
      for (let i = 0; i < 3; i++) m.trainStep(batch);
      const test = await firstBatch(DATA.test, 64);
      const want = m.predict(test);
      const dir = await tempDir();
      const vocab = new FieldVocabulary([Float64Array.of(3, 7)], [Int32Array.of(1, 0)], [true]);
      await saveCtrModel(m, dir, { vocabulary: vocab, data: { format: 'synthetic' } });
      const loaded = await loadCtrModel(tf, dir);
      expect(loaded.model.predict(test)).toEqual(want);
      expect(loaded.config.data).toEqual({ format: 'synthetic' });
      expect(loaded.config.fields.map((f) => f.method)).toEqual(m.mappers.map((x) => x.method));
      expect(loaded.vocabulary?.lookup(0, 7)).toBe(0);
      expect(loaded.vocabulary?.lookup(0, 4)).toBe(2); // OOV
      m.dispose();
      loaded.model.dispose();
    });
  }

  it('rejects a model directory of another version with a UsageError', async () => {
    const tf = await cpuTf();
    const m = createCtrModel(tf, DATA.schema, { model: 'lr' });
    const dir = await tempDir();
    await saveCtrModel(m, dir);
    m.dispose();
    const path = join(dir, CTR_MODEL_FILES.config);
    const config = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...config, version: 99 }));
    await expect(loadCtrModel(tf, dir)).rejects.toThrow(UsageError);
    await writeFile(path, JSON.stringify({ ...config, format: 'something-else' }));
    await expect(loadCtrModel(tf, dir)).rejects.toThrow(UsageError);
  });

  it('reports a missing directory as NotFoundError', async () => {
    const tf = await cpuTf();
    await expect(loadCtrModel(tf, join(tmpdir(), 'no-such-ctr-model-dir'))).rejects.toThrow(NotFoundError);
  });
});
