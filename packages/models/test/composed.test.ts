import {
  type DenseTrainingView,
  degrees,
  type EmbeddingStorage,
  fullTableBytes,
  generateRetrievalDataset,
  type MapperFitData,
  type StorageSnapshot,
} from '@compactrec/core';
import { DSL_STORAGE_NAME } from '@compactrec/dsl';
import { createFeatureEmbedding, FeatureEmbedding } from '@compactrec/embedding';
import { evaluateFullRanking, prepareBprData, Tower, trainMfBpr } from '@compactrec/models';
import { getKernels, JS_KERNELS } from '@compactrec/native';
import { describe, expect, it } from 'vitest';

const data = generateRetrievalDataset({ numUsers: 500, numItems: 700, communities: 10, meanDegree: 25, seed: 3 });
const dim = 16;

function fit(side: 'user' | 'item'): MapperFitData {
  const deg = degrees(data.train);
  return {
    numIds: side === 'user' ? data.train.numUsers : data.train.numItems,
    counts: side === 'user' ? deg.users : deg.items,
    interactions: data.train,
    side,
  };
}

function towers(method: string, budget: number, quantize: 'after' | 'during' = 'after', totalSteps = 100) {
  const mk = (side: 'user' | 'item') => {
    const f = fit(side);
    return new Tower(
      createFeatureEmbedding(method, f, {
        dim,
        budgetBytes: Math.floor(budget * fullTableBytes(f.numIds, dim)),
        seed: side === 'user' ? 1 : 2,
        quantize,
        totalSteps,
      }),
    );
  };
  return [mk('user'), mk('item')] as const;
}

const opts = { epochs: 6, lr: 0.01, batchSize: 512, seed: 4 };

/** A storage that hides its dense view: the shape of kinds that compute their rows. */
class Opaque implements EmbeddingStorage {
  constructor(private readonly s: EmbeddingStorage) {}
  get kind() {
    return this.s.kind;
  }
  get rows() {
    return this.s.rows;
  }
  get rowDim() {
    return this.s.rowDim;
  }
  get embeddingBytes() {
    return this.s.embeddingBytes;
  }
  get optimizerBytes() {
    return this.s.optimizerBytes;
  }
  get trainingBytes() {
    return this.s.trainingBytes;
  }
  get serving() {
    return this.s.serving;
  }
  get params() {
    return this.s.params;
  }
  get lr() {
    return this.s.lr;
  }
  set lr(v: number) {
    this.s.lr = v;
  }
  gather(r: ArrayLike<number>, out: Float32Array, n?: number) {
    this.s.gather(r, out, n);
  }
  accumulate(r: number, g: ArrayLike<number>, o: number, sc: number) {
    this.s.accumulate(r, g, o, sc);
  }
  step() {
    this.s.step();
  }
  trainingView(): DenseTrainingView | null {
    return null;
  }
  afterKernelSteps(step: number) {
    this.s.afterKernelSteps(step);
  }
  finishTraining() {
    this.s.finishTraining();
  }
  snapshot(): StorageSnapshot {
    return this.s.snapshot();
  }
}

