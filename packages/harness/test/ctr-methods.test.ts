import { DSL_STORAGE_NAME } from '@compactrec/dsl';
import { runCtrBench } from '@compactrec/harness';
import { describe, expect, it } from 'vitest';

// The CTR harness fits every method it accepts through the embedding contract (graph methods on the
// field co-occurrence graphs, DSL with its step schedule, compositions), and reports bytes from what
// the storages allocated.
describe('runCtrBench with embedding-contract methods', () => {
  it('graphhash, dsl and double-frequency+int8 run end to end within the budget, with all four byte figures', async () => {
    const records = await runCtrBench({
      data: 'fields=4,cardinality=400,trainRows=1024,validRows=128,testRows=128',
      format: 'synthetic',
      methods: ['graphhash', DSL_STORAGE_NAME, 'double-frequency+int8', 'int8'],
      budget: 0.3,
      dim: 16,
      mlp: [8],
      epochs: 1,
      batchSize: 256,
      backend: 'cpu',
      log: () => {},
    });
    expect(records.map((r) => r.method)).toEqual(['graphhash', DSL_STORAGE_NAME, 'double-frequency+int8', 'int8']);
    for (const r of records.slice(0, 3)) {
      expect(r.fits).toBe(true);
      expect(r.embeddingBytes as number).toBeLessThanOrEqual(r.budgetBytes as number);
      expect(r.embeddingBytes as number).toBeGreaterThan(0);
      for (const k of ['mappingBytes', 'optimizerBytes', 'trainingBytes']) expect(typeof r[k]).toBe('number');
      expect(r.optimizerBytes as number).toBeGreaterThan(0);
    }
    // DSL holds dense values, mask and scores while training: more than its served table.
    expect(records[1]!.trainingBytes as number).toBeGreaterThan(records[1]!.embeddingBytes as number);
    // Rows shared by frequency: fewer rows than IDs; stored int8 below the budget.
    expect(records[2]!.rows as number).toBeLessThan(4 * 400);
    // int8 alone at d 16 is (16 + 8) / 64 = 0.375 of float32: it cannot reach 0.3 and says so.
    expect(records[3]!.fits).toBe(false);
    expect(String(records[3]!.reason)).toMatch(/cannot reach/);
  });

  it('DSL in its sparse training form holds fewer training + optimizer bytes than dense-masked, same served budget', async () => {
    const run = (dslTraining: string) =>
      runCtrBench({
        data: 'fields=3,cardinality=600,trainRows=1024,validRows=128,testRows=128',
        format: 'synthetic',
        methods: [DSL_STORAGE_NAME],
        budget: 0.2,
        dim: 16,
        mlp: [8],
        epochs: 1,
        batchSize: 256,
        backend: 'cpu',
        storageExtra: { dslTraining },
        log: () => {},
      });
    const [dense] = await run('dense');
    const [sparse] = await run('sparse');
    expect(sparse!.embeddingBytes as number).toBeLessThanOrEqual(sparse!.budgetBytes as number);
    const total = (r: typeof dense) => (r!.trainingBytes as number) + (r!.optimizerBytes as number);
    expect(total(sparse)).toBeLessThan(total(dense));
    expect(Number.isFinite(sparse!.auc as number)).toBe(true);
  });

  it('a sequence model compresses its item table with the method and reports its bytes', async () => {
    const records = await runCtrBench({
      data: 'users=16,items=40,clusters=4,length=32,perUser=6,dim=8',
      format: 'seq-synthetic',
      methods: ['full', 'double-frequency+int8'],
      model: 'sdim',
      budget: 0.5,
      dim: 8,
      mlp: [8],
      epochs: 1,
      batchSize: 32,
      numHashes: 12,
      shortLength: 4,
      backend: 'cpu',
      log: () => {},
    });
    expect(records.map((r) => r.method)).toEqual(['full', 'double-frequency+int8']);
    expect(records[0]!.itemTableBytes).toBe(41 * 8 * 4);
    const c = records[1]!;
    expect(c.itemTableBudgetBytes).toBe(Math.floor(0.5 * 41 * 8 * 4));
    expect(c.itemTableBytes as number).toBeLessThanOrEqual(c.itemTableBudgetBytes as number);
    expect(c.itemTableBytes as number).toBeLessThan(records[0]!.itemTableBytes as number);
    expect(Number.isFinite(c.auc as number)).toBe(true);
  });
});
