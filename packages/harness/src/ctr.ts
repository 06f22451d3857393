import { BudgetError, InvalidArgumentError, type QuantizeMode, resolveOptions } from '@compactrec/core';
import {
  type BehaviourAge,
  type CtrDataFormat,
  type CtrModel,
  type CtrModelKind,
  checkCtrSplits,
  createCtrModel,
  createSequenceCtrModel,
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
import { budgetList, DEFAULT_PROTOCOL, gridPoints, parseSeeds, parseTuneGrid, type TuneGrid } from './protocol.js';
import type { RecordSink, ResultRecord, ResultValue } from './report.js';
import { datasetIdentity, runSweep, type SweepGroup } from './sweep.js';

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
  /** Per-table fraction of full bytes (ignored by `full`), or a list of them (a sweep; `full` runs once). @default 0.25 */
  budget?: number | readonly number[];
  /**
   * Tuning grid (`{ lr: [1e-3, 3e-3] }` or the text `lr=1e-3,3e-3`): every point is trained per model ×
   * method × budget and the one with the best validation AUC reported. CTR training has no weight
   * decay, so only `lr` can be tuned. @default none
   */
  tune?: TuneGrid | string | undefined;
  /** Output directory: the sweep's journal (results.jsonl, resumable) and results.json/.csv/.md. @default none */
  out?: string | undefined;
  /** Ignore (move aside) an existing journal in `out` instead of resuming from it. @default false */
  fresh?: boolean;
  /** Draws `out`'s plot.svg from the reported records (none when omitted). */
  plot?: ((records: readonly ResultRecord[]) => string) | undefined;
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
  /**
   * Early-stopping patience (epochs; validation AUC after every epoch); the best validation
   * epoch's values are restored before the test. @default DEFAULT_PROTOCOL.ctrPatience (4)
   */
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
  /** Receives each cell's record (model × method × budget × lr × seed) as soon as it finishes, and every cell record so far. */
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
  patience: DEFAULT_PROTOCOL.ctrPatience,
  seed: 0,
  fresh: false,
  keepFullBelow: 100,
  minCount: 10,
  maxRows: Number.POSITIVE_INFINITY,
  backend: 'auto' as TfPreference,
  log: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
});

/** Record keys averaged over seeds in the reported CTR records. */
const CTR_AGGREGATE = ['auc', 'logloss', 'validAuc', 'bestEpoch', 'epochs', 'trainSeconds', 'secondsPerEpoch'] as const;

/**
 * Trains and evaluates one CTR model per model × compression method × budget (× tuning point ×
 * seed) at the same per-table budget (every field compressed by the method; small fields keep full
 * tables) and returns one reported record per model × method × budget: the tuning point with the
 * best validation AUC, its metrics averaged over seeds (`<key>.std` = sample std). Each cell trains
 * with early stopping on the validation split and restores the best validation epoch before the
 * test, which runs on the served (e.g. quantized) tables. A record has the bytes by kind (embedding
 * bytes of the served tables after `finishTraining`; optimizer and training-only bytes while
 * training), times, and the process RSS after training; sequence models compress their item table
 * with the method too (`itemTableBytes`). A method that cannot reach the budget gives a record
 * with `fits: false` and the reason. With `out`, every finished cell is appended to
 * `out/results.jsonl` and a re-run skips the cells found there. The data is opened once per seed.
 */
