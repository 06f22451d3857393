/**
 * DeepFM training on Frappe against PyTorch and Keras, measured in one run: the split, dimensions,
 * MLP, batch and learning rate of `compactrec bench ctr --format frappe --model deepfm` (seed 0: 20 %
 * test, 10 % of the rest validation, d 16, MLP 400-400, batch 1024, Adam 1e-3, embeddings with the
 * sparse optimizer). The split is written to a temporary directory that the peers read, so all train
 * on the same rows; every system trains `--epochs` epochs (no early stopping) per round, rounds are
 * interleaved, and the test AUC of every system is computed here by the same function from the
 * predictions it wrote. Systems:
 * - `ours`: CtrModel on the native backend (the fast step);
 * - `ours-generic`: the same model forced onto the generic tfjs step (COMPACTREC_CTR_STEP=generic);
 * - `ours-js-rows`: ours with the embedding row kernels (gather, gradient accumulation, sparse lazy
 *   Adam) in JavaScript instead of C++ (COMPACTREC_KERNELS=js when the model is created);
 * - `pytorch`, `keras`: benchmarks/peers/*.py (install with `npm run bench:peers`).
 *
 * Usage: node benchmarks/dist/deepfm-peers.js [--data <frappe dir>] [--epochs 3] [--rounds 3]
 *          [--peers pytorch,keras|none] [--generic true|false] [--js-rows true|false] [--json <file>]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auc } from '@compactrec/core';
import { type CtrSource, createCtrModel, evaluateCtr, openCtrData, trainCtr } from '@compactrec/ctr';
import { initTf, type Tf } from '@compactrec/tf-backend';
import { loadLine, PEER_NAMES, type Peer, type PeerName, repoRoot, startPeers } from './peers.js';

const DIM = 16;
const MLP = [400, 400];
const BATCH = 1024;
const LR = 0.001;
const INIT_STD = 0.01;

interface Args {
  data: string;
  epochs: number;
  rounds: number;
  peers: PeerName[];
  generic: boolean;
  jsRows: boolean;
  json: string | null;
}

const HELP = `Usage: node benchmarks/dist/deepfm-peers.js [options]
  --data <dir>      Frappe (NFM split) directory [default: ../shared/datasets/frappe_nfm beside the repo]
  --epochs <n>      epochs every system trains per round [default: 3]
  --rounds <n>      interleaved rounds [default: 3]
  --peers <list>    pytorch,keras or none [default: pytorch,keras]
  --generic <bool>  also time ours on the generic tfjs step [default: true]
  --js-rows <bool>  also time ours with the JavaScript embedding row kernels [default: true]
  --json <file>     also write every measurement as JSON
`;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    data: join(repoRoot(), '..', 'shared', 'datasets', 'frappe_nfm'),
    epochs: 3,
    rounds: 3,
    peers: [...PEER_NAMES],
    generic: true,
    jsRows: true,
    json: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (value === undefined) throw new Error(`deepfm-peers: ${flag} needs a value\n${HELP}`);
    if (flag === '--data') args.data = value;
    else if (flag === '--json') args.json = value;
    else if (flag === '--generic' || flag === '--js-rows') {
      if (value !== 'true' && value !== 'false') throw new Error(`deepfm-peers: ${flag} '${value}' is not true/false`);
      if (flag === '--generic') args.generic = value === 'true';
      else args.jsRows = value === 'true';
    } else if (flag === '--peers') {
      const names = value === 'none' ? [] : value.split(',');
      for (const n of names) {
        if (!PEER_NAMES.includes(n as PeerName)) throw new Error(`deepfm-peers: unknown peer '${n}'`);
      }
      args.peers = names as PeerName[];
    } else if (flag === '--epochs' || flag === '--rounds') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`deepfm-peers: ${flag} '${value}' is not a positive integer`);
      if (flag === '--epochs') args.epochs = n;
      else args.rounds = n;
    } else throw new Error(`deepfm-peers: unknown option ${flag}\n${HELP}`);
  }
  return args;
}

/** Every sample of a source in order: ids `[n × F]` and labels. */
async function dump(source: CtrSource): Promise<{ ids: Int32Array; labels: Float32Array; n: number }> {
  const F = source.schema.fieldNames.length;
  const ids: number[] = [];
  const labels: number[] = [];
  for await (const b of source.batches({ batchSize: 8192 })) {
    for (let i = 0; i < b.size * F; i++) ids.push(b.ids[i]!);
    for (let i = 0; i < b.size; i++) labels.push(b.labels[i]!);
  }
  return { ids: Int32Array.from(ids), labels: Float32Array.from(labels), n: labels.length };
}

