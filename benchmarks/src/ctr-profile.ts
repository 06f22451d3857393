/**
 * Where a CTR training step spends its time, generic tfjs step against the native fast step, from
 * `CtrModel.profile` (wall ms per phase: gather, tape forward+backward, tfjs Adam, readback, typed-array
 * loss/FM, each libtensorflow op of the fast tower, typed-array Adam, scatter + sparse optimizer).
 * Workloads: `tower` = the benchmark tower inside a full CTR step (dnn, 26 fields × d 16 synthetic,
 * MLP 400-400-400, batch 4096), `frappe` = DeepFM on Frappe (d 16, MLP 400-400, batch 1024).
 * The two paths alternate step by step, so both see the same machine load.
 *
 * Usage: node benchmarks/dist/ctr-profile.js [--workload tower|frappe|both] [--steps 20] [--data <frappe dir>]
 */
import { join } from 'node:path';
import {
  type CtrBatch,
  type CtrModel,
  type CtrSource,
  createCtrModel,
  openCtrData,
  SyntheticCtr,
} from '@compactrec/ctr';
import { initTf, type Tf } from '@compactrec/tf-backend';
import { loadLine, repoRoot } from './peers.js';

interface Args {
  workloads: string[];
  steps: number;
  data: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    workloads: ['tower', 'frappe'],
    steps: 20,
    data: join(repoRoot(), '..', 'shared', 'datasets', 'frappe_nfm'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help') {
      process.stdout.write(
        'Usage: node benchmarks/dist/ctr-profile.js [--workload tower|frappe|both (default both)] [--steps 20] [--data <frappe dir>]\n',
      );
      process.exit(0);
    }
    if (value === undefined) throw new Error(`ctr-profile: ${flag} needs a value`);
    if (flag === '--workload') {
      if (!['tower', 'frappe', 'both'].includes(value))
        throw new Error(`ctr-profile: --workload '${value}' is not tower, frappe or both`);
      args.workloads = value === 'both' ? ['tower', 'frappe'] : [value];
    } else if (flag === '--steps') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`ctr-profile: --steps '${value}' is not a positive integer`);
      args.steps = n;
    } else if (flag === '--data') args.data = value;
    else throw new Error(`ctr-profile: unknown option ${flag}`);
  }
  return args;
}

async function takeBatches(source: CtrSource, size: number, count: number): Promise<CtrBatch[]> {
  const out: CtrBatch[] = [];
  for await (const b of source.batches({ batchSize: size, shuffleSeed: 7 })) {
    if (b.size < size) continue;
    out.push({ size: b.size, ids: b.ids.slice(), labels: b.labels.slice(), dense: b.dense ? b.dense.slice() : null });
    if (out.length === count) break;
  }
  return out;
}

function withStep<T>(path: 'fast' | 'generic', f: () => T): T {
  const before = process.env.COMPACTREC_CTR_STEP;
  if (path === 'generic') process.env.COMPACTREC_CTR_STEP = 'generic';
  else delete process.env.COMPACTREC_CTR_STEP;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env.COMPACTREC_CTR_STEP;
    else process.env.COMPACTREC_CTR_STEP = before;
  }
}

function profileBoth(name: string, make: () => CtrModel, batches: readonly CtrBatch[], steps: number): void {
  const models = { generic: make(), fast: make() };
  const total = { generic: 0, fast: 0 };
  for (const path of ['generic', 'fast'] as const) {
    // warm-up (first-step set-up, Adam state, kernel caches) outside the profile
    withStep(path, () => models[path].trainStep(batches[0]!));
    withStep(path, () => models[path].trainStep(batches[1 % batches.length]!));
    models[path].profile = new Map();
  }
  for (let i = 0; i < steps; i++) {
    for (const path of ['generic', 'fast'] as const) {
      const t0 = performance.now();
      models[path].trainStep(batches[i % batches.length]!);
      total[path] += performance.now() - t0;
    }
  }
  const n = batches[0]!.size;
  process.stdout.write(
    `\n${name} (batch ${n}, ${steps} steps each, alternating; load ${loadLine()})\n` +
      `  generic step ${(total.generic / steps).toFixed(1)} ms (${Math.round((n * steps * 1000) / total.generic)} samples/s), ` +
      `fast step ${(total.fast / steps).toFixed(1)} ms (${Math.round((n * steps * 1000) / total.fast)} samples/s): ` +
      `${(total.generic / total.fast).toFixed(2)}× faster\n`,
  );
  for (const path of ['generic', 'fast'] as const) {
    const m = models[path];
    if (m.stepPath !== path) throw new Error(`ctr-profile: the ${path} model ran the ${m.stepPath} step`);
    const rows = [...m.profile!.entries()].sort((a, b) => b[1] - a[1]);
    let accounted = 0;
    process.stdout.write(`  ${path} step: phase                      ms/step   share\n`);
    for (const [k, ms] of rows) {
      accounted += ms;
      process.stdout.write(
        `    ${k.padEnd(38)} ${(ms / steps).toFixed(2).padStart(7)}  ${((100 * ms) / total[path]).toFixed(1).padStart(5)} %\n`,
      );
    }
    const other = total[path] - accounted;
    process.stdout.write(
      `    ${'other (JS glue, tensor bookkeeping)'.padEnd(38)} ${(other / steps).toFixed(2).padStart(7)}  ${((100 * other) / total[path]).toFixed(1).padStart(5)} %\n`,
    );
    m.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
  const tf: Tf = rt.tf;
  process.stdout.write(`ctr-profile: ${rt.reason}\n`);
  if (args.workloads.includes('tower')) {
    const data = new SyntheticCtr({
      fields: 26,
      cardinality: 100_000,
      trainRows: 4096 * 4,
      validRows: 8,
      testRows: 8,
      seed: 3,
    });
    const batches = await takeBatches(data.train, 4096, 4);
    profileBoth(
      'tower: dnn 416 → 400 → 400 → 400 → 1 in a CTR step (26 fields × d 16, synthetic)',
      () => createCtrModel(tf, data.schema, { model: 'dnn', dim: 16, mlp: [400, 400, 400], seed: 1 }),
      batches,
      args.steps,
    );
  }
  if (args.workloads.includes('frappe')) {
    const data = await openCtrData('frappe', args.data, { seed: 0 });
    const batches = await takeBatches(data.train, 1024, 16);
    profileBoth(
      'frappe: DeepFM (10 fields × d 16, MLP 400-400)',
      () => createCtrModel(tf, data.schema, { model: 'deepfm', dim: 16, mlp: [400, 400], seed: 0 }),
      batches,
      args.steps,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
