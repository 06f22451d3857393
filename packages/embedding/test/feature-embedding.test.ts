import {
  BudgetError,
  degrees,
  fullTableBytes,
  generateRetrievalDataset,
  type MapperFitData,
  NotFoundError,
  UsageError,
} from '@compactrec/core';
import { DSL_STORAGE_NAME } from '@compactrec/dsl';
import { describe, expect, it } from 'vitest';
import {
  createFeatureEmbedding,
  decodeFeatureEmbeddings,
  encodeFeatureEmbeddings,
  type FeatureEmbedding,
  methodHelp,
  methodNames,
  resolveMethod,
  SHARING_METHODS,
  STORAGE_KINDS,
} from '../src/index.js';

const data = generateRetrievalDataset({ numUsers: 600, numItems: 900, communities: 8, meanDegree: 12, seed: 3 });
const dim = 16;
function fitFor(side: 'user' | 'item'): MapperFitData {
  const deg = degrees(data.train);
  return {
    numIds: side === 'user' ? data.train.numUsers : data.train.numItems,
    counts: side === 'user' ? deg.users : deg.items,
    interactions: data.train,
    side,
  };
}
const itemFit = fitFor('item');
const full = fullTableBytes(itemFit.numIds, dim);

/** A few generic training steps so every storage has moved off its init. */
function train(e: FeatureEmbedding, steps = 5): void {
  const ids = Int32Array.from({ length: 64 }, (_, j) => (j * 37) % e.numIds);
  const out = new Float32Array(ids.length * dim);
  const grad = new Float32Array(ids.length * dim);
  for (let s = 0; s < steps; s++) {
    e.lookup(ids, out);
    for (let i = 0; i < grad.length; i++) grad[i] = out[i]! - 0.1 * Math.sin(i + s);
    e.backward(ids, grad);
    e.step();
  }
}

const COMPOSED = [
  'fp16',
  'int8',
  'int4',
  'alpt8',
  'alpt4',
  'graphhash+int8',
  'double-frequency+int8',
  'double-frequency+int4',
  'modulo+fp16',
  'qr+int8',
  DSL_STORAGE_NAME,
  'dsl+int8',
  'dsl+fp16',
];

