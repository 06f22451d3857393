/**
 * Where a CTR training step spends its time, generic tfjs step against the native fast step, from
 * `CtrModel.profile` (wall ms per phase: gather, tape forward+backward, tfjs Adam, readback, typed-array
 * loss/FM, each libtensorflow op of the fast tower, typed-array Adam, scatter + sparse optimizer).
 * Workloads: `tower` = the benchmark tower inside a full CTR step (dnn, 26 fields × d 16 synthetic,
 * MLP 400-400-400, batch 4096), `frappe` = DeepFM on Frappe (d 16, MLP 400-400, batch 1024).
 * The two paths alternate step by step, so both see the same machine load.
 * `--compare rows` instead runs the fast step twice: embedding row kernels in C++ (the default)
 * against the JavaScript row kernels (`COMPACTREC_KERNELS=js` when the model is created) — the
 * gather / scatter / sparse-optimizer speed-up measured in one run. `--compare combine` runs the fast
 * step on the C++ row kernels twice: with the K-row lookup composed by the row kernel (the default)
 * against the same tables with the storages' `gatherCombined` hidden, so K-row methods gather their
 * rows and compose them in JavaScript (the path before the K-row kernel); use it with `--method double`.
 * `--method` sets every field's compression method (default full; sharing methods at a quarter of the
 * full table, the model's default budget).
 *
 * Usage: node benchmarks/dist/ctr-profile.js [--workload tower|frappe|both] [--steps 20] [--compare steps|rows|combine]
 *          [--method full|double|…] [--data <frappe dir>]
 */
import { join } from 'node:path';
import type { EmbeddingStorage } from '@compactrec/core';
import {
  type CtrBatch,
  type CtrModel,
  type CtrSource,
  createCtrModel,
  openCtrData,
  SyntheticCtr,
} from '@compactrec/ctr';
import { FeatureEmbedding } from '@compactrec/embedding';
import { rowKernelsInfo } from '@compactrec/native';
import { initTf, type Tf } from '@compactrec/tf-backend';
import { loadLine, repoRoot } from './peers.js';

