/**
 * CTR tower training speed against PyTorch and Keras, measured in one run: the CTR app's `dnn` tower
 * (26 fields × d 16 = 416 inputs → 400 → 400 → 400 → 1, ReLU, sigmoid cross-entropy, Adam 1e-3) on
 * synthetic rows, at each batch size, in interleaved rounds:
 * - `ours`: the tower step CtrModel trains with on the native backend (`NativeTower`: no gradient tape,
 *   typed-array Adam; its default engine, the tower as one TensorFlow graph in a session);
 * - `ours-eager`: the same step with the `eager` engine (tfjs-node's eager ops, one at a time), the engine
 *   before the graph one;
 * - `tfjs-tape`: the same tower through tfjs's generic path (`optimizer.minimize`, tape, `tf.train.adam`),
 *   what CtrModel used before (and still uses on the wasm/cpu backends);
 * - `pytorch`, `keras`: benchmarks/peers/*.py in child processes (install with `npm run bench:peers`);
 *   an uninstalled peer is reported and skipped.
 * Samples/s per round (even rounds run the systems in reverse order), then per batch the median over rounds
 * and the ratios ours ÷ peer (median of the per-round ratios). The load average is printed with every round: the machine is shared.
 *
 * Usage: node benchmarks/dist/tfjs-dnn.js [--rounds 3] [--steps 20] [--batches 4096,1024]
 *          [--peers pytorch,keras|none] [--threads <cores>] [--cpu-steps 0] [--json <file>]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { deriveSeed, Rng } from '@compactrec/core';
import { DenseAdam, NativeTower, type TowerEngine } from '@compactrec/ctr';
import { backendReport, initTf, type Tf } from '@compactrec/tf-backend';
import type * as tfjs from '@tensorflow/tfjs';
import { loadLine, PEER_NAMES, type Peer, type PeerName, startPeers } from './peers.js';

const FIELDS = 26;
const DIM = 16;
const INPUT = FIELDS * DIM;
const HIDDEN = [400, 400, 400] as const;
const SEED = 20261126;
/** Distinct batches of synthetic rows, reused cyclically (enough to avoid fitting one batch). */
const POOL_BATCHES = 4;

interface Args {
  rounds: number;
  steps: number;
  batches: number[];
  peers: PeerName[];
  threads: number;
  cpuSteps: number;
  json: string | null;
  profile: boolean;
}

const HELP = `Usage: node benchmarks/dist/tfjs-dnn.js [options]
  --rounds <n>      interleaved rounds [default: 3]
  --steps <n>       timed steps per system, batch size and round (after one warm-up step) [default: 20]
  --batches <list>  batch sizes [default: 4096,1024]
  --peers <list>    peers to run: pytorch,keras or none [default: pytorch,keras]
  --threads <n>     compute threads of ours (libtensorflow intra-op) and of the peers [default: the cores, ${availableParallelism()}]
  --cpu-steps <n>   also time the generic step on tfjs's cpu backend, n steps (slow) [default: 0 = skip]
  --json <file>     also write every measurement as JSON
  --profile <bool>  also print where ours spends a step (wall ms per phase and op) [default: false]
`;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    rounds: 3,
    steps: 20,
    batches: [4096, 1024],
    peers: [...PEER_NAMES],
    threads: availableParallelism(),
    cpuSteps: 0,
    json: null,
    profile: false,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (value === undefined) throw new Error(`tfjs-dnn: ${flag} needs a value\n${HELP}`);
    if (flag === '--peers') {
      const names = value === 'none' ? [] : value.split(',');
      for (const n of names) {
        if (!PEER_NAMES.includes(n as PeerName))
          throw new Error(`tfjs-dnn: unknown peer '${n}' (use pytorch, keras, none)`);
      }
      args.peers = names as PeerName[];
      continue;
    }
    if (flag === '--json') {
      args.json = value;
      continue;
    }
    if (flag === '--profile') {
      if (value !== 'true' && value !== 'false') throw new Error(`tfjs-dnn: --profile '${value}' is not true/false`);
      args.profile = value === 'true';
      continue;
    }
    const nums = value.split(',').map(Number);
    for (const n of nums) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`tfjs-dnn: ${flag} '${value}' is not a non-negative integer`);
    }
    if (flag === '--batches') args.batches = nums;
    else if (flag === '--rounds') args.rounds = Math.max(1, nums[0]!);
    else if (flag === '--steps') args.steps = Math.max(1, nums[0]!);
    else if (flag === '--threads') args.threads = Math.max(1, nums[0]!);
    else if (flag === '--cpu-steps') args.cpuSteps = nums[0]!;
    else throw new Error(`tfjs-dnn: unknown option ${flag}\n${HELP}`);
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