describe('resolveMethod', () => {
  it('splits SHARING+STORAGE, lone kinds, and wrapping kinds', () => {
    expect(resolveMethod('graphhash+int8').sharing).toBe(SHARING_METHODS.graphhash);
    expect(resolveMethod('graphhash+int8').storage).toBe(STORAGE_KINDS.int8);
    expect(resolveMethod('int4').sharing).toBe(SHARING_METHODS.full);
    const d = resolveMethod('dsl+int8');
    expect(d.storage.wrapsValues).toBe(true);
    expect(d.inner).toBe(STORAGE_KINDS.int8);
    expect(resolveMethod('full').uncompressed).toBe(true);
    expect(resolveMethod('fp16').uncompressed).toBe(false);
  });

  it('rejects unknown names with a NotFoundError listing every sharing method and storage kind', () => {
    for (const bad of ['nope', 'graphhash+int3', 'int8+int4', 'graphhash+int8+x', '']) {
      let err: unknown;
      try {
        resolveMethod(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NotFoundError);
      if (bad !== 'int8+int4') {
        for (const n of methodNames()) expect((err as Error).message).toContain(n);
      }
    }
  });

  it('help lists every registered name', () => {
    const help = methodHelp();
    for (const n of [...Object.keys(SHARING_METHODS), ...Object.keys(STORAGE_KINDS)]) expect(help).toContain(n);
  });
});

describe('composed budgets', () => {
  it('int8 alone reports its own size: (d + 8) / (4d) of the full table', () => {
    const e = createFeatureEmbedding('int8', itemFit, { dim, budgetBytes: 0.5 * full, seed: 1 });
    expect(e.embeddingBytes).toBe(itemFit.numIds * (dim + 8));
    e.finishTraining();
    expect(e.embeddingBytes).toBe(itemFit.numIds * (dim + 8));
    const d64 = createFeatureEmbedding('int8', itemFit, {
      dim: 64,
      budgetBytes: 0.3 * fullTableBytes(itemFit.numIds, 64),
      seed: 1,
    });
    expect(d64.embeddingBytes / fullTableBytes(itemFit.numIds, 64)).toBeCloseTo(72 / 256, 10);
  });

  it('a sharing method that reaches one row per ID reports the full table at its kind size', () => {
    const e = createFeatureEmbedding('modulo+int4', itemFit, { dim, budgetBytes: 0.3 * full, seed: 1 });
    expect(e.mapper.rows).toBe(itemFit.numIds);
    expect(e.embeddingBytes).toBe(itemFit.numIds * (dim / 2 + 8));
  });

  it('a fixed-size kind that cannot reach the budget throws BudgetError instead of overshooting', () => {
    for (const m of ['fp16', 'int8', 'int4', 'alpt8']) {
      expect(() => createFeatureEmbedding(m, itemFit, { dim, budgetBytes: 0.1 * full, seed: 1 })).toThrow(BudgetError);
    }
  });

  it("ALPT trains its steps with their own lr: the storage option alptStepLr, default the values' lr / 127, validated", () => {
    const mk = (m: string, storageExtra?: Record<string, number>) =>
      createFeatureEmbedding(m, itemFit, {
        dim,
        budgetBytes: full,
        seed: 1,
        optimizer: { lr: 0.01 },
        ...(storageExtra ? { storageExtra } : {}),
      });
    const stepLr = (m: string, extra?: Record<string, number>) => mk(m, extra).storage.trainingView()!.quant!.stepLr;
    expect(stepLr('alpt8')).toBeCloseTo(0.01 / 127, 12);
    expect(stepLr('alpt4')).toBeCloseTo(0.01 / 127, 12);
    expect(stepLr('alpt8', { alptStepLr: 2e-5 })).toBe(2e-5);
    expect(mk('alpt8', { alptStepLr: 2e-5 }).storage.params.alptStepLr).toBe(2e-5);
    expect(() => mk('alpt8', { alptStepLr: -1 })).toThrow(/alpt8: extra\.alptStepLr \(-1\) must be a positive number/);
    // Fake quantization has no step to train.
    expect(
      createFeatureEmbedding('int8', itemFit, {
        dim,
        budgetBytes: full,
        seed: 1,
        quantize: 'during',
      }).storage.trainingView()!.quant!.stepLr,
    ).toBe(0);
  });

  it('a kind alone over the budget says what would fit: the least budget at this dim, and the dim that fits this one', () => {
    // int8 at d 16: (16 + 8) / 64 = 0.375 of full; at 0.3 it needs (d + 8) ≤ 1.2·d, d ≥ 40.
    const at = (m: string, d: number, b: number) => {
      try {
        createFeatureEmbedding(m, itemFit, {
          dim: d,
          budgetBytes: Math.floor(b * fullTableBytes(itemFit.numIds, d)),
          seed: 1,
        });
      } catch (err) {
        return (err as Error).message;
      }
      return 'fits';
    };
    expect(at('int8', 16, 0.3)).toMatch(
      /int8 fits from a budget of 0\.375 of full at dim 16, or at this budget \(0\.300\) from dim 40/,
    );
    expect(at('int8', 40, 0.3)).toBe('fits');
    expect(at('int8', 39, 0.3)).toMatch(/does not fit|cannot reach/);
    // alpt8 at d 16: (16 + 4) / 64 = 0.3125; at 0.3, d + 4 ≤ 1.2·d from d 20.
    expect(at('alpt8', 16, 0.3)).toMatch(
      /alpt8 fits from a budget of 0\.313 of full at dim 16, or at this budget \(0\.300\) from dim 20/,
    );
    // fp16 is half of float32 at every dim.
    expect(at('fp16', 16, 0.3)).toMatch(
      /fp16 fits from a budget of 0\.5 of full at dim 16; at this budget \(0\.300\) it fits at no dim/,
    );
  });

  for (const budget of [0.3, 0.1]) {
    it(`at ${budget}, d 64: every method with a free knob lands in [95 %, 100 %] of the budget unless it reached one row per ID`, () => {
      const b = Math.floor(budget * fullTableBytes(itemFit.numIds, 64));
      let capped = 0;
      for (const m of [
        'double-frequency+int8',
        'modulo+int8',
        'double+fp16',
        'frequency+alpt8',
        'universal+int4',
        DSL_STORAGE_NAME,
        'dsl+int8',
      ]) {
        const e = createFeatureEmbedding(m, itemFit, { dim: 64, budgetBytes: b, seed: 2, totalSteps: 100 });
        const check = (when: string): void => {
          expect(e.embeddingBytes, `${m} ${when}`).toBeLessThanOrEqual(b);
          if (e.mapper.rows === itemFit.numIds && !e.storage.params.density) {
            // The knob hit its cap: the whole table at this kind's size.
            expect(e.embeddingBytes, `${m} ${when}`).toBe(itemFit.numIds * resolveMethod(m).storage.bytesPerRow(64));
          } else {
            expect(e.embeddingBytes / b, `${m} ${when}`).toBeGreaterThanOrEqual(0.95);
          }
        };
        check('training');
        if (e.mapper.rows === itemFit.numIds && !e.storage.params.density) capped++;
        e.finishTraining();
        check('serving');
      }
      // At 0.1 no int8/fp16 composition can hold every row, so each spends its knob.
      if (budget === 0.1) expect(capped).toBe(0);
    });
  }

  it('post-training quantization holds a float master copy only while training', () => {
    const e = createFeatureEmbedding('int8', itemFit, { dim, budgetBytes: full, seed: 1 });
    expect(e.trainingBytes).toBe(itemFit.numIds * dim * 4);
    expect(e.optimizerBytes).toBe(2 * itemFit.numIds * dim * 4);
    const during = createFeatureEmbedding('int8', itemFit, { dim, budgetBytes: full, seed: 1, quantize: 'during' });
    expect(during.trainingBytes).toBe(2 * itemFit.numIds * dim * 4); // master + fake-quant forward rows
    e.finishTraining();
    expect(e.trainingBytes).toBe(0);
    expect(e.optimizerBytes).toBe(0);
  });
});

describe('servedPreview', () => {
  it('gives, during training, exactly the rows finishTraining will serve (post-training fp16/int8/int4/dsl+int8/dsl+fp16)', () => {
    for (const m of ['fp16', 'int8', 'int4', 'dsl+int8', 'dsl+fp16']) {
      for (const dslTraining of m.startsWith(DSL_STORAGE_NAME) ? ['dense', 'sparse'] : ['n/a']) {
        const what = `${m} (${dslTraining})`;
        const e = createFeatureEmbedding(m, itemFit, {
          dim,
          budgetBytes: Math.floor(full * 0.5),
          seed: 4,
          ...(dslTraining !== 'n/a' ? { storageExtra: { dslTraining } } : {}),
        });
        train(e, 4);
        const preview = e.storage.servedPreview?.() ?? null;
        expect(preview, what).not.toBeNull();
        const rows = e.storage.rows;
        const working = new Float32Array(rows * dim);
        e.storage.gather(
          Int32Array.from({ length: rows }, (_, r) => r),
          working,
        );
        e.finishTraining();
        expect(e.storage.servedPreview?.() ?? null, `${what} after finishTraining`).toBeNull();
        const served = new Float32Array(rows * dim);
        e.storage.gather(
          Int32Array.from({ length: rows }, (_, r) => r),
          served,
        );
        expect(Array.from(preview!), what).toEqual(Array.from(served));
        // …and it is not the float master the model trains with.
        expect(Array.from(working), what).not.toEqual(Array.from(served));
      }
    }
  });

  it('is null where the working rows already are the served values (float32, STE forward rows, ALPT, float DSL)', () => {
    for (const [m, quantize] of [
      ['full', 'after'],
      ['int8', 'during'],
      ['alpt8', 'during'],
      [DSL_STORAGE_NAME, 'after'],
    ] as const) {
      const e = createFeatureEmbedding(m, itemFit, { dim, budgetBytes: full, seed: 4, quantize });
      train(e, 2);
      expect(e.storage.servedPreview?.() ?? null, `${m} ${quantize}`).toBeNull();
    }
  });
});

describe('lookup during training', () => {
  it('under quantize during, int8 lookups return fake-quantized rows (within scale/2 of the master)', () => {
    const e = createFeatureEmbedding('int8', itemFit, { dim, budgetBytes: full, seed: 5, quantize: 'during' });
    train(e, 3);
    const view = e.storage.trainingView()!;
    const out = new Float32Array(dim);
    e.lookup([7], out);
    const master = view.values.subarray(7 * dim, 8 * dim);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of master) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const scale = (hi - lo) / 255;
    let differs = false;
    for (let c = 0; c < dim; c++) {
      expect(Math.abs(out[c]! - master[c]!)).toBeLessThanOrEqual(scale / 2 + 1e-6);
      if (out[c] !== master[c]) differs = true;
    }
    expect(differs).toBe(true);
  });

  it('training lowers a squared loss through the generic path for every kind', () => {
    for (const m of ['full', 'fp16', 'int8', 'int4', 'alpt8', DSL_STORAGE_NAME]) {
      const e = createFeatureEmbedding(m, itemFit, {
        dim,
        budgetBytes: 0.6 * full,
        seed: 3,
        totalSteps: 200,
        optimizer: { lr: 0.01 },
      });
      const ids = Int32Array.from({ length: 32 }, (_, j) => j);
      const out = new Float32Array(ids.length * dim);
      const loss = (): number => {
        e.lookup(ids, out);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += (out[i]! - 0.2) ** 2;
        return s;
      };
      const before = loss();
      const grad = new Float32Array(out.length);
      for (let s = 0; s < 30; s++) {
        e.lookup(ids, out);
        for (let i = 0; i < out.length; i++) grad[i] = 2 * (out[i]! - 0.2);
        e.backward(ids, grad);
        e.step();
      }
      expect(loss(), m).toBeLessThan(0.5 * before);
    }
  });
});