export async function runCtrBench(options: CtrBenchOptions): Promise<ResultRecord[]> {
  const where = 'harness/runCtrBench';
  const o = resolveOptions(DEFAULT_CTR_BENCH_OPTIONS, options);
  const budgets = budgetList(o.budget, where);
  const methods = o.methods.map((m) => resolveMethod(m)); // unknown names fail before any work, listing the known ones
  const models: readonly CtrBenchModel[] = typeof o.model === 'string' ? [o.model] : o.model;
  const seeds = o.seeds ? parseSeeds(o.seeds, `${where}: seeds`) : [o.seed];
  const tune = typeof o.tune === 'string' ? parseTuneGrid(o.tune, `${where}: tune`) : o.tune;
  if (tune?.wd) {
    throw new InvalidArgumentError(`${where}: tune has wd, but CTR training has no weight decay; tune lr only`);
  }
  const seqFormat = isSequenceFormat(o.format);
  if (models.length === 0) {
    throw new InvalidArgumentError(`${where}: give at least one model`);
  }
  for (const m of models) {
    if (isSequenceModelKind(m) !== seqFormat) {
      throw new InvalidArgumentError(
        `${where}: model '${m}' ${seqFormat ? 'is not a sequence model; ' + `format '${o.format}' needs sdim, din, avgpool or din-short` : `needs a sequence format (ml100k, seq-synthetic), not '${o.format}'`}`,
      );
    }
  }
  const rt = await initTf({ prefer: o.backend, quiet: true });
  o.log(`[bench ctr] backend ${rt.backend}: ${rt.reason}`);
  const env = runEnvironment();
  // One seed's data at a time (the sweep runs seed-major).
  let current: { seed: number; d: Awaited<ReturnType<typeof openSeed>> } | null = null;
  const openSeed = async (seed: number) => {
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
    return { data, counts, graphs, itemCounts, totalSteps };
  };
  const dataFor = async (seed: number) => {
    if (current?.seed !== seed) current = { seed, d: await openSeed(seed) };
    return current.d;
  };
  const groups: SweepGroup[] = [];
  const seen = new Set<string>();
  for (const budget of budgets) {
    for (const modelName of models) {
      for (const m of methods) {
        const b = m.uncompressed ? 1 : budget;
        const id = { format: o.format, model: modelName, method: m.name, budget: b };
        const k = JSON.stringify(id);
        if (seen.has(k)) continue;
        seen.add(k);
        groups.push({ id, label: `${modelName}/${m.name} @ ${b}`, grid: gridPoints(tune, { lr: o.lr, wd: null }) });
      }
    }
  }
  const shared = {
    harness: 'ctr/v2',
    data: await datasetIdentity(o.data),
    ...Object.fromEntries(
      Object.entries(o).filter(
        ([k, v]) =>
          typeof v !== 'function' &&
          !['data', 'format', 'methods', 'model', 'budget', 'seed', 'seeds', 'tune', 'out', 'fresh', 'lr'].includes(k),
      ),
    ),
    maxRows: Number.isFinite(o.maxRows) ? o.maxRows : null,
    backend: rt.backend,
  } as Record<string, ResultValue>;
  const out = o.out;
  const cellRecords: ResultRecord[] = [];
  const result = await runSweep({
    out,
    fresh: o.fresh,
    shared,
    groups,
    seeds,
    select: 'validAuc',
    aggregate: CTR_AGGREGATE,
    gitCommit: env.gitCommit,
    log: o.log,
    plot: o.plot,
    run: async (cell) => {
      const d = await dataFor(cell.seed);
      const rec = await trainCtrCell(
        o,
        rt,
        d,
        cell.group.id.model as CtrBenchModel,
        cell.group.id.method as string,
        cell.group.id.budget as number,
        cell.hp.lr,
        cell.seed,
        `[${cell.index}/${cell.total} ${cell.group.label} lr ${cell.hp.lr} seed ${cell.seed}]`,
      );
      const full = { ...rec, ...env };
      cellRecords.push(full);
      await o.onRecord?.(full, cellRecords);
      return full;
    },
  });
  return result.records;
}

type ResolvedCtrOptions = ReturnType<typeof resolveOptions<typeof DEFAULT_CTR_BENCH_OPTIONS, CtrBenchOptions>>;
interface SeedCtrData {
  readonly data: Awaited<ReturnType<typeof openCtrData>>;
  readonly counts: ReturnType<Awaited<ReturnType<typeof openCtrData>>['counts']> | undefined;
  readonly graphs: (FieldGraph | null)[] | undefined;
  readonly itemCounts: Awaited<ReturnType<typeof sequenceItemCounts>> | undefined;
  readonly totalSteps: number;
}

/** Trains one model × method × budget × lr × seed with early stopping; tests the restored best epoch. */
async function trainCtrCell(
  o: ResolvedCtrOptions,
  rt: Awaited<ReturnType<typeof initTf>>,
  d: SeedCtrData,
  modelName: CtrBenchModel,
  method: string,
  budget: number,
  lr: number,
  seed: number,
  tag: string,
): Promise<ResultRecord> {
  const { data, counts, graphs, itemCounts, totalSteps } = d;
  const tFit = performance.now();
  const common = {
    method,
    budget,
    quantize: o.quantize,
    totalSteps,
    dim: o.dim,
    mlp: o.mlp,
    lr,
    seed,
    keepFullBelow: o.keepFullBelow,
    ...(o.extra ? { extra: o.extra } : {}),
    ...(o.storageExtra ? { storageExtra: o.storageExtra } : {}),
  };
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
    o.log(`${tag} does not fit the budget ${budget}: ${err.message}`);
    return { dataset: data.schema.name, model: modelName, method, budget, seed, lr, fits: false, reason: err.message };
  }
  const fitSeconds = (performance.now() - tFit) / 1000;
  try {
    const mem = model.memory();
    o.log(
      `${tag} ${mem.rows} rows, ${mem.embeddingBytes.toLocaleString('en-US')} table bytes of budget ${mem.budgetBytes.toLocaleString('en-US')} (fit ${fitSeconds.toFixed(2)} s)`,
    );
    const res = await trainCtr(
      model,
      { train: data.train, valid: data.valid },
      { epochs: o.epochs, batchSize: o.batchSize, patience: o.patience, seed, log: o.log, restoreBest: true },
    );
    // Training figures before finishTraining (it frees optimizer and training-only copies).
    const trained = model.memory();
    const blockOptimizer = block ? block.optimizerBytes : 0;
    const blockTraining = block ? block.trainingBytes : 0;
    model.finishTraining();
    block?.finishTraining();
    const served = model.memory();
    const test = await evaluateCtr(model, data.test);
    o.log(
      `${tag} test auc ${test.auc.toFixed(4)} logloss ${test.logloss.toFixed(4)} (best valid epoch ${res.bestEpoch} restored, ${(res.trainSeconds + res.evalSeconds).toFixed(1)} s)`,
    );
    return {
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
      validCurve: res.epochs.map((e) => [e.epoch, e.valid ? Number(e.valid.auc.toFixed(6)) : null]),
      selection: 'best-validation',
      bestEpoch: res.bestEpoch,
      epochs: res.epochs.length,
      stoppedEarly: res.stoppedEarly,
      patience: o.patience,
      lr,
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
    };
  } finally {
    model.dispose();
  }
}
