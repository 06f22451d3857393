import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auc, DataFormatError, InvalidArgumentError } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import {
  buildCriteoVocabulary,
  CriteoCtrSource,
  createCtrModel,
  evaluateCtr,
  loadLibfmCtr,
  SyntheticCtr,
  splitIndices,
  trainCtr,
} from '../src/index.js';
import { cpuTf } from './helpers.js';

const DATASETS = new URL('../../../../shared/datasets/', import.meta.url).pathname;
const FRAPPE = join(DATASETS, 'frappe_nfm');
const CRITEO = join(DATASETS, 'criteo_sample/criteo_kaggle_train_first1000.txt');

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempFile(name: string, text: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ctr-data-'));
  dirs.push(d);
  const p = join(d, name);
  await writeFile(p, text);
  return p;
}

describe('splitIndices', () => {
  it('rejects bad fractions', () => {
    expect(() => splitIndices(10, 1, 0.1, 0)).toThrow(InvalidArgumentError);
    expect(() => splitIndices(0, 0.2, 0.1, 0)).toThrow(InvalidArgumentError);
  });
  it('partitions all samples, is seeded and sized 20 % / 10 % of the rest', () => {
    const a = splitIndices(1000, 0.2, 0.1, 7);
    const b = splitIndices(1000, 0.2, 0.1, 7);
    const c = splitIndices(1000, 0.2, 0.1, 8);
    expect(a).toEqual(b);
    expect(a.test).not.toEqual(c.test);
    expect([a.test.length, a.valid.length, a.train.length]).toEqual([200, 80, 720]);
    const all = new Set([...a.train, ...a.valid, ...a.test]);
    expect(all.size).toBe(1000);
  });
});

describe('Frappe (libFM)', () => {
  it.skipIf(missingData('frappe_nfm/frappe.validation.libfm', 'frappe_nfm/frappe.test.libfm'))(
    `loads a slice with the documented split, deterministically (${DATASETS_REASON})`,
    async () => {
      const a = await loadLibfmCtr(FRAPPE, { maxRows: 1500 });
      const b = await loadLibfmCtr(FRAPPE, { maxRows: 1500 });
      expect(a.dataset.name).toBe('frappe');
      expect(a.dataset.numSamples).toBe(3000); // 1500 from each file: validation then test
      expect(a.dataset.fieldNames[1]).toBe('item');
      expect(a.test.indices).toEqual(b.test.indices);
      expect(a.train.indices).toEqual(b.train.indices);
      expect(a.test.numSamples).toBe(600);
      expect(a.valid.numSamples).toBe(240);
      // Encoding with the saved vocabulary gives the same IDs.
      const c = await loadLibfmCtr(FRAPPE, { maxRows: 1500, vocabulary: a.vocabulary });
      expect(c.dataset.ids).toEqual(a.dataset.ids);
    },
  );

  it('rejects a non-numeric feature index and a bad label with DataFormatError', async () => {
    const badIdx = await tempFile('bad.libfm', '1 0:1 5:1\n-1 0:1 x5:1\n');
    await expect(loadLibfmCtr(badIdx)).rejects.toThrow(DataFormatError);
    const badLabel = await tempFile('bad2.libfm', '1 0:1 5:1\n2 0:1 5:1\n');
    await expect(loadLibfmCtr(badLabel)).rejects.toThrow(DataFormatError);
  });
});

