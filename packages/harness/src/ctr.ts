import { BudgetError, InvalidArgumentError, type QuantizeMode, resolveOptions } from '@compactrec/core';
import {
  type BehaviourAge,
  type CtrDataFormat,
  type CtrModel,
  type CtrModelKind,
  checkCtrSplits,
  createCtrModel,
  createSequenceCtrModel,
  DEFAULT_TRAIN_CTR_OPTIONS,
  evaluateCtr,
  type FieldGraph,
  fieldGraphs,
  isCompressedField,
  isSequenceFormat,
  isSequenceModelKind,
  openCtrData,
  type SequenceInterestBlock,
  type SequenceModelKind,
  sequenceItemCounts,
  trainCtr,
} from '@compactrec/ctr';
import { resolveMethod } from '@compactrec/embedding';
import type { AttentionNormalization, BehaviourFeedback, SdimPooling } from '@compactrec/sdim';
import { initTf, type TfPreference } from '@compactrec/tf-backend';
import { runEnvironment } from './environment.js';
import type { RecordSink, ResultRecord } from './report.js';

/** Options of {@link runCtrBench}; every field but `data`, `format` and `methods` is optional. */
export interface CtrBenchOptions {
  /** Data path (frappe/criteo) or synthetic spec. */
  data: string;
  format: CtrDataFormat;
  /**
   * Embedding methods (names `@compactrec/embedding`'s `resolveMethod` accepts: `SHARING`, `STORAGE`,
   * `SHARING+STORAGE`). They compress every field's table; a sequence model's item table too.
   */
  methods: readonly string[];
  /** Low-precision kinds: quantize `after` training or `during` it. @default 'after' */
  quantize?: QuantizeMode;
  /**
   * Architecture, or several (one record per model × method × seed). Sequence models (`sdim`,
   * `din`, `avgpool`, `din-short`) need a sequence format (`ml100k`, `seq-synthetic`) and vice versa.
   * @default 'deepfm'
   */
  model?: CtrBenchModel | readonly CtrBenchModel[];
  /** Seeds to repeat every model × method with (for means over seeds); overrides `seed`. @default [seed] */
  seeds?: readonly number[];
  /** Sequence formats: history length L for ml100k (seq-synthetic: its spec's maxLength). @default 256 */
  maxLength?: number;
  /** Sequence models: the short-term DIN attends over the last this many behaviours. @default 16 */
  shortLength?: number;
  /** SDIM: m hash functions. @default 48 */
  numHashes?: number;
  /** SDIM: τ bits per signature. @default 3 */
  bitsPerSignature?: number;
  /** DIN pooling weights (short and long). @default 'none' */
  attentionNormalization?: AttentionNormalization;
  /** Sequence models: item table init, random or seq-synthetic's planted embeddings. @default 'random' */
  initItems?: 'random' | 'planted';
  /** SDIM: how a bucket's behaviours pool (see `SequenceInterestBlockOptions.sdimPooling`). @default the block's */
  sdimPooling?: SdimPooling;
  /** Sequence models: training dropout on the long-term interest. @default 0 */
  interestDropout?: number;
  /** Sequence models: scale of the long module's gradient into the item rows. @default 1 */
  longGradientScale?: number;
  /** ml100k: side feature of each behaviour (see `OpenCtrDataOptions.behaviourFeedback`). @default the data's */
  behaviourFeedback?: BehaviourFeedback;
  /** Sequence data: behaviour age buckets (see `OpenCtrDataOptions.behaviourAge`). @default the data's */
  behaviourAge?: BehaviourAge;
  /** Per-table fraction of full bytes (ignored by `full`). @default 0.25 */
  budget?: number;
  /** @default 16 */
  dim?: number;
  /** @default [400, 400] */
  mlp?: readonly number[];
  /** @default 30 */
  epochs?: number;
  /** @default 1024 */
  batchSize?: number;
  /** @default 0.001 */
  lr?: number;
  /** Early-stopping patience (epochs). @default DEFAULT_TRAIN_CTR_OPTIONS.patience (4) */
  patience?: number;
  /** @default 0 */
  seed?: number;
  /** Fields with at most this many IDs keep full tables. @default 100 */
  keepFullBelow?: number;
  /** Criteo min count. @default 10 */
  minCount?: number;
  /** Read at most this many rows per file. @default Infinity */
  maxRows?: number;
  /** csv: label column and columns to leave out (see `OpenCtrDataOptions`). @default the reader's */
  labelColumn?: string;
  dropColumns?: readonly string[];
  /** tfjs backend. @default 'auto' */
  backend?: TfPreference;
  /** Settings of the sharing method passed to every mapper. */
  extra?: Readonly<Record<string, number | string | boolean>>;
  /** Settings of the storage kind passed to every table (e.g. `{ dslUpdates: 30 }`). */
  storageExtra?: Readonly<Record<string, number | string | boolean>>;
  /** Progress sink. @default stderr */
  log?: (line: string) => void;
  /** Receives each record as soon as its model × method × seed finishes (e.g. {@link resultsSink} writes it to disk). */
  onRecord?: RecordSink;
}

