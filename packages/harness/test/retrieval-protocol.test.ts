import { InvalidArgumentError } from '@compactrec/core';
import { type ResultRecord, runRetrievalBench } from '@compactrec/harness';
import { beforeAll, describe, expect, it } from 'vitest';

const quiet = () => {};
// lr 0.03 on the generated set: validation Recall@20 peaks around epoch 6 of 12, then falls
// (the table overfits), so the best-validation epoch is not the last one.
const base = { data: 'generated', methods: ['full'], dim: 16, lr: 0.03, log: quiet } as const;

describe('retrieval protocol: validation split, early stopping, best-validation test', () => {
  let a: ResultRecord;
  beforeAll(async () => {
    [a] = (await runRetrievalBench({ ...base, epochs: 12, evalEvery: 1, patience: 100 })) as [ResultRecord];
  });

  it('records the validation curve, the best epoch and both validation and test metrics', () => {
    const curve = a.validCurve as [number, number][];
    expect(curve.map(([e]) => e)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let best = 0;
    for (let i = 1; i < curve.length; i++) if (curve[i]![1] > curve[best]![1]) best = i;
    expect(a.bestEpoch).toBe(curve[best]![0]);
    expect(a.bestEpoch as number).toBeLessThan(12); // the precondition of the next test
    expect(a['valid.recall@20']).toBeCloseTo(curve[best]![1], 5);
    expect(a.selection).toBe('best-validation');
    expect(a.validation).toBe('holdout 0.1');
    expect(a.lr).toBe(0.03);
    expect(a.epochsTrained).toBe(12);
    expect(typeof a['recall@20']).toBe('number');
  });

  it("reports the test metric of the best validation epoch's tables, not of the last epoch's", async () => {
    // Training is deterministic: a run of exactly bestEpoch epochs, tested once at its end, holds the
    // same tables as run `a` at its best epoch; a run of 12 epochs tested at its end holds the last ones.
    const [atBest] = await runRetrievalBench({ ...base, epochs: a.bestEpoch as number, evalEvery: 0, patience: 100 });
    const [atLast] = await runRetrievalBench({ ...base, epochs: 12, evalEvery: 0, patience: 100 });
    expect(a['recall@20']).toBe(atBest!['recall@20']);
    expect(a['ndcg@20']).toBe(atBest!['ndcg@20']);
    expect(a['recall@20']).not.toBe(atLast!['recall@20']);
  });

  it("post-training int8: the best epoch's test metric is of the int8 table that epoch would serve", async () => {
    // Validation ranks the storage's servedPreview (the quantization applied to a copy of the master),
    // so the kept matrices equal what a run that ends at the best epoch serves after finishTraining.
    const q = { ...base, methods: ['int8'], quantize: 'after', budget: 0.5 } as const; // int8 at d 16 is 0.375 of full
    const [b] = (await runRetrievalBench({ ...q, epochs: 12, evalEvery: 1, patience: 100 })) as [ResultRecord];
    expect(b.bestEpoch as number).toBeLessThan(12);
    const [atBest] = await runRetrievalBench({ ...q, epochs: b.bestEpoch as number, evalEvery: 0, patience: 100 });
    expect(atBest!.storage).toBe('int8');
    expect(b['recall@20']).toBe(atBest!['recall@20']);
    expect(b['ndcg@20']).toBe(atBest!['ndcg@20']);
  });

  it('stops training `patience` epochs after the best validation epoch', async () => {
    const curve = a.validCurve as [number, number][];
    const patience = 3;
    // Expected stop from the recorded curve: the first epoch `patience` after the best so far.
    let bestE = 0;
    let bestV = Number.NEGATIVE_INFINITY;
    let expectedStop = 12;
    for (const [e, v] of curve) {
      if (v > bestV) {
        bestV = v;
        bestE = e;
      } else if (e - bestE >= patience) {
        expectedStop = e;
        break;
      }
    }
    expect(expectedStop).toBeLessThan(12);
    const [r] = await runRetrievalBench({ ...base, epochs: 12, evalEvery: 1, patience });
    expect(r!.epochsTrained).toBe(expectedStop);
    expect(r!.stoppedEarly).toBe(true);
    expect(r!.bestEpoch).toBe(bestE);
    expect(r!['recall@20']).toBe(a['recall@20']);
  });

  it('rejects tuning without a validation split and bad grids, naming the option', async () => {
    await expect(runRetrievalBench({ ...base, validFraction: 0, tune: 'lr=1e-3,1e-2' })).rejects.toThrow(
      /tuning \(tune\) picks by validation, but validFraction is 0/,
    );
    await expect(runRetrievalBench({ ...base, tune: 'lr=abc' })).rejects.toThrow(InvalidArgumentError);
    await expect(runRetrievalBench({ ...base, budget: [0.5, 2] })).rejects.toThrow(/budget \(2 in 0.5,2\)/);
  });

  it('sweeps a model list in one run, each model with its own recipe', async () => {
    const cells: ResultRecord[] = [];
    const records = await runRetrievalBench({
      data: ['generated'],
      model: ['mf', 'lightgcn'],
      methods: ['full', 'modulo'],
      budget: [0.5, 0.25],
      epochs: 1,
      dim: 8,
      log: quiet,
      onRecord: (r) => void cells.push(r),
    });
    // full once per model, modulo per budget: 2 × 3 cells.
    expect(records.map((r) => `${r.model} ${r.method} ${r.budget} lr ${r.lr}`)).toEqual([
      'mf full 1 lr 0.001',
      'mf modulo 0.5 lr 0.001',
      'mf modulo 0.25 lr 0.001',
      'lightgcn full 1 lr 0.005',
      'lightgcn modulo 0.5 lr 0.005',
      'lightgcn modulo 0.25 lr 0.005',
    ]);
    expect(cells).toHaveLength(6);
  });
});
