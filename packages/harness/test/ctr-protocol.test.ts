import { runCtrBench } from '@compactrec/harness';
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
});
