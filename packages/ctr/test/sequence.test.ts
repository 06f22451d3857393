import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, UsageError } from '@compactrec/core';
import { syntheticLongSequences } from '@compactrec/sdim';
import { describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import {
  type CtrBatch,
  createSequenceCtrModel,
  openCtrData,
  openSequenceCtrData,
  parseSequenceSpec,
  SEQUENCE_EXTRAS,
  SEQUENCE_MODEL_KINDS,
  SequenceCtrSource,
  SequenceInterestBlock,
  SyntheticCtr,
  sequenceSchema,
  splitUserTail,
} from '../src/index.js';
import { cpuTf, itemValues, meanBce } from './helpers.js';

const ML100K = fileURLToPath(new URL('../../../../shared/datasets/ml-100k', import.meta.url));

const SYN = syntheticLongSequences({
  numUsers: 12,
  numItems: 60,
  numClusters: 6,
  dim: 8,
  maxLength: 24,
  minLength: 0,
  samplesPerUser: 8,
  seed: 3,
});
const SCHEMA = sequenceSchema('tiny', SYN.train);
const INFO = { numItems: SYN.train.numItems, maxLength: SYN.train.maxLength };

/** SYN.train with a random feedback id 1 .. 3 at every valid history position (0 at padding). */
const SYN_FB = (() => {
  const t = SYN.train;
  const feedback = new Int32Array(t.numSamples * t.maxLength);
  for (let i = 0; i < t.numSamples; i++) {
    for (let j = 0; j < t.lengths[i]!; j++) feedback[i * t.maxLength + j] = 1 + ((i * 7 + j * 13) % 3);
  }
  return { ...t, feedback, numFeedback: 3 };
})();

/** The first batch of a source, copied (sources reuse their buffers). */
async function batchOf(source: SequenceCtrSource, size: number): Promise<CtrBatch> {
  for await (const b of source.batches({ batchSize: size })) {
    const e = b.extras!;
    return {
      size: b.size,
      ids: b.ids.slice(),
      labels: b.labels.slice(),
      dense: null,
      extras: Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v.slice()])),
    };
  }
  throw new Error('empty source');
}

function dot(a: Float32Array, w: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i]! * w[i]!;
  return s;
}

