import { runCtrBench } from '@compactrec/harness';
import { describe, expect, it } from 'vitest';

// Every `bench ctr` record carries training samples/s and serving predictions/s, so a regression shows in any run.
describe('runCtrBench throughput fields', () => {
  it('records training samples/s consistent with the samples and seconds, and serving predictions/s', async () => {
    const records = await runCtrBench({
      data: 'fields=3,cardinality=40,trainRows=600,validRows=100,testRows=300',
      format: 'synthetic',
      methods: ['full'],
      model: 'deepfm',
      dim: 4,
      mlp: [8],
      epochs: 2,
      patience: 5,
      batchSize: 100,
      backend: 'cpu',
      log: () => {},
    });
    expect(records).toHaveLength(1);
    const r = records[0]!;
    const train = r.trainSamplesPerSecond as number;
    const serve = r.servePredictionsPerSecond as number;
    expect(Number.isFinite(train) && train > 0).toBe(true);
    expect(Number.isFinite(serve) && serve > 0).toBe(true);
    // 2 epochs × 600 training rows in trainSeconds (the rate is rounded to an integer)
    expect(Math.abs(train * (r.trainSeconds as number) - 2 * 600)).toBeLessThan((r.trainSeconds as number) + 1e-9);
  });
});
