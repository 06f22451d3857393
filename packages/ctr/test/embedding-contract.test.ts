import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, writeCheckpoint } from '@compactrec/core';
import { methodNames, resolveMethod } from '@compactrec/embedding';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CTR_MODEL_FILES,
  createCtrModel,
  type FieldGraph,
  fieldGraphs,
  loadCtrModel,
  SyntheticCtr,
  saveCtrModel,
} from '../src/index.js';
import { cpuTf, firstBatch } from './helpers.js';

// The CTR side of the embedding contract: every method name the registry accepts builds a model,
// trains, and round-trips through a model directory to identical predictions.

const DATA = new SyntheticCtr({
  fields: 4,
  cardinality: [300, 200, 5, 120],
  trainRows: 512,
  validRows: 64,
  testRows: 128,
  seed: 11,
});
const COMPOSED = ['double-frequency+int8', 'double-frequency+int4', 'graphhash+int8', 'dsl+int8', 'qr+fp16'];
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ctr-contract-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

let graphs: (FieldGraph | null)[] | null = null;
async function graphsFor(method: string): Promise<(FieldGraph | null)[] | undefined> {
  if (!resolveMethod(method).sharing.requires.includes('interactions')) return undefined;
  graphs ??= await fieldGraphs(DATA.schema, DATA.train, { method, keepFullBelow: 10 });
  return graphs;
}

async function roundTrip(method: string, quantize: 'after' | 'during'): Promise<void> {
  const tf = await cpuTf();
  const g = await graphsFor(method);
  const m = createCtrModel(
    tf,
    DATA.schema,
    { model: 'deepfm', method, quantize, budget: 0.5, keepFullBelow: 10, dim: 8, mlp: [8], lr: 0.01, totalSteps: 6 },
    { counts: DATA.expectedCounts(), ...(g ? { graphs: g } : {}) },
  );
  const batch = await firstBatch(DATA.train, 128);
  for (let i = 0; i < 6; i++) m.trainStep(batch);
  const mem = m.memory();
  expect(mem.embeddingBytes).toBeLessThanOrEqual(mem.budgetBytes);
  const test = await firstBatch(DATA.test, 128);
  const dir = await tempDir();
  await saveCtrModel(m, dir); // finishes training: the saved model is the served form
  const want = m.predict(test);
  const loaded = await loadCtrModel(tf, dir);
  expect(loaded.model.predict(test)).toEqual(want);
  expect(loaded.model.fields.map((e) => e.storage.kind)).toEqual(m.fields.map((e) => e.storage.kind));
  expect(loaded.model.memory().embeddingBytes).toBe(m.memory().embeddingBytes);
  expect(loaded.config.fields[0]!.storage).toBe(m.fields[0]!.storage.kind);
  // The compressed fields' storage is the method's kind.
  const parts = resolveMethod(method);
  expect(m.fields[0]!.storage.kind).toBe(
    parts.inner ? `${parts.storage.name}+${parts.inner.name}` : parts.storage.name,
  );
  m.dispose();
  loaded.model.dispose();
}