/** A model name the CTR benchmark accepts. */
export type CtrBenchModel = CtrModelKind | SequenceModelKind;

/** Defaults of {@link CtrBenchOptions}. */
export const DEFAULT_CTR_BENCH_OPTIONS = Object.freeze({
  model: 'deepfm' as CtrBenchModel | readonly CtrBenchModel[],
  budget: 0.25,
  quantize: 'after' as QuantizeMode,
  dim: 16,
  mlp: Object.freeze([400, 400]) as readonly number[],
  epochs: 30,
  batchSize: 1024,
  lr: 0.001,
  patience: DEFAULT_TRAIN_CTR_OPTIONS.patience,
  seed: 0,
  keepFullBelow: 100,
  minCount: 10,
  maxRows: Number.POSITIVE_INFINITY,
  backend: 'auto' as TfPreference,
  log: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
});

/**
 * Trains and evaluates one CTR model per model × compression method × seed at the same per-table
 * budget (every field compressed by the method; small fields keep full tables) and returns one
 * record each: test AUC and log loss, the bytes by kind (embedding bytes of the served tables after
 * `finishTraining`; optimizer and training-only bytes while training), times, and the process RSS
 * after training. The test split is evaluated on the served (e.g. quantized) tables. Sequence models
 * compress their item table with the method too and report its bytes as `itemTableBytes`. A method
 * that cannot reach the budget gives a record with `fits: false` and the reason. The data is opened
 * once per seed, so every model of a seed sees the same split.
 */
