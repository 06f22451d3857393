/**
 * TensorFlow.js DNN training speed per backend: the CTR app's `dnn` tower (26 fields × d 16 = 416 inputs →
 * 400 → 400 → 400 → 1, ReLU, sigmoid cross-entropy, Adam) on synthetic rows with planted labels, batch 4096.
 * Each available backend (native tfjs-node, wasm, cpu) trains in this process; samples/s are printed with the
 * ratio to the `cpu` backend measured in the same run (wasm and cpu on fewer batches, they are slow).
 *
 * Usage: node benchmarks/dist/tfjs-dnn.js [--steps 20] [--wasm-steps 4] [--cpu-steps 2] [--batch 4096] [--backends tensorflow,wasm,cpu]
 */
import { deriveSeed, Rng } from '@compactrec/core';
import { backendReport, initTf, type Tf, type TfBackendName } from '@compactrec/tf-backend';

const FIELDS = 26;
const DIM = 16;
const INPUT = FIELDS * DIM;
const HIDDEN = [400, 400, 400] as const;
const SEED = 20261126;
/** Distinct batches of synthetic rows, reused cyclically (enough to avoid fitting one batch). */
const POOL_BATCHES = 4;

interface Args {
  steps: number;
  wasmSteps: number;
  cpuSteps: number;
  batch: number;
  backends: TfBackendName[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { steps: 20, wasmSteps: 4, cpuSteps: 2, batch: 4096, backends: ['tensorflow', 'wasm', 'cpu'] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`tfjs-dnn: ${flag} needs a value`);
    if (flag === '--backends') {
      const names = value.split(',') as TfBackendName[];
      for (const n of names) {
        if (n !== 'tensorflow' && n !== 'wasm' && n !== 'cpu') throw new Error(`tfjs-dnn: unknown backend '${n}'`);
      }
      args.backends = names;
      continue;
    }
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`tfjs-dnn: ${flag} '${value}' is not a positive integer`);
    if (flag === '--steps') args.steps = n;
    else if (flag === '--wasm-steps') args.wasmSteps = n;
    else if (flag === '--cpu-steps') args.cpuSteps = n;
    else if (flag === '--batch') args.batch = n;
    else throw new Error(`tfjs-dnn: unknown option ${flag}`);
  }
  return args;
}

/** Rows ~ N(0, 1) (stand-ins for gathered embeddings) and labels from a planted logistic model. */
function makeData(rows: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(deriveSeed(SEED, 'data'));
  const x = new Float32Array(rows * INPUT);
  rng.fillNormal(x);
  const w = new Float64Array(INPUT);
  rng.fillNormal(w, 1 / Math.sqrt(INPUT));
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = 0;
    const base = r * INPUT;
    for (let j = 0; j < INPUT; j++) z += w[j]! * x[base + j]!;
    // Nonlinear planted signal: the tower has something to learn beyond a linear fit.
    const logit = 2 * z + Math.sin(3 * x[base]!) - 0.5 * x[base + 1]! * x[base + 2]!;
    y[r] = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  }
  return { x, y };
}

interface Result {
  backend: TfBackendName;
  threads: number | undefined;
  steps: number;
  samplesPerSec: number;
  firstLoss: number;
  lastLoss: number;
}

async function trainOn(
  tf: Tf,
  backend: TfBackendName,
  steps: number,
  batch: number,
  data: { x: Float32Array; y: Float32Array },
): Promise<Result> {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs-dnn: backend ${backend} failed to initialise`);
  const rng = new Rng(deriveSeed(SEED, 'init'));
  const sizes = [INPUT, ...HIDDEN, 1];
  const vars: ReturnType<Tf['variable']>[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l]!;
    const w = new Float32Array(fanIn * sizes[l + 1]!);
    rng.fillNormal(w, Math.sqrt(2 / fanIn));
    vars.push(tf.variable(tf.tensor2d(w, [fanIn, sizes[l + 1]!]), true, `dnn_${backend}_w${l}`));
    vars.push(tf.variable(tf.zeros([sizes[l + 1]!]), true, `dnn_${backend}_b${l}`));
  }
  const opt = tf.train.adam(1e-3);
  const pool = data.y.length / batch;
  const step = (i: number): number => {
    const at = (i % pool) * batch;
    const x = tf.tensor2d(data.x.subarray(at * INPUT, (at + batch) * INPUT), [batch, INPUT]);
    const y = tf.tensor2d(data.y.subarray(at, at + batch), [batch, 1]);
    const loss = opt.minimize(
      () =>
        tf.tidy(() => {
          let h: ReturnType<Tf['matMul']> = x;
          for (let l = 0; l < vars.length; l += 2) {
            h = tf.add(tf.matMul(h, vars[l]!), vars[l + 1]!);
            if (l + 2 < vars.length) h = tf.relu(h);
          }
          return tf.losses.sigmoidCrossEntropy(y, h) as ReturnType<Tf['scalar']>;
        }),
      true,
      vars,
    );
    const value = loss ? loss.dataSync()[0]! : Number.NaN;
    tf.dispose([x, y, loss ?? []]);
    return value;
  };
  // One warm-up step (graph set-up, wasm compilation, first allocations) outside the clock.
  const firstLoss = step(0);
  const t0 = performance.now();
  let lastLoss = firstLoss;
  for (let i = 1; i <= steps; i++) lastLoss = step(i);
  const sec = (performance.now() - t0) / 1000;
  opt.dispose();
  tf.dispose(vars);
  return { backend, threads: undefined, steps, samplesPerSec: (steps * batch) / sec, firstLoss, lastLoss };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const report = await backendReport();
  const available = new Map(report.backends.map((b) => [b.backend, b]));
  const rt = await initTf({ prefer: 'auto' });
  process.stdout.write(
    `tfjs-dnn: ${INPUT} → ${HIDDEN.join(' → ')} → 1, ReLU, sigmoid BCE, Adam; batch ${args.batch}; tfjs ${report.tfjs}; ` +
      `auto picks ${rt.backend} (${rt.reason})\n`,
  );
  const data = makeData(args.batch * POOL_BATCHES);
  const results: Result[] = [];
  for (const name of args.backends) {
    const probe = available.get(name);
    if (!probe?.available) {
      process.stdout.write(`  ${name.padEnd(10)} unavailable: ${probe?.reason ?? 'not probed'}\n`);
      continue;
    }
    const steps = name === 'cpu' ? args.cpuSteps : name === 'wasm' ? args.wasmSteps : args.steps;
    const r = await trainOn(rt.tf, name, steps, args.batch, data);
    r.threads = probe.threads;
    results.push(r);
    process.stdout.write(
      `  ${name.padEnd(10)} ${r.samplesPerSec.toFixed(0).padStart(8)} samples/s  (${steps} batches, ` +
        `${r.threads ?? '?'} thread(s); loss ${r.firstLoss.toFixed(4)} → ${r.lastLoss.toFixed(4)})\n`,
    );
  }
  const cpu = results.find((r) => r.backend === 'cpu');
  process.stdout.write('\nbackend      samples/s   × cpu\n');
  for (const r of results) {
    const ratio = cpu ? `${(r.samplesPerSec / cpu.samplesPerSec).toFixed(1)}×` : 'n/a (cpu not run)';
    process.stdout.write(`${r.backend.padEnd(12)} ${r.samplesPerSec.toFixed(0).padStart(9)}   ${ratio}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