describe('Criteo', () => {
  it.skipIf(missingData('criteo_sample/criteo_kaggle_train_first1000.txt'))(
    `builds a vocabulary with OOV and streams the split rows (${DATASETS_REASON})`,
    async () => {
      const v = await buildCriteoVocabulary(CRITEO, { minCount: 3, testFraction: 0.2, validFraction: 0.1 });
      expect(v.schema.fieldNames.length).toBe(39);
      expect(v.rows.train + v.rows.valid + v.rows.test).toBe(1000);
      for (let f = 0; f < 39; f++) {
        expect(v.counts[f]!.reduce((s, c) => s + c, 0)).toBe(v.rows.train);
        expect(v.schema.cardinalities[f]).toBe(v.counts[f]!.length);
      }
      let n = 0;
      for await (const b of new CriteoCtrSource(CRITEO, v, 'test').batches({ batchSize: 64 })) {
        for (let i = 0; i < b.size * 39; i++) {
          expect(b.ids[i]).toBeGreaterThanOrEqual(0);
          expect(b.ids[i]).toBeLessThan(v.schema.cardinalities[i % 39]!);
        }
        n += b.size;
      }
      expect(n).toBe(v.rows.test);
      const dense = await buildCriteoVocabulary(CRITEO, { numeric: 'dense', maxRows: 100 });
      expect(dense.schema.numDense).toBe(13);
      expect(dense.schema.fieldNames.length).toBe(26);
    },
  );

  it('rejects a row with 41 fields and a label other than 0/1 with DataFormatError', async () => {
    const row = ['1', ...new Array(13).fill('1'), ...new Array(26).fill('0a1b2c3d')];
    const extra = await tempFile('c41.txt', `${row.join('\t')}\n${[...row, 'x'].join('\t')}\n`);
    await expect(buildCriteoVocabulary(extra)).rejects.toThrow(DataFormatError);
    const label = await tempFile('clab.txt', `${['2', ...row.slice(1)].join('\t')}\n`);
    await expect(buildCriteoVocabulary(label)).rejects.toThrow(DataFormatError);
  });
});

describe('SyntheticCtr', () => {
  const opts = { fields: 6, cardinality: 300, trainRows: 4000, validRows: 500, testRows: 2000, seed: 4 };

  it('rejects bad options', () => {
    expect(() => new SyntheticCtr({ fields: 0 })).toThrow(InvalidArgumentError);
    expect(() => new SyntheticCtr({ fields: 2, cardinality: [5] })).toThrow(InvalidArgumentError);
  });

  it('is deterministic for a seed and independent of the batch size', async () => {
    const collect = async (g: SyntheticCtr, bs: number) => {
      const ids: number[] = [];
      const labels: number[] = [];
      for await (const b of g.test.batches({ batchSize: bs })) {
        ids.push(...b.ids);
        labels.push(...b.labels);
      }
      return { ids, labels };
    };
    const a = await collect(new SyntheticCtr(opts), 256);
    const b = await collect(new SyntheticCtr(opts), 999);
    const c = await collect(new SyntheticCtr({ ...opts, seed: 5 }), 256);
    expect(a).toEqual(b);
    expect(a.ids).not.toEqual(c.ids);
    // Zipf: the most popular ID is far more frequent than uniform.
    const counts = new Map<number, number>();
    for (let i = 0; i < a.ids.length; i += 6) counts.set(a.ids[i]!, (counts.get(a.ids[i]!) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeGreaterThan((5 * 2000) / 300);
  });

  it('plants a signal a trained LR picks up', async () => {
    const g = new SyntheticCtr(opts);
    // The planted logit itself ranks the test rows well (an upper bound)...
    const ys: number[] = [];
    const zs: number[] = [];
    for await (const b of g.test.batches({ batchSize: 500 })) {
      for (let s = 0; s < b.size; s++) {
        ys.push(b.labels[s]!);
        zs.push(g.plantedLogit(b.ids, s * 6));
      }
    }
    const oracle = auc(Float32Array.from(ys), Float32Array.from(zs));
    expect(oracle).toBeGreaterThan(0.7);
    // ...and logistic regression trained on 4000 rows beats chance by a margin.
    const tf = await cpuTf();
    const model = createCtrModel(tf, g.schema, { model: 'lr', lr: 0.02 });
    await trainCtr(model, { train: g.train, valid: g.valid }, { epochs: 3, batchSize: 256, log: () => {} });
    const res = await evaluateCtr(model, g.test);
    expect(res.auc).toBeGreaterThan(0.6);
    expect(res.auc).toBeLessThanOrEqual(oracle + 0.02);
    model.dispose();
  });
});