interface Args {
  workloads: string[];
  steps: number;
  compare: 'steps' | 'rows' | 'combine';
  method: string;
  data: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    workloads: ['tower', 'frappe'],
    steps: 20,
    compare: 'steps',
    method: 'full',
    data: join(repoRoot(), '..', 'shared', 'datasets', 'frappe_nfm'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help') {
      process.stdout.write(
        'Usage: node benchmarks/dist/ctr-profile.js [--workload tower|frappe|both (default both)] [--steps 20]\n' +
          '       [--compare steps|rows|combine (default steps: generic vs fast step; rows: fast step with C++ vs JavaScript row kernels;\n' +
          '        combine: fast step with the K-row lookup composed by the C++ row kernel vs in JavaScript)]\n' +
          '       [--method <compression method of every field> (default full; e.g. double, double-frequency, qr)]\n' +
          '       [--data <frappe dir> (default ../shared/datasets/frappe_nfm)]\n',
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
    } else if (flag === '--compare') {
      if (value !== 'steps' && value !== 'rows' && value !== 'combine')
        throw new Error(`ctr-profile: --compare '${value}' is not steps, rows or combine`);
      args.compare = value;
    } else if (flag === '--method') args.method = value;
    else if (flag === '--data') args.data = value;
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

/** Runs `f` with environment variable `key` set to `value` (or unset for undefined), restored after. */
function withEnv<T>(key: string, value: string | undefined, f: () => T): T {
  const before = process.env[key];
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env[key];
    else process.env[key] = before;
  }
}

/** One side of a comparison: its label, and the environment its model is created and first stepped in. */
interface Arm {
  readonly label: string;
  readonly key: string;
  readonly value: string | undefined;
  /** The step path its model must take. */
  readonly path: 'fast' | 'generic';
  /** Changes the model after it is created (before its first step). */
  readonly prepare?: (m: CtrModel) => void;
}

/** `s` with its `gatherCombined` hidden (every other member forwarded to `s`). */
function withoutGatherCombined(s: EmbeddingStorage): EmbeddingStorage {
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(s, {
    get(target, key) {
      if (key === 'gatherCombined') return undefined;
      const v = Reflect.get(target, key, target);
      if (typeof v !== 'function') return v;
      let b = bound.get(key);
      if (b === undefined) {
        b = v.bind(target);
        bound.set(key, b);
      }
      return b;
    },
    set: (target, key, value) => Reflect.set(target, key, value, target),
  });
}

/** Rebuilds every field and first-order embedding of `m` over storages without `gatherCombined`. */
function composeInJs(m: CtrModel): void {
  for (const list of [m.fields, m.firstOrder] as FeatureEmbedding[][]) {
    for (let f = 0; f < list.length; f++) {
      const e = list[f]!;
      list[f] = new FeatureEmbedding(e.method, e.mapper, withoutGatherCombined(e.storage), e.dim, e.combine);
    }
  }
}

const ARMS: Record<Args['compare'], readonly [Arm, Arm]> = {
  // baseline first: the ratio printed is baseline time ÷ the other's
  steps: [
    { label: 'generic', key: 'COMPACTREC_CTR_STEP', value: 'generic', path: 'generic' },
    { label: 'fast', key: 'COMPACTREC_CTR_STEP', value: undefined, path: 'fast' },
  ],
  rows: [
    { label: 'fast, js rows', key: 'COMPACTREC_KERNELS', value: 'js', path: 'fast' },
    { label: 'fast, c++ rows', key: 'COMPACTREC_KERNELS', value: undefined, path: 'fast' },
  ],
  combine: [
    { label: 'fast, js combine', key: 'COMPACTREC_KERNELS', value: undefined, path: 'fast', prepare: composeInJs },
    { label: 'fast, c++ combine', key: 'COMPACTREC_KERNELS', value: undefined, path: 'fast' },
  ],
};

function profileBoth(
  name: string,
  make: () => CtrModel,
  batches: readonly CtrBatch[],
  steps: number,
  arms: readonly [Arm, Arm],
): void {
  const models = arms.map((a) =>
    withEnv(a.key, a.value, () => {
      const m = make();
      a.prepare?.(m);
      return m;
    }),
  );
  const total = [0, 0];
  models.forEach((m, k) => {
    // warm-up (first-step set-up, Adam state, kernel caches) outside the profile
    const a = arms[k]!;
    withEnv(a.key, a.value, () => m.trainStep(batches[0]!));
    withEnv(a.key, a.value, () => m.trainStep(batches[1 % batches.length]!));
    m.profile = new Map();
  });
  for (let i = 0; i < steps; i++) {
    // alternate which arm goes first, so neither always runs right after the other's cache traffic
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) {
      const t0 = performance.now();
      models[k]!.trainStep(batches[i % batches.length]!);
      total[k]! += performance.now() - t0;
    }
  }
  const n = batches[0]!.size;
  const [a0, a1] = arms;
  process.stdout.write(
    `\n${name} (batch ${n}, ${steps} steps each, alternating; load ${loadLine()})\n` +
      `  ${a0.label} step ${(total[0]! / steps).toFixed(1)} ms (${Math.round((n * steps * 1000) / total[0]!)} samples/s), ` +
      `${a1.label} step ${(total[1]! / steps).toFixed(1)} ms (${Math.round((n * steps * 1000) / total[1]!)} samples/s): ` +
      `${(total[0]! / total[1]!).toFixed(2)}× faster\n`,
  );
  models.forEach((m, k) => {
    const a = arms[k]!;
    if (m.stepPath !== a.path) throw new Error(`ctr-profile: the ${a.label} model ran the ${m.stepPath} step`);
    const rows = [...m.profile!.entries()].sort((x, y) => y[1] - x[1]);
    let accounted = 0;
    process.stdout.write(`  ${a.label} step: phase${' '.repeat(Math.max(1, 27 - a.label.length))}ms/step   share\n`);
    for (const [key, ms] of rows) {
      accounted += ms;
      process.stdout.write(
        `    ${key.padEnd(38)} ${(ms / steps).toFixed(2).padStart(7)}  ${((100 * ms) / total[k]!).toFixed(1).padStart(5)} %\n`,
      );
    }
    const other = total[k]! - accounted;
    process.stdout.write(
      `    ${'other (JS glue, tensor bookkeeping)'.padEnd(38)} ${(other / steps).toFixed(2).padStart(7)}  ${((100 * other) / total[k]!).toFixed(1).padStart(5)} %\n`,
    );
    m.dispose();
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rt = await initTf({ prefer: 'native', strict: true, quiet: true });
  const tf: Tf = rt.tf;
  process.stdout.write(`ctr-profile: ${rt.reason}\n`);
  const rows = rowKernelsInfo();
  process.stdout.write(`ctr-profile: embedding row kernels ${rows.kind} (${rows.reason})\n`);
  if (args.compare !== 'steps' && rows.kind !== 'native')
    throw new Error(`ctr-profile: --compare ${args.compare} needs the C++ row kernels: ${rows.reason}`);
  process.stdout.write(`ctr-profile: compression method of every field: ${args.method}\n`);
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
      () =>
        createCtrModel(tf, data.schema, { model: 'dnn', dim: 16, mlp: [400, 400, 400], seed: 1, method: args.method }),
      batches,
      args.steps,
      ARMS[args.compare],
    );
  }
  if (args.workloads.includes('frappe')) {
    const data = await openCtrData('frappe', args.data, { seed: 0 });
    const batches = await takeBatches(data.train, 1024, 16);
    profileBoth(
      'frappe: DeepFM (10 fields × d 16, MLP 400-400)',
      () =>
        createCtrModel(tf, data.schema, { model: 'deepfm', dim: 16, mlp: [400, 400], seed: 0, method: args.method }),
      batches,
      args.steps,
      ARMS[args.compare],
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
