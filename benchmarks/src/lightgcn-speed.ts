// Speed of one LightGCN training epoch on Gowalla (d 64, batch 4096, 2 layers) for the gradient
// schemes of `trainMfBpr`, as ratios to the first scheme on one thread measured in the same run
// (interleaved rounds, so machine load hits every variant alike):
//   sampled     8 sampled neighbours + 8 two-hop walks per batch node, per triple (the first scheme)
//   walks       gradients summed per distinct node, then the exact 1-hop scatter + 8 or 32 two-hop
//               walks per node (the sampled estimator)
//   exact       gradients summed per distinct node, ÂG scattered and Â²G gathered over the whole graph
//               every batch (the default), on 1 and 2 threads, and for L = 3
//   + DNS       exact, with the recipe's dynamic negative sampling (highest-scored of the recipe's candidates)
// Triples are drawn user-uniformly (LightGCN's default). Evaluation is excluded (trainSeconds only).
//   node benchmarks/dist/lightgcn-speed.js [--data DIR] [--rounds N]
import { loadavg } from 'node:os';
import { readLightGcnDataset } from '@compactrec/core';
import { RETRIEVAL_RECIPES, toMarkdown } from '@compactrec/harness';
import { ID_HASHING_METHODS } from '@compactrec/id-hashing';
import { Tower, trainMfBpr } from '@compactrec/models';
import { getKernels } from '@compactrec/native';

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const dataDir = flag('data', new URL('../../../shared/datasets/gowalla', import.meta.url).pathname);
const rounds = Number(flag('rounds', '2'));
const dim = 64;

if (getKernels().kind !== 'native') {
  process.stderr.write('lightgcn-speed: LightGCN training needs the native kernels; run `npm run setup` first\n');
  process.exit(1);
}
const data = await readLightGcnDataset(dataDir);
const n = data.train.items.length;

function tower(numIds: number, seed: number): Tower {
  const m = ID_HASHING_METHODS.full!.create({ numIds }, { dim, budgetBytes: numIds * dim * 4, seed });
  return new Tower(m, dim, { seed });
}

interface Variant {
  readonly name: string;
  readonly aggregateNeighbors: boolean;
  readonly exactHops: boolean;
  readonly maxNeighbors: number;
  readonly threads: number;
  readonly twoHopSamples?: number;
  readonly layers?: number;
  readonly negativeCandidates?: number;
}
const dnsK = RETRIEVAL_RECIPES.lightgcn.negativeCandidates;
const walks = { aggregateNeighbors: true, exactHops: false, maxNeighbors: 0 } as const;
const exact = { aggregateNeighbors: true, exactHops: true, maxNeighbors: 0 } as const;
const VARIANTS: readonly [Variant, ...Variant[]] = [
  { name: 'sampled, 1 thread', aggregateNeighbors: false, exactHops: false, maxNeighbors: 8, threads: 1 },
  { name: 'walks (8), 2 threads', ...walks, threads: 2 },
  { name: 'walks (32), 2 threads', ...walks, threads: 2, twoHopSamples: 32 },
  { name: 'exact, 1 thread', ...exact, threads: 1 },
  { name: 'exact, 2 threads', ...exact, threads: 2 },
  { name: 'exact, 3 layers, 2 threads', ...exact, threads: 2, layers: 3 },
  { name: `exact + DNS (${dnsK} candidates), 2 threads`, ...exact, threads: 2, negativeCandidates: dnsK },
];

process.stdout.write(
  `LightGCN epoch speed on ${data.name}: ${n} interactions, d ${dim}, batch 4096; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
const seconds = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const v of VARIANTS) {
    const res = trainMfBpr(data, tower(data.train.numUsers, 1), tower(data.train.numItems, 2), {
      model: 'lightgcn',
      epochs: 1,
      batchSize: 4096,
      lr: 0.005,
      seed: r,
      aggregateNeighbors: v.aggregateNeighbors,
      exactHops: v.exactHops,
      maxNeighbors: v.maxNeighbors,
      threads: v.threads,
      ...(v.twoHopSamples !== undefined ? { twoHopSamples: v.twoHopSamples } : {}),
      ...(v.layers !== undefined ? { layers: v.layers } : {}),
      ...(v.negativeCandidates !== undefined ? { negativeCandidates: v.negativeCandidates } : {}),
    });
    seconds.get(v.name)!.push(res.trainSeconds);
    process.stderr.write(`round ${r + 1}/${rounds} ${v.name}: ${res.trainSeconds.toFixed(1)} s\n`);
  }
}
const best = (name: string): number => Math.min(...seconds.get(name)!);
const base = best(VARIANTS[0].name);
const rows = VARIANTS.map((v) => ({
  variant: v.name,
  'best epoch (s)': Number(best(v.name).toFixed(2)),
  'triples/s': Math.round(n / best(v.name)),
  'speed vs sampled, 1 thread': Number((base / best(v.name)).toFixed(2)),
}));
process.stdout.write(
  `${toMarkdown(rows)}\nload average at end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
