import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@compactrec/core';
import { encodeBse, loadSdimModelVersion, readInterest } from '@compactrec/sdim';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CtrBatch,
  createSequenceCtrModel,
  loadCtrModel,
  loadSequenceCtrModel,
  openCtrData,
  SEQUENCE_EXTRAS,
  SEQUENCE_MODEL_KINDS,
  saveSequenceCtrModel,
  sequenceItemCounts,
  sequenceItemRows,
  trainCtr,
} from '../src/index.js';
import { cpuTf } from './helpers.js';

const SPEC = 'users=30,items=60,clusters=5,length=24,perUser=6,dim=8';
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ctr-seqdir-'));
  dirs.push(d);
  return d;
}

/** Every test batch, copied. */
async function batches(source: { batches(o: { batchSize: number }): AsyncIterable<CtrBatch> }): Promise<CtrBatch[]> {
  const out: CtrBatch[] = [];
  for await (const b of source.batches({ batchSize: 64 })) {
    const extras: Record<string, Int32Array> = {};
    for (const [k, v] of Object.entries(b.extras ?? {})) extras[k] = (v as Int32Array).slice();
    out.push({ size: b.size, ids: b.ids.slice(), labels: b.labels.slice(), dense: null, extras });
  }
  return out;
}

describe('sequence model directories', () => {
  for (const kind of SEQUENCE_MODEL_KINDS) {
    for (const behaviourAge of ['none', 'log2'] as const) {
      it(`saves and loads a trained ${kind} model (behaviour age ${behaviourAge}) with identical predictions`, async () => {
        const tf = await cpuTf();
        const data = await openCtrData('seq-synthetic', SPEC, { behaviourAge });
        const seq = createSequenceCtrModel(tf, data, { model: kind, dim: 8, mlp: [16], numHashes: 12, seed: 3 });
        await trainCtr(seq.model, { train: data.train, valid: data.valid }, { epochs: 1, batchSize: 32, seed: 1 });
        const dir = await tempDir();
        const { bseVersion } = await saveSequenceCtrModel(seq, dir, { data: data.descriptor });
        expect(bseVersion).toMatch(new RegExp(`^${kind}-[0-9a-f]{12}$`));
        const loaded = await loadSequenceCtrModel(tf, dir);
        expect(loaded.kind).toBe(kind);
        expect(loaded.section.bseVersion).toBe(bseVersion);
        expect(loaded.bseModel !== null).toBe(kind === 'sdim');
        for (const b of await batches(data.test)) {
          expect(loaded.model.predict(b)).toEqual(seq.model.predict(b));
        }
        seq.model.dispose();
        loaded.model.dispose();
      });
    }
  }

  it('an SDIM model reads the long-term interest from a BSE state built with its bse/<version>.sdim file', async () => {
    const tf = await cpuTf();
    const data = await openCtrData('seq-synthetic', SPEC);
    const seq = createSequenceCtrModel(tf, data, { model: 'sdim', dim: 8, mlp: [16], numHashes: 24, seed: 5 });
    await trainCtr(seq.model, { train: data.train, valid: data.valid }, { epochs: 1, batchSize: 32, seed: 1 });
    const dir = await tempDir();
    const { bseVersion } = await saveSequenceCtrModel(seq, dir);
    const bse = await loadSdimModelVersion(join(dir, 'bse', `${bseVersion}.sdim`));
    const [b] = await batches(data.test);
    const raw = seq.model.predict(b!);
    const d = bse.dim;
    const L = seq.block.maxLength;
    const cands = b!.extras![SEQUENCE_EXTRAS.candidates] as Int32Array;
    const hists = b!.extras![SEQUENCE_EXTRAS.histories] as Int32Array;
    const lens = b!.extras![SEQUENCE_EXTRAS.lengths] as Int32Array;
    const longInterest = new Float32Array(b!.size * d);
    for (let i = 0; i < b!.size; i++) {
      const beh = new Float32Array(lens[i]! * d);
      for (let j = 0; j < lens[i]!; j++)
        beh.set(bse.itemEmbeddings.subarray(hists[i * L + j]! * d, hists[i * L + j]! * d + d), j * d);
      const state = encodeBse(bse.hasher, beh, lens[i]!, bseVersion);
      const c = bse.itemEmbeddings.slice(cands[i]! * d, cands[i]! * d + d);
      readInterest(state, bse.hasher, c, 1, longInterest.subarray(i * d, i * d + d));
    }
    const served = seq.model.predict({ ...b!, extras: { ...b!.extras, [SEQUENCE_EXTRAS.longInterest]: longInterest } });
    let worst = 0;
    for (let i = 0; i < b!.size; i++) worst = Math.max(worst, Math.abs(served[i]! - raw[i]!));
    expect(worst).toBeLessThan(1e-5);
    // A wrong long-term interest changes the predictions (so the comparison above can fail).
    const wrong = seq.model.predict({
      ...b!,
      extras: { ...b!.extras, [SEQUENCE_EXTRAS.longInterest]: longInterest.map((x) => x + 1) },
    });
    expect(Math.max(...wrong.map((p, i) => Math.abs(p - raw[i]!)))).toBeGreaterThan(1e-4);
    seq.model.dispose();
  });

  for (const kind of SEQUENCE_MODEL_KINDS) {
    for (const attentionNormalization of ['none', 'softmax'] as const) {
      it(`serving one user (${kind}, ${attentionNormalization} attention, age + feedback side features) equals the per-row path`, async () => {
        const tf = await cpuTf();
        const numItems = 50;
        const L = 20;
        const schema = { name: 's', fieldNames: ['user_id'], cardinalities: Int32Array.of(4), numDense: 0 };
        for (const side of [
          { numFeedback: 0, behaviourAge: 'none' as const },
          { numFeedback: 3, behaviourAge: 'log2' as const },
        ]) {
          const seq = createSequenceCtrModel(
            tf,
            {
              schema,
              sequence: { numItems, maxLength: L, numFeedback: side.numFeedback, behaviourAge: side.behaviourAge },
            },
            {
              model: kind,
              dim: 8,
              mlp: [16],
              numHashes: 12,
              shortLength: 6,
              attentionNormalization,
              seed: 4,
              initStd: 0.5,
            },
          );
          for (const len of [0, 3, 11, L]) {
            const n = 7;
            const hist = Int32Array.from({ length: len }, (_, j) => 1 + ((j * 17 + len) % numItems));
            const fb = Int32Array.from({ length: len }, (_, j) => 1 + (j % 3));
            const cands = Int32Array.from({ length: n }, (_, i) => 1 + ((i * 7 + 3) % numItems));
            const histories = new Int32Array(n * L);
            const feedback = new Int32Array(n * L);
            for (let i = 0; i < n; i++) {
              histories.set(hist, i * L);
              feedback.set(fb, i * L);
            }
            const base = { size: n, ids: new Int32Array(n).fill(2), labels: new Float32Array(n), dense: null };
            const rows = seq.model.predict({
              ...base,
              extras: {
                [SEQUENCE_EXTRAS.candidates]: cands,
                [SEQUENCE_EXTRAS.histories]: histories,
                [SEQUENCE_EXTRAS.lengths]: new Int32Array(n).fill(len),
                ...(side.numFeedback ? { [SEQUENCE_EXTRAS.feedback]: feedback } : {}),
              },
            });
            const shared = seq.model.predict({
              ...base,
              extras: {
                [SEQUENCE_EXTRAS.candidates]: cands,
                [SEQUENCE_EXTRAS.userHistory]: hist,
                ...(side.numFeedback ? { [SEQUENCE_EXTRAS.userFeedback]: fb } : {}),
              },
            });
            let worst = 0;
            for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(rows[i]! - shared[i]!));
            expect(worst).toBeLessThan(1e-6);
            if (len > 3) expect(new Set(rows).size).toBeGreaterThan(1); // candidates differ, so the check is not vacuous
          }
          seq.model.dispose();
        }
      });
    }
  }

  it('a compressed item table (double-frequency+int8) is saved and loaded compressed, with identical predictions and BSE rows', async () => {
    const tf = await cpuTf();
    const data = await openCtrData('seq-synthetic', SPEC);
    const itemCounts = await sequenceItemCounts(data.train, data.sequence!.numItems);
    const seq = createSequenceCtrModel(
      tf,
      data,
      { model: 'sdim', method: 'double-frequency+int8', budget: 0.4, dim: 8, mlp: [16], numHashes: 12, seed: 2 },
      { counts: data.counts(), itemCounts },
    );
    await trainCtr(seq.model, { train: data.train, valid: data.valid }, { epochs: 1, batchSize: 32, seed: 1 });
    const dir = await tempDir();
    const { bseVersion } = await saveSequenceCtrModel(seq, dir, { data: data.descriptor });
    const loaded = await loadSequenceCtrModel(tf, dir);
    // Served compressed: int8 rows of the double-frequency layout, within the item table's budget.
    expect(loaded.block.items.storage.kind).toBe('int8');
    expect(loaded.block.items.mapper.method).toBe('double-frequency');
    expect(loaded.block.items.mapper.rows).toBe(seq.block.items.mapper.rows);
    expect(loaded.block.itemTableBytes).toBe(seq.block.itemTableBytes);
    expect(loaded.block.itemTableBytes).toBeLessThanOrEqual(seq.block.itemTableBudgetBytes);
    expect(loaded.block.itemTableBytes).toBeLessThan(0.5 * seq.block.itemTableFullBytes);
    for (const b of await batches(data.test)) {
      expect(loaded.model.predict(b)).toEqual(seq.model.predict(b));
    }
    // The BSE encoder's model version holds exactly the rows the compressed table serves.
    const bse = await loadSdimModelVersion(join(dir, 'bse', `${bseVersion}.sdim`));
    expect(Array.from(bse.itemEmbeddings)).toEqual(Array.from(sequenceItemRows(loaded.block)));
    // A damaged item embedding file is named.
    await writeFile(join(dir, 'sequence-items.ckpt'), 'garbage');
    await expect(loadSequenceCtrModel(tf, dir)).rejects.toThrow(/sequence-items\.ckpt/);
    seq.model.dispose();
    loaded.model.dispose();
  });

  it('rejects damaged sequence directories with the file named, and plain loading of a sequence directory', async () => {
    const tf = await cpuTf();
    const data = await openCtrData('seq-synthetic', SPEC);
    const seq = createSequenceCtrModel(tf, data, { model: 'sdim', dim: 8, mlp: [16], numHashes: 12 });
    const dir = await tempDir();
    const { bseVersion } = await saveSequenceCtrModel(seq, dir);
    await expect(loadCtrModel(tf, dir)).rejects.toThrow(
      /holds a sequence model \(sdim\); load it with loadSequenceCtrModel/,
    );
    await writeFile(join(dir, 'sequence.ckpt'), 'garbage');
    await expect(loadSequenceCtrModel(tf, dir)).rejects.toThrow(/sequence\.ckpt/);
    const dir2 = await tempDir();
    await saveSequenceCtrModel(seq, dir2);
    const other = createSequenceCtrModel(tf, data, { model: 'sdim', dim: 8, mlp: [16], numHashes: 12, seed: 9 });
    const dir3 = await tempDir();
    const v3 = await saveSequenceCtrModel(other, dir3);
    // dir2's BSE file replaced by another model's: rejected, never served with the wrong projections.
    const { copyFile } = await import('node:fs/promises');
    await copyFile(join(dir3, 'bse', `${v3.bseVersion}.sdim`), join(dir2, 'bse', `${bseVersion}.sdim`));
    await expect(loadSequenceCtrModel(tf, dir2)).rejects.toThrow(UsageError);
    seq.model.dispose();
    other.model.dispose();
  });
});