interface Timing {
  samplesPerSec: number;
  /** Samples/s of the fastest single step: robust to other jobs taking the cores for part of the run. */
  bestSamplesPerSec: number;
  /**
   * CPU milliseconds per timed step, summed over every thread of the system's process: the work a step
   * costs, far less sensitive to other jobs on the cores than wall time (peers report it from Python).
   */
  cpuMsPerStep?: number;
  firstLoss: number;
  lastLoss: number;
}

let varCounter = 0;

function towerVars(tf: Tf): tfjs.Variable[] {
  const rng = new Rng(deriveSeed(SEED, 'init'));
  const sizes = [INPUT, ...HIDDEN, 1];
  const vars: tfjs.Variable[] = [];
  const id = ++varCounter;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l]!;
    const w = new Float32Array(fanIn * sizes[l + 1]!);
    rng.fillNormal(w, Math.sqrt(2 / fanIn));
    vars.push(tf.variable(tf.tensor2d(w, [fanIn, sizes[l + 1]!]), true, `dnn${id}_w${l}`));
    vars.push(tf.variable(tf.zeros([sizes[l + 1]!]), true, `dnn${id}_b${l}`));
  }
  return vars;
}

/** Which engine `ours` gets here (a one-layer tower built and closed at once). */
function tfjsProbe(tf: Tf): { engine: TowerEngine; reason: string } {
  const w = tf.variable(tf.zeros([2, 1]));
  const b = tf.variable(tf.zeros([1]));
  const tower = new NativeTower(tf, [{ w, b, relu: false, slots: [0, 1] }], new DenseAdam([2, 1], 1e-3));
  const out = { engine: tower.engine, reason: tower.engineReason };
  tower.close();
  tf.dispose([w, b]);
  return out;
}

/** Warm-up steps outside the clock (first-shape set-up, allocator and kernel caches), for every system. */
const WARMUP = 3;

function clock(steps: number, batch: number, step: (i: number) => number, onClock?: () => void): Timing {
  const firstLoss = step(0);
  for (let i = 1; i < WARMUP; i++) step(0);
  onClock?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let lastLoss = firstLoss;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 1; i <= steps; i++) {
    const ts = performance.now();
    lastLoss = step(i);
    best = Math.min(best, performance.now() - ts);
  }
  const sec = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return {
    samplesPerSec: (steps * batch) / sec,
    bestSamplesPerSec: (batch * 1000) / best,
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
    firstLoss,
    lastLoss,
  };
}

/** Ours: the NativeTower step with the loss on typed arrays, as CtrModel's fast step runs it. */
/** Phase totals of ours (NativeTower.profile), per batch size, when --profile is given. */
const profiles = new Map<string, { ms: Map<string, number>; steps: number; total: number }>();

function trainOurs(
  tf: Tf,
  steps: number,
  batch: number,
  data: { x: Float32Array; y: Float32Array },
  profile: boolean,
  engine: TowerEngine | 'auto',
): Timing {
  const vars = towerVars(tf);
  const adam = new DenseAdam(
    vars.map((v) => v.size),
    1e-3,
  );
  const layers = [];
  for (let l = 0; l < vars.length; l += 2) {
    layers.push({ w: vars[l]!, b: vars[l + 1]!, relu: l + 2 < vars.length, slots: [l, l + 1] as const });
  }
  const tower = new NativeTower(tf, layers, adam, { engine });
  // The batches sit where the tower reads them without a copy, as the peers hold theirs as framework tensors
  // (Keras tf.constant, PyTorch torch.Tensor); the copy is outside the clock for every system.
  const x = tower.inputBuffer(data.x.length);
  x.set(data.x);
  const z = new Float32Array(batch);
  const dz = new Float32Array(batch);
  const pool = data.y.length / batch;
  let lossMs = 0;
  try {
    const r = clock(
      steps,
      batch,
      (i) => {
        const at = (i % pool) * batch;
        tower.forward(x.subarray(at * INPUT, (at + batch) * INPUT), batch, z, true);
        const t0 = performance.now();
        let loss = 0;
        for (let s = 0; s < batch; s++) {
          const zs = z[s]!;
          const ys = data.y[at + s]!;
          loss += Math.max(zs, 0) - zs * ys + Math.log1p(Math.exp(-Math.abs(zs)));
          dz[s] = (1 / (1 + Math.exp(-zs)) - ys) / batch;
        }
        if (tower.profile) lossMs += performance.now() - t0;
        tower.backward(dz, null);
        adam.advance();
        return loss / batch;
      },
      () => {
        if (profile) tower.profile = new Map();
      },
    );
    if (tower.profile) {
      const key = `${engine === 'eager' ? 'ours-eager' : 'ours'} at batch ${batch}`;
      const p = profiles.get(key) ?? { ms: new Map<string, number>(), steps: 0, total: 0 };
      for (const [k, v] of tower.profile) p.ms.set(k, (p.ms.get(k) ?? 0) + v);
      p.ms.set('loss (typed arrays)', (p.ms.get('loss (typed arrays)') ?? 0) + lossMs);
      p.steps += steps;
      p.total += (steps * batch * 1000) / r.samplesPerSec;
      profiles.set(key, p);
    }
    return r;
  } finally {
    tower.close();
    tf.dispose(vars);
  }
}