describe('CTR models through the embedding contract', () => {
  for (const method of [...methodNames(), ...COMPOSED]) {
    it(`${method}: builds within the budget, trains, and a model directory loads it to identical predictions`, () =>
      roundTrip(method, 'after'));
  }
  for (const method of ['int8', 'int4', 'alpt8', 'double-frequency+int8']) {
    it(`${method} --quantize during: model directory round trip gives identical predictions`, () =>
      roundTrip(method, 'during'));
  }

  it('qr concat: the first-order table sums its K scalars and the directory keeps that composition', async () => {
    const tf = await cpuTf();
    const m = createCtrModel(tf, DATA.schema, {
      method: 'qr+int8',
      extra: { combine: 'concat' },
      budget: 0.6,
      keepFullBelow: 10,
      dim: 8,
      mlp: [8],
      lr: 0.01,
    });
    expect(m.fields[0]!.combine).toBe('concat');
    expect(m.firstOrder[0]!.combine).toBe('sum');
    const batch = await firstBatch(DATA.train, 128);
    for (let i = 0; i < 3; i++) m.trainStep(batch);
    const dir = await tempDir();
    await saveCtrModel(m, dir);
    const loaded = await loadCtrModel(tf, dir);
    expect(loaded.model.firstOrder[0]!.combine).toBe('sum');
    expect(loaded.model.predict(batch)).toEqual(m.predict(batch));
    m.dispose();
    loaded.model.dispose();
  });

  it('post-training quantization: int8 serves fewer bytes than float32 and drops the master and optimizer', async () => {
    const tf = await cpuTf();
    const m = createCtrModel(tf, DATA.schema, { method: 'int8', budget: 0.5, keepFullBelow: 10, dim: 8, mlp: [8] });
    const batch = await firstBatch(DATA.train, 64);
    m.trainStep(batch);
    const training = m.memory();
    expect(training.trainingBytes).toBeGreaterThan(0); // the float master of every int8 table
    const before = m.predict(batch).slice();
    m.finishTraining();
    const served = m.memory();
    // int8 rows at d 8: 8 codes + float32 scale and bias = 16 of 32 bytes.
    expect(served.embeddingBytes).toBe((300 + 200 + 120) * 16 + 5 * 8 * 4);
    expect(served.optimizerBytes).toBeLessThan(training.optimizerBytes);
    const after = m.predict(batch);
    let diff = 0;
    for (let i = 0; i < after.length; i++) diff = Math.max(diff, Math.abs(after[i]! - before[i]!));
    expect(diff).toBeGreaterThan(0); // quantized rows differ from the float master...
    expect(diff).toBeLessThan(0.05); // ...by little
    expect(() => m.trainStep(batch)).toThrow(UsageError);
    m.dispose();
  });

  it('a method that cannot reach the budget says so (BudgetError), never overshoots', async () => {
    const tf = await cpuTf();
    // int8 alone costs (d + 8) / (4d) = 0.375 of float32 at d 8.
    expect(() =>
      createCtrModel(tf, DATA.schema, { method: 'int8', budget: 0.3, keepFullBelow: 10, dim: 8, mlp: [8] }),
    ).toThrow(/cannot reach/);
  });

  it('an unknown method fails listing every registry name', async () => {
    const tf = await cpuTf();
    let message = '';
    try {
      createCtrModel(tf, DATA.schema, { method: 'bogus+int8' });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const name of methodNames()) expect(message).toContain(name);
  });

  it('fieldGraphs: the largest compressed field is the item side of every graph, edges from positives', async () => {
    const g = await fieldGraphs(DATA.schema, DATA.train, { method: 'graphhash', keepFullBelow: 10 });
    expect(g[2]).toBeNull(); // 5 IDs: kept full
    expect(g[0]!.side).toBe('item');
    expect(g[1]!.side).toBe('user');
    expect(g[3]!.side).toBe('user');
    expect(g[0]!.interactions).toBe(g[1]!.interactions); // the anchor shares the second field's graph
    expect(g[1]!.interactions.numUsers).toBe(200);
    expect(g[3]!.interactions.numUsers).toBe(120);
    expect(g[3]!.interactions.numItems).toBe(300);
    // Every edge is a (field 3, field 0) pair of a positive training sample.
    const pos = new Set<number>();
    for await (const b of DATA.train.batches({ batchSize: 100 })) {
      for (let s = 0; s < b.size; s++) if (b.labels[s]! > 0.5) pos.add(b.ids[s * 4 + 3]! * 300 + b.ids[s * 4]!);
    }
    const x = g[3]!.interactions;
    expect(x.offsets[x.numUsers]).toBe(pos.size);
    for (let u = 0; u < x.numUsers; u++) {
      for (let k = x.offsets[u]!; k < x.offsets[u + 1]!; k++) expect(pos.has(u * 300 + x.items[k]!)).toBe(true);
    }
  });

  it('a version-1 model directory (float32 tables + mappers) still loads to identical predictions', async () => {
    const tf = await cpuTf();
    const m = createCtrModel(
      tf,
      DATA.schema,
      { model: 'deepfm', method: 'double-frequency', budget: 0.5, keepFullBelow: 10, dim: 8, mlp: [8], lr: 0.01 },
      { counts: DATA.expectedCounts() },
    );
    const batch = await firstBatch(DATA.train, 128);
    for (let i = 0; i < 3; i++) m.trainStep(batch);
    const dir = await tempDir();
    await saveCtrModel(m, dir);
    // Rewrite it in the version-1 layout: tables.ckpt (float32 emb/<f>, first/<f>) + mappers.ckpt.
    const values = (e: (typeof m.fields)[number]): Float32Array => {
      const out = new Float32Array(e.storage.rows * e.storage.rowDim);
      e.storage.gather(
        Int32Array.from({ length: e.storage.rows }, (_, r) => r),
        out,
        e.storage.rows,
      );
      return out;
    };
    const tables: Record<string, Float32Array> = {};
    m.fields.forEach((e, f) => {
      tables[`emb/${f}`] = values(e);
    });
    m.firstOrder.forEach((e, f) => {
      tables[`first/${f}`] = values(e);
    });
    const snaps: unknown[] = [];
    const mapperArrays: Record<string, Float32Array | Int32Array | Uint32Array | Float64Array> = {};
    m.fields.forEach((e, f) => {
      const s = e.mapper.snapshot();
      snaps.push({ method: s.method, numIds: s.numIds, rows: s.rows, params: s.params });
      for (const [k, a] of Object.entries(s.arrays)) mapperArrays[`${f}/${k}`] = a;
    });
    await writeCheckpoint(join(dir, CTR_MODEL_FILES.tables), 'ctr-tables', { version: 1, fields: 4 }, tables);
    await writeCheckpoint(
      join(dir, CTR_MODEL_FILES.mappers),
      'ctr-mappers',
      { version: 1, snapshots: snaps },
      mapperArrays,
    );
    await rm(join(dir, CTR_MODEL_FILES.embeddings));
    const path = join(dir, CTR_MODEL_FILES.config);
    const config = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...config, version: 1 }));
    const test = await firstBatch(DATA.test, 128);
    const loaded = await loadCtrModel(tf, dir);
    expect(loaded.model.fields[0]!.storage.kind).toBe('float32');
    expect(loaded.model.predict(test)).toEqual(m.predict(test));
    // Another version: one line naming it.
    await writeFile(path, JSON.stringify({ ...config, version: 7 }));
    const err = await loadCtrModel(tf, dir).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/version 7 model directory/);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    m.dispose();
    loaded.model.dispose();
  });
});
