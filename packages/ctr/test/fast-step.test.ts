import { backendReport, baseTf, initTf, type Tf } from '@compactrec/tf-backend';
import { describe, expect, it } from 'vitest';
import {
  type CtrBatch,
  type CtrInputBlock,
  type CtrModelKind,
  createCtrModel,
  DenseAdam,
  SyntheticCtr,
} from '../src/index.js';
import { firstBatch } from './helpers.js';

// The native fast step (NativeTower: raw libtensorflow ops, typed-array Adam, loss and FM on typed
// arrays) must compute what the generic tfjs step computes: the same model trained on the same
// batches on the cpu backend (generic step) and on the native backend (fast step) must agree.
const report = await backendReport();
const native = report.backends.find((b) => b.backend === 'tensorflow');
const nativeOk = native?.available === true;
const skipNote = nativeOk ? '' : ` [SKIPPED: native backend unavailable: ${native?.reason ?? 'not probed'}]`;

const DATA = new SyntheticCtr({ fields: 5, cardinality: 80, trainRows: 512, validRows: 8, testRows: 8, seed: 5 });
const SMALL = { dim: 8, mlp: [32, 16], lr: 0.01, seed: 3, method: 'qr', budget: 0.5, keepFullBelow: 0 } as const;

/** A block with two learnable features per sample (exercises the dense input and its gradient). */
function parityBlock(): CtrInputBlock & { w: Float32Array } {
  const w = Float32Array.of(0.1, -0.2);
  return {
    name: 'parity',
    width: 2,
    w,
    forward(batch, out) {
      for (let s = 0; s < batch.size; s++) {
        out[2 * s] = w[0]! * (s % 2);
        out[2 * s + 1] = w[1]!;
      }
    },
    backward(batch, grad) {
      let g0 = 0;
      let g1 = 0;
      for (let s = 0; s < batch.size; s++) {
        g0 += grad[2 * s]! * (s % 2);
        g1 += grad[2 * s + 1]!;
      }
      w[0] = w[0]! - 0.1 * g0;
      w[1] = w[1]! - 0.1 * g1;
    },
  };
}

interface Trace {
  path: string;
  losses: number[];
  params: Float32Array[];
  tables: Float32Array[];
  first: Float32Array[];
  preds: Float32Array;
  block: Float32Array | null;
}

function train(tf: Tf, kind: CtrModelKind, batches: readonly CtrBatch[], withBlock: boolean): Trace {
  const block = withBlock ? parityBlock() : null;
  const model = createCtrModel(tf, DATA.schema, { ...SMALL, model: kind }, block ? { blocks: [block] } : {});
  const losses = batches.map((b) => model.trainStep(b));
  const out: Trace = {
    path: model.stepPath,
    losses,
    params: model.paramValues(),
    tables: model.fields.map((f) => f.storage.trainingView()!.values.slice()),
    first: model.firstOrder.map((f) => f.storage.trainingView()!.values.slice()),
    preds: model.predict(batches[0]!),
    block: block ? block.w.slice() : null,
  };
  model.dispose();
  return out;
}

/** max |a − b| over every element, relative to the largest |b| of the array (at least 1e-3). */
function maxScaledDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    expect(a[i]!.length).toBe(b[i]!.length);
    let scale = 1e-3;
    for (const v of b[i]!) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < a[i]!.length; j++) worst = Math.max(worst, Math.abs(a[i]![j]! - b[i]![j]!) / scale);
  }
  return worst;
}

async function batches(n: number, size: number): Promise<CtrBatch[]> {
  const out: CtrBatch[] = [];
  for await (const b of DATA.train.batches({ batchSize: size, shuffleSeed: 1 })) {
    out.push({ size: b.size, ids: b.ids.slice(), labels: b.labels.slice(), dense: b.dense ? b.dense.slice() : null });
    if (out.length === n) break;
  }
  return out;
}

