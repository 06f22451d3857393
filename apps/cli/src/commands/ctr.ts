import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { QuantizeMode } from '@compactrec/core';
import {
  type BehaviourAge,
  CTR_DATA_FORMATS,
  CTR_MODEL_FILES,
  CTR_MODEL_KINDS,
  type CtrDataFormat,
  type CtrModelKind,
  checkCtrSplits,
  createSequenceCtrModel,
  DEFAULT_TRAIN_CTR_OPTIONS,
  evaluateCtr,
  isSequenceFormat,
  isSequenceModelKind,
  type OpenCtrDataOptions,
  openCtrData,
  SEQUENCE_MODEL_KINDS,
  type SequenceInterestBlockOptions,
  type SequenceModelKind,
  sequenceItemCounts,
  trainCtr,
} from '@compactrec/ctr';
import { evaluateCtrApp, trainCtrApp } from '@compactrec/ctr-app';
import { resolveMethod } from '@compactrec/embedding';
import { initTf, type TfPreference } from '@compactrec/tf-backend';
import { CliUsageError, type Command, type OptionSpec } from '../args.js';
import { checkOutputDir } from '../output.js';
import { writeSequenceModelDir } from './ctr-serve.js';
import {
  ALPT_STEP_LR_OPTION,
  DSL_TRAINING_OPTION,
  methodDetails,
  methodOptionDescription,
  QUANTIZE_OPTION,
  storageExtraArgs,
} from './embedding-options.js';

const BACKEND: OptionSpec = {
  name: 'backend',
  type: 'string',
  default: 'auto',
  choices: ['auto', 'native', 'wasm', 'cpu'],
  description: 'TensorFlow.js backend (auto: native, then wasm, then cpu)',
};

/** `--min-count` of `ctr train` and `bench ctr` (Criteo only). */
export const MIN_COUNT: OptionSpec = {
  name: 'min-count',
  type: 'int',
  default: 10,
  min: 1,
  onlyWith: { option: 'format', values: ['criteo'] },
  description: 'Criteo: rarer values share the OOV id',
};

/** `--keep-full-below` of `ctr train` and `bench ctr`: the explicit exception to the per-table budget. */
export const KEEP_FULL_BELOW: OptionSpec = {
  name: 'keep-full-below',
  type: 'int',
  default: 100,
  min: 0,
  description:
    'Fields with at most this many IDs keep a full table, above the budget (compressing 7 weekdays into 1 row only destroys the field); 0 = every table within --budget',
};

/** `--label-column` / `--drop-columns` of `ctr train` and `bench ctr`: the column mapping of a header CSV. */
export const CSV_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'label-column',
    type: 'string',
    onlyWith: { option: 'format', values: ['csv'] },
    description: 'csv: the 0/1 label column [default: the first of label, click, clicked, y, target]',
  },
  {
    name: 'drop-columns',
    type: 'list',
    onlyWith: { option: 'format', values: ['csv'] },
    description:
      'csv: columns to leave out, comma-separated [default: id, when there is one]; every other column is a categorical field',
  },
];

/** The {@link CSV_OPTIONS} given on the command line. */
export function csvArgs(a: Record<string, unknown>): { labelColumn?: string; dropColumns?: string[] } {
  return {
    ...(a['label-column'] !== undefined ? { labelColumn: a['label-column'] as string } : {}),
    ...(a['drop-columns'] !== undefined ? { dropColumns: a['drop-columns'] as string[] } : {}),
  };
}

/** `--max-rows` of `ctr train` and `bench ctr` (the file formats). */
export const MAX_ROWS: OptionSpec = {
  name: 'max-rows',
  type: 'int',
  min: 1,
  onlyWith: { option: 'format', values: ['frappe', 'criteo', 'csv'] },
  description: 'Read at most this many rows per file',
};

