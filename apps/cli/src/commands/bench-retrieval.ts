import { join } from 'node:path';
import {
  barChartSvg,
  DEFAULT_PROTOCOL,
  METHOD_SYNTAX,
  methodHelp,
  methodNames,
  parseBudgets,
  parseSeeds,
  parseTuneGrid,
  type ResultRecord,
  resolveMethod,
  runRetrievalBench,
  toMarkdown,
} from '@compactrec/harness';
import { type Command, type OptionSpec, usage } from '../args.js';
import { checkOutputDir } from '../output.js';
import { ALPT_STEP_LR_OPTION } from './embedding-options.js';

const LIGHTGCN_ONLY: OptionSpec['onlyWith'] = { option: 'model', values: ['lightgcn'] };

/** `compactrec bench retrieval`: every method at one memory budget on one dataset. */
export const benchRetrievalCommand: Command = {
  name: 'bench retrieval',
  summary: 'Train and evaluate a retrieval backbone once per compression method at an equal memory budget',
  options: [
    {
      name: 'data',
      type: 'list',
      unique: true,
      required: true,
      description:
        "LightGCN-format directory (train.txt, test.txt), a sequential file (--format sequential-loo), or 'generated'; a comma list sweeps them all",
    },
    {
      name: 'format',
      type: 'string',
      default: 'lightgcn',
      choices: ['lightgcn', 'sequential-loo'],
      description:
        'Layout of --data: LightGCN directory, or a sequential file (S3Rec lines / SASRec pairs) split leave-one-out (last item test, second-to-last validation)',
    },
    {
      name: 'rows-like',
      type: 'string',
      default: 'budget',
      choices: ['budget', 'graphhash'],
      description:
        "Every method's per-side rows: its own budget, or GraphHash's row counts at --budget (the reference protocol)",
    },
    {
      name: 'model',
      type: 'list',
      default: ['mf'],
      choices: ['mf', 'lightgcn'],
      description: 'Backbone, or a comma list (one sweep, each with its recipe)',
    },
    {
      name: 'sampling',
      type: 'string',
      default: 'auto',
      choices: ['auto', 'interaction', 'user'],
      description:
        "Triples: every training pair once per epoch ('interaction') or a uniform user then one of its items ('user'); auto = user for LightGCN, interaction for MF",
    },
    {
      name: 'dsl-updates',
      type: 'int',
      default: 30,
      min: 1,
      description: 'DSL: prune/grow rounds over the run',
    },
    {
      name: 'dsl-training',
      type: 'string',
      default: 'auto',
      choices: ['auto', 'dense', 'sparse'],
      description:
        'DSL: dense-masked training, or the sparse form (values and Adam moments only for active weights); auto = the form with fewer training bytes (sparse below density ~0.8)',
    },
    ALPT_STEP_LR_OPTION,
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
      onlyWith: LIGHTGCN_ONLY,
      type: 'int',
      default: 2,
      min: 1,
      max: 4,
      description: 'LightGCN propagation layers (the reference uses 2; the LightGCN paper 3 for Gowalla)',
    },
    {
      name: 'hop-gradients',
      onlyWith: LIGHTGCN_ONLY,
      type: 'string',
      default: 'exact',
      choices: ['exact', 'sampled'],
      description:
        'LightGCN: gradient terms beyond the node itself, exact (ÂG scattered, Â^h G gathered over the graph per batch) or sampled (--max-neighbors, --two-hop-samples)',
    },
    {
      name: 'max-neighbors',
      onlyWith: LIGHTGCN_ONLY,
      type: 'int',
      default: 0,
      min: 0,
      description: 'LightGCN, sampled hop gradients: 1-hop neighbours sampled per node (0 = all, exact)',
    },
    {
      name: 'two-hop-samples',
      onlyWith: LIGHTGCN_ONLY,
      type: 'int',
      default: 8,
      min: 0,
      description:
        'LightGCN, sampled hop gradients: random walks per node carrying each term beyond 1 hop (Â²G … Â^L G)',
    },
    {
      name: 'aggregate-neighbors',
      onlyWith: LIGHTGCN_ONLY,
      type: 'boolean',
      default: true,
      description:
        "LightGCN: sum each node's gradient over the batch before sending it to its neighbours (--aggregate-neighbors=false: per triple)",
    },
    {
      name: 'refresh-every',
      onlyWith: LIGHTGCN_ONLY,
      type: 'int',
      default: 40,
      min: 1,
      description: 'LightGCN: batches between refreshes of the propagated embeddings',
    },
    {
      name: 'threads',
      onlyWith: LIGHTGCN_ONLY,
      type: 'int',
      default: 2,
      min: 1,
      max: 2,
      description: 'LightGCN: threads of the native kernel (a run is deterministic for a given count)',
    },
    {
      name: 'methods',
      type: 'list',
      unique: true,
      default: ['full'],
      description: `Comma-separated methods, each ${METHOD_SYNTAX}; parts: ${methodNames().join(', ')} (listed below)`,
    },
    {
      name: 'quantize',
      type: 'string',
      default: 'after',
      choices: ['after', 'during'],
      description:
        'Low-precision kinds (fp16, int8, int4): quantize after training (float master) or during it (fake-quant, straight-through); ALPT always trains on its grid',
    },
    {
      name: 'budget',
      type: 'string',
      default: '0.25',
      description:
        "Fraction of each table's full embedding bytes, or a comma list (a sweep, e.g. 0.5,0.25,0.1; full runs once)",
    },
    {
      name: 'tune',
      type: 'string',
      description:
        'Tuning grid per method × budget, e.g. lr=1e-3,3e-3,1e-2[,wd=1e-4,1e-5] (wd = --reg); the point with the best validation Recall@20 is reported',
    },
    {
      name: 'seeds',
      type: 'string',
      description:
        'Comma-separated seeds (overrides --seed): the chosen point re-runs per seed, metrics reported as mean and .std',
    },
    {
      name: 'valid-fraction',
      type: 'number',
      default: DEFAULT_PROTOCOL.validFraction,
      min: 0,
      max: 0.9,
      description:
        "Seeded fraction of each user's training items held out for validation (0 = none: the last epoch is tested); sequential-loo uses its second-to-last item",
    },
    {
      name: 'patience',
      type: 'int',
      default: DEFAULT_PROTOCOL.patience,
      min: 1,
      description: 'Early stopping: epochs without a better validation Recall@20 before training stops',
    },
    { name: 'epochs', type: 'int', min: 1, description: 'Training epochs (default: 150 for mf, 12 for lightgcn)' },
    { name: 'dim', type: 'int', default: 64, min: 1, description: 'Embedding dimension' },
    {
      name: 'lr',
      type: 'number',
      gt: 0,
      description: 'Adam learning rate (default: 0.001 for mf, 0.005 for lightgcn)',
    },
    {
      name: 'lr-schedule',
      type: 'string',
      choices: ['constant', 'cosine'],
      description:
        'Learning rate over the run: constant, or cosine annealing to 1% of --lr (default: constant for mf, cosine for lightgcn)',
    },
    { name: 'reg', type: 'number', default: 0.0001, min: 0, description: 'L2 on the batch embeddings' },
    {
      name: 'negative-candidates',
      type: 'int',
      min: 1,
      max: 1024,
      description:
        'Negatives drawn per pair; above 1 the highest-scored is trained on, i.e. dynamic negative sampling (default: 1 for mf, 32 for lightgcn)',
    },
    {
      name: 'batch',
      type: 'int',
      min: 1,
      description: 'Triples per mini-batch (default: 2048 for mf, 4096 for lightgcn)',
    },
    {
      name: 'eval-every',
      type: 'int',
      default: DEFAULT_PROTOCOL.evalEvery,
      min: 0,
      description: 'Validate every N epochs (and after the last; 0 = only after the last)',
    },
    { name: 'seed', type: 'int', default: 0, description: 'Seed of every random choice' },
    {
      name: 'out',
      type: 'string',
      default: 'results/retrieval',
      description:
        'Directory for results.jsonl (every finished cell; a re-run resumes from it), results.json/.csv/.md and plot.svg',
    },
    {
      name: 'fresh',
      type: 'boolean',
      default: false,
      description: 'Do not resume: move an existing results.jsonl in --out aside and run every cell',
    },
  ],
  details:
    "Protocol: a validation split is carved from training (--valid-fraction of each user's items, seeded; leave-one-out sets use the\n" +
    'second-to-last item); validation Recall@20 every --eval-every epochs; training stops after --patience epochs without improvement\n' +
    "(at the recipe's epochs at the latest); the test metrics are those of the best-validation epoch (the validation items masked).\n" +
    'Sweeps: every finished cell (method × budget × tuning point × seed) is appended to OUT/results.jsonl; re-running the same\n' +
    'command skips the cells found there (a different git commit only warns). results.json holds one record per method × budget.\n' +
    "Training settings left out come from the backbone's recipe: mf trains 150 epochs (Adam 1e-3, batch 2048, uniform negatives);\n" +
    'lightgcn trains 12 epochs (Adam 5e-3 cosine, batch 4096, the hardest of 32 sampled negatives), ≈ 4 min per method on Gowalla.\n' +
    'A method that cannot reach --budget (e.g. int8 alone below 0.28 at d 64) gets a "does not fit" record.\n' +
    'Examples:\n  compactrec bench retrieval --data ../shared/datasets/gowalla --model mf --methods full,int8,graphhash+int8,dsl+int8 --budget 0.3\n' +
    '  compactrec bench retrieval --data ../shared/datasets/gowalla --model mf --methods full,graphhash,frequency,dsl --budget 0.5,0.25,0.1 --tune lr=1e-3,3e-3,1e-2 --out results/gowalla-tune\n\n' +
    methodHelp(),
  async run(a) {
    // Unknown names and bad lists fail here, before any work, naming the option and the bad item.
    for (const m of a.methods as string[]) resolveMethod(m);
    const { budgets, tune, seeds } = usage(() => ({
      budgets: parseBudgets(a.budget as string),
      tune: a.tune !== undefined ? parseTuneGrid(a.tune as string) : undefined,
      seeds: a.seeds !== undefined ? parseSeeds(a.seeds as string) : undefined,
    }));
    const out = a.out as string;
    await checkOutputDir('compactrec bench retrieval', 'out', out);
    const plot = (rs: readonly ResultRecord[]): string =>
      barChartSvg(
        rs,
        'recall@20',
        (r) =>
          `${(a.data as string[]).length > 1 || (a.model as string[]).length > 1 ? `${r.dataset}/${r.model} ` : ''}${r.method} · budget ${r.budget}`,
        `Recall@20 on ${[...new Set(rs.map((r) => r.dataset))].join(', ')}`,
        {
          axisLabel: 'Recall@20 on the test split',
        },
      );
    const records = await runRetrievalBench({
      data: a.data as string[],
      format: a.format as 'lightgcn' | 'sequential-loo',
      rowsLike: a['rows-like'] as 'budget' | 'graphhash',
      model: a.model as ('mf' | 'lightgcn')[],
      layers: a.layers as number,
      maxNeighbors: a['max-neighbors'] as number,
      twoHopSamples: a['two-hop-samples'] as number,
      exactHops: a['hop-gradients'] === 'exact',
      refreshEvery: a['refresh-every'] as number,
      aggregateNeighbors: a['aggregate-neighbors'] as boolean,
      threads: a.threads as number,
      ...(a.sampling === 'auto' ? {} : { sampling: a.sampling as 'user' | 'interaction' }),
      quantize: a.quantize as 'after' | 'during',
      dslUpdates: a['dsl-updates'] as number,
      dslTraining: a['dsl-training'] as 'auto' | 'dense' | 'sparse',
      alptStepLr: a['alpt-step-lr'] as number | undefined,
      dslGrowth: a['dsl-growth'] as 'accumulated' | 'batch',
      dslPruneRate: a['dsl-prune-rate'] as number,
      methods: a.methods as string[],
      budget: budgets,
      ...(tune ? { tune } : {}),
      ...(seeds ? { seeds } : {}),
      validFraction: a['valid-fraction'] as number,
      patience: a.patience as number,
      out,
      fresh: a.fresh as boolean,
      plot,
      epochs: a.epochs as number | undefined,
      dim: a.dim as number,
      lr: a.lr as number | undefined,
      lrSchedule: a['lr-schedule'] as 'constant' | 'cosine' | undefined,
      reg: a.reg as number,
      negativeCandidates: a['negative-candidates'] as number | undefined,
      batchSize: a.batch as number | undefined,
      evalEvery: a['eval-every'] as number,
      seed: a.seed as number,
    });
    const cols = [
      'dataset',
      'model',
      'method',
      'budget',
      'status',
      'rows',
      'embeddingBytes',
      'budgetUse',
      'mappingBytes',
      'lr',
      'reg',
      'bestEpoch',
      'epochsTrained',
      'valid.recall@20',
      'recall@20',
      'recallCapped@20',
      'ndcg@20',
      ...(seeds && seeds.length > 1 ? ['recall@20.std', 'ndcg@20.std'] : []),
      'trainSeconds',
    ];
    process.stdout.write(
      `${toMarkdown(
        records,
        cols.filter((c) => records.some((r) => c in r)),
      )}\n\nWrote ${['results.jsonl', 'results.json', 'results.csv', 'results.md', 'plot.svg'].map((f) => join(out, f)).join(', ')}\n`,
    );
    return 0;
  },
};