describe(`${DSL_STORAGE_NAME} trained in its sparse form`, () => {
  const sparseExtra = { dslTraining: 'sparse' };
  it("the default 'auto' takes the form with fewer training bytes: sparse at low density, dense near density 1", () => {
    // A table large enough that the dense form's fixed update histogram (256 KiB) does not decide.
    const big = { numIds: 20000, counts: new Uint32Array(20000).fill(1) };
    const at = (m: string, budget: number, dslTraining?: string) =>
      createFeatureEmbedding(m, big, {
        dim: 64,
        budgetBytes: Math.floor(budget * fullTableBytes(big.numIds, 64)),
        seed: 6,
        totalSteps: 60,
        ...(dslTraining ? { storageExtra: { dslTraining } } : {}),
      });
    const low = at(DSL_STORAGE_NAME, 0.3); // float32 values: density ≈ 0.3
    expect(low.storage.params.training).toBe('sparse');
    expect(low.optimizerBytes).toBe(8 * Number(low.storage.params.nnz));
    const high = at(`${DSL_STORAGE_NAME}+int8`, 0.5); // int8 values: density ≈ 1
    expect(Number(high.storage.params.density)).toBeGreaterThan(0.8);
    expect(high.storage.params.training).toBe('dense');
    expect(high.storage.trainingView()).not.toBeNull();
    for (const [e, budget] of [
      [low, 0.3],
      [high, 0.5],
    ] as const) {
      const other = at(e.method, budget, e.storage.params.training === 'sparse' ? 'dense' : 'sparse');
      expect(e.optimizerBytes + e.trainingBytes).toBeLessThan(other.optimizerBytes + other.trainingBytes);
    }
  });
  for (const m of [DSL_STORAGE_NAME, `${DSL_STORAGE_NAME}+int8`]) {
    it(`${m}: same served size as dense training, less training memory, learns, and saves/loads identically`, () => {
      // int8 values keep ~3.5× more weights for the same bytes: at 0.3 dsl+int8 is near density 1, where the
      // sparse form is not smaller ('auto' picks dense there); at 0.1 its density is ~0.3.
      const b = Math.floor((m === DSL_STORAGE_NAME ? 0.3 : 0.1) * fullTableBytes(itemFit.numIds, 64));
      const opts = { dim: 64, budgetBytes: b, seed: 6, totalSteps: 60, optimizer: { lr: 0.01 } };
      const dense = createFeatureEmbedding(m, itemFit, { ...opts, storageExtra: { dslTraining: 'dense' } });
      const sparse = createFeatureEmbedding(m, itemFit, { ...opts, storageExtra: sparseExtra });
      expect(sparse.storage.trainingView()).toBeNull();
      expect(sparse.storage.sparseRowsView?.()).not.toBeNull();
      expect(dense.storage.sparseRowsView?.()).toBeNull();
      expect(sparse.embeddingBytes).toBe(dense.embeddingBytes);
      const denseTotal = dense.optimizerBytes + dense.trainingBytes;
      const sparseTotal = sparse.optimizerBytes + sparse.trainingBytes;
      // Adam moments only for the active weights: 2 × 4 bytes × nnz, against 2 × 4 × rows × dim dense.
      const nnz = Number(sparse.storage.params.nnz);
      expect(nnz).toBe(Number(dense.storage.params.nnz));
      expect(sparse.optimizerBytes).toBe(8 * nnz);
      expect(dense.optimizerBytes).toBe(8 * itemFit.numIds * 64);
      expect(sparseTotal).toBeLessThan(denseTotal);
      const ids = Int32Array.from({ length: 64 }, (_, j) => j);
      const out = new Float32Array(64 * 64);
      const loss = (): number => {
        sparse.lookup(ids, out);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += (out[i]! - 0.05) ** 2;
        return s;
      };
      const before = loss();
      const grad = new Float32Array(out.length);
      for (let s = 0; s < 60; s++) {
        sparse.lookup(ids, out);
        for (let i = 0; i < out.length; i++) grad[i] = 2 * (out[i]! - 0.05);
        sparse.backward(ids, grad);
        sparse.step();
      }
      expect(loss()).toBeLessThan(0.7 * before);
      sparse.finishTraining();
      expect(sparse.embeddingBytes).toBeLessThanOrEqual(b);
      const all = Int32Array.from({ length: itemFit.numIds }, (_, j) => j);
      const a = new Float32Array(all.length * 64);
      sparse.lookup(all, a);
      const back = decodeFeatureEmbeddings(encodeFeatureEmbeddings({ f: sparse }), 'sparse').f!;
      const c = new Float32Array(all.length * 64);
      back.lookup(all, c);
      expect(c).toEqual(a);
    });
  }
});

