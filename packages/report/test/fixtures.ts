import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ENV = {
  gitCommit: '0123456789abcdef0123456789abcdef01234567',
  gitDirty: false,
  compactrecVersion: '0.1.0',
  nodeVersion: 'v20.0.0',
  kernels: 'native',
  platform: 'linux-x64',
  cpuModel: 'Test CPU',
  cpus: 2,
  memoryBytes: 25769803776,
  hostname: 'test-host',
  startedAt: '2026-01-02T03:04:05.000Z',
};

/** A new-style retrieval sweep: bytes = embeddingBytes + mappingBytes. */
function sweep(): Record<string, unknown>[] {
  const rows: [string, number, number, number, number][] = [
    // method, budget, embeddingBytes, mappingBytes, recall
    ['full', 1, 1000, 16, 0.2],
    ['modulo', 0.5, 500, 16, 0.12],
    ['modulo', 0.25, 250, 16, 0.08],
    ['modulo', 0.1, 100, 16, 0.05],
    ['graphhash', 0.5, 500, 40, 0.18],
    ['graphhash', 0.25, 250, 40, 0.15],
    ['graphhash', 0.1, 100, 40, 0.09],
  ];
  return rows.map(([method, budget, embeddingBytes, mappingBytes, recall]) => ({
    dataset: 'Toy',
    model: 'mf',
    method,
    budget,
    embeddingBytes,
    mappingBytes,
    optimizerBytes: embeddingBytes * 2,
    userRows: embeddingBytes / 8,
    itemRows: embeddingBytes / 8,
    'recall@20': recall,
    'recallCapped@20': recall + 0.01,
    'ndcg@20': recall / 2,
    epochs: 150,
    lr: 0.001,
    batchSize: 2048,
    seed: 0,
    triplesPerSecond: 1_000_000,
    params: JSON.stringify({ user: { resolution: 12.5, clusters: embeddingBytes / 8 }, item: { resolution: 30 } }),
    ...ENV,
  }));
}

/** An old CTR results.json: no environment fields, one record without bytes, one non-record entry. */
function oldCtr(): unknown[] {
  return [
    {
      dataset: 'Frappe',
      model: 'fm',
      method: 'full',
      budget: 1,
      embeddingBytes: 8000,
      mappingBytes: 0,
      auc: 0.97,
      logloss: 0.2,
      lr: 0.001,
      epochs: 10,
    },
    {
      dataset: 'Frappe',
      model: 'fm',
      method: 'modulo',
      budget: 0.25,
      embeddingBytes: 2000,
      mappingBytes: 0,
      auc: '0.95',
      lr: 0.001,
      epochs: 10,
    },
    {
      dataset: 'Frappe',
      model: 'fm',
      method: 'frequency',
      budget: 0.25,
      embeddingBytes: 2000,
      mappingBytes: 400,
      auc: 0.94,
      lr: 0.001,
      epochs: 10,
    },
    { dataset: 'Frappe', model: 'fm', method: 'qr', budget: 0.25, auc: 0.94, lr: 0.001, epochs: 10 },
    'not a record',
  ];
}

/** Expected plot contents of the fixture report, per dataset · model. */
export const EXPECTED_PLOTS = Object.freeze({
  'Toy · mf': { points: 7, methods: 3, front: 5 },
  'Frappe · fm': { points: 3, methods: 3, front: 2 },
});

/** Writes two results directories (a new retrieval sweep, an old CTR run) and returns their paths. */
export function writeFixtureResults(): { root: string; dirs: string[] } {
  const root = mkdtempSync(join(tmpdir(), 'compactrec-report-'));
  const a = join(root, 'toy-sweep');
  const b = join(root, 'old', 'frappe-ctr'); // found one level below 'old'
  mkdirSync(a, { recursive: true });
  mkdirSync(b, { recursive: true });
  writeFileSync(join(a, 'results.json'), `${JSON.stringify(sweep(), null, 2)}\n`);
  writeFileSync(join(b, 'results.json'), JSON.stringify(oldCtr()));
  return { root, dirs: [a, join(root, 'old')] };
}