describe('MF-BPR over composed embeddings', () => {
  const [fu, fi] = towers('full', 1);
  const full = trainMfBpr(data, fu, fi, opts);

  it('int8 (post-training) scores within 2 % of float32 and the final metrics are those of the served int8 tables', () => {
    const [u, i] = towers('int8', 0.5);
    const r = trainMfBpr(data, u, i, opts);
    expect(u.embedding.storage.serving).toBe(true);
    expect(u.embeddingBytes).toBe(data.train.numUsers * (dim + 8));
    expect(r.final.recall).toBeGreaterThanOrEqual(0.98 * full.final.recall);
    // The served tables rank exactly as the reported metrics say.
    const again = evaluateFullRanking(u.composeAll(), i.composeAll(), dim, data.train, data.test, 20);
    expect(again.recall).toBe(r.final.recall);
  });

  for (const m of ['int8', 'int4', 'fp16']) {
    it(`${m} during training (fake quantization, STE) learns: recall far above random`, () => {
      const [u, i] = towers(m, 0.6, 'during');
      const r = trainMfBpr(data, u, i, opts);
      expect(r.final.recall).toBeGreaterThan(0.15);
    });
  }

  it('alpt8 learns with its values on the grid and its step sizes trained', () => {
    const [u, i] = towers('alpt8', 0.5);
    const steps0 = Float32Array.from(u.embedding.storage.trainingView()!.quant!.steps!);
    const r = trainMfBpr(data, u, i, { ...opts, finishTraining: false });
    const view = u.embedding.storage.trainingView()!;
    const steps = view.quant!.steps!;
    let moved = 0;
    for (let k = 0; k < steps.length; k++) if (steps[k] !== steps0[k]) moved++;
    expect(moved).toBeGreaterThan(steps.length / 2);
    for (let rr = 0; rr < 50; rr++)
      for (let c = 0; c < dim; c++) {
        const q = view.values[rr * dim + c]! / steps[rr]!;
        expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-3);
      }
    expect(r.final.recall).toBeGreaterThan(0.15);
  });

  it(`${DSL_STORAGE_NAME}+int8 trains through the kernel and serves its compact int8 table within the budget`, () => {
    const totalSteps = opts.epochs * Math.ceil(data.train.items.length / opts.batchSize);
    const [u, i] = towers(`${DSL_STORAGE_NAME}+int8`, 0.3, 'after', totalSteps);
    const r = trainMfBpr(data, u, i, opts);
    expect(u.embeddingBytes).toBeLessThanOrEqual(Math.floor(0.3 * fullTableBytes(data.train.numUsers, dim)));
    expect(r.final.recall).toBeGreaterThan(0.1);
  });

  it.skipIf(getKernels().kind !== 'native')(
    'the JavaScript and native kernels agree on int8 fake-quant and ALPT training (needs the native addon)',
    () => {
      for (const m of ['int8', 'alpt8']) {
        const run = (k: typeof JS_KERNELS) => {
          const [u, i] = towers(m, 0.6, 'during');
          const steps0 = Float32Array.from(u.arrays().quant?.steps ?? new Float32Array(0));
          const rngState = Uint32Array.of(1, 2, 3, 4);
          const state = new Float64Array(1);
          const { pairUsers, pairItems, trainOffsets, trainItems } = prepareBprData(data.train);
          const perm = Int32Array.from({ length: pairUsers.length }, (_, j) => j);
          const res = k.bprTrain({
            dim,
            user: u.arrays(),
            item: i.arrays(),
            data: { numItems: data.train.numItems, trainOffsets, trainItems, pairUsers, pairItems },
            batches: { perm, start: 0, end: 4096, shuffle: true, batchSize: 512, rngState },
            optimizer: { lr: 0.01, weightLr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, reg: 1e-4, state },
          });
          const steps = u.arrays().quant?.steps ?? new Float32Array(0);
          return { loss: res.lossSum, emb: u.composeAll(), steps: Float32Array.from(steps), steps0 };
        };
        const a = run(JS_KERNELS);
        const b = run(getKernels());
        expect(b.loss).toBeCloseTo(a.loss, 1);
        // ALPT: the two twins of the step-size update (core row-step.ts, csrc/rowstep.h) move the
        // per-row steps alike; float vs double rounding only.
        expect(b.steps.length).toBe(a.steps.length);
        let stepsMoved = 0;
        for (let j = 0; j < a.steps.length; j++) {
          expect(Math.abs(a.steps[j]! - b.steps[j]!)).toBeLessThanOrEqual(1e-6 * Math.abs(a.steps[j]!) + 1e-9);
          if (a.steps[j] !== a.steps0[j]) stepsMoved++;
        }
        if (m === 'alpt8') expect(stepsMoved).toBeGreaterThan(a.steps.length / 4);
        let maxDiff = 0;
        for (let j = 0; j < a.emb.length; j++) maxDiff = Math.max(maxDiff, Math.abs(a.emb[j]! - b.emb[j]!));
        // Float rounding differs in the last bits; a stochastic-rounding flip moves a value by one step.
        expect(maxDiff, m).toBeLessThan(0.02);
      }
    },
  );

  for (const m of ['int8', 'alpt8', DSL_STORAGE_NAME]) {
    it(`LightGCN trains ${m} through the kernel (2 threads), deterministically, well above random`, () => {
      const run = () => {
        const totalSteps = 4 * Math.ceil(data.train.items.length / 512);
        const [u, i] = towers(m, 0.6, 'during', totalSteps);
        return trainMfBpr(data, u, i, { model: 'lightgcn', epochs: 4, lr: 0.01, batchSize: 512, seed: 4, threads: 2 });
      };
      const a = run();
      const b = run();
      expect(a.final.recall).toBeGreaterThan(0.15);
      expect(b.final.recall).toBe(a.final.recall);
    });
  }

  it('a storage without a dense training view is trained by the generic lookup/backward/step path', () => {
    const mk = (side: 'user' | 'item') => {
      const e = createFeatureEmbedding('int8', fit(side), { dim, budgetBytes: 1e9, seed: side === 'user' ? 1 : 2 });
      return new Tower(new FeatureEmbedding(e.method, e.mapper, new Opaque(e.storage), dim));
    };
    const u = mk('user');
    const i = mk('item');
    expect(u.kernelTrainable).toBe(false);
    const r = trainMfBpr(data, u, i, opts);
    expect(r.final.recall).toBeGreaterThan(0.15);
    expect(() => trainMfBpr(data, mk('user'), mk('item'), { ...opts, model: 'lightgcn' })).toThrow(
      /generic path trains MF only/,
    );
  });
});
