import { barChartSvg, methodNames, runRetrievalBench, toMarkdown, writeResults } from '@compactrec/benchmarks';
import type { Command } from '../args.js';

/** `compactrec bench retrieval`: every method at one memory budget on one dataset. */
export const benchRetrievalCommand: Command = {
  name: 'bench retrieval',
  summary: 'Train and evaluate a retrieval backbone once per compression method at an equal memory budget',
  options: [
    {
      name: 'data',
      type: 'string',
      required: true,
      description: "LightGCN-format directory (train.txt, test.txt), or 'generated'",
    },
    { name: 'model', type: 'string', default: 'mf', choices: ['mf', 'lightgcn'], description: 'Backbone' },
    {
      name: 'sampling',
      type: 'string',
      default: 'auto',
      choices: ['auto', 'interaction', 'user'],
      description:
        "Triples: every training pair once per epoch ('interaction') or a uniform user then one of its items ('user'); auto = user for LightGCN, interaction for MF",
    },
    { name: 'dsl-updates', type: 'int', default: 30, min: 1, description: 'DSL: prune/grow rounds over the run' },
    {
      name: 'dsl-prune-rate',
      type: 'number',
      default: 0.75,
      gt: 0,
      max: 1,
      description: 'DSL: prune rate of the first update, cosine-annealed to 0.005 (the reference uses 0.5)',
    },
    {
      name: 'dsl-growth',
      type: 'string',
      default: 'accumulated',
      choices: ['accumulated', 'batch'],
      description: 'DSL: growth score',
    },
    {
      name: 'layers',
      type: 'int',
      default: 2,
      min: 1,
      max: 4,
      description: 'LightGCN propagation layers (the reference uses 2; the LightGCN paper 3 for Gowalla)',
    },
    {
      name: 'max-neighbors',
      type: 'int',
      default: 0,
      min: 0,
      description: 'LightGCN: 1-hop neighbours sampled per node for its gradient (0 = all, exact)',
    },
    {
      name: 'two-hop-samples',
      type: 'int',
      default: 8,
      min: 0,
      description: 'LightGCN: sampled random walks per node carrying each gradient term beyond 1 hop (Â²G … Â^L G)',
    },
    {
      name: 'aggregate-neighbors',
      type: 'boolean',
      default: true,
      description:
        "LightGCN: sum each node's gradient over the batch before sending it to its neighbours (--aggregate-neighbors=false: per triple)",
    },
    {
      name: 'refresh-every',
      type: 'int',
      default: 40,
      min: 1,
      description: 'LightGCN: batches between refreshes of the propagated embeddings',
    },
    {
      name: 'threads',
      type: 'int',
      default: 2,
      min: 1,
      max: 2,
      description: 'LightGCN: threads of the native kernel (a run is deterministic for a given count)',
    },
    {
      name: 'methods',
      type: 'list',
      default: ['full'],
      choices: methodNames(),
      description: 'Comma-separated methods',
    },
    {
      name: 'budget',
      type: 'number',
      default: 0.25,
      gt: 0,
      max: 1,
      description: "Fraction of each table's full embedding bytes",
    },
    { name: 'epochs', type: 'int', default: 150, min: 1, description: 'Training epochs' },
    { name: 'dim', type: 'int', default: 64, min: 1, description: 'Embedding dimension' },
    { name: 'lr', type: 'number', default: 0.001, gt: 0, description: 'Adam learning rate' },
    {
      name: 'lr-schedule',
      type: 'string',
      default: 'constant',
      choices: ['constant', 'cosine'],
      description: 'Learning rate over the run: constant, or cosine annealing to 1% of --lr',
    },
    { name: 'reg', type: 'number', default: 0.0001, min: 0, description: 'L2 on the batch embeddings' },
    { name: 'batch', type: 'int', default: 2048, min: 1, description: 'Triples per mini-batch' },
    {
      name: 'eval-every',
      type: 'int',
      default: 0,
      min: 0,
      description: 'Evaluate every N epochs (0 = only at the end)',
    },
    { name: 'seed', type: 'int', default: 0, description: 'Seed of every random choice' },
    {
      name: 'out',
      type: 'string',
      default: 'results/retrieval',
      description: 'Directory for results.json/.csv/.md and plot.svg',
    },
  ],
  details:
    'Example:\n  compactrec bench retrieval --data ../shared/datasets/gowalla --methods full,modulo,double --budget 0.25',
  async run(a) {
    const records = await runRetrievalBench({
      data: a.data as string,
      model: a.model as 'mf' | 'lightgcn',
      layers: a.layers as number,
      maxNeighbors: a['max-neighbors'] as number,
      twoHopSamples: a['two-hop-samples'] as number,
      refreshEvery: a['refresh-every'] as number,
      aggregateNeighbors: a['aggregate-neighbors'] as boolean,
      threads: a.threads as number,
      ...(a.sampling === 'auto' ? {} : { sampling: a.sampling as 'user' | 'interaction' }),
      dslUpdates: a['dsl-updates'] as number,
      dslGrowth: a['dsl-growth'] as 'accumulated' | 'batch',
      dslPruneRate: a['dsl-prune-rate'] as number,
      methods: a.methods as string[],
      budget: a.budget as number,
      epochs: a.epochs as number,
      dim: a.dim as number,
      lr: a.lr as number,
      lrSchedule: a['lr-schedule'] as 'constant' | 'cosine',
      reg: a.reg as number,
      batchSize: a.batch as number,
      evalEvery: a['eval-every'] as number,
      seed: a.seed as number,
    });
    const svg = barChartSvg(
      records,
      'recall@20',
      (r) => `${r.method} @ ${r.budget}`,
      `Recall@20 on ${records[0]?.dataset}`,
    );
    const files = await writeResults(a.out as string, records, svg);
    process.stdout.write(
      `${toMarkdown(records, ['dataset', 'model', 'method', 'budget', 'rows', 'embeddingBytes', 'mappingBytes', 'optimizerBytes', 'recall@20', 'ndcg@20', 'trainSeconds', 'evalSeconds'])}\n\nWrote ${files.join(', ')}\n`,
    );
    return 0;
  },
};
