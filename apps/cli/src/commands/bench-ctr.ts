import type { QuantizeMode } from '@compactrec/core';
import { InvalidArgumentError } from '@compactrec/core';
import {
  CTR_DATA_FORMATS,
  CTR_MODEL_KINDS,
  type CtrDataFormat,
  type CtrModelKind,
  DEFAULT_TRAIN_CTR_OPTIONS,
  SEQUENCE_MODEL_KINDS,
  type SequenceModelKind,
} from '@compactrec/ctr';
import { barChartSvg, resultsSink, runCtrBench, toMarkdown, writeResults } from '@compactrec/harness';
import type { TfPreference } from '@compactrec/tf-backend';
import type { Command } from '../args.js';
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

/** Parses a comma list of integer seeds (`--seeds 0,1,2`). */
function parseSeeds(items: readonly string[]): number[] {
  return items.map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v)) {
      throw new InvalidArgumentError(`--seeds '${items.join(',')}' has '${s}', which is not an integer`);
    }
    return v;
  });
}

/** Mean of a numeric column per (model, method) over the records (seeds), for the summary table. */
function meansOverSeeds(records: readonly ResultRecord[], cols: readonly string[]): ResultRecord[] {
  const groups = new Map<string, ResultRecord[]>();
  for (const r of records) {
    const k = `${r.model}\u0000${r.method}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const out: ResultRecord[] = [];
  for (const g of groups.values()) {
    const row: Record<string, string | number> = {
      model: String(g[0]!.model),
      method: String(g[0]!.method),
      seeds: g.length,
    };
    for (const c of cols) {
      const xs = g.map((r) => Number(r[c]));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      row[c] = mean;
      if (c === 'auc' && xs.length > 1) {
        row.aucStd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
      }
    }
    out.push(row);
  }
  return out;
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
      type: 'number',
      default: 0.25,
      gt: 0,
      max: 1,
      description: "Fraction of each field's full table",
    },
    { name: 'epochs', type: 'int', default: 30, min: 1, description: 'Most epochs (early stopping on validation AUC)' },
    {
      name: 'patience',
      type: 'int',
      default: DEFAULT_TRAIN_CTR_OPTIONS.patience,
      min: 1,
      description: 'Early-stopping patience in epochs',
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
      type: 'list',
      items: 'int',
      description: 'Comma-separated seeds: repeat every model × method per seed (overrides --seed; prints means)',
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
      description: 'Directory for results.json/.csv/.md and plot.svg',
    },
  ],
  details:
    `${methodDetails()}\nGraph methods (graphhash*, lsh) cluster the co-occurrence graph of each compressed field with the largest one (see fieldGraphs). A method that cannot reach the budget gets a record with fits = false.\n` +
    'Examples:\n  compactrec bench ctr --data ../shared/datasets/frappe_nfm --format frappe --model deepfm --methods full,int8,graphhash,dsl,double-frequency+int8 --budget 0.3\n' +
    '  compactrec bench ctr --data ../shared/datasets/ml-100k --format ml100k --model sdim,din,avgpool,din-short --seeds 0,1,2 --mlp 200,80 --batch 256\n' +
    "  compactrec bench ctr --data 'users=1000,items=1000,clusters=20' --format seq-synthetic --model sdim,din,avgpool,din-short --seeds 0,1,2",
  async run(a) {
    const models = a.model as (CtrModelKind | SequenceModelKind)[];
    const out = a.out as string;
    await checkOutputDir('compactrec bench ctr', 'out', out);
    const label = (r: ResultRecord): string =>
      `${models.length > 1 ? `${r.model} ` : ''}${r.method} · budget ${r.budget}${r.seed !== undefined && a.seeds !== undefined ? ` s${r.seed}` : ''}`;
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
      ...(a.seeds !== undefined ? { seeds: parseSeeds(a.seeds as string[]) } : {}),
      methods: a.methods as string[],
      quantize: a.quantize as QuantizeMode,
      storageExtra: storageExtraArgs(a),
      budget: a.budget as number,
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
      onRecord: resultsSink(out, plot),
    });
    const files = await writeResults(out, records, plot(records));
    const table = toMarkdown(records, [
      'dataset',
      'model',
      'method',
      'seed',
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
      'auc',
      'logloss',
      'bestEpoch',
      'trainSeconds',
      'evalSeconds',
      'backend',
    ]);
    const summary =
      a.seeds !== undefined
        ? `\n\nMean over seeds:\n${toMarkdown(meansOverSeeds(records, ['auc', 'logloss', 'trainSeconds', 'secondsPerEpoch', 'bestEpoch']))}`
        : '';
    process.stdout.write(`${table}${summary}\n\nWrote ${files.join(', ')}\n`);
    return 0;
  },
};
