import { describe, expect, it } from 'vitest';
import { type CtrBatch, type CtrModel, createCtrModel, SyntheticCtr } from '../src/index.js';
import { cpuTf, firstBatch, meanBce } from './helpers.js';

// Finite differences on a tiny DeepFM: the gradient the model scatters to the table rows (through the
// mapper's composition) must match d loss / d row value measured by perturbing that value.

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
      sparseOptimizer: 'sgd',
      embeddingLr: 1,
      seed: 5,
    },
    { counts: DATA.expectedCounts() },
  );
  const batch = await firstBatch(DATA.train, 16);
  const field = model.fields[0]!;
  const T = field.table.data;
  const before = T.slice();
  const weights = model.mappers[0]!.learnableWeights ? model.mappers[0]!.weights!.slice() : null;
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
    const W = model.mappers[0]!.weights!;
    const i = col[0]! * field.mapper.codesPerId;
    const v = W[i]!;
    W[i] = v + h;
    const up = loss(model, batch);
    W[i] = v - h;
    const down = loss(model, batch);
    W[i] = v;
    wFd = (up - down) / (2 * h);
  }
  model.trainStep(batch); // SGD with lr 1: new = old − gradient
  let maxAbs = 0;
  for (const [i, g] of fd) {
    const got = before[i]! - T[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(g));
    expect(got).toBeCloseTo(g, 3);
  }
  expect(maxAbs).toBeGreaterThan(1e-4); // the check is not vacuous
  if (weights && wFd !== null) {
    const i = col[0]! * field.mapper.codesPerId;
    expect(weights[i]! - model.mappers[0]!.weights![i]!).toBeCloseTo(wFd, 3);
    expect(Math.abs(wFd)).toBeGreaterThan(1e-5);
  }
  model.dispose();
}

describe('input-gradient scatter', () => {
  it('matches finite differences through a full table', () => checkScatter('full'));
  it('matches finite differences through sum (qr sum)', () => checkScatter('qr', { combine: 'sum' }));
  it('matches finite differences through mult (qr mult)', () => checkScatter('qr', { combine: 'mult' }));
  it('matches finite differences through concat (qr concat)', () => checkScatter('qr', { combine: 'concat' }));
  it('matches finite differences through sum with −1 codes (double-frequency)', () => checkScatter('double-frequency'));
  it('matches finite differences for rows and learnable weights (hash-embedding)', () =>
    checkScatter('hash-embedding'));
});
