import { InvalidArgumentError } from '@compactrec/core';
import { loadCtrGraph } from '@compactrec/native';
import { backendReport, baseTf, initTf, nativeLibraryPath, type Tf } from '@compactrec/tf-backend';
import { describe, expect, it } from 'vitest';
import {
  type CtrBatch,
  type CtrInputBlock,
  type CtrModelKind,
  createCtrModel,
  DenseAdam,
  NativeTower,
  SyntheticCtr,
  type TowerEngine,
} from '../src/index.js';
import { firstBatch } from './helpers.js';

// The native fast step (NativeTower: raw libtensorflow ops, typed-array Adam, loss and FM on typed
// arrays) must compute what the generic tfjs step computes: the same model trained on the same
// batches on the cpu backend (generic step) and on the native backend (fast step) must agree.
const report = await backendReport();
const native = report.backends.find((b) => b.backend === 'tensorflow');
const nativeOk = native?.available === true;
const skipNote = nativeOk ? '' : ` [SKIPPED: native backend unavailable: ${native?.reason ?? 'not probed'}]`;
// The graph engine needs the compactrec_ctr_graph addon (built by scripts/setup.sh with the native kernels).
const graphAddon = loadCtrGraph();
const graphOk = nativeOk && graphAddon.addon !== null;
const graphSkipNote = graphOk ? '' : ` [SKIPPED: ${nativeOk ? graphAddon.reason : 'native backend unavailable'}]`;