describe('save / load', () => {
  for (const m of ['full', ...COMPOSED]) {
    it(`${m}: the loaded embedding looks up exactly what the trained one serves`, () => {
      const e = createFeatureEmbedding(m, itemFit, {
        dim,
        budgetBytes: Math.floor(0.6 * full),
        seed: 4,
        totalSteps: 50,
      });
      train(e);
      e.finishTraining();
      const ids = Int32Array.from({ length: itemFit.numIds }, (_, j) => j);
      const a = new Float32Array(ids.length * dim);
      e.lookup(ids, a);
      const bytes = encodeFeatureEmbeddings({ items: e });
      const back = decodeFeatureEmbeddings(bytes, 'test').items!;
      expect(back.method).toBe(m);
      expect(back.embeddingBytes).toBe(e.embeddingBytes);
      const b = new Float32Array(ids.length * dim);
      back.lookup(ids, b);
      expect(b).toEqual(a);
      // A served table is not trainable.
      expect(() => back.storage.accumulate(0, new Float32Array(dim), 0, 1)).toThrow(UsageError);
    });
  }

  it('a combine override (sum over a concat mapper, for 1-value first-order tables) survives save/load', () => {
    const field = createFeatureEmbedding('qr+int8', itemFit, {
      dim,
      budgetBytes: Math.floor(0.6 * full),
      seed: 3,
      extra: { combine: 'concat' },
    });
    // The field's first-order table: same mapper, one value per row, rows summed.
    const e = createFeatureEmbedding('qr+int8', itemFit, {
      dim: 1,
      budgetBytes: 9 * field.mapper.rows, // int8 at 1 value a row: 1 code + 8 bytes of scale and bias
      seed: 4,
      mapper: field.mapper,
      combine: 'sum',
    });
    expect(e.mapper).toBe(field.mapper);
    expect(e.mapper.combine).toBe('concat');
    expect(e.combine).toBe('sum');
    expect(e.rowDim).toBe(1);
    train(e, 3);
    e.finishTraining();
    const ids = Int32Array.from({ length: 100 }, (_, j) => j);
    const a = new Float32Array(100);
    e.lookup(ids, a);
    const back = decodeFeatureEmbeddings(encodeFeatureEmbeddings({ f: e }), 'combine').f!;
    expect(back.combine).toBe('sum');
    const b = new Float32Array(100);
    back.lookup(ids, b);
    expect(b).toEqual(a);
  });

  it('serving int8 stays close to the float master it was quantized from', () => {
    const e = createFeatureEmbedding('int8', itemFit, { dim, budgetBytes: full, seed: 4 });
    train(e);
    const ids = Int32Array.from({ length: 100 }, (_, j) => j);
    const before = new Float32Array(ids.length * dim);
    e.lookup(ids, before);
    e.finishTraining();
    const after = new Float32Array(ids.length * dim);
    e.lookup(ids, after);
    let maxErr = 0;
    for (let i = 0; i < before.length; i++) maxErr = Math.max(maxErr, Math.abs(before[i]! - after[i]!));
    expect(maxErr).toBeGreaterThan(0);
    expect(maxErr).toBeLessThan(0.01);
  });

  it('an unknown layout version is a one-line UsageError naming it', async () => {
    const { encodeCheckpoint } = await import('@compactrec/core');
    const bytes = encodeCheckpoint('feature-embeddings', { embeddingFormat: 7, features: {} }, {});
    expect(() => decodeFeatureEmbeddings(bytes, 'old.ckpt')).toThrow(UsageError);
    expect(() => decodeFeatureEmbeddings(bytes, 'old.ckpt')).toThrow(/version 7/);
  });

  it('a version-1 checkpoint (float32 table beside the mapper) still loads', async () => {
    const { encodeCheckpoint } = await import('@compactrec/core');
    const e = createFeatureEmbedding('modulo', itemFit, { dim, budgetBytes: Math.floor(0.3 * full), seed: 4 });
    train(e);
    e.finishTraining();
    const s = e.mapper.snapshot();
    const table = e.storage.snapshot().arrays.values as Float32Array;
    const arrays: Record<string, Float32Array | Int32Array | Uint32Array | Float64Array> = { 'items/table': table };
    for (const [k, a] of Object.entries(s.arrays)) arrays[`items/mapper/${k}`] = a;
    const header = {
      embeddingFormat: 1,
      features: {
        items: {
          method: 'modulo',
          dim,
          mapper: { method: s.method, numIds: s.numIds, rows: s.rows, params: s.params, arrays: Object.keys(s.arrays) },
        },
      },
    };
    const back = decodeFeatureEmbeddings(encodeCheckpoint('feature-embeddings', header, arrays), 'v1').items!;
    const ids = Int32Array.from({ length: 50 }, (_, j) => j);
    const a = new Float32Array(50 * dim);
    const b = new Float32Array(50 * dim);
    e.lookup(ids, a);
    back.lookup(ids, b);
    expect(b).toEqual(a);
  });
});
