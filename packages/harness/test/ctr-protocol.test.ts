import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ResultRecord, runCtrBench } from '@compactrec/harness';
import { describe, expect, it } from 'vitest';

// DeepFM at lr 0.03 on a small synthetic set: validation AUC peaks early (epoch 2 of 8 when
// measured) and falls as the model overfits, so the best-validation epoch is not the last one.
const base = {
  data: 'fields=3,cardinality=200,rows=6000,validRows=1000,testRows=1000',
  format: 'synthetic',
  model: 'deepfm',
  methods: ['full'],
  dim: 8,
  mlp: [16],
  backend: 'cpu',
  batchSize: 128,
  lr: 0.03,
  log: () => {},
} as const;

describe('CTR protocol: the test runs on the best-validation epoch', () => {
  it("tests the restored best epoch's model, not the last epoch's (same AUC as a run that ends at the best epoch)", async () => {
    const [a] = await runCtrBench({ ...base, epochs: 8, patience: 100 });
    const curve = a!.validCurve as [number, number][];
    expect(curve).toHaveLength(8);
    const bestAuc = Math.max(...curve.map(([, v]) => v));
    const best = curve.find(([, v]) => v === bestAuc)![0];
    expect(a!.bestEpoch).toBe(best);
    expect(best).toBeLessThan(8); // precondition: the last epoch is worse on validation
    expect(curve[7]![1]).toBeLessThan(bestAuc);
    expect(a!.selection).toBe('best-validation');
    // Deterministic on the cpu backend: a run of exactly `best` epochs holds the best epoch's values.
    const [c] = await runCtrBench({ ...base, epochs: best, patience: 100 });
    expect(c!.validAuc).toBe(a!.validAuc);
    expect(a!.auc).toBe(c!.auc);
    expect(a!.logloss).toBe(c!.logloss);
  });

  it('sweeps a budget list (full once), tunes lr by validation AUC and resumes from its journal', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ctr-sweep-'));
    const opts = { ...base, methods: ['full', 'modulo'], budget: [0.5, 0.25], tune: 'lr=0.003,0.03', epochs: 3, out };
    const cells: ResultRecord[] = [];
    const records = await runCtrBench({ ...opts, onRecord: (r) => void cells.push(r) });
    expect(cells.map((c) => `${c.method}@${c.budget} lr ${c.lr}`)).toEqual([
      'full@1 lr 0.003',
      'full@1 lr 0.03',
      'modulo@0.5 lr 0.003',
      'modulo@0.5 lr 0.03',
      'modulo@0.25 lr 0.003',
      'modulo@0.25 lr 0.03',
    ]);
    expect(records.map((r) => `${r.method}@${r.budget}`)).toEqual(['full@1', 'modulo@0.5', 'modulo@0.25']);
    for (const r of records) {
      const own = cells.filter((c) => c.method === r.method && c.budget === r.budget);
      const best = own.reduce((a, b) => ((b.validAuc as number) > (a.validAuc as number) ? b : a));
      expect(r.lr).toBe(best.lr);
      expect(r.auc).toBe(best.auc);
    }
    const again: ResultRecord[] = [];
    const resumed = await runCtrBench({ ...opts, onRecord: (r) => void again.push(r) });
    expect(again).toEqual([]);
    expect(resumed.map((r) => r.auc)).toEqual(records.map((r) => r.auc));
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(6);
  });
});
