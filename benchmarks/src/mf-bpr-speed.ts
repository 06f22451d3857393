// Speed of MF-BPR training and full-ranking evaluation on Gowalla (d = 64, batch 2048), native
// kernels against the JavaScript kernels measured in the same run.
//   node benchmarks/dist/mf-bpr-speed.js [--data DIR] [--epochs N]
import { readLightGcnDataset } from '@compactrec/core';
import { ID_HASHING_METHODS } from '@compactrec/id-hashing';
import { prepareBprData, Tower } from '@compactrec/models';
import { getKernels, JS_KERNELS, type Kernels } from '@compactrec/native';

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const dataDir = flag('data', new URL('../../../shared/datasets/gowalla', import.meta.url).pathname);
const epochs = Number(flag('epochs', '3'));
const dim = 64;

const data = await readLightGcnDataset(dataDir);
const bpr = prepareBprData(data.train);
const n = bpr.pairUsers.length;

function towers() {
  const full = ID_HASHING_METHODS.full!;
  const u = full.create({ numIds: data.train.numUsers }, { dim, budgetBytes: data.train.numUsers * dim * 4, seed: 0 });
  const i = full.create({ numIds: data.train.numItems }, { dim, budgetBytes: data.train.numItems * dim * 4, seed: 1 });
  return [new Tower(u, dim, { seed: 1 }), new Tower(i, dim, { seed: 2 })] as const;
}

function trainThroughput(k: Kernels, triples: number): number {
  const [u, i] = towers();
  const perm = Int32Array.from({ length: n }, (_, j) => j);
  const rngState = Uint32Array.of(1, 2, 3, 4);
  const state = new Float64Array(1);
  let done = 0;
  const t0 = performance.now();
  while (done < triples) {
    const end = Math.min(n, triples - done);
    const r = k.bprTrain({
      dim,
      user: u.arrays(),
      item: i.arrays(),
      data: bpr,
      batches: { perm, start: 0, end, shuffle: true, batchSize: 2048, rngState },
      optimizer: { lr: 1e-3, weightLr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, reg: 1e-4, state },
    });
    done += r.triples;
  }
  return done / ((performance.now() - t0) / 1000);
}

function evalSeconds(k: Kernels, users: number): number {
  const [u, i] = towers();
  const ue = u.composeAll();
  const ie = i.composeAll();
  const sub = Int32Array.from({ length: users }, (_, j) => j);
  const out = new Int32Array(users * 20);
  const t0 = performance.now();
  k.rankTopK({
    dim,
    k: 20,
    userEmb: ue,
    itemEmb: ie,
    maskOffsets: data.train.offsets,
    maskItems: data.train.items,
    users: sub,
    out,
  });
  return (performance.now() - t0) / 1000;
}

const native = getKernels();
if (native.kind !== 'native') {
  process.stderr.write('mf-bpr-speed: native kernels are not built (npm run setup); measuring JavaScript only\n');
}
const jsTps = trainThroughput(JS_KERNELS, Math.min(n, 400_000));
const natTps = native.kind === 'native' ? trainThroughput(native, n * epochs) : jsTps;
const jsUsers = 500;
const jsEval = (evalSeconds(JS_KERNELS, jsUsers) * data.train.numUsers) / jsUsers;
const natEval = native.kind === 'native' ? evalSeconds(native, data.train.numUsers) : jsEval;
const rows = [
  [
    'BPR training (triples/s, d 64, batch 2048)',
    Math.round(jsTps).toLocaleString('en-US'),
    Math.round(natTps).toLocaleString('en-US'),
    (natTps / jsTps).toFixed(1),
  ],
  [
    `Full-ranking eval, ${data.train.numUsers} users × ${data.train.numItems} items (s)`,
    `${jsEval.toFixed(1)} (from ${jsUsers} users)`,
    natEval.toFixed(2),
    (jsEval / natEval).toFixed(1),
  ],
];
process.stdout.write(
  `MF-BPR speed on ${data.name} (${n.toLocaleString('en-US')} training pairs), one process, ${native.kind} kernels\n\n`,
);
process.stdout.write('| measure | JavaScript kernels | native kernels | speed-up |\n| --- | ---: | ---: | ---: |\n');
for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
