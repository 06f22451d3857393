import { fileURLToPath } from 'node:url';
import { fullTableBytes, generateRetrievalDataset, InvalidArgumentError } from '@compactrec/core';
import { DSL_STORAGE_NAME as DSL } from '@compactrec/dsl';
import { runRetrievalBench } from '@compactrec/harness';
import { beforeAll, describe, expect, it } from 'vitest';

const quiet = () => {};
const DATASETS = fileURLToPath(new URL('../../../../shared/datasets/', import.meta.url));

describe('retrieval harness: GraphHash protocol, recall conventions, sequential data, environment', () => {
  // One GraphHash run (Louvain on the generated set) serves the two GraphHash tests.
  let records: Awaited<ReturnType<typeof runRetrievalBench>>;
  beforeAll(async () => {
    records = await runRetrievalBench({
      data: 'generated',
      methods: ['graphhash', 'modulo', 'frequency', DSL],
      rowsLike: 'graphhash',
      budget: 0.25,
      epochs: 1,
      dim: 16,
      log: quiet,
    });
  }, 300_000);

  it('--rows-like graphhash gives every baseline GraphHash’s per-side row counts (DSL the same bytes)', async () => {
    const [gh, ...rest] = records;
    expect(gh!.method).toBe('graphhash');
    for (const r of rest.filter((x) => x.method !== DSL)) {
      expect(r.userRows, String(r.method)).toBe(gh!.userRows);
      expect(r.itemRows, String(r.method)).toBe(gh!.itemRows);
    }
    for (const r of records) {
      expect(r).toMatchObject({ rowsLike: 'graphhash', requestedBudget: 0.25, budgetBytes: gh!.embeddingBytes });
    }
    const dsl = records.find((r) => r.method === DSL)!;
    expect((dsl.embeddingBytes as number) / (gh!.embeddingBytes as number)).toBeGreaterThan(0.9);
    expect(dsl.embeddingBytes as number).toBeLessThanOrEqual(gh!.embeddingBytes as number);
    await expect(
      runRetrievalBench({ data: 'generated', methods: ['full'], rowsLike: 'nope' as 'budget', log: quiet }),
    ).rejects.toThrow(InvalidArgumentError);
  });

  it('graphhash fills ≥ 95 % of each side’s rows (per-side targeting) and records both recall conventions', () => {
    const gh = records[0]!;
    const data = generateRetrievalDataset({ seed: 0 }); // what --data generated loads at seed 0
    const limit = (n: number) => Math.floor((0.25 * fullTableBytes(n, 16)) / (16 * 4));
    const users = (gh.userRows as number) / limit(data.train.numUsers);
    const items = (gh.itemRows as number) / limit(data.train.numItems);
    expect(users).toBeGreaterThanOrEqual(0.95);
    expect(items).toBeGreaterThanOrEqual(0.95);
    expect(users).toBeLessThanOrEqual(1);
    expect(items).toBeLessThanOrEqual(1);
    // Capped recall divides by min(20, |test|) ≤ |test|: never below LightGCN's recall.
    for (const r of records) {
      expect(r['recallCapped@20'] as number, String(r.method)).toBeGreaterThanOrEqual(r['recall@20'] as number);
    }
    expect(gh['recall@20'] as number).toBeGreaterThan(0);
  });

  it('--format sequential-loo runs on a real sequential file; with one test item per user both recalls agree', async () => {
    const [full] = await runRetrievalBench({
      data: `${DATASETS}s3rec_sequential/LastFM.txt`,
      format: 'sequential-loo',
      methods: ['full'],
      epochs: 1,
      dim: 16,
      log: quiet,
    });
    expect(full).toMatchObject({ dataset: 'LastFM', userRows: 1090, itemRows: 3646 });
    expect(full!['recallCapped@20']).toBe(full!['recall@20']);
    // The run's environment travels with every record.
    expect(full!.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(typeof full!.gitDirty).toBe('boolean');
    expect(full!.nodeVersion).toBe(process.version);
    expect(Number.isNaN(Date.parse(full!.startedAt as string))).toBe(false);
    expect(full!.cpus as number).toBeGreaterThan(0);
  });
});
