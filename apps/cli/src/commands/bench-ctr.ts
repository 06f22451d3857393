import { barChartSvg, runCtrBench, toMarkdown, writeResults } from '@compactrec/benchmarks';
import { CTR_DATA_FORMATS, CTR_MODEL_KINDS, type CtrDataFormat, type CtrModelKind } from '@compactrec/ctr';
import { ID_HASHING_METHODS } from '@compactrec/id-hashing';
import type { TfPreference } from '@compactrec/tf-backend';
import type { Command } from '../args.js';

const CTR_METHODS = Object.values(ID_HASHING_METHODS)
  .filter((s) => !s.requires.includes('interactions'))
  .map((s) => s.name);

/** `compactrec bench ctr`: one CTR model per compression method at an equal per-table budget. */
export const benchCtrCommand: Command = {
  name: 'bench ctr',
  summary: 'Train and evaluate a CTR model once per compression method at an equal per-table memory budget',
  options: [
    { name: 'data', type: 'string', required: true, description: 'Data path (frappe/criteo) or synthetic spec' },
    { name: 'format', type: 'string', required: true, choices: [...CTR_DATA_FORMATS], description: 'Data format' },
    { name: 'model', type: 'string', default: 'deepfm', choices: [...CTR_MODEL_KINDS], description: 'Architecture' },
    { name: 'methods', type: 'list', default: ['full'], choices: CTR_METHODS, description: 'Comma-separated methods' },
    {
      name: 'budget',
      type: 'number',
      default: 0.25,
      gt: 0,
      max: 1,
      description: "Fraction of each field's full table",
    },
    { name: 'epochs', type: 'int', default: 30, min: 1, description: 'Most epochs (early stopping on validation AUC)' },
    { name: 'patience', type: 'int', default: 2, min: 1, description: 'Early-stopping patience in epochs' },
    { name: 'batch', type: 'int', default: 1024, min: 1, description: 'Samples per mini-batch' },
    { name: 'lr', type: 'number', default: 0.001, gt: 0, description: 'Adam learning rate' },
    { name: 'dim', type: 'int', default: 16, min: 1, description: 'Embedding dimension' },
    { name: 'min-count', type: 'int', default: 10, min: 1, description: 'Criteo: rarer values share the OOV id' },
    { name: 'max-rows', type: 'int', min: 1, description: 'Read at most this many rows per file' },
    { name: 'seed', type: 'int', default: 0, description: 'Seed of every random choice' },
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
    'Example:\n  compactrec bench ctr --data ../shared/datasets/frappe_nfm --format frappe --model deepfm --methods full,modulo,double-frequency,qr --budget 0.25',
  async run(a) {
    const records = await runCtrBench({
      data: a.data as string,
      format: a.format as CtrDataFormat,
      model: a.model as CtrModelKind,
      methods: a.methods as string[],
      budget: a.budget as number,
      epochs: a.epochs as number,
      patience: a.patience as number,
      batchSize: a.batch as number,
      lr: a.lr as number,
      dim: a.dim as number,
      minCount: a['min-count'] as number,
      seed: a.seed as number,
      backend: a.backend as TfPreference,
      ...(a['max-rows'] !== undefined ? { maxRows: a['max-rows'] as number } : {}),
    });
    const svg = barChartSvg(records, 'auc', (r) => `${r.method} @ ${r.budget}`, `Test AUC on ${records[0]?.dataset}`);
    const files = await writeResults(a.out as string, records, svg);
    process.stdout.write(
      `${toMarkdown(records, ['dataset', 'model', 'method', 'budget', 'rows', 'embeddingBytes', 'budgetBytes', 'mappingBytes', 'optimizerBytes', 'auc', 'logloss', 'bestEpoch', 'trainSeconds', 'evalSeconds', 'backend'])}\n\nWrote ${files.join(', ')}\n`,
    );
    return 0;
  },
};
