/**
 * The SDIM CTR comparison of the issue, in one command: `sdim`, `din` (DIN over the long sequence),
 * `avgpool` and `din-short` with the same settings (dim 16, MLP 200-80, batch 256, Adam, early
 * stopping on validation AUC with patience 1) on
 *
 * 1. MovieLens-100K, L = 256 (../shared/datasets/ml-100k), lr 0.001, at most 6 epochs; each history
 *    behaviour carries its rating and age as side features (the ml100k default protocol,
 *    `ML100K_SEQUENCE_PROTOCOL`): every model pools item + rating + age embeddings, while SDIM's hashes
 *    and DIN's keys stay item embeddings;
 * 2. seq-synthetic, L = 1,024 (500 users with 4–8 planted interests over 20 clusters of 1,000 items; every
 *    model starts from the planted item embeddings), lr 0.002, at most 5 epochs;
 *
 * SDIM pools each bucket by its mean on ml100k and by the paper's ℓ2-normalised sum on seq-synthetic (each
 * chosen by validation AUC), DIN uses raw scores; over
 * seeds 0, 1, 2, then prints the mean test AUC / log loss / training seconds per model and the
 * checks SDIM ≥ DIN-long − 0.003, SDIM ≥ avgpool, SDIM ≥ din-short. Records go to
 * `results/sdim-ctr/<dataset>/results.json`.
 *
 * Run: `npx tsc -b benchmarks && node benchmarks/dist/sdim-ctr.js [--only ml100k|seq-synthetic] [--seeds 0,1,2]
 * [--models sdim,din-short]` (a model subset prints only its checks and writes `results/sdim-ctr/<dataset>-<models>`)
 * (native tfjs backend when available; about an hour on a quiet 2-core machine, DIN-long dominating).
 *
 * `--timing` instead measures the cost of a training step of each full model (block + MLP + updates,
 * batch 256) interleaved round-robin in one process (so machine load hits every model alike) and
 * prints the median ms/step and the ratio to SDIM — the training-time comparison on a shared machine,
 * where the wall-clock seconds of separate runs are not comparable.
 */
import {
  type CtrBatch,
  createSequenceCtrModel,
  openCtrData,
  type SequenceCtrModel,
  type SequenceModelKind,
} from '@compactrec/ctr';
import { type ResultRecord, runCtrBench, toMarkdown, writeResults } from '@compactrec/harness';
import { initTf } from '@compactrec/tf-backend';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const seeds = (arg('seeds') ?? '0,1,2').split(',').map(Number);
const only = arg('only');
const ALL_MODELS = ['sdim', 'din', 'avgpool', 'din-short'] as const;
type Model = (typeof ALL_MODELS)[number];
const MODELS: readonly Model[] = (arg('models') ?? ALL_MODELS.join(',')).split(',').map((m) => {
  if (!(ALL_MODELS as readonly string[]).includes(m)) {
    throw new Error(`sdim-ctr: --models has '${m}'; use a comma list of ${ALL_MODELS.join(', ')}`);
  }
  return m as Model;
});
const COMMON = { methods: ['full'], model: MODELS, seeds, dim: 16, mlp: [200, 80], batchSize: 256, patience: 1 };

const RUNS = [
  {
    name: 'ml100k',
    format: 'ml100k' as const,
    data: '../shared/datasets/ml-100k',
    lr: 0.001,
    epochs: 6,
    sdimPooling: 'mean' as const,
  },
  {
    name: 'seq-synthetic',
    format: 'seq-synthetic' as const,
    data: 'users=500,items=1000,clusters=20,minInterests=4,maxInterests=8,dim=16',
    lr: 0.002,
    epochs: 5,
    initItems: 'planted' as const,
  },
];

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

