import { InvalidArgumentError } from '@compactrec/core';
import { type ResultRecord, runCtrBench } from '@compactrec/harness';
import { describe, expect, it } from 'vitest';

// The CTR benchmark harness with sequence models: one cell record per model × method × seed (in the
// results.json shape of the other CTR records: auc, logloss, seed, times, bytes), and one reported
// record per model × method with the metrics averaged over the seeds.
describe('runCtrBench with sequence models', () => {
  it('trains one cell per model × method × seed, each model learning the planted interests (AUC > 0.6), and reports the seed means', async () => {
    // 400 users × 10 samples (800 test samples) and 6 epochs at lr 0.01: enough for both models to
    // pick up the planted interests (measured AUC 0.61–0.64 over these seeds, deterministic on the cpu backend; chance is 0.5).
    const cells: ResultRecord[] = [];
    const records = await runCtrBench({
      data: 'users=400,items=40,clusters=4,length=32,perUser=10,dim=8',
      format: 'seq-synthetic',
      methods: ['full'],
      model: ['sdim', 'din-short'],
      seeds: [0, 1],
      dim: 8,
      mlp: [8],
      epochs: 6,
      lr: 0.01,
      batchSize: 32,
      numHashes: 12,
      shortLength: 4,
      backend: 'cpu',
      log: () => {},
      onRecord: (r) => void cells.push(r),
    });
    // Seed-major: every model on seed 0 (the tuning seed), then every model on seed 1.
    expect(cells.map((r) => [r.model, r.seed])).toEqual([
      ['sdim', 0],
      ['din-short', 0],
      ['sdim', 1],
      ['din-short', 1],
    ]);
    for (const r of cells) {
      expect(r.method).toBe('full');
      expect(r.dataset).toBe('seq-synthetic32');
      for (const k of [
        'auc',
        'logloss',
        'validAuc',
        'trainSeconds',
        'secondsPerEpoch',
        'itemTableBytes',
        'denseParams',
      ]) {
        expect(typeof r[k]).toBe('number');
        expect(Number.isFinite(r[k] as number)).toBe(true);
      }
      expect(r.auc as number, `${r.model} seed ${r.seed}`).toBeGreaterThan(0.6);
      expect(r.auc as number).toBeLessThanOrEqual(1);
      expect(r.itemTableBytes).toBe(41 * 8 * 4);
      expect(r.maxLength).toBe(32);
      expect(r.shortLength).toBe(4);
    }
    expect(records.map((r) => [r.model, r.seeds])).toEqual([
      ['sdim', [0, 1]],
      ['din-short', [0, 1]],
    ]);
    for (const r of records) {
      const own = cells.filter((c) => c.model === r.model).map((c) => c.auc as number);
      expect(r.auc).toBeCloseTo((own[0]! + own[1]!) / 2, 12);
      expect(r['auc.std']).toBeCloseTo(Math.abs(own[0]! - own[1]!) / Math.SQRT2, 12);
    }
  });

  it('rejects a sequence model on a plain format and a plain model on a sequence format', async () => {
    const base = { methods: ['full'], backend: 'cpu' as const, log: () => {} };
    await expect(runCtrBench({ ...base, data: 'fields=2', format: 'synthetic', model: 'sdim' })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(
      runCtrBench({ ...base, data: 'users=4,items=8,clusters=2,length=8', format: 'seq-synthetic', model: 'deepfm' }),
    ).rejects.toThrow(InvalidArgumentError);
  });
});
