import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSequenceCtrModel, evaluateCtr, openCtrData, saveSequenceCtrModel, trainCtr } from '@compactrec/ctr';
import { initTf } from '@compactrec/tf-backend';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateCtrApp, predictCtrApp } from '../src/app.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('ctr predict (batch scoring)', () => {
  it('writes one row per test sample with the saved model’s probabilities, and logs progress with an ETA', async () => {
    const { tf } = await initTf({ prefer: 'cpu', quiet: true });
    const spec = 'users=40,items=80,clusters=5,length=16,perUser=5,dim=8';
    const data = await openCtrData('seq-synthetic', spec);
    const seq = createSequenceCtrModel(tf, data, { model: 'sdim', dim: 8, mlp: [16], numHashes: 12, seed: 2 });
    await trainCtr(seq.model, { train: data.train, valid: data.valid }, { epochs: 1, batchSize: 32, seed: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'ctr-predict-'));
    dirs.push(dir);
    const { bseVersion } = await saveSequenceCtrModel(seq, join(dir, 'model'), { data: data.descriptor });
    const lines: string[] = [];
    const out = join(dir, 'preds.csv');
    const r = await predictCtrApp({
      modelDir: join(dir, 'model'),
      out,
      batch: 7,
      backend: 'cpu',
      progressEverySeconds: 0,
      log: (l) => lines.push(l),
    });
    expect(r.rows).toBe(data.test.numSamples);
    expect(r.version).toBe(bseVersion);
    const csv = (await readFile(out, 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('row,user_id,item_id,history_length,label,probability');
    expect(csv.length).toBe(1 + data.test.numSamples);
    const want: number[] = [];
    for await (const b of data.test.batches({ batchSize: 64 })) want.push(...seq.model.predict(b));
    const got = csv.slice(1).map((l) => Number(l.split(',')[5]));
    expect(got).toEqual(want);
    expect(lines.some((l) => /\/\d+ rows \(\d+\.\d%\), \d+ rows\/s, ETA/.test(l))).toBe(true);
    // ctr eval reads sequence model directories too.
    const ev = await evaluateCtrApp({ modelDir: join(dir, 'model'), backend: 'cpu', log: () => {} });
    const direct = await evaluateCtr(seq.model, data.test);
    expect(ev.auc).toBe(direct.auc);
    expect(ev.samples).toBe(direct.samples);
    await expect(predictCtrApp({ modelDir: join(dir, 'nope'), out, backend: 'cpu', log: () => {} })).rejects.toThrow(
      /not a CTR model directory/,
    );
    seq.model.dispose();
  });
});