const DATA_DETAILS =
  "Data: --format csv reads a header CSV file (Avazu's id,click,…; DeepCTR's Criteo sample label,I1,…,C26): the label column (--label-column), every other column not in --drop-columns a categorical field (values hashed; a vocabulary of the file's values plus an OOV id), seeded 80/20 split with 10 % of train for early stopping. --format frappe reads a libFM file or directory (the NFM Frappe directory: validation + test, a seeded 80/20 split of their union, 10 % of train for early stopping); criteo reads a raw Criteo TSV file (streamed; row-hash 80/10/10 split); synthetic takes a spec as --data, e.g. 'fields=26,cardinality=1000000,rows=2000000'. " +
  "Sequence data (for --model sdim, din, avgpool, din-short): ml100k reads ml-100k.inter or its directory (each rating after a user's 10th is a sample, label rating >= 4, history = the earlier items up to --max-length, each carrying its rating and age as side features; per-user time split: last 10 % test, then 10 % of train for early stopping); seq-synthetic takes a spec of planted multi-interest users, e.g. 'users=1000,items=200,clusters=20,length=1024'.";

/** `onlyWith` of options that only sequence models read. */
const SEQUENCE_MODELS_ONLY: OptionSpec['onlyWith'] = { option: 'model', values: SEQUENCE_MODEL_KINDS };
const SDIM_ONLY: OptionSpec['onlyWith'] = { option: 'model', values: ['sdim'] };
const SEQUENCE_FORMATS_ONLY: OptionSpec['onlyWith'] = { option: 'format', values: ['ml100k', 'seq-synthetic'] };

/** Sequence-model options of `ctr train` and `bench ctr` (a usage error with the other models). */
export const SEQUENCE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'max-length',
    type: 'int',
    min: 1,
    onlyWith: SEQUENCE_FORMATS_ONLY,
    description: "ml100k: history length L [default: 256] (seq-synthetic: the spec's maxLength, default 1024)",
  },
  {
    name: 'short-length',
    type: 'int',
    default: 16,
    min: 1,
    onlyWith: SEQUENCE_MODELS_ONLY,
    description: 'Sequence models: short-term window',
  },
  { name: 'hashes', type: 'int', default: 48, min: 1, onlyWith: SDIM_ONLY, description: 'SDIM: m SimHash functions' },
  {
    name: 'tau',
    type: 'int',
    default: 3,
    min: 1,
    max: 8,
    onlyWith: SDIM_ONLY,
    description: 'SDIM: τ bits per signature',
  },
  {
    name: 'attention',
    type: 'string',
    default: 'none',
    choices: ['none', 'softmax'],
    onlyWith: SEQUENCE_MODELS_ONLY,
    description: 'DIN pooling weights (short- and long-term)',
  },
  {
    name: 'init-items',
    type: 'string',
    default: 'random',
    choices: ['random', 'planted'],
    onlyWith: SEQUENCE_MODELS_ONLY,
    description: "Sequence models: item table init (planted = seq-synthetic's planted embeddings; spec dim = --dim)",
  },
];

/** Sequence data and model options shared by `ctr train` and `bench ctr` (see {@link sequenceArgs}). */
export const SEQUENCE_TRAIN_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'behaviour-feedback',
    type: 'string',
    choices: ['none', 'rating', 'liked'],
    onlyWith: { option: 'format', values: ['ml100k'] },
    description:
      'ml100k: what each history behaviour carries besides its item (its rating 1-5, or liked = rating >= 4); models pool item + feedback embeddings [default: rating]',
  },
  {
    name: 'behaviour-age',
    type: 'string',
    choices: ['none', 'log2'],
    onlyWith: SEQUENCE_FORMATS_ONLY,
    description:
      'Sequence data: whether each behaviour carries its age (log2 buckets of how many behaviours followed it) as a side feature [default: ml100k log2, seq-synthetic none]',
  },
  {
    name: 'sdim-pooling',
    type: 'string',
    choices: ['l2', 'mean', 'sum'],
    onlyWith: SDIM_ONLY,
    description: "SDIM: a bucket's interest is its l2-normalised sum (the paper), its mean or its sum [default: l2]",
  },
  {
    name: 'interest-dropout',
    type: 'number',
    default: 0,
    min: 0,
    max: 0.95,
    onlyWith: SEQUENCE_MODELS_ONLY,
    description: 'Sequence models: training dropout rate on the long-term interest vector',
  },
  {
    name: 'long-grad-scale',
    type: 'number',
    default: 1,
    min: 0,
    max: 1,
    onlyWith: SEQUENCE_MODELS_ONLY,
    description: 'Sequence models: scale of the gradient the long-term module passes to the item rows',
  },
];