/** The generic tfjs path: tape, `optimizer.minimize`, `tf.train.adam`. */
function trainTape(tf: Tf, steps: number, batch: number, data: { x: Float32Array; y: Float32Array }): Timing {
  const vars = towerVars(tf);
  const opt = tf.train.adam(1e-3);
  const pool = data.y.length / batch;
  try {
    return clock(steps, batch, (i) => {
      const at = (i % pool) * batch;
      const x = tf.tensor2d(data.x.subarray(at * INPUT, (at + batch) * INPUT), [batch, INPUT]);
      const y = tf.tensor2d(data.y.subarray(at, at + batch), [batch, 1]);
      const loss = opt.minimize(
        () =>
          tf.tidy(() => {
            let h: tfjs.Tensor = x;
            for (let l = 0; l < vars.length; l += 2) {
              h = tf.add(tf.matMul(h as tfjs.Tensor2D, vars[l] as tfjs.Tensor2D), vars[l + 1]!);
              if (l + 2 < vars.length) h = tf.relu(h);
            }
            return tf.losses.sigmoidCrossEntropy(y, h) as tfjs.Scalar;
          }),
        true,
        vars,
      );
      const value = loss ? loss.dataSync()[0]! : Number.NaN;
      tf.dispose([x, y, loss ?? []]);
      return value;
    });
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row {
  round: number;
  batch: number;
  system: string;
  samplesPerSec: number;
  bestSamplesPerSec: number;
  cpuMsPerStep?: number;
  load: string;
  lastLoss?: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const report = await backendReport();
  const rt = await initTf({ prefer: 'native', quiet: true, intraOpThreads: args.threads });
  process.stdout.write(
    `tfjs-dnn: ${INPUT} → ${HIDDEN.join(' → ')} → 1, ReLU, sigmoid BCE, Adam 1e-3; batches ${args.batches.join(', ')}; ` +
      `${args.rounds} interleaved rounds × ${args.steps} steps; tfjs ${report.tfjs} on ${rt.backend} (${rt.reason}; ` +
      `${rt.threads ?? '?'} intra-op thread(s))\n`,
  );
  const native = rt.backend === 'tensorflow';
  if (!native) process.stdout.write(`  ours: unavailable (the native backend is needed; got ${rt.backend})\n`);
  const { peers, unavailable } = await startPeers(args.peers, args.threads);
  for (const [name, why] of unavailable) process.stdout.write(`  ${name.padEnd(9)} unavailable: ${why}\n`);
  for (const p of peers) process.stdout.write(`  ${p.name.padEnd(9)} ${p.info.version}, ${p.info.threads} thread(s)\n`);
  if (native) {
    const probe = tfjsProbe(rt.tf);
    process.stdout.write(`  ours      engine ${probe.engine} (${probe.reason}); ours-eager: tfjs-node eager ops\n`);
  }
  const systems: string[] = [
    ...(native ? ['ours', 'ours-eager', 'tfjs-tape'] : ['tfjs-tape']),
    ...peers.map((p) => p.name),
  ];
  if (args.cpuSteps > 0) systems.push('tfjs-cpu');
  const data = new Map(args.batches.map((b) => [b, makeData(b * POOL_BATCHES)]));
  const rows: Row[] = [];
  const cpuTf = args.cpuSteps > 0 ? rt.tf : null;
  try {
    for (let round = 1; round <= args.rounds; round++) {
      for (const batch of args.batches) {
        const d = data.get(batch)!;
        const line: string[] = [];
        // Even rounds run the systems in reverse order, so no system always follows the same neighbour.
        for (const system of round % 2 === 0 ? [...systems].reverse() : systems) {
          let r: Timing;
          const peer = peers.find((p) => p.name === system);
          if (system === 'ours') r = trainOurs(rt.tf, args.steps, batch, d, args.profile, 'auto');
          else if (system === 'ours-eager') r = trainOurs(rt.tf, args.steps, batch, d, args.profile, 'eager');
          else if (system === 'tfjs-tape') r = trainTape(rt.tf, args.steps, batch, d);
          else if (system === 'tfjs-cpu') {
            await cpuTf!.setBackend('cpu');
            try {
              r = trainTape(cpuTf!, args.cpuSteps, batch, d);
            } finally {
              await cpuTf!.setBackend(rt.backend);
            }
          } else r = await (peer as Peer).request<Timing>({ task: 'tower', batch, steps: args.steps, seed: round });
          const load = loadLine();
          rows.push({
            round,
            batch,
            system,
            samplesPerSec: r.samplesPerSec,
            bestSamplesPerSec: r.bestSamplesPerSec,
            ...(r.cpuMsPerStep !== undefined ? { cpuMsPerStep: r.cpuMsPerStep } : {}),
            load,
            lastLoss: r.lastLoss,
          });
          line.push(`${system} ${Math.round(r.samplesPerSec)}`);
        }
        process.stdout.write(`  round ${round} batch ${batch}: ${line.join(', ')} samples/s (load ${loadLine()})\n`);
      }
    }
  } finally {
    for (const p of peers) p.close();
  }
  process.stdout.write('\nbatch  system       samples/s (median)   ours ÷ system (median of rounds)\n');
  for (const batch of args.batches) {
    const of = (system: string, round: number) =>
      rows.find((r) => r.batch === batch && r.system === system && r.round === round)?.samplesPerSec;
    for (const system of systems) {
      const med = median(rows.filter((r) => r.batch === batch && r.system === system).map((r) => r.samplesPerSec));
      let ratio = '';
      if (native && system !== 'ours') {
        const rs: number[] = [];
        for (let round = 1; round <= args.rounds; round++) rs.push(of('ours', round)! / of(system, round)!);
        ratio = `${median(rs).toFixed(2)}×  (rounds: ${rs.map((x) => x.toFixed(2)).join(', ')})`;
      }
      process.stdout.write(
        `${String(batch).padEnd(6)} ${system.padEnd(12)} ${Math.round(med).toString().padStart(9)}            ${ratio}\n`,
      );
    }
  }
  process.stdout.write(
    '\nfastest single step (robust to other jobs on the cores): samples/s, median over rounds; ours ÷ system\n',
  );
  for (const batch of args.batches) {
    const best = (system: string) =>
      median(rows.filter((r) => r.batch === batch && r.system === system).map((r) => r.bestSamplesPerSec));
    const cells = systems.map((system) => {
      const ratio = native && system !== 'ours' ? ` (${(best('ours') / best(system)).toFixed(2)}×)` : '';
      return `${system} ${Math.round(best(system))}${ratio}`;
    });
    process.stdout.write(`${String(batch).padEnd(6)} ${cells.join(', ')}\n`);
  }
  process.stdout.write(
    "\nCPU ms per step (every thread of the system's process; robust to other jobs): median over rounds; system ÷ ours (> 1: ours costs less CPU)\n",
  );
  for (const batch of args.batches) {
    const cpu = (system: string) => {
      const xs = rows
        .filter((r) => r.batch === batch && r.system === system && r.cpuMsPerStep !== undefined)
        .map((r) => r.cpuMsPerStep!);
      return xs.length > 0 ? median(xs) : undefined;
    };
    const ours = cpu('ours');
    const cells = systems.flatMap((system) => {
      const c = cpu(system);
      if (c === undefined) return [];
      const ratio = native && system !== 'ours' && ours !== undefined ? ` (${(c / ours).toFixed(2)}×)` : '';
      return [`${system} ${c.toFixed(1)}${ratio}`];
    });
    process.stdout.write(`${String(batch).padEnd(6)} ${cells.join(', ')}\n`);
  }
  for (const [key, p] of profiles) {
    process.stdout.write(`\n${key}: ${(p.total / p.steps).toFixed(1)} ms/step over ${p.steps} steps\n`);
    let acc = 0;
    for (const [k, ms] of [...p.ms.entries()].sort((a, b) => b[1] - a[1])) {
      acc += ms;
      process.stdout.write(
        `  ${k.padEnd(24)} ${(ms / p.steps).toFixed(2).padStart(7)} ms  ${((100 * ms) / p.total).toFixed(1).padStart(5)} %\n`,
      );
    }
    const other = p.total - acc;
    process.stdout.write(
      `  ${'other (JS glue)'.padEnd(24)} ${(other / p.steps).toFixed(2).padStart(7)} ms  ${((100 * other) / p.total).toFixed(1).padStart(5)} %\n`,
    );
  }
  process.stdout.write(`load average at the end: ${loadLine()}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ args, rows }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
