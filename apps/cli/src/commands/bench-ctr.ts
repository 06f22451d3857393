import { join } from 'node:path';
import { InvalidArgumentError, type QuantizeMode } from '@compactrec/core';
import {
  CTR_DATA_FORMATS,
  CTR_MODEL_KINDS,
  type CtrDataFormat,
  type CtrModelKind,
  SEQUENCE_MODEL_KINDS,
  type SequenceModelKind,
} from '@compactrec/ctr';
import {
  barChartSvg,
  DEFAULT_PROTOCOL,
  parseBudgets,
  parseSeeds,
  parseTuneGrid,
  runCtrBench,
  type TuneGrid,
  toMarkdown,
} from '@compactrec/harness';
import type { TfPreference } from '@compactrec/tf-backend';
import { type Command, usage } from '../args.js';
import { checkOutputDir } from '../output.js';
import {
  CSV_OPTIONS,
  csvArgs,
  KEEP_FULL_BELOW,
  MAX_ROWS,
  MIN_COUNT,
  SEQUENCE_OPTIONS,
  SEQUENCE_TRAIN_OPTIONS,
  sequenceArgs,
} from './ctr.js';
import {
  ALPT_STEP_LR_OPTION,
  DSL_TRAINING_OPTION,
  methodDetails,
  methodOptionDescription,
  QUANTIZE_OPTION,
  storageExtraArgs,
} from './embedding-options.js';

type ResultRecord = Awaited<ReturnType<typeof runCtrBench>>[number];

/** `--tune` of the CTR bench: lr only (CTR training has no weight decay to tune). */
function ctrTune(spec: string): TuneGrid {
  const grid = parseTuneGrid(spec);
  if (grid.wd) {
    throw new InvalidArgumentError(
      `--tune '${spec}': CTR training has no weight decay (wd); tune lr only, e.g. lr=1e-3,3e-3`,
    );
  }
  return grid;
}