describe('sequence CTR models', () => {
  for (const kind of SEQUENCE_MODEL_KINDS) {
    it(`${kind}: loss on a batch decreases over a few steps`, async () => {
      const tf = await cpuTf();
      const { model, block } = createSequenceCtrModel(
        tf,
        { schema: SCHEMA, sequence: INFO },
        { model: kind, dim: 8, mlp: [16], lr: 0.01, seed: 1, shortLength: 4, numHashes: 12 },
      );
      expect(block.width).toBe(kind === 'din-short' ? 16 : 24);
      const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 64);
      const before = meanBce(batch.labels, model.predictLogits(batch));
      let last = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 25; i++) last = model.trainStep(batch);
      const after = meanBce(batch.labels, model.predictLogits(batch));
      expect(after).toBeLessThan(before * 0.9);
      expect(last).toBeLessThan(before);
      model.dispose();
    });
  }

  for (const kind of SEQUENCE_MODEL_KINDS) {
    it(`${kind}: item-table gradients match finite differences`, async () => {
      const block = new SequenceInterestBlock({
        kind,
        ...INFO,
        dim: 8,
        shortLength: 5,
        numHashes: 12,
        initStd: 0.5,
        attentionNormalization: 'softmax',
        seed: 5,
      });
      const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 6);
      const n = batch.size;
      const W = block.width;
      const w = new Float32Array(n * W);
      for (let i = 0; i < w.length; i++) w[i] = Math.sin(1 + 7 * i);
      const out = new Float32Array(n * W);
      const loss = (): number => {
        block.forward(batch, out, false);
        return dot(out, w, n * W);
      };
      block.forward(batch, out, true);
      block.accumulate(batch, w);
      const { rows, grads, count } = block.pendingItemGradients();
      expect(count).toBeGreaterThan(0);
      const T = itemValues(block);
      const d = block.dim;
      // Central differences at three step sizes; the closest one counts (a step may cross a ReLU kink of
      // the attention MLP, where the function is not differentiable).
      const fdAt = (k: number, eps: number): number => {
        const v = T[k]!;
        T[k] = v + eps;
        const up = loss();
        T[k] = v - eps;
        const down = loss();
        T[k] = v;
        return (up - down) / (2 * eps);
      };
      let checked = 0;
      let maxErr = 0;
      for (let s = 0; s < count; s += Math.max(1, Math.floor(count / 12))) {
        const r = rows[s]!;
        for (const c of [0, 3, 7]) {
          const k = r * d + c;
          const g = grads[s * d + c]!;
          const err = Math.min(...[1e-3, 1e-4, 3e-5].map((eps) => Math.abs(fdAt(k, eps) - g)));
          maxErr = Math.max(maxErr, err / (3e-3 + 1e-2 * Math.abs(g)));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(10);
      expect(maxErr).toBeLessThan(1);
      // Rows that the batch never references get no gradient.
      const used = new Set<number>();
      const e = batch.extras!;
      const L = block.maxLength;
      for (let b = 0; b < n; b++) {
        used.add(e[SEQUENCE_EXTRAS.candidates]![b]!);
        for (let j = 0; j < e[SEQUENCE_EXTRAS.lengths]![b]!; j++) used.add(e[SEQUENCE_EXTRAS.histories]![b * L + j]!);
      }
      for (let s = 0; s < count; s++) expect(used.has(rows[s]!)).toBe(true);
    });
  }

  for (const kind of SEQUENCE_MODEL_KINDS) {
    it(`${kind} with behaviour feedback and age: item-, feedback- and age-table gradients match finite differences`, async () => {
      const block = new SequenceInterestBlock({
        kind,
        ...INFO,
        numFeedback: 3,
        behaviourAge: 'log2',
        dim: 8,
        shortLength: 5,
        numHashes: 12,
        initStd: 0.5,
        attentionNormalization: 'softmax',
        seed: 6,
      });
      expect(block.feedbackTable?.rows).toBe(4);
      expect(block.ageTable?.rows).toBe(5); // ages 0 .. 23 → ⌊log2(age + 1)⌋ 0 .. 4
      const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN_FB), 6);
      const n = batch.size;
      const W = block.width;
      const w = new Float32Array(n * W);
      for (let i = 0; i < w.length; i++) w[i] = Math.cos(2 + 5 * i);
      const out = new Float32Array(n * W);
      const loss = (): number => {
        block.forward(batch, out, false);
        return dot(out, w, n * W);
      };
      const before = loss();
      // The feedback embeddings enter the features: changing them changes the output.
      const F = block.feedbackTable!.data;
      const saved = F.slice();
      for (let i = 8; i < F.length; i++) F[i]! += 0.3;
      expect(loss()).not.toBeCloseTo(before, 3);
      F.set(saved);
      block.forward(batch, out, true);
      block.accumulate(batch, w);
      const items = block.pendingItemGradients();
      const fbs = block.pendingFeedbackGradients();
      const ages = block.pendingAgeGradients();
      expect(ages.count).toBeGreaterThanOrEqual(3);
      expect(fbs.count).toBe(3);
      const d = block.dim;
      const check = (table: Float32Array, rows: Int32Array, grads: Float32Array, count: number): number => {
        let checked = 0;
        let maxErr = 0;
        for (let s = 0; s < count; s += Math.max(1, Math.floor(count / 12))) {
          for (const c of [0, 3, 7]) {
            const k = rows[s]! * d + c;
            const g = grads[s * d + c]!;
            const fd = (eps: number): number => {
              const v = table[k]!;
              table[k] = v + eps;
              const up = loss();
              table[k] = v - eps;
              const down = loss();
              table[k] = v;
              return (up - down) / (2 * eps);
            };
            const err = Math.min(...[1e-3, 1e-4, 3e-5].map((eps) => Math.abs(fd(eps) - g)));
            maxErr = Math.max(maxErr, err / (3e-3 + 1e-2 * Math.abs(g)));
            checked++;
          }
        }
        expect(maxErr).toBeLessThan(1);
        return checked;
      };
      expect(check(itemValues(block), items.rows, items.grads, items.count)).toBeGreaterThan(10);
      expect(check(F, fbs.rows, fbs.grads, fbs.count)).toBe(9);
      expect(check(block.ageTable!.data, ages.rows, ages.grads, ages.count)).toBe(3 * ages.count);
      expect(Math.max(...fbs.grads.subarray(0, 3 * d).map(Math.abs))).toBeGreaterThan(1e-3);
      block.step();
      expect(F).not.toEqual(saved);
      expect(Array.from(F.subarray(0, d))).toEqual(new Array(d).fill(0)); // row 0 is never used
    });
  }

  it('behaviour age alone: the age embeddings shift the pooled values by position', async () => {
    const opts = { kind: 'avgpool', ...INFO, dim: 8, shortLength: 4, initStd: 0.5, seed: 3 } as const;
    const aged = new SequenceInterestBlock({ ...opts, behaviourAge: 'log2' });
    const plain = new SequenceInterestBlock(opts);
    expect(itemValues(aged)).toEqual(itemValues(plain));
    const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 8);
    const W = aged.width;
    const a = new Float32Array(8 * W);
    const p = new Float32Array(8 * W);
    aged.forward(batch, a, false);
    plain.forward(batch, p, false);
    // avgpool: the long-term feature moves by the mean age embedding of each history.
    const lens = batch.extras![SEQUENCE_EXTRAS.lengths]!;
    const A = aged.ageTable!.data;
    for (let b = 0; b < 8; b++) {
      const len = lens[b]!;
      for (let k = 0; k < 8; k++) {
        let m = 0;
        for (let age = 0; age < len; age++) m += A[Math.floor(Math.log2(age + 1)) * 8 + k]!;
        const want = p[b * W + 8 + k]! + (len > 0 ? m / len : 0);
        expect(a[b * W + 8 + k]).toBeCloseTo(want, 5);
        expect(a[b * W + k]).toBe(p[b * W + k]); // the candidate has no age
      }
    }
    expect(() => new SequenceInterestBlock({ ...opts, behaviourAge: 'days' as 'none' })).toThrow(InvalidArgumentError);
  });

  it('needs the feedback extras when built with numFeedback', async () => {
    const block = new SequenceInterestBlock({ kind: 'sdim', ...INFO, numFeedback: 3, dim: 8, numHashes: 12 });
    const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 4);
    expect(() => block.forward(batch, new Float32Array(4 * block.width), true)).toThrow(InvalidArgumentError);
    const bad = await batchOf(new SequenceCtrSource(SCHEMA, SYN_FB), 4);
    (bad.extras![SEQUENCE_EXTRAS.feedback] as Int32Array).fill(4);
    expect(() => block.forward(bad, new Float32Array(4 * block.width), true)).toThrow(InvalidArgumentError);
    expect(() => new SequenceInterestBlock({ kind: 'sdim', ...INFO, numFeedback: -1 })).toThrow(InvalidArgumentError);
  });

  it('interestDropout drops long-term features in training only, and their gradients with them', async () => {
    expect(() => new SequenceInterestBlock({ kind: 'sdim', ...INFO, interestDropout: 1 })).toThrow(
      InvalidArgumentError,
    );
    const p = 0.5;
    const opts = { kind: 'avgpool', ...INFO, dim: 8, shortLength: 4, initStd: 0.5, seed: 4 } as const;
    const block = new SequenceInterestBlock({ ...opts, interestDropout: p });
    const ref = new SequenceInterestBlock(opts);
    const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 16);
    const n = batch.size;
    const d = 8;
    const W = block.width;
    const evalOut = new Float32Array(n * W);
    const refOut = new Float32Array(n * W);
    block.forward(batch, evalOut, false);
    ref.forward(batch, refOut, true);
    expect(evalOut).toEqual(refOut); // no dropout at evaluation
    const trainOut = new Float32Array(n * W);
    block.forward(batch, trainOut, true);
    let dropped = 0;
    let kept = 0;
    for (let b = 0; b < n; b++) {
      for (let k = 0; k < W; k++) {
        const e = evalOut[b * W + k]!;
        const t = trainOut[b * W + k]!;
        if (k < d || k >= 2 * d) {
          expect(t).toBe(e); // candidate and short-term untouched
        } else if (t === 0 && e !== 0) {
          dropped++;
        } else {
          expect(t).toBeCloseTo(e / (1 - p), 5);
          kept++;
        }
      }
    }
    expect(dropped).toBeGreaterThan(n * d * 0.3);
    expect(kept).toBeGreaterThan(n * d * 0.3);
    // A gradient on the long-term columns only: dropped coordinates pass nothing back.
    const g = new Float32Array(n * W);
    for (let b = 0; b < n; b++) for (let k = d; k < 2 * d; k++) g[b * W + k] = trainOut[b * W + k] === 0 ? 1 : 0;
    block.accumulate(batch, g);
    const { grads, count } = block.pendingItemGradients();
    expect(count).toBeGreaterThan(0);
    expect(grads.subarray(0, count * d).every((v) => v === 0)).toBe(true);
  });

  it('padding never contributes to the features or the gradients', async () => {
    const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 16);
    const L = SYN.train.maxLength;
    const lens = batch.extras![SEQUENCE_EXTRAS.lengths] as Int32Array;
    expect(Math.min(...lens)).toBeLessThan(L); // the tiny data has padded rows
    // The same batch with item ids that appear nowhere else written into every padding slot.
    const garbage = SYN.train.numItems; // id reserved below: no candidate/behaviour of the batch uses it
    const clean = batch.extras![SEQUENCE_EXTRAS.histories] as Int32Array;
    const cands = batch.extras![SEQUENCE_EXTRAS.candidates] as Int32Array;
    for (let i = 0; i < clean.length; i++) if (clean[i] === garbage) clean[i] = 1;
    for (let i = 0; i < cands.length; i++) if (cands[i] === garbage) cands[i] = 1;
    const dirty = clean.slice();
    for (let b = 0; b < batch.size; b++) for (let j = lens[b]!; j < L; j++) dirty[b * L + j] = garbage;
    const dirtyBatch: CtrBatch = { ...batch, extras: { ...batch.extras, [SEQUENCE_EXTRAS.histories]: dirty } };
    for (const kind of SEQUENCE_MODEL_KINDS) {
      const opts = { kind, ...INFO, dim: 8, shortLength: 30, numHashes: 12, initStd: 0.5, seed: 2 } as const;
      const a = new SequenceInterestBlock(opts);
      const b = new SequenceInterestBlock(opts);
      const W = a.width;
      const outA = new Float32Array(batch.size * W);
      const outB = new Float32Array(batch.size * W);
      a.forward(batch, outA, true);
      b.forward(dirtyBatch, outB, true);
      expect(outB).toEqual(outA);
      const g = new Float32Array(batch.size * W).fill(0.25);
      a.accumulate(batch, g);
      b.accumulate(dirtyBatch, g);
      const pa = a.pendingItemGradients();
      const pb = b.pendingItemGradients();
      expect(pb.count).toBe(pa.count);
      expect([...pb.rows.subarray(0, pb.count)]).not.toContain(garbage);
      expect(pb.grads.subarray(0, pb.count * 8)).toEqual(pa.grads.subarray(0, pa.count * 8));
      a.step();
      expect(Array.from(itemValues(a).subarray(0, 8))).toEqual(new Array(8).fill(0)); // padding row stays zero
    }
  });

  it('restores the item table with the best epoch', async () => {
    const tf = await cpuTf();
    const { model, block } = createSequenceCtrModel(
      tf,
      { schema: SCHEMA, sequence: INFO },
      { model: 'sdim', dim: 8, mlp: [8], lr: 0.01, numHashes: 12 },
    );
    const batch = await batchOf(new SequenceCtrSource(SCHEMA, SYN.train), 32);
    const state = model.captureState();
    const before = itemValues(block).slice();
    for (let i = 0; i < 3; i++) model.trainStep(batch);
    expect(itemValues(block)).not.toEqual(before);
    model.restoreState(state);
    expect(itemValues(block)).toEqual(before);
    model.dispose();
  });

  it('rejects bad input with clear errors', async () => {
    const tf = await cpuTf();
    const plain = new SyntheticCtr({ fields: 2, cardinality: 10, trainRows: 16, validRows: 8, testRows: 8 });
    expect(() => createSequenceCtrModel(tf, { schema: plain.schema }, { model: 'sdim' })).toThrow(InvalidArgumentError);
    expect(() => createSequenceCtrModel(tf, { schema: SCHEMA, sequence: INFO }, { model: 'deepfm' as 'sdim' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new SequenceInterestBlock({ kind: 'sdim', numItems: 0, maxLength: 4 })).toThrow(InvalidArgumentError);
    expect(() => parseSequenceSpec('users=10,bogus=3')).toThrow(InvalidArgumentError);
    expect(parseSequenceSpec('users=10,length=64')).toEqual({ numUsers: 10, maxLength: 64 });
    const block = new SequenceInterestBlock({ kind: 'din', ...INFO, dim: 8 });
    const plainBatch: CtrBatch = { size: 1, ids: Int32Array.of(0), labels: Float32Array.of(1), dense: null };
    expect(() => block.forward(plainBatch, new Float32Array(24), true)).toThrow(InvalidArgumentError);
    expect(() => block.backward(plainBatch, new Float32Array(24))).toThrow(UsageError);
  });
});