async function timing(): Promise<void> {
  const { tf, backend } = await initTf({ prefer: 'auto', quiet: true });
  for (const run of RUNS) {
    if (only !== undefined && only !== run.name) continue;
    const data = await openCtrData(run.format, run.data);
    // 4 fixed batches of 256 (copied: sources reuse their buffers).
    const batches: CtrBatch[] = [];
    for await (const b of data.train.batches({ batchSize: 256, shuffleSeed: 1 })) {
      batches.push({
        ...b,
        ids: b.ids.slice(),
        labels: b.labels.slice(),
        extras: Object.fromEntries(Object.entries(b.extras ?? {}).map(([k, v]) => [k, (v as Int32Array).slice()])),
      });
      if (batches.length === 4) break;
    }
    const models = new Map<SequenceModelKind, SequenceCtrModel>();
    for (const m of ALL_MODELS) {
      models.set(
        m,
        createSequenceCtrModel(tf, data, {
          model: m,
          dim: 16,
          mlp: [200, 80],
          lr: run.lr,
          ...('initItems' in run ? { initItems: run.initItems } : {}),
        }),
      );
    }
    const times = new Map<SequenceModelKind, number[]>(ALL_MODELS.map((m) => [m, []]));
    for (let round = 0; round < 3; round++) {
      for (const m of ALL_MODELS) {
        const model = models.get(m)!.model;
        const t0 = performance.now();
        for (const b of batches) model.trainStep(b);
        times.get(m)!.push((performance.now() - t0) / batches.length);
      }
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const sdimMs = med(times.get('sdim')!);
    const rows: ResultRecord[] = ALL_MODELS.map((m) => ({
      model: m,
      msPerStep: med(times.get(m)!),
      vsSdim: med(times.get(m)!) / sdimMs,
    }));
    process.stdout.write(
      `\n## ${data.schema.name}: ms per training step (batch 256, ${backend}, median of 3 interleaved rounds of 4 steps)\n\n${toMarkdown(rows)}\n`,
    );
    for (const s of models.values()) s.model.dispose();
  }
}

if (args.includes('--timing')) {
  await timing();
  process.exit(0);
}

for (const run of RUNS) {
  if (only !== undefined && only !== run.name) continue;
  const { name, ...opts } = run;
  const records = await runCtrBench({ ...COMMON, ...opts, backend: 'auto' });
  const subset = MODELS.length < ALL_MODELS.length ? `-${MODELS.join('-')}` : '';
  await writeResults(`results/sdim-ctr/${name}${subset}`, records);
  const summary: ResultRecord[] = MODELS.map((m) => {
    const rs = records.filter((r) => r.model === m);
    return {
      model: m,
      seeds: rs.length,
      auc: mean(rs.map((r) => r.auc as number)),
      aucPerSeed: rs.map((r) => (r.auc as number).toFixed(4)).join(' / '),
      logloss: mean(rs.map((r) => r.logloss as number)),
      trainSeconds: mean(rs.map((r) => r.trainSeconds as number)),
      secondsPerEpoch: mean(rs.map((r) => r.secondsPerEpoch as number)),
    };
  });
  const auc = (m: string): number => summary.find((s) => s.model === m)!.auc as number;
  const sec = (m: string): number => summary.find((s) => s.model === m)!.secondsPerEpoch as number;
  const has = (m: Model): boolean => MODELS.includes(m);
  const checks: string[] = [];
  const check = (other: Model, margin: number, label: string): void => {
    if (!has('sdim') || !has(other)) return;
    const diff = auc('sdim') - auc(other);
    checks.push(
      `SDIM − ${label} AUC: ${diff.toFixed(4)} (needs ≥ ${margin === 0 ? '0' : `−${margin}`}): ${diff >= -margin ? 'pass' : 'FAIL'}`,
    );
  };
  check('din', 0.003, 'DIN-long');
  check('avgpool', 0, 'avgpool');
  check('din-short', 0, 'din-short');
  if (has('sdim') && has('din'))
    checks.push(`DIN-long / SDIM seconds per epoch: ${(sec('din') / sec('sdim')).toFixed(2)}×`);
  process.stdout.write(
    `\n## ${records[0]?.dataset} (seeds ${seeds.join(', ')})\n\n${toMarkdown(summary)}\n\n${checks.join('\n')}\n`,
  );
}
