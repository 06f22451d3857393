import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Interactions, readInteractionsFile, readLightGcnDataset } from '@compactrec/core';
import {
  type ClusterSearchStep,
  clusterInteractions,
  clusterToBudget,
  type GraphClustering,
  type ModularityKind,
  rowsForBudget,
  saveClustering,
} from '@compactrec/graphhash';
import type { Command } from '../args.js';
import { checkOutputFile } from '../output.js';

/** Training interactions of a LightGCN-format directory, in the ID space train and test share. */
async function readTrain(dir: string): Promise<Interactions> {
  try {
    await access(join(dir, 'test.txt'));
  } catch {
    // No test split: the ID space is the training file's own.
    return readInteractionsFile(join(dir, 'train.txt'));
  }
  return (await readLightGcnDataset(dir)).train;
}

const fmtSeconds = (s: number): string => `${s.toFixed(2)} s`;

/**
 * `compactrec cluster`: GraphHash's clustering of the user–item training graph, targeted at a
 * memory budget (or at a fixed resolution), saved for the graphhash mappers to load.
 */
export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'Cluster the user-item training graph (Louvain, bipartite modularity) for the GraphHash mappers',
  options: [
    { name: 'data', type: 'string', required: true, description: 'LightGCN-format directory (train.txt)' },
    {
      name: 'budget',
      type: 'number',
      default: 0.25,
      gt: 0,
      max: 1,
      description: "Fraction of each side's full embedding table; caps the cluster count per side",
    },
    {
      name: 'dim',
      type: 'int',
      default: 64,
      min: 1,
      description: 'Embedding dimension (rows = budget bytes / (dim·4))',
    },
    { name: 'seed', type: 'int', default: 0, description: "Seed of Louvain's node order" },
    {
      name: 'resolution',
      type: 'number',
      gt: 0,
      description: 'Fixed Louvain resolution; skips budget targeting (the reference uses 200 on Gowalla)',
    },
    {
      name: 'modularity',
      type: 'string',
      default: 'bipartite',
      choices: ['bipartite', 'unipartite'],
      description: "Barber's bipartite modularity, or Newman's on the undirected graph (ablation)",
    },
    { name: 'out', type: 'string', required: true, description: 'Output checkpoint (kind graphhash-mapping)' },
  ],
  details:
    'Example:\n  compactrec cluster --data ../shared/datasets/gowalla --budget 0.25 --out results/gowalla-graphhash.bin\n' +
    'Progress goes to stderr; the summary to stdout.',
  async run(a) {
    const dir = a.data as string;
    const budget = a.budget as number;
    const dim = a.dim as number;
    const seed = a.seed as number;
    const modularity = a.modularity as ModularityKind;
    const resolution = a.resolution as number | undefined;
    const out = a.out as string;
    const log = (line: string): void => {
      process.stderr.write(`cluster: ${line}\n`);
    };
    await checkOutputFile('compactrec cluster', 'out', out);
    const t0 = performance.now();
    log(`reading ${join(dir, 'train.txt')}`);
    const x = await readTrain(dir);
    log(`${x.numUsers} users, ${x.numItems} items, ${x.items.length} training interactions`);
    const maxUserClusters = rowsForBudget(budget * x.numUsers * dim * 4, dim);
    const maxItemClusters = rowsForBudget(budget * x.numItems * dim * 4, dim);
    let c: GraphClustering;
    if (resolution !== undefined) {
      log(`Louvain at fixed resolution ${resolution} (${modularity} modularity)`);
      c = clusterInteractions(x, { resolution, seed, modularity });
    } else {
      log(`targeting ≤ ${maxUserClusters} user / ${maxItemClusters} item clusters (budget ${budget}, dim ${dim})`);
      let i = 0;
      c = clusterToBudget(
        x,
        { maxUserClusters, maxItemClusters },
        {
          seed,
          modularity,
          onStep: (s: ClusterSearchStep) => {
            log(
              `step ${++i}: resolution ${s.resolution.toPrecision(5)} → ${s.userClusters} user / ${s.itemClusters} item clusters, ${s.feasible ? 'fits' : 'over'} (${fmtSeconds(s.seconds)})`,
            );
          },
        },
      );
    }
    await mkdir(dirname(out), { recursive: true });
    await saveClustering(out, c);
    const fits = c.numUserClusters <= maxUserClusters && c.numItemClusters <= maxItemClusters;
    const lines = [
      `resolution        ${c.resolution.toPrecision(6)}${c.search ? ` (targeted, ${c.search.iterations} Louvain runs)` : ' (fixed)'}`,
      `user clusters     ${c.numUserClusters} (budget rows ${maxUserClusters})`,
      `item clusters     ${c.numItemClusters} (budget rows ${maxItemClusters})`,
      `communities       ${c.numCommunities}`,
      `modularity        ${c.modularity.toFixed(4)} (${c.modularityKind}, at the resolution)`,
      `Barber Q (γ = 1)  ${c.barberModularity.toFixed(4)}`,
      `graph build       ${fmtSeconds(c.graphSeconds)} (CPU ${fmtSeconds(c.graphCpuSeconds)})`,
      `Louvain           ${fmtSeconds(c.louvainSeconds)} (CPU ${fmtSeconds(c.louvainCpuSeconds)})${c.search ? ` (search total ${fmtSeconds(c.search.seconds)})` : ''}`,
      `total             ${fmtSeconds((performance.now() - t0) / 1000)}`,
      `wrote             ${out}`,
    ];
    if (!fits) lines.push('warning           the clusters exceed the budget rows; lower --resolution or omit it');
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