export async function runCtrBench(options: CtrBenchOptions): Promise<ResultRecord[]> {
  const o = resolveOptions(DEFAULT_CTR_BENCH_OPTIONS, options);
  if (!(o.budget > 0 && o.budget <= 1)) {
    throw new InvalidArgumentError(`harness/runCtrBench: budget (${o.budget}) must be in (0, 1]`);
  }
  const methods = o.methods.map((m) => resolveMethod(m)); // unknown names fail before any work, listing the known ones
  const models: readonly CtrBenchModel[] = typeof o.model === 'string' ? [o.model] : o.model;
  const seeds = o.seeds ?? [o.seed];
  const seqFormat = isSequenceFormat(o.format);
  if (models.length === 0 || seeds.length === 0) {
    throw new InvalidArgumentError('harness/runCtrBench: give at least one model and one seed');
  }
  for (const m of models) {
    if (isSequenceModelKind(m) !== seqFormat) {
      throw new InvalidArgumentError(
        `harness/runCtrBench: model '${m}' ${seqFormat ? 'is not a sequence model; ' + `format '${o.format}' needs sdim, din, avgpool or din-short` : `needs a sequence format (ml100k, seq-synthetic), not '${o.format}'`}`,
      );
    }
  }
  const rt = await initTf({ prefer: o.backend, quiet: true });
  o.log(`[bench ctr] backend ${rt.backend}: ${rt.reason}`);
  const records: ResultRecord[] = [];
  const env = runEnvironment();
  for (const seed of seeds) {
    const t0 = performance.now();
    const data = await openCtrData(o.format, o.data, {
      seed,
      minCount: o.minCount,
      maxRows: o.maxRows,
      ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
      ...(o.behaviourFeedback !== undefined ? { behaviourFeedback: o.behaviourFeedback } : {}),
      ...(o.behaviourAge !== undefined ? { behaviourAge: o.behaviourAge } : {}),
      ...(o.labelColumn !== undefined ? { labelColumn: o.labelColumn } : {}),
      ...(o.dropColumns !== undefined ? { dropColumns: o.dropColumns } : {}),
    });
    checkCtrSplits(data, o.data);
    o.log(
      `[bench ctr] ${data.schema.name}: ${data.schema.fieldNames.length} fields [${[...data.schema.cardinalities].join(', ')}], ${data.train.numSamples ?? '?'} train / ${data.valid.numSamples ?? '?'} valid / ${data.test.numSamples ?? '?'} test (opened in ${((performance.now() - t0) / 1000).toFixed(2)} s)`,
    );
    const needsCounts = methods.some((m) => m.sharing.requires.includes('counts'));
    const counts = needsCounts ? data.counts() : undefined;
    const graphMethod = methods.find((m) => m.sharing.requires.includes('interactions'));
    let graphs: (FieldGraph | null)[] | undefined;
    if (graphMethod && !seqFormat) {
      graphs = await fieldGraphs(data.schema, data.train, { method: graphMethod.name, keepFullBelow: o.keepFullBelow });
    }
    const itemCounts =
      needsCounts && seqFormat && data.sequence
        ? await sequenceItemCounts(data.train, data.sequence.numItems)
        : undefined;
    const totalSteps =
      data.train.numSamples !== undefined ? o.epochs * Math.ceil(data.train.numSamples / o.batchSize) : 0;
    for (const modelName of models) {
      for (const m of methods) {
        const method = m.name;
        const budget = m.uncompressed ? 1 : o.budget;
        const tFit = performance.now();
        const common = {
          method,
          budget,
          quantize: o.quantize,
          totalSteps,
          dim: o.dim,
          mlp: o.mlp,
          lr: o.lr,
          seed,
          keepFullBelow: o.keepFullBelow,
          ...(o.extra ? { extra: o.extra } : {}),
          ...(o.storageExtra ? { storageExtra: o.storageExtra } : {}),
        };
        const tag = `${modelName}/${method}/seed ${seed}`;
        let model: CtrModel;
        let block: SequenceInterestBlock | null = null;
        try {
          if (isSequenceModelKind(modelName)) {
            const s = createSequenceCtrModel(
              rt.tf,
              data,
              {
                ...common,
                model: modelName,
                ...(o.shortLength !== undefined ? { shortLength: o.shortLength } : {}),
                ...(o.numHashes !== undefined ? { numHashes: o.numHashes } : {}),
                ...(o.bitsPerSignature !== undefined ? { bitsPerSignature: o.bitsPerSignature } : {}),
                ...(o.attentionNormalization !== undefined ? { attentionNormalization: o.attentionNormalization } : {}),
                ...(o.initItems !== undefined ? { initItems: o.initItems } : {}),
                ...(o.sdimPooling !== undefined ? { sdimPooling: o.sdimPooling } : {}),
                ...(o.interestDropout !== undefined ? { interestDropout: o.interestDropout } : {}),
                ...(o.longGradientScale !== undefined ? { longGradientScale: o.longGradientScale } : {}),
              },
              { ...(counts ? { counts } : {}), ...(itemCounts ? { itemCounts } : {}) },
            );
            model = s.model;
            block = s.block;
          } else {
            model = createCtrModel(
              rt.tf,
              data.schema,
              { ...common, model: modelName },
              { ...(counts ? { counts } : {}), ...(graphs ? { graphs } : {}) },
            );
          }
        } catch (err) {
          if (!(err instanceof BudgetError)) throw err;
          o.log(`[${tag}] does not fit the budget ${o.budget}: ${err.message}`);
          records.push({
            dataset: data.schema.name,
            model: modelName,
            method,
            budget,
            seed,
            fits: false,
            reason: err.message,
            ...env,
          });
          await o.onRecord?.(records[records.length - 1]!, records);
          continue;
        }
        const fitSeconds = (performance.now() - tFit) / 1000;
        try {
          const mem = model.memory();
          o.log(
            `[${tag}] ${mem.rows} rows, ${mem.embeddingBytes.toLocaleString('en-US')} table bytes of budget ${mem.budgetBytes.toLocaleString('en-US')} (fit ${fitSeconds.toFixed(2)} s)`,
          );
          const res = await trainCtr(
            model,
            { train: data.train, valid: data.valid },
            { epochs: o.epochs, batchSize: o.batchSize, patience: o.patience, seed, log: o.log },
          );
          // Training figures before finishTraining (it frees optimizer and training-only copies).
          const trained = model.memory();
          const blockOptimizer = block ? block.optimizerBytes : 0;
          const blockTraining = block ? block.trainingBytes : 0;
          model.finishTraining();
          block?.finishTraining();
          const served = model.memory();
          const test = await evaluateCtr(model, data.test);
          records.push({
            dataset: data.schema.name,
            model: modelName,
            method,
            fits: true,
            quantize: o.quantize,
            budget,
            rows: served.rows,
            embeddingBytes: served.embeddingBytes,
            budgetBytes: served.budgetBytes,
            keepFullBelow: o.keepFullBelow,
            fullFields: data.schema.cardinalities.filter((_, f) => !isCompressedField(data.schema, common, f)).length,
            fullEmbeddingBytes: served.fullEmbeddingBytes,
            embeddingFraction: served.embeddingBytes / served.fullEmbeddingBytes,
            firstOrderBytes: served.firstOrderBytes,
            mappingBytes: served.mappingBytes + (block ? block.mappingBytes : 0),
            optimizerBytes: trained.optimizerBytes + blockOptimizer,
            trainingBytes: trained.trainingBytes + blockTraining,
            denseParams: served.denseParams + (block ? block.attentionParams : 0),
            ...(block
              ? {
                  itemTableBytes: block.itemTableBytes,
                  itemTableBudgetBytes: block.itemTableBudgetBytes,
                  itemTableFullBytes: block.itemTableFullBytes,
                  sideTableBytes: block.tableBytes - block.itemTableBytes,
                  maxLength: block.maxLength,
                  shortLength: block.shortLength,
                }
              : {}),
            auc: test.auc,
            logloss: test.logloss,
            validAuc: res.bestValidAuc ?? null,
            bestEpoch: res.bestEpoch,
            epochs: res.epochs.length,
            lr: o.lr,
            batchSize: o.batchSize,
            dim: o.dim,
            trainSeconds: res.trainSeconds,
            secondsPerEpoch: res.trainSeconds / res.epochs.length,
            evalSeconds: res.evalSeconds + test.seconds,
            fitSeconds,
            samplesPerSecond: Math.round(res.samplesPerSecond),
            trainSamplesPerSecond: Math.round(res.samplesPerSecond),
            servePredictionsPerSecond: Math.round(test.samples / Math.max(test.seconds, 1e-9)),
            rssBytes: process.memoryUsage().rss,
            backend: rt.backend,
            seed,
            params: model.fields.map((e) => ({
              method: e.mapper.method,
              rows: e.mapper.rows,
              ...e.mapper.params,
              storage: e.storage.kind,
              ...e.storage.params,
            })),
            ...env,
          });
          await o.onRecord?.(records[records.length - 1]!, records);
          o.log(
            `[${tag}] test auc ${test.auc.toFixed(4)} logloss ${test.logloss.toFixed(4)} (best epoch ${res.bestEpoch}, ${(res.trainSeconds + res.evalSeconds).toFixed(1)} s)`,
          );
        } finally {
          model.dispose();
        }
      }
    }
  }
  return records;
}
