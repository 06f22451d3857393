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

  it('feeds an input block and hands it the gradient of its features: equal to a finite difference, and stepping on it lowers the loss', async () => {
    const tf = await cpuTf();
    // A block with one learnable scalar per feature column, the same for every sample.
    const w = Float32Array.of(0.3, -0.2);
    const seen = Float64Array.of(0, 0);
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
        seen[0] = 0;
        seen[1] = 0;
        for (let s = 0; s < batch.size; s++) {
          seen[0]! += grad[2 * s]!;
          seen[1]! += grad[2 * s + 1]!;
        }
      },
    };
    const model = createCtrModel(tf, DATA.schema, { ...SMALL, model: 'dnn' }, { blocks: [block] });
    expect(model.denseWidth).toBe(2);
    const batch = await firstBatch(DATA.train, 64);
    const loss = (): number => meanBce(batch.labels, model.predictLogits(batch));
    // Central differences of the mean BCE in each block weight, at the model's current parameters.
    const eps = 1e-2;
    const numeric = [0, 1].map((c) => {
      const w0 = w[c]!;
      w[c] = w0 + eps;
      const up = loss();
      w[c] = w0 - eps;
      const down = loss();
      w[c] = w0;
      return (up - down) / (2 * eps);
    });
    const before = loss();
    model.trainStep(batch); // updates the model's own weights too; `seen` holds the gradient at the old ones
    for (const c of [0, 1]) {
      expect(Math.abs(seen[c]! - numeric[c]!), `column ${c}: ${seen[c]} vs ${numeric[c]}`).toBeLessThan(
        0.05 * Math.abs(numeric[c]!) + 1e-4,
      );
    }
    // A gradient step on the block alone (the rest as trained) lowers the loss from where it was.
    const after = loss();
    const lr = 0.5;
    for (const c of [0, 1]) w[c] = w[c]! - lr * seen[c]!;
    expect(loss()).toBeLessThan(after);
    expect(after).toBeLessThan(before);
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
