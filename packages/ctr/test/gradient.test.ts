import { describe, expect, it } from 'vitest';
import { type CtrBatch, type CtrModel, createCtrModel, SyntheticCtr } from '../src/index.js';
import { cpuTf, firstBatch, meanBce, tableValues } from './helpers.js';

// Finite differences on a tiny DeepFM: the gradient the model scatters to the table rows (through the
// mapper's composition, into the storage's `accumulate`) must match d loss / d row value measured by
// perturbing that value.

const DATA = new SyntheticCtr({
  fields: 3,
  cardinality: [40, 30, 8],
  trainRows: 64,
  validRows: 8,
  testRows: 8,
  seed: 3,
});

function loss(model: CtrModel, batch: CtrBatch): number {
  return meanBce(batch.labels, model.predictLogits(batch));
}

async function checkScatter(method: string, extra: Record<string, string | number | boolean> = {}): Promise<void> {
  const tf = await cpuTf();
  const embeddingLr = 0.01;
  const model = createCtrModel(
    tf,
    DATA.schema,
    {
      model: 'deepfm',
      dim: 4,
      mlp: [6],
      method,
      budget: 0.5,
      keepFullBelow: 10,
      extra,
      initStd: 0.3,
      embeddingLr,
      seed: 5,
    },
    { counts: DATA.expectedCounts() },
  );
  const batch = await firstBatch(DATA.train, 16);
  const field = model.fields[0]!;
  const T = tableValues(field);
  // Record what the model scatters into the storage: Σ scale · g per row.
  const scattered = new Map<number, Float32Array>();
  const storage = field.storage;
  const accumulate = storage.accumulate.bind(storage);
  const record = (r: number, g: ArrayLike<number>, gOff: number, scale: number): void => {
    let acc = scattered.get(r);
    if (acc === undefined) {
      acc = new Float32Array(field.rowDim);
      scattered.set(r, acc);
    }
    for (let c = 0; c < field.rowDim; c++) acc[c]! += scale * g[gOff + c]!;
  };
  storage.accumulate = (r, g, gOff, scale) => {
    record(r, g, gOff, scale);
    accumulate(r, g, gOff, scale);
  };
  // The batch form (dense storages: one row per ID, or K rows summed / concatenated) scatters the same
  // rows with scale 1: code k of item j takes g[gOff + j·gStride + k·codeStride ..).
  if (storage.accumulateStrided) {
    const accumulateStrided = storage.accumulateStrided.bind(storage);
    storage.accumulateStrided = (rowIds, n, g, gOff, gStride, K = 1, codeStride = 0) => {
      for (let j = 0; j < n; j++)
        for (let k = 0; k < K; k++) {
          const r = rowIds[j * K + k]!;
          if (r >= 0) record(r, g, gOff + j * gStride + k * codeStride, 1);
        }
      accumulateStrided(rowIds, n, g, gOff, gStride, K, codeStride);
    };
  }
  const weights = field.mapper.learnableWeights ? field.mapper.weights!.slice() : null;
  // Finite-difference gradient of every value of the first rows the batch touches.
  const codes = new Int32Array(batch.size * field.mapper.codesPerId);
  const col = Int32Array.from({ length: batch.size }, (_, s) => batch.ids[s * 3]!);
  field.mapper.mapInto(col, codes);
  const rows = [...new Set([...codes].filter((c) => c >= 0))].slice(0, 4);
  const h = 1e-3;
  const fd = new Map<number, number>();
  for (const r of rows) {
    for (let c = 0; c < field.rowDim; c++) {
      const i = r * field.rowDim + c;
      const v = T[i]!;
      T[i] = v + h;
      const up = loss(model, batch);
      T[i] = v - h;
      const down = loss(model, batch);
      T[i] = v;
      fd.set(i, (up - down) / (2 * h));
    }
  }
  let wFd: number | null = null;
  if (weights) {
    const W = field.mapper.weights!;
    const i = col[0]! * field.mapper.codesPerId;
    const v = W[i]!;
    W[i] = v + h;
    const up = loss(model, batch);
    W[i] = v - h;
    const down = loss(model, batch);
    W[i] = v;
    wFd = (up - down) / (2 * h);
  }
  model.trainStep(batch);
  let maxAbs = 0;
  for (const [i, g] of fd) {
    const r = Math.floor(i / field.rowDim);
    const got = scattered.get(r)?.[i % field.rowDim] ?? 0;
    maxAbs = Math.max(maxAbs, Math.abs(g));
    expect(got).toBeCloseTo(g, 3);
  }
  expect(maxAbs).toBeGreaterThan(1e-4); // the check is not vacuous
  if (weights && wFd !== null) {
    // The first lazy-Adam step moves a weight by ≈ lr against its gradient's sign — once from the
    // d-dim table and once from the first-order table, which share the mapper and its weights (and
    // here both gradients have the sign of the whole loss's).
    const i = col[0]! * field.mapper.codesPerId;
    expect(Math.abs(wFd)).toBeGreaterThan(1e-5);
    const moved = field.mapper.weights![i]! - weights[i]!;
    expect(Math.sign(moved)).toBe(-Math.sign(wFd));
    expect(Math.abs(moved)).toBeCloseTo(2 * embeddingLr, 3);
  }
  model.dispose();
}

describe('input-gradient scatter', () => {
  it('matches finite differences through a full table', () => checkScatter('full'));
  it('matches finite differences through sum (qr sum)', () => checkScatter('qr', { combine: 'sum' }));
  it('matches finite differences through mult (qr mult)', () => checkScatter('qr', { combine: 'mult' }));
  it('matches finite differences through concat (qr concat)', () => checkScatter('qr', { combine: 'concat' }));
  it('matches finite differences through sum with −1 codes (double-frequency)', () => checkScatter('double-frequency'));
  it('matches finite differences for rows and the Adam direction of learnable weights (hash-embedding)', () =>
    checkScatter('hash-embedding'));
});