type BehaviourFeedback = NonNullable<OpenCtrDataOptions['behaviourFeedback']>;
type SdimPooling = NonNullable<SequenceInterestBlockOptions['sdimPooling']>;

/** The {@link SEQUENCE_TRAIN_OPTIONS} given on the command line, split into data and model options. */
export function sequenceArgs(a: Record<string, unknown>): {
  data: { behaviourFeedback?: BehaviourFeedback; behaviourAge?: BehaviourAge };
  model: { sdimPooling?: SdimPooling; interestDropout: number; longGradientScale: number };
} {
  return {
    data: {
      ...(a['behaviour-feedback'] !== undefined
        ? { behaviourFeedback: a['behaviour-feedback'] as BehaviourFeedback }
        : {}),
      ...(a['behaviour-age'] !== undefined ? { behaviourAge: a['behaviour-age'] as BehaviourAge } : {}),
    },
    model: {
      ...(a['sdim-pooling'] !== undefined ? { sdimPooling: a['sdim-pooling'] as SdimPooling } : {}),
      interestDropout: a['interest-dropout'] as number,
      longGradientScale: a['long-grad-scale'] as number,
    },
  };
}

/** `ctr train` for a sequence model: train, early-stop, test; with --out, a sequence model directory. */
async function trainSequence(a: Record<string, unknown>): Promise<number> {
  const model = a.model as string;
  const format = a.format as CtrDataFormat;
  if (!isSequenceModelKind(model) || !isSequenceFormat(format)) {
    throw new CliUsageError(
      `--model ${model} with --format ${format}: sequence models (${SEQUENCE_MODEL_KINDS.join(', ')}) need a sequence format (ml100k, seq-synthetic) and sequence formats need a sequence model`,
    );
  }
  if (a.out !== undefined) {
    await checkOutputDir('compactrec ctr train', 'out', a.out as string, {
      protect: Object.values(CTR_MODEL_FILES),
      force: a.force === true,
      what: 'a model',
    });
  }
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const rt = await initTf({ prefer: a.backend as TfPreference, quiet: true });
  log(`[ctr] backend ${rt.backend}: ${rt.reason}`);
  const seq = sequenceArgs(a);
  const data = await openCtrData(format, a.data as string, {
    seed: a.seed as number,
    ...(a['max-length'] !== undefined ? { maxLength: a['max-length'] as number } : {}),
    ...seq.data,
  });
  log(
    `[ctr] ${data.schema.name}: ${data.train.numSamples} train / ${data.valid.numSamples} valid / ${data.test.numSamples} test samples`,
  );
  checkCtrSplits(data, a.data as string);
  const method = resolveMethod(a.method as string);
  const needsCounts = method.sharing.requires.includes('counts');
  const itemCounts =
    needsCounts && data.sequence ? await sequenceItemCounts(data.train, data.sequence.numItems) : undefined;
  const { model: m, block } = createSequenceCtrModel(
    rt.tf,
    data,
    {
      model: model as SequenceModelKind,
      method: method.name,
      quantize: a.quantize as QuantizeMode,
      storageExtra: storageExtraArgs(a),
      ...(data.train.numSamples !== undefined
        ? { totalSteps: (a.epochs as number) * Math.ceil(data.train.numSamples / (a.batch as number)) }
        : {}),
      budget: a.budget as number,
      dim: a.dim as number,
      mlp: (a.mlp as string[]).map(Number),
      dropout: a.dropout as number,
      lr: a.lr as number,
      seed: a.seed as number,
      shortLength: a['short-length'] as number,
      numHashes: a.hashes as number,
      bitsPerSignature: a.tau as number,
      attentionNormalization: a.attention as 'none' | 'softmax',
      initItems: a['init-items'] as 'random' | 'planted',
      ...seq.model,
    },
    { counts: data.counts(), ...(itemCounts ? { itemCounts } : {}) },
  );
  try {
    const train = await trainCtr(
      m,
      { train: data.train, valid: data.valid },
      {
        epochs: a.epochs as number,
        batchSize: a.batch as number,
        patience: a.patience as number,
        seed: a.seed as number,
        log,
      },
    );
    const trainingMemory = m.memory();
    const trainingItemBytes = { optimizerBytes: block.optimizerBytes, trainingBytes: block.trainingBytes };
    m.finishTraining();
    block.finishTraining();
    const valid = await evaluateCtr(m, data.valid);
    const test = await evaluateCtr(m, data.test);
    log(`[ctr] ${model} test auc ${test.auc.toFixed(4)} logloss ${test.logloss.toFixed(4)} (${test.samples} samples)`);
    const files =
      a.out === undefined
        ? []
        : await writeSequenceModelDir({ model: m, block, kind: model as SequenceModelKind }, a.out as string, {
            data: data.descriptor,
            training: { bestEpoch: train.bestEpoch, valid: { auc: valid.auc }, test: { auc: test.auc } },
          });
    process.stdout.write(
      `${JSON.stringify(
        {
          dataset: data.schema.name,
          model,
          backend: rt.backend,
          bestEpoch: train.bestEpoch,
          epochs: train.epochs.length,
          valid: { auc: valid.auc, logloss: valid.logloss },
          test: { auc: test.auc, logloss: test.logloss },
          trainSeconds: train.trainSeconds,
          samplesPerSecond: Math.round(train.samplesPerSecond),
          itemTableBytes: block.itemTableBytes,
          itemTableBudgetBytes: block.itemTableBudgetBytes,
          itemTable: trainingItemBytes,
          memory: m.memory(),
          files,
          trainingMemory,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  } finally {
    m.dispose();
  }
}

/** `compactrec ctr train`: trains a CTR model on compressed embeddings and writes a model directory. */
export const ctrTrainCommand: Command = {
  name: 'ctr train',
  summary:
    'Train a CTR model (lr, dnn, deepfm, dcnv2, dlrm; sequence: sdim, din, avgpool, din-short) on compressed embeddings; write a model directory',
  options: [
    { name: 'data', type: 'string', required: true, description: 'Data path (frappe/criteo) or synthetic spec' },
    { name: 'format', type: 'string', required: true, choices: [...CTR_DATA_FORMATS], description: 'Data format' },
    {
      name: 'model',
      type: 'string',
      default: 'deepfm',
      choices: [...CTR_MODEL_KINDS, ...SEQUENCE_MODEL_KINDS],
      description: 'Architecture',
    },
    {
      name: 'method',
      type: 'string',
      default: 'full',
      description: methodOptionDescription('Embedding method of every field (sequence models: and of the item table)'),
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
      description: 'Epochs without a better validation AUC before stopping',
    },
    { name: 'batch', type: 'int', default: 1024, min: 1, description: 'Samples per mini-batch' },
    { name: 'lr', type: 'number', default: 0.001, gt: 0, description: 'Adam learning rate (dense and embeddings)' },
    { name: 'dim', type: 'int', default: 16, min: 1, description: 'Embedding dimension' },
    {
      name: 'mlp',
      type: 'list',
      items: 'int',
      min: 1,
      default: ['400', '400'],
      description: 'Hidden layer widths, comma-separated',
    },
    { name: 'dropout', type: 'number', default: 0, min: 0, max: 0.99, description: 'Dropout after hidden layers' },
    KEEP_FULL_BELOW,
    MIN_COUNT,
    MAX_ROWS,
    ...CSV_OPTIONS,
    { name: 'seed', type: 'int', default: 0, description: 'Seed of the split, init and shuffles' },
    ...SEQUENCE_OPTIONS,
    ...SEQUENCE_TRAIN_OPTIONS,
    BACKEND,
    { name: 'out', type: 'string', description: 'Model directory to write (sequence models: also bse/<version>.sdim)' },
    {
      name: 'force',
      type: 'boolean',
      default: false,
      description: '--out: overwrite a directory that already holds a model',
    },
  ],
  details: `${DATA_DETAILS}\n${methodDetails()}\nExamples:\n  compactrec ctr train --data ../shared/datasets/frappe_nfm --format frappe --model deepfm --method double-frequency --budget 0.25 --out models/frappe-deepfm\n  compactrec ctr train --data ../shared/datasets/ml-100k --format ml100k --model sdim --mlp 200,80 --batch 256`,
  async run(a) {
    if (isSequenceModelKind(a.model as string) || isSequenceFormat(a.format as string)) return trainSequence(a);
    const out = a.out as string | undefined;
    const modelFiles = Object.values(CTR_MODEL_FILES);
    if (out !== undefined) {
      await checkOutputDir('compactrec ctr train', 'out', out, {
        protect: modelFiles,
        force: a.force === true,
        what: 'a model',
      });
    }
    const mlp = (a.mlp as string[]).map(Number);
    const r = await trainCtrApp({
      data: a.data as string,
      format: a.format as CtrDataFormat,
      model: a.model as CtrModelKind,
      method: resolveMethod(a.method as string).name,
      quantize: a.quantize as QuantizeMode,
      storageExtra: storageExtraArgs(a),
      budget: a.budget as number,
      epochs: a.epochs as number,
      patience: a.patience as number,
      batch: a.batch as number,
      lr: a.lr as number,
      dim: a.dim as number,
      mlp,
      dropout: a.dropout as number,
      minCount: a['min-count'] as number,
      keepFullBelow: a['keep-full-below'] as number,
      ...csvArgs(a),
      seed: a.seed as number,
      backend: a.backend as TfPreference,
      ...(a['max-rows'] !== undefined ? { maxRows: a['max-rows'] as number } : {}),
      ...(out !== undefined ? { out } : {}),
    });
    if (out !== undefined) {
      // --force over an older model: drop its files this model did not write (e.g. a vocabulary).
      const written = new Set(r.files.map((f) => f.split(/[/\\]/).pop()));
      for (const name of modelFiles) {
        if (!written.has(name)) await unlink(join(out, name)).catch(() => undefined);
      }
    }
    process.stdout.write(
      `${JSON.stringify(
        {
          dataset: r.dataset,
          backend: r.backend,
          bestEpoch: r.train.bestEpoch,
          epochs: r.train.epochs.length,
          valid: { auc: r.valid.auc, logloss: r.valid.logloss },
          test: { auc: r.test.auc, logloss: r.test.logloss },
          memory: r.memory,
          keepFullBelow: a['keep-full-below'],
          trainingMemory: r.trainingMemory,
          samplesPerSecond: Math.round(r.train.samplesPerSecond),
          files: r.files,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  },
};

/** `compactrec ctr eval`: AUC and log loss of a model directory on data. */
export const ctrEvalCommand: Command = {
  name: 'ctr eval',
  summary: 'Evaluate a CTR model directory (AUC, log loss) on data encoded as at training time',
  options: [
    { name: 'model-dir', type: 'string', required: true, description: "Model directory written by 'ctr train --out'" },
    {
      name: 'data',
      type: 'string',
      description: 'Data path or synthetic spec (default: what the model was trained on)',
    },
    {
      name: 'format',
      type: 'string',
      choices: [...CTR_DATA_FORMATS],
      description: "Data format (default: the model's)",
    },
    {
      name: 'split',
      type: 'string',
      choices: ['train', 'valid', 'test', 'all'],
      description:
        "Rows to score: a part of the seeded split, or every row (all; frappe, criteo) [default: test on the model's training data, all on another file]",
    },
    BACKEND,
  ],
  details: DATA_DETAILS,
  async run(a) {
    const r = await evaluateCtrApp({
      modelDir: a['model-dir'] as string,
      ...(a.split !== undefined ? { split: a.split as 'train' | 'valid' | 'test' | 'all' } : {}),
      backend: a.backend as TfPreference,
      ...(a.data !== undefined ? { data: a.data as string } : {}),
      ...(a.format !== undefined ? { format: a.format as CtrDataFormat } : {}),
    });
    process.stdout.write(
      `${JSON.stringify({ auc: r.auc, logloss: r.logloss, samples: r.samples, split: r.split, data: r.path, backend: r.backend })}\n`,
    );
    return 0;
  },
};