describe('native fast training step', () => {
  for (const [kind, withBlock] of [
    ['deepfm', false],
    ['dnn', true],
  ] as const) {
    it.skipIf(!nativeOk)(
      `${kind}${withBlock ? ' with an input block' : ''}: matches the generic step on the cpu backend after 4 steps${skipNote}`,
      async () => {
        const bs = await batches(4, 96);
        const tf = baseTf();
        await tf.setBackend('cpu');
        const cpu = train(tf, kind, bs, withBlock);
        const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
        const nat = train(rt.tf, kind, bs, withBlock);
        expect(cpu.path).toBe('generic');
        expect(nat.path).toBe('fast');
        for (let i = 0; i < bs.length; i++) expect(Math.abs(nat.losses[i]! - cpu.losses[i]!)).toBeLessThan(1e-5);
        // Training moved the weights (so agreeing is not trivial)...
        const init = createCtrModel(
          rt.tf,
          DATA.schema,
          { ...SMALL, model: kind },
          withBlock ? { blocks: [parityBlock()] } : {},
        );
        expect(maxScaledDiff(init.paramValues(), cpu.params)).toBeGreaterThan(1e-2);
        init.dispose();
        // ...and both paths moved them the same way.
        expect(maxScaledDiff(nat.params, cpu.params)).toBeLessThan(1e-4);
        expect(maxScaledDiff(nat.tables, cpu.tables)).toBeLessThan(1e-4);
        expect(maxScaledDiff(nat.first, cpu.first)).toBeLessThan(1e-4);
        expect(maxScaledDiff([nat.preds], [cpu.preds])).toBeLessThan(1e-4);
        if (withBlock) expect(maxScaledDiff([nat.block!], [cpu.block!])).toBeLessThan(1e-4);
      },
    );
  }

  it.skipIf(!nativeOk)(`leaks no tensor per fast training step${skipNote}`, async () => {
    const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
    const model = createCtrModel(rt.tf, DATA.schema, { ...SMALL, model: 'deepfm' });
    const batch = await firstBatch(DATA.train, 64);
    model.trainStep(batch);
    expect(model.stepPath).toBe('fast');
    const n = rt.tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      model.trainStep(batch);
      model.predict(batch);
    }
    expect(rt.tf.memory().numTensors).toBe(n);
    model.dispose();
  });

  it.skipIf(!nativeOk)(`continues from restored values after restoreState${skipNote}`, async () => {
    const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
    const model = createCtrModel(rt.tf, DATA.schema, { ...SMALL, model: 'dnn' });
    const batch = await firstBatch(DATA.train, 64);
    for (let i = 0; i < 2; i++) model.trainStep(batch);
    const saved = model.captureState();
    for (let i = 0; i < 20; i++) model.trainStep(batch);
    const drifted = maxScaledDiff(model.paramValues(), saved.params);
    model.restoreState(saved);
    model.trainStep(batch);
    // One Adam step moves each weight by about lr (0.01) at most; 20 steps moved them much further.
    let worst = 0;
    model.paramValues().forEach((p, i) => {
      for (let j = 0; j < p.length; j++) worst = Math.max(worst, Math.abs(p[j]! - saved.params[i]![j]!));
    });
    expect(model.stepPath).toBe('fast');
    expect(drifted).toBeGreaterThan(0.05);
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.015);
    model.dispose();
  });

  it('DenseAdam takes the steps of tf.train.adam', async () => {
    const tf = baseTf();
    await tf.setBackend('cpu');
    const w0 = Float32Array.of(0.5, -1, 2, 0.001);
    const grads = [
      Float32Array.of(0.1, -0.3, 0, 5),
      Float32Array.of(-0.2, 0.01, 1e-4, 5),
      Float32Array.of(3, 0, -1, -5),
    ];
    const v = tf.variable(tf.tensor1d(w0), true, 'dense-adam-test');
    const opt = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    const mine = new DenseAdam([4], 0.05, 0.9, 0.999, 1e-8);
    const w = w0.slice();
    for (const g of grads) {
      const gt = tf.tensor1d(g);
      opt.applyGradients({ 'dense-adam-test': gt });
      gt.dispose();
      mine.update(0, w, g);
      mine.advance();
    }
    const ref = v.dataSync() as Float32Array;
    for (let i = 0; i < 4; i++) expect(w[i]!).toBeCloseTo(ref[i]!, 6);
    expect(Math.abs(w[0]! - w0[0]!)).toBeGreaterThan(0.05);
    expect(mine.stateBytes).toBe(2 * 4 * 4);
    v.dispose();
    opt.dispose();
  });
});