/** Runs `fn` with COMPACTREC_CTR_TOWER set to `engine` (restored after). */
function withEngine<T>(engine: TowerEngine, fn: () => T): T {
  const before = process.env.COMPACTREC_CTR_TOWER;
  process.env.COMPACTREC_CTR_TOWER = engine;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.COMPACTREC_CTR_TOWER;
    else process.env.COMPACTREC_CTR_TOWER = before;
  }
}

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
  engine: TowerEngine | null;
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
    engine: model.towerEngine,
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
  for (const [kind, withBlock, engine] of [
    ['deepfm', false, 'graph'],
    ['dnn', true, 'graph'],
    ['deepfm', false, 'eager'],
    ['dnn', true, 'eager'],
  ] as const) {
    const ok = engine === 'graph' ? graphOk : nativeOk;
    it.skipIf(!ok)(
      `${kind}${withBlock ? ' with an input block' : ''}, ${engine} tower engine: matches the generic step on the cpu backend after 4 steps${engine === 'graph' ? graphSkipNote : skipNote}`,
      async () => {
        const bs = await batches(4, 96);
        const tf = baseTf();
        await tf.setBackend('cpu');
        const cpu = train(tf, kind, bs, withBlock);
        const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
        const nat = withEngine(engine, () => train(rt.tf, kind, bs, withBlock));
        expect(cpu.path).toBe('generic');
        expect(nat.path).toBe('fast');
        expect(nat.engine).toBe(engine);
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

  it.skipIf(!graphOk)(
    `memory() counts the graph tower's weight copies while training and nothing after finishTraining; predictions do not change${graphSkipNote}`,
    async () => {
      const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
      const batch = await firstBatch(DATA.train, 64);
      const fast = withEngine('graph', () => {
        const m = createCtrModel(rt.tf, DATA.schema, { ...SMALL, model: 'dnn' });
        m.trainStep(batch);
        return m;
      });
      const before = process.env.COMPACTREC_CTR_STEP;
      process.env.COMPACTREC_CTR_STEP = 'generic';
      const generic = createCtrModel(rt.tf, DATA.schema, { ...SMALL, model: 'dnn' });
      try {
        generic.trainStep(batch);
      } finally {
        if (before === undefined) delete process.env.COMPACTREC_CTR_STEP;
        else process.env.COMPACTREC_CTR_STEP = before;
      }
      expect([fast.stepPath, fast.towerEngine, generic.stepPath]).toEqual(['fast', 'graph', 'generic']);
      // The dnn's dense parameters are all tower weights: one float32 copy each, beside the tables' bytes.
      const held = fast.memory().trainingBytes - generic.memory().trainingBytes;
      expect(held).toBe(4 * fast.memory().denseParams);
      const preds = fast.predict(batch).slice();
      fast.finishTraining();
      expect(fast.memory().trainingBytes).toBe(0);
      expect(Buffer.from(fast.predict(batch).buffer).equals(Buffer.from(preds.buffer))).toBe(true);
      fast.dispose();
      generic.dispose();
    },
  );

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

  it.skipIf(!graphOk)(
    `NativeTower: the graph engine gives the eager engine's logits, input gradients and weights over 3 steps${graphSkipNote}`,
    async () => {
      const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
      const tf = rt.tf;
      const sizes = [24, 16, 8, 1];
      const n = 40;
      const rand = (len: number, scale: number, seed: number) => {
        const a = new Float32Array(len);
        let x = seed;
        for (let i = 0; i < len; i++) {
          x = (x * 1103515245 + 12345) % 2147483648;
          a[i] = (x / 2147483648 - 0.5) * scale;
        }
        return a;
      };
      const x = rand(n * sizes[0]!, 2, 1);
      const build = (engine: TowerEngine) => {
        const vars: ReturnType<typeof tf.variable>[] = [];
        const layers = [];
        for (let l = 0; l + 1 < sizes.length; l++) {
          const w = tf.variable(tf.tensor2d(rand(sizes[l]! * sizes[l + 1]!, 0.8, 10 + l), [sizes[l]!, sizes[l + 1]!]));
          const b = tf.variable(tf.tensor1d(rand(sizes[l + 1]!, 0.2, 20 + l)));
          vars.push(w, b);
          layers.push({ w, b, relu: l + 2 < sizes.length, slots: [2 * l, 2 * l + 1] as const });
        }
        const adam = new DenseAdam(
          vars.map((v) => v.size),
          0.01,
        );
        return { vars, adam, tower: new NativeTower(tf, layers, adam, { engine }) };
      };
      const run = (engine: TowerEngine) => {
        const { vars, adam, tower } = build(engine);
        expect(tower.engine).toBe(engine);
        const logits: Float32Array[] = [];
        const gx: Float32Array[] = [];
        for (let step = 0; step < 3; step++) {
          const z = tower.forward(x, n, new Float32Array(n), true);
          logits.push(z.slice());
          const dz = z.map((v, i) => (1 / (1 + Math.exp(-v)) - (i % 3 === 0 ? 1 : 0)) / n);
          const g = new Float32Array(n * sizes[0]!);
          tower.backward(dz, g);
          adam.advance();
          gx.push(g);
        }
        const weights = vars.map((v) => (v.dataSync() as Float32Array).slice());
        tower.close();
        tf.dispose(vars);
        return { logits, gx, weights };
      };
      const g = run('graph');
      const e = run('eager');
      // The steps moved the weights, and the input gradients are not trivially zero...
      expect(maxScaledDiff(g.logits.slice(2), g.logits.slice(0, 1))).toBeGreaterThan(1e-3);
      expect(Math.max(...g.gx[0]!.map(Math.abs))).toBeGreaterThan(1e-4);
      // ...and both engines agree to float32 round-off.
      expect(maxScaledDiff(g.logits, e.logits)).toBeLessThan(1e-5);
      expect(maxScaledDiff(g.gx, e.gx)).toBeLessThan(1e-5);
      expect(maxScaledDiff(g.weights, e.weights)).toBeLessThan(1e-5);
    },
  );

  it.skipIf(!graphOk)(
    `NativeTower graph engine: bad inputs and a backward without a forward fail naming what is wrong${graphSkipNote}`,
    async () => {
      const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
      const tf = rt.tf;
      const w = tf.variable(tf.zeros([3, 1]));
      const b = tf.variable(tf.zeros([1]));
      const adam = new DenseAdam([3, 1], 0.01);
      const tower = new NativeTower(tf, [{ w, b, relu: false, slots: [0, 1] }], adam, { engine: 'graph' });
      expect(() => tower.backward(new Float32Array(2), null)).toThrow(/no training forward/);
      expect(() => tower.forward(new Float32Array(5), 2, new Float32Array(2), true)).toThrow(/2 rows need 6 inputs/);
      // The addon itself checks what it is handed (params of the wrong size, a handle that is not a tower).
      const addon = graphAddon.addon!;
      expect(() => addon.towerForward({} as never, new Float32Array(3), 1, [], new Float32Array(1), false)).toThrow(
        /not a tower handle/,
      );
      tower.forward(Float32Array.of(1, 2, 3), 1, new Float32Array(1), true);
      const handle = (tower as unknown as { graph: { handle: never } }).graph.handle;
      expect(() =>
        addon.towerBackward(handle, new Float32Array(1), [new Float32Array(2), new Float32Array(1)], null),
      ).toThrow(/grads\[0\] holds 2 values, not 3/);
      tower.close();
      expect(() => tower.forward(Float32Array.of(1, 2, 3), 1, new Float32Array(1), false)).toThrow(/closed/);
      tf.dispose([w, b]);
    },
  );

  it.skipIf(!graphOk)(
    `graph engine addon: Adam applied inside the backward gives the bits of DenseAdam's JavaScript loop on the same gradients, and inputs and weights read in place give the logits of copied ones${graphSkipNote}`,
    async () => {
      await initTf({ prefer: 'native', strict: true, quiet: true });
      const addon = graphAddon.addon!;
      const sizes = [6, 5, 1];
      const handle = addon.createTower({ lib: nativeLibraryPath()!, sizes, intraOpThreads: 0, interOpThreads: 0 });
      const lens = [30, 5, 5, 1];
      // The fused side's weights in aligned memory (read by TensorFlow in place), the reference side's in plain arrays.
      const fused = lens.map((len, k) => {
        const a = addon.alignedFloats(len);
        for (let i = 0; i < len; i++) a[i] = Math.sin(7 * k + i) * 0.5;
        return a;
      });
      const ref = fused.map((a) => a.slice());
      const init = fused.map((a) => a.slice());
      const n = 7;
      const x = new Float32Array(n * 6).map((_, i) => Math.cos(i) * 2);
      const xa = addon.alignedFloats(n * 6);
      xa.set(x);
      expect(xa.length).toBe(n * 6);
      const zCopied = new Float32Array(n);
      const zAligned = new Float32Array(n);
      addon.towerForward(handle, x, n, fused, zCopied, false);
      addon.towerForward(handle, xa, n, fused, zAligned, false);
      expect(Buffer.from(zAligned.buffer).equals(Buffer.from(zCopied.buffer))).toBe(true);
      const zPlainWeights = new Float32Array(n);
      addon.towerForward(handle, x, n, ref, zPlainWeights, false); // weights in plain arrays: copied
      expect(Buffer.from(zPlainWeights.buffer).equals(Buffer.from(zCopied.buffer))).toBe(true);
      const fusedAdam = new DenseAdam(lens, 0.05, 0.9, 0.999, 1e-8, 'js');
      const refAdam = new DenseAdam(lens, 0.05, 0.9, 0.999, 1e-8, 'js');
      const grads = lens.map((len) => new Float32Array(len));
      const z = new Float32Array(n);
      const dz = new Float32Array(n);
      // A backward without `adam` only writes the gradients: the weights stay as they were.
      addon.towerForward(handle, xa, n, fused, z, true);
      for (let s = 0; s < n; s++) dz[s] = (1 / (1 + Math.exp(-z[s]!)) - (s % 2)) / n;
      expect(addon.towerBackward(handle, dz, grads, null)).toBe(0);
      expect(grads[3]![0]).not.toBe(0);
      for (let k = 0; k < lens.length; k++) expect(Array.from(fused[k]!)).toEqual(Array.from(init[k]!));
      for (let step = 0; step < 3; step++) {
        addon.towerForward(handle, xa, n, fused, z, true);
        for (let s = 0; s < n; s++) dz[s] = (1 / (1 + Math.exp(-z[s]!)) - (s % 2)) / n;
        const moments = lens.map((_, k) => fusedAdam.moments(k));
        addon.towerBackward(handle, dz, grads, null, {
          ...fusedAdam.stepConstants(),
          m: moments.map((o) => o.m),
          v: moments.map((o) => o.v),
        });
        for (let k = 0; k < lens.length; k++) refAdam.update(k, ref[k]!, grads[k]!);
        fusedAdam.advance();
        refAdam.advance();
        for (let k = 0; k < lens.length; k++) {
          expect(Buffer.from(fused[k]!.buffer, 0, 4 * lens[k]!).equals(Buffer.from(ref[k]!.buffer))).toBe(true);
          const [a, b] = [fusedAdam.moments(k), refAdam.moments(k)];
          expect(Buffer.from(a.m.buffer).equals(Buffer.from(b.m.buffer))).toBe(true);
          expect(Buffer.from(a.v.buffer).equals(Buffer.from(b.v.buffer))).toBe(true);
        }
      }
      // Three steps of lr 0.05 moved the weights (the logit bias always has a gradient).
      expect(Math.abs(fused[3]![0]! - init[3]![0]!)).toBeGreaterThan(0.05);
      expect(fused[0]!.some((w, i) => Math.abs(w - init[0]![i]!) > 0.05)).toBe(true);
      expect(() => addon.alignedFloats(-1)).toThrow(/non-negative integer/);
      addon.towerClose(handle);
    },
  );

  it.skipIf(!nativeOk)(`an unknown COMPACTREC_CTR_TOWER is an error naming it${skipNote}`, async () => {
    const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
    const w = rt.tf.variable(rt.tf.zeros([3, 1]));
    const b = rt.tf.variable(rt.tf.zeros([1]));
    expect(() =>
      withEngine(
        'fast' as TowerEngine,
        () => new NativeTower(rt.tf, [{ w, b, relu: false, slots: [0, 1] }], new DenseAdam([3, 1], 0.01)),
      ),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      withEngine(
        'fast' as TowerEngine,
        () => new NativeTower(rt.tf, [{ w, b, relu: false, slots: [0, 1] }], new DenseAdam([3, 1], 0.01)),
      ),
    ).toThrow(/COMPACTREC_CTR_TOWER 'fast'/);
    rt.tf.dispose([w, b]);
  });

  it.skipIf(graphAddon.addon === null)(
    `DenseAdam: the C++ loop gives bit-identical values and moments to the JavaScript loop${graphAddon.addon ? '' : ` [SKIPPED: ${graphAddon.reason}]`}`,
    () => {
      const len = 1001;
      const init = new Float32Array(len).map((_, i) => Math.sin(i) * 0.3);
      const fast = new DenseAdam([len], 0.003, 0.9, 0.999, 1e-8, 'native');
      const slow = new DenseAdam([len], 0.003, 0.9, 0.999, 1e-8, 'js');
      const a = init.slice();
      const b = init.slice();
      for (let step = 0; step < 5; step++) {
        const g = new Float32Array(len).map((_, i) => Math.cos(i * (step + 1)) * 10 ** ((i % 7) - 4));
        fast.update(0, a, g);
        slow.update(0, b, g);
        fast.advance();
        slow.advance();
      }
      expect(Math.max(...a.map((x, i) => Math.abs(x - init[i]!)))).toBeGreaterThan(0.01);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      const moments = (o: DenseAdam) => o as unknown as { m: Float32Array[]; v: Float32Array[] };
      expect(Buffer.from(moments(fast).m[0]!.buffer).equals(Buffer.from(moments(slow).m[0]!.buffer))).toBe(true);
      expect(Buffer.from(moments(fast).v[0]!.buffer).equals(Buffer.from(moments(slow).v[0]!.buffer))).toBe(true);
    },
  );

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