/** `compactrec bench ctr`: one CTR model per model × compression method × seed at an equal per-table budget. */
export const benchCtrCommand: Command = {
  name: 'bench ctr',
  summary: 'Train and evaluate a CTR model once per compression method at an equal per-table memory budget',
  options: [
    { name: 'data', type: 'string', required: true, description: 'Data path (frappe/criteo) or synthetic spec' },
    { name: 'format', type: 'string', required: true, choices: [...CTR_DATA_FORMATS], description: 'Data format' },
    {
      name: 'model',
      type: 'list',
      default: ['deepfm'],
      choices: [...CTR_MODEL_KINDS, ...SEQUENCE_MODEL_KINDS],
      description:
        'Comma-separated architectures; sdim, din, avgpool, din-short are sequence models (formats ml100k, seq-synthetic)',
    },
    {
      name: 'methods',
      type: 'list',
      unique: true,
      default: ['full'],
      description: methodOptionDescription(
        'Comma-separated embedding methods of every field (sequence models: and of the item table)',
      ),
    },
    QUANTIZE_OPTION,
    DSL_TRAINING_OPTION,
    ALPT_STEP_LR_OPTION,
    {
      name: 'budget',
      type: 'string',
      default: '0.25',
      description: "Fraction of each field's full table, or a comma list (a sweep, e.g. 0.5,0.25,0.1; full runs once)",
    },
    {
      name: 'tune',
      type: 'string',
      description:
        'Tuning grid per model × method × budget, e.g. lr=1e-3,3e-3 (CTR training has no weight decay); the lr with the best validation AUC is reported',
    },
    { name: 'epochs', type: 'int', default: 30, min: 1, description: 'Most epochs (early stopping on validation AUC)' },
    {
      name: 'patience',
      type: 'int',
      default: DEFAULT_PROTOCOL.ctrPatience,
      min: 1,
      description:
        'Early stopping: epochs without a better validation AUC (measured after every epoch) before training stops; the best epoch is restored before the test',
    },
    { name: 'batch', type: 'int', default: 1024, min: 1, description: 'Samples per mini-batch' },
    { name: 'lr', type: 'number', default: 0.001, gt: 0, description: 'Adam learning rate' },
    { name: 'dim', type: 'int', default: 16, min: 1, description: 'Embedding dimension' },
    {
      name: 'mlp',
      type: 'list',
      items: 'int',
      min: 1,
      default: ['400', '400'],
      description: 'Hidden layer widths, comma-separated',
    },
    ...SEQUENCE_OPTIONS,
    ...SEQUENCE_TRAIN_OPTIONS,
    KEEP_FULL_BELOW,
    MIN_COUNT,
    MAX_ROWS,
    ...CSV_OPTIONS,
    { name: 'seed', type: 'int', default: 0, description: 'Seed of every random choice' },
    {
      name: 'seeds',
      type: 'string',
      description:
        'Comma-separated seeds (overrides --seed): the chosen lr re-runs per seed, metrics reported as mean and .std',
    },
    {
      name: 'fresh',
      type: 'boolean',
      default: false,
      description: 'Do not resume: move an existing results.jsonl in --out aside and run every cell',
    },
    {
      name: 'backend',
      type: 'string',
      default: 'auto',
      choices: ['auto', 'native', 'wasm', 'cpu'],
      description: 'TensorFlow.js backend',
    },
    {
      name: 'out',
      type: 'string',
      default: 'results/ctr',
      description:
        'Directory for results.jsonl (every finished cell; a re-run resumes from it), results.json/.csv/.md and plot.svg',
    },
  ],
  details:
    'Protocol: validation AUC after every epoch on the valid split; training stops after --patience epochs without improvement and\n' +
    'the best epoch is restored before the test. Cells (model × method × budget × lr × seed) are appended to OUT/results.jsonl;\n' +
    're-running the same command skips the finished ones. results.json holds one record per model × method × budget.\n' +
    `${methodDetails()}\nGraph methods (graphhash*, lsh) cluster the co-occurrence graph of each compressed field with the largest one (see fieldGraphs). A method that cannot reach the budget gets a record with fits = false.\n` +
    'Examples:\n  compactrec bench ctr --data ../shared/datasets/frappe_nfm --format frappe --model deepfm --methods full,int8,graphhash,dsl,double-frequency+int8 --budget 0.3\n' +
    '  compactrec bench ctr --data ../shared/datasets/ml-100k --format ml100k --model sdim,din,avgpool,din-short --seeds 0,1,2 --mlp 200,80 --batch 256\n' +
    "  compactrec bench ctr --data 'users=1000,items=1000,clusters=20' --format seq-synthetic --model sdim,din,avgpool,din-short --seeds 0,1,2",
  async run(a) {
    const models = a.model as (CtrModelKind | SequenceModelKind)[];
    const out = a.out as string;
    const { budgets, tune, seeds } = usage(() => ({
      budgets: parseBudgets(a.budget as string),
      tune: a.tune !== undefined ? ctrTune(a.tune as string) : undefined,
      seeds: a.seeds !== undefined ? parseSeeds(a.seeds as string) : undefined,
    }));
    await checkOutputDir('compactrec bench ctr', 'out', out);
    const label = (r: ResultRecord): string =>
      `${models.length > 1 ? `${r.model} ` : ''}${r.method} · budget ${r.budget}`;
    const plot = (rs: readonly ResultRecord[]): string =>
      barChartSvg(rs, 'auc', label, `Test AUC on ${rs[0]?.dataset}`, {
        baseline: 0.5,
        axisLabel: 'test AUC (bars start at 0.5, the AUC of a random ranking)',
      });
    const records = await runCtrBench({
      data: a.data as string,
      format: a.format as CtrDataFormat,
      model: models,
      mlp: (a.mlp as string[]).map(Number),
      shortLength: a['short-length'] as number,
      numHashes: a.hashes as number,
      bitsPerSignature: a.tau as number,
      attentionNormalization: a.attention as 'none' | 'softmax',
      initItems: a['init-items'] as 'random' | 'planted',
      ...sequenceArgs(a).data,
      ...sequenceArgs(a).model,
      ...(a['max-length'] !== undefined ? { maxLength: a['max-length'] as number } : {}),
      ...(seeds ? { seeds } : {}),
      ...(tune ? { tune } : {}),
      out,
      fresh: a.fresh as boolean,
      plot,
      methods: a.methods as string[],
      quantize: a.quantize as QuantizeMode,
      storageExtra: storageExtraArgs(a),
      budget: budgets,
      epochs: a.epochs as number,
      patience: a.patience as number,
      batchSize: a.batch as number,
      lr: a.lr as number,
      dim: a.dim as number,
      minCount: a['min-count'] as number,
      keepFullBelow: a['keep-full-below'] as number,
      ...csvArgs(a),
      seed: a.seed as number,
      backend: a.backend as TfPreference,
      ...(a['max-rows'] !== undefined ? { maxRows: a['max-rows'] as number } : {}),
    });
    const table = toMarkdown(
      records,
      [
        'dataset',
        'model',
        'method',
        'budget',
        'fits',
        'rows',
        'embeddingBytes',
        'budgetBytes',
        'fullFields',
        ...(records.some((r) => r.itemTableBytes !== undefined) ? ['itemTableBytes', 'itemTableBudgetBytes'] : []),
        'mappingBytes',
        'optimizerBytes',
        'trainingBytes',
        'lr',
        'validAuc',
        'auc',
        'auc.std',
        'logloss',
        'bestEpoch',
        'trainSeconds',
        'evalSeconds',
        'backend',
      ].filter((c) => records.some((r) => c in r)),
    );
    const files = ['results.jsonl', 'results.json', 'results.csv', 'results.md', 'plot.svg'].map((f) => join(out, f));
    const summary =
      seeds && seeds.length > 1 ? `\n\nMetrics are means over seeds ${seeds.join(', ')} (.std = sample std).` : '';
    process.stdout.write(`${table}${summary}\n\nWrote ${files.join(', ')}\n`);
    return 0;
  },
};
