import { InvalidArgumentError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { CTR_MODEL_KINDS, type CtrInputBlock, createCtrModel, SyntheticCtr } from '../src/index.js';
import { cpuTf, firstBatch, meanBce } from './helpers.js';

const DATA = new SyntheticCtr({ fields: 4, cardinality: 60, trainRows: 256, validRows: 64, testRows: 64, seed: 11 });
const SMALL = { dim: 8, mlp: [16, 16], lr: 0.01, seed: 1 } as const;

describe('CtrModel', () => {
  it('rejects bad options', async () => {
    const tf = await cpuTf();
    expect(() => createCtrModel(tf, DATA.schema, { model: 'nope' as 'lr' })).toThrow(InvalidArgumentError);
    expect(() => createCtrModel(tf, DATA.schema, { dim: 0 })).toThrow(InvalidArgumentError);
    expect(() => createCtrModel(tf, DATA.schema, { budget: 0 })).toThrow(InvalidArgumentError);
    expect(() => createCtrModel(tf, DATA.schema, { dropout: 1 })).toThrow(InvalidArgumentError);
  });

  for (const kind of CTR_MODEL_KINDS) {
    it(`${kind}: loss on a batch decreases over a few steps`, async () => {
      const tf = await cpuTf();
      const model = createCtrModel(tf, DATA.schema, {
        ...SMALL,
        model: kind,
        method: 'qr',
        budget: 0.5,
        keepFullBelow: 0,
      });
      const batch = await firstBatch(DATA.train, 128);
      const before = meanBce(batch.labels, model.predictLogits(batch));
      let last = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 30; i++) last = model.trainStep(batch);
      const after = meanBce(batch.labels, model.predictLogits(batch));
      expect(after).toBeLessThan(before * 0.9);
      expect(last).toBeLessThan(before);
      model.dispose();
    });
  }

  it('leaks no tensor per training or prediction step', async () => {
    const tf = await cpuTf();
    const model = createCtrModel(tf, DATA.schema, { ...SMALL, model: 'deepfm', method: 'hash-embedding', budget: 0.5 });
    const batch = await firstBatch(DATA.train, 64);
    model.trainStep(batch); // the first step creates Adam's moment variables
    const n = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      model.trainStep(batch);
      model.predict(batch);
    }
    expect(tf.memory().numTensors).toBe(n);
    model.dispose();
  });

  it('is deterministic for a seed', async () => {
    const tf = await cpuTf();
    const batch = await firstBatch(DATA.train, 64);
    const run = (): Float32Array => {
      const m = createCtrModel(tf, DATA.schema, {
        ...SMALL,
        model: 'dcnv2',
        method: 'double',
        budget: 0.5,
        dropout: 0.2,
      });
      for (let i = 0; i < 3; i++) m.trainStep(batch);
      const p = m.predict(batch);
      m.dispose();
      return p;
    };
    expect(run()).toEqual(run());
  });

  it('reports table bytes within the per-table budget', async () => {
    const tf = await cpuTf();
    const big = new SyntheticCtr({ fields: 3, cardinality: 5000, trainRows: 10, validRows: 1, testRows: 1 });
    for (const method of ['modulo', 'double', 'qr', 'hash-embedding']) {
      const m = createCtrModel(tf, big.schema, { ...SMALL, model: 'deepfm', method, budget: 0.1 });
      const mem = m.memory();
      expect(mem.embeddingBytes).toBeLessThanOrEqual(mem.budgetBytes);
      expect(mem.embeddingBytes).toBeGreaterThan(mem.budgetBytes * 0.9);
      expect(mem.fullEmbeddingBytes).toBe(3 * 5000 * 8 * 4); // the budgeted d-dim tables
      // First-order weights: one float32 per row of the same mapper, reported apart.
      expect(mem.firstOrderBytes).toBe(m.firstOrder.reduce((s, e) => s + e.mapper.rows * 4, 0));
      m.dispose();
    }
  });

  it('feeds an input block and hands it the gradient of its features', async () => {
    const tf = await cpuTf();
    // A block with one learnable scalar per sample parity: its gradient must move the loss down.
    const w = Float32Array.of(0, 0);
    const block: CtrInputBlock = {
      name: 'parity',
      width: 2,
      forward(batch, out) {
        for (let s = 0; s < batch.size; s++) {
          out[2 * s] = w[0]!;
          out[2 * s + 1] = w[1]!;
        }
      },
      backward(batch, grad) {
        let g0 = 0;
        let g1 = 0;
        for (let s = 0; s < batch.size; s++) {
          g0 += grad[2 * s]!;
          g1 += grad[2 * s + 1]!;
        }
        w[0] = w[0]! - 0.5 * g0;
        w[1] = w[1]! - 0.5 * g1;
      },
    };
    const model = createCtrModel(tf, DATA.schema, { ...SMALL, model: 'dnn' }, { blocks: [block] });
    expect(model.denseWidth).toBe(2);
    const batch = await firstBatch(DATA.train, 64);
    for (let i = 0; i < 3; i++) model.trainStep(batch);
    expect(Math.abs(w[0]!) + Math.abs(w[1]!)).toBeGreaterThan(0);
    model.dispose();
  });

  it('restores a captured state exactly, without leaking tensors', async () => {
    const tf = await cpuTf();
    const model = createCtrModel(tf, DATA.schema, { ...SMALL, model: 'deepfm', method: 'hash-embedding', budget: 0.5 });
    const batch = await firstBatch(DATA.train, 64);
    model.trainStep(batch);
    const state = model.captureState();
    const want = model.predict(batch);
    const n = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) model.trainStep(batch);
    expect(model.predict(batch)).not.toEqual(want);
    model.restoreState(state);
    expect(model.predict(batch)).toEqual(want);
    expect(tf.memory().numTensors).toBe(n);
    model.dispose();
  });
});