describe('sequence data', () => {
  it('splits each user tail off for validation', () => {
    const { head, tail } = splitUserTail(SYN.train, 0.25);
    expect(head.length + tail.length).toBe(SYN.train.numSamples);
    const u = SYN.train.userIds;
    // Every validation sample comes after every train sample of its user.
    const lastHead = new Map<number, number>();
    for (const i of head) lastHead.set(u[i]!, Math.max(lastHead.get(u[i]!) ?? -1, i));
    for (const i of tail) expect(i).toBeGreaterThan(lastHead.get(u[i]!) ?? -1);
    expect(() => splitUserTail(SYN.train, 1)).toThrow(InvalidArgumentError);
  });

  it.skipIf(missingData('ml-100k/ml-100k.inter'))(
    `opens MovieLens-100K as sequence samples (L = 256, per-user time split) (${DATASETS_REASON})`,
    async () => {
      const data = await openCtrData('ml100k', ML100K);
      // The protocol's default side features: each behaviour's rating (1 .. 5) and age.
      expect(data.sequence).toEqual({ numItems: 1682, maxLength: 256, numFeedback: 5, behaviourAge: 'log2' });
      const plain = await openSequenceCtrData('ml100k', ML100K, { behaviourFeedback: 'none', behaviourAge: 'none' });
      expect(plain.sequence).toEqual({ numItems: 1682, maxLength: 256 });
      expect(data.schema.fieldNames).toEqual(['user_id']);
      expect(data.schema.cardinalities[0]).toBe(943);
      // 90,570 samples: 9,496 test; 10 % of each user's train samples validate.
      expect(data.test.numSamples).toBe(9496);
      expect((data.train.numSamples ?? 0) + (data.valid.numSamples ?? 0)).toBe(81074);
      expect(data.valid.numSamples).toBeGreaterThan(7000);
      const b = await batchOf(data.valid as SequenceCtrSource, 4);
      const e = b.extras!;
      expect(e[SEQUENCE_EXTRAS.histories]!.length).toBe(4 * 256);
      for (let i = 0; i < 4; i++) expect(e[SEQUENCE_EXTRAS.lengths]![i]).toBeGreaterThanOrEqual(10);
    },
  );

  it.skipIf(missingData('ml-100k/ml-100k.inter'))(
    `opens MovieLens-100K with each behaviour’s rating as feedback (${DATASETS_REASON})`,
    async () => {
      const data = await openSequenceCtrData('ml100k', ML100K, { behaviourFeedback: 'rating' });
      expect(data.sequence?.numFeedback).toBe(5);
      const b = await batchOf(data.test as SequenceCtrSource, 8);
      const e = b.extras!;
      const f = e[SEQUENCE_EXTRAS.feedback]!;
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 256; j++) {
          const valid = j < e[SEQUENCE_EXTRAS.lengths]![i]!;
          expect(f[i * 256 + j]! >= 1 && f[i * 256 + j]! <= 5).toBe(valid);
        }
      }
      const tf = await cpuTf();
      const { model, block } = createSequenceCtrModel(tf, data, { model: 'sdim', dim: 8, mlp: [8] });
      expect(block.feedbackTable?.rows).toBe(6);
      expect(Number.isFinite(model.predictLogits(b)[0]!)).toBe(true);
      model.dispose();
      await expect(openSequenceCtrData('ml100k', ML100K, { behaviourFeedback: 'stars' as 'none' })).rejects.toThrow(
        InvalidArgumentError,
      );
    },
  );

  it('opens seq-synthetic from a spec', async () => {
    const data = await openCtrData('seq-synthetic', 'users=20,items=100,clusters=5,length=32,perUser=5,dim=8');
    expect(data.sequence?.numItems).toBe(100);
    expect(data.sequence?.maxLength).toBe(32);
    expect(data.sequence?.plantedItemEmbeddings?.length).toBe(101 * 8);
    // initItems 'planted' starts the shared item table from the planted embeddings.
    const tf = await cpuTf();
    const { model, block } = createSequenceCtrModel(tf, data, { model: 'avgpool', dim: 8, initItems: 'planted' });
    expect(itemValues(block)).toEqual(data.sequence?.plantedItemEmbeddings);
    model.dispose();
    expect(() => createSequenceCtrModel(tf, data, { model: 'avgpool', dim: 4, initItems: 'planted' })).toThrow(
      InvalidArgumentError,
    );
    expect(data.test.numSamples).toBe(20);
    expect((data.train.numSamples ?? 0) + (data.valid.numSamples ?? 0)).toBe(80);
  });
});