interface Run {
  round: number;
  system: string;
  epochSeconds: number[];
  auc: number;
  predictionsPerSec: number;
  load: string;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function trainOurs(
  tf: Tf,
  data: Awaited<ReturnType<typeof openCtrData>>,
  epochs: number,
  generic: boolean,
  jsRows = false,
): Promise<Omit<Run, 'round' | 'system' | 'load'>> {
  const kernelsBefore = process.env.COMPACTREC_KERNELS;
  if (jsRows) process.env.COMPACTREC_KERNELS = 'js';
  let model: ReturnType<typeof createCtrModel>;
  try {
    // the storages pick their row kernels when created
    model = createCtrModel(tf, data.schema, {
      model: 'deepfm',
      method: 'full',
      dim: DIM,
      mlp: MLP,
      lr: LR,
      initStd: INIT_STD,
      seed: 0,
    });
  } finally {
    if (kernelsBefore === undefined) delete process.env.COMPACTREC_KERNELS;
    else process.env.COMPACTREC_KERNELS = kernelsBefore;
  }
  const before = process.env.COMPACTREC_CTR_STEP;
  if (generic) process.env.COMPACTREC_CTR_STEP = 'generic';
  try {
    const res = await trainCtr(model, { train: data.train }, { epochs, batchSize: BATCH, seed: 0, log: () => {} });
    const expected = generic ? 'generic' : 'fast';
    if (model.stepPath !== expected)
      throw new Error(`deepfm-peers: ours ran the ${model.stepPath} step, not ${expected}`);
    const test = await evaluateCtr(model, data.test);
    return {
      epochSeconds: res.epochs.map((e) => e.seconds),
      auc: test.auc,
      predictionsPerSec: test.samples / test.seconds,
    };
  } finally {
    if (before === undefined) delete process.env.COMPACTREC_CTR_STEP;
    else process.env.COMPACTREC_CTR_STEP = before;
    model.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rt = await initTf({ prefer: 'native', quiet: true });
  const data = await openCtrData('frappe', args.data, { seed: 0 });
  const train = await dump(data.train);
  const test = await dump(data.test);
  const dir = mkdtempSync(join(tmpdir(), 'compactrec-deepfm-peers-'));
  writeFileSync(join(dir, 'train.ids.i32'), train.ids);
  writeFileSync(join(dir, 'train.labels.f32'), train.labels);
  writeFileSync(join(dir, 'test.ids.i32'), test.ids);
  writeFileSync(join(dir, 'test.labels.f32'), test.labels);
  writeFileSync(
    join(dir, 'meta.json'),
    JSON.stringify({
      cardinalities: [...data.schema.cardinalities],
      dim: DIM,
      mlp: MLP,
      batchSize: BATCH,
      lr: LR,
      initStd: INIT_STD,
    }),
  );
  process.stdout.write(
    `deepfm-peers: Frappe ${train.n} train / ${test.n} test rows, ${data.schema.fieldNames.length} fields ` +
      `[${[...data.schema.cardinalities].join(', ')}]; DeepFM d ${DIM}, MLP ${MLP.join('-')}, batch ${BATCH}, ` +
      `Adam ${LR} (sparse Adam on embeddings); ${args.epochs} epochs × ${args.rounds} interleaved rounds; ` +
      `tfjs on ${rt.backend}\n`,
  );
  const native = rt.backend === 'tensorflow';
  const { peers, unavailable } = await startPeers(args.peers);
  for (const [name, why] of unavailable) process.stdout.write(`  ${name.padEnd(9)} unavailable: ${why}\n`);
  for (const p of peers) process.stdout.write(`  ${p.name.padEnd(9)} ${p.info.version}, ${p.info.threads} thread(s)\n`);
  const systems = [
    ...(native ? ['ours'] : []),
    ...(native && args.jsRows ? ['ours-js-rows'] : []),
    ...(args.generic ? ['ours-generic'] : []),
    ...peers.map((p) => p.name),
  ];
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= args.rounds; round++) {
      const line: string[] = [];
      for (const system of systems) {
        let r: Omit<Run, 'round' | 'system' | 'load'>;
        if (system === 'ours' || system === 'ours-generic' || system === 'ours-js-rows') {
          r = await trainOurs(rt.tf, data, args.epochs, system === 'ours-generic', system === 'ours-js-rows');
        } else {
          const peer = peers.find((p) => p.name === system) as Peer;
          const out = await peer.request<{ epochSeconds: number[]; predictionsPerSec: number; preds: string }>({
            task: 'deepfm',
            dir,
            epochs: args.epochs,
            seed: round,
          });
          const buf = readFileSync(out.preds);
          const preds = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
          if (preds.length !== test.n)
            throw new Error(`deepfm-peers: ${system} wrote ${preds.length} predictions for ${test.n} rows`);
          r = {
            epochSeconds: out.epochSeconds,
            auc: auc(test.labels, preds),
            predictionsPerSec: out.predictionsPerSec,
          };
        }
        runs.push({ round, system, ...r, load: loadLine() });
        line.push(`${system} ${median(r.epochSeconds).toFixed(2)} s/epoch auc ${r.auc.toFixed(4)}`);
      }
      process.stdout.write(`  round ${round}: ${line.join('; ')} (load ${loadLine()})\n`);
    }
  } finally {
    for (const p of peers) p.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    '\nsystem        s/epoch (median)  test AUC (mean)  predictions/s   our epoch time ÷ theirs (< 1: ours faster; median of rounds)\n',
  );
  for (const system of systems) {
    const mine = runs.filter((r) => r.system === system);
    const sec = median(mine.map((r) => median(r.epochSeconds)));
    const meanAuc = mine.reduce((a, r) => a + r.auc, 0) / mine.length;
    const pps = median(mine.map((r) => r.predictionsPerSec));
    let ratio = '';
    if (native && system !== 'ours') {
      const rs = mine.map((r) => {
        const o = runs.find((x) => x.system === 'ours' && x.round === r.round)!;
        return median(o.epochSeconds) / median(r.epochSeconds);
      });
      ratio = `${median(rs).toFixed(2)}  (rounds: ${rs.map((x) => x.toFixed(2)).join(', ')})`;
    }
    process.stdout.write(
      `${system.padEnd(13)} ${sec.toFixed(3).padStart(8)}          ${meanAuc.toFixed(4)}           ${Math.round(pps).toString().padStart(8)}   ${ratio}\n`,
    );
  }
  process.stdout.write(`load average at the end: ${loadLine()}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ args, runs }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
