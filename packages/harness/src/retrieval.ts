import {
  BudgetError,
  degrees,
  fullTableBytes,
  generateRetrievalDataset,
  type IdMapper,
  InvalidArgumentError,
  type MapperFitData,
  type QuantizeMode,
  type RetrievalDataset,
  readLightGcnDataset,
  readSequentialLooDataset,
  resolveOptions,
} from '@compactrec/core';
import {
  createFeatureEmbedding,
  type EmbeddingMethod,
  type FeatureEmbedding,
  resolveMethod,
} from '@compactrec/embedding';
import { GRAPHHASH_METHODS } from '@compactrec/graphhash';
import { type MfEpochReport, Tower, trainMfBpr } from '@compactrec/models';
import { kernelInfo } from '@compactrec/native';
import { runEnvironment } from './environment.js';
import type { RecordSink, ResultRecord } from './report.js';

/** Sharing methods that read GraphHash's `extra` settings (`GraphHashExtra`, e.g. `clusterSeed`). */
const GRAPHHASH_SPECS: ReadonlySet<unknown> = new Set(Object.values(GRAPHHASH_METHODS));

/** Options of {@link runRetrievalBench}; every field but `data` and `methods` is optional. */
export interface RetrievalBenchOptions {
  /** A LightGCN-format directory (train.txt, test.txt) or `generated` for the built-in synthetic set. */
  data: string;
  /**
   * How `data` is laid out: a LightGCN directory, or a sequential file (S3Rec lines or SASRec
   * pairs) split leave-one-out (last item test, second-to-last validation, held out of training).
   * @default 'lightgcn'
   */
  format?: RetrievalDataFormat;
  /**
   * Row counts of every sharing baseline: `'budget'` = each side's budget; `'graphhash'` = the
   * per-side row counts GraphHash reached (the GraphHash paper's protocol; DSL gets the same
   * bytes as a density). @default 'budget'
   */
  rowsLike?: 'budget' | 'graphhash';
  methods: readonly string[];
  /** Backbone. @default 'mf' */
  model?: 'mf' | 'lightgcn';
  /** LightGCN layers. @default 2 */
  layers?: number;
  /** LightGCN gradient estimator: 1-hop neighbours per node (0 = all), see MfBprOptions.maxNeighbors. @default 0 */
  maxNeighbors?: number;
  /** LightGCN gradient estimator: sampled walks per node for each term beyond 1 hop, see MfBprOptions.twoHopSamples. @default 8 */
  twoHopSamples?: number;
  /** LightGCN: every hop's gradient term exact, see MfBprOptions.exactHops (maxNeighbors and twoHopSamples then unused). @default true */
  exactHops?: boolean;
  /** LightGCN: batches between refreshes of the propagated embeddings. @default 40 */
  refreshEvery?: number;
  /** LightGCN: sum each node's gradient over the batch before the neighbour scatter. @default true */
  aggregateNeighbors?: boolean;
  /** LightGCN: threads (1 or 2) of the native kernel; deterministic per count. @default 2 */
  threads?: number;
  /**
   * Low-precision storage kinds: quantize `after` training (a float32 master, quantized before the
   * final evaluation) or `during` it (fake quantization with a straight-through estimator; ALPT
   * always trains on its grid). @default 'after'
   */
  quantize?: QuantizeMode;
  /** DSL: prune/grow rounds over the whole run (ΔT = total steps / rounds; 30 beat 100 on Gowalla MF). @default 30 */
  dslUpdates?: number;
  /**
   * DSL: train dense-masked (values and moments for every weight) or in the sparse form (values and
   * moments only for the active weights), both on the native kernels; 'auto' takes the form with fewer
   * training bytes (sparse below density ≈ 0.8). @default 'auto'
   */
  dslTraining?: 'auto' | 'dense' | 'sparse';
  /**
   * ALPT (alpt8/alpt4): learning rate of the per-row step sizes' own Adam (storage option
   * `alptStepLr`). @default undefined = the storage's default, the values' lr / 127
   */
  alptStepLr?: number | undefined;
  /** DSL: growth score, |gradient| accumulated since the last update or the last batch's only. @default 'accumulated' */
  dslGrowth?: 'accumulated' | 'batch';
  /**
   * DSL: r_0, the prune rate of the first update (cosine-annealed to 0.005). The reference uses 0.5;
   * on Gowalla MF at budget 0.5 (150 epochs) more early churn measured better: r_0 0.25 → Recall@20
   * 0.1197, 0.5 → 0.1259, 0.75 → 0.1325 (full table 0.1328). @default 0.75
   */
  dslPruneRate?: number;
  /** Triple sampling (see MfBprOptions.sampling). @default 'user' for LightGCN, 'interaction' for MF */
  sampling?: 'user' | 'interaction';
  /** Fraction of each table's full embedding bytes every method may use. @default 0.25 */
  budget?: number;
  /** @default 64 */
  dim?: number;
  /** Training epochs. @default from the model's recipe ({@link RETRIEVAL_RECIPES}) */
  epochs?: number | undefined;
  /** Adam learning rate, or per-method overrides. @default from the model's recipe */
  lr?: number | undefined;
  lrByMethod?: Readonly<Record<string, number>>;
  /** Learning-rate schedule (see MfBprOptions.lrSchedule). @default from the model's recipe */
  lrSchedule?: 'constant' | 'cosine' | undefined;
  /** @default 0.0001 */
  reg?: number;
  /** Negatives drawn per pair, the highest-scored trained on (see MfBprOptions.negativeCandidates). @default from the model's recipe */
  negativeCandidates?: number | undefined;
  /** Triples per mini-batch. @default from the model's recipe */
  batchSize?: number | undefined;
  /** @default 0 */
  seed?: number;
  /** Evaluate every N epochs and report the best too (0 = last epoch only). @default 0 */
  evalEvery?: number;
  /** Method-specific settings passed to every mapper (e.g. { combine: 'mult' }). */
  extra?: Readonly<Record<string, number | string | boolean>>;
  /** Progress sink (one line per event); default stderr. */
  log?: (line: string) => void;
  /** Receives each record as soon as its method finishes (e.g. {@link resultsSink} writes it to disk). */
  onRecord?: RecordSink;
}

/** The training settings a backbone runs with unless the caller overrides them. */
export interface RetrievalRecipe {
  readonly epochs: number;
  readonly lr: number;
  readonly lrSchedule: 'constant' | 'cosine';
  readonly batchSize: number;
  readonly negativeCandidates: number;
}

/**
 * Per-backbone recipes, measured on Gowalla (full table, this 2-core machine):
 * - mf: the MF-BPR protocol of the method tables (uniform negatives; Recall@20 0.1328).
 * - lightgcn: 12 epochs of dynamic negative sampling (the highest-scored of 32 uniform candidates),
 *   Adam 5e-3 cosine-annealed, batch 4096: Recall@20 0.1752 / NDCG@20 0.1497 in 205 s of training on
 *   2 threads. With uniform negatives the same model needs ≈ 200 epochs (52 min) for 0.1711.
 */
export const RETRIEVAL_RECIPES: Readonly<Record<'mf' | 'lightgcn', RetrievalRecipe>> = Object.freeze({
  mf: Object.freeze({ epochs: 150, lr: 0.001, lrSchedule: 'constant', batchSize: 2048, negativeCandidates: 1 }),
  lightgcn: Object.freeze({ epochs: 12, lr: 0.005, lrSchedule: 'cosine', batchSize: 4096, negativeCandidates: 32 }),
});

/** Layouts `--data` may have (see {@link RetrievalBenchOptions.format}). */
export type RetrievalDataFormat = 'lightgcn' | 'sequential-loo';

export const DEFAULT_RETRIEVAL_BENCH_OPTIONS = Object.freeze({
  format: 'lightgcn' as RetrievalDataFormat,
  rowsLike: 'budget' as 'budget' | 'graphhash',
  model: 'mf' as 'mf' | 'lightgcn',
  layers: 2,
  maxNeighbors: 0,
  twoHopSamples: 8,
  exactHops: true,
  refreshEvery: 40,
  aggregateNeighbors: true,
  threads: 2,
  sampling: undefined as 'user' | 'interaction' | undefined,
  quantize: 'after' as QuantizeMode,
  dslUpdates: 30,
  dslTraining: 'auto' as 'auto' | 'dense' | 'sparse',
  dslGrowth: 'accumulated' as 'accumulated' | 'batch',
  dslPruneRate: 0.75,
  budget: 0.25,
  dim: 64,
  reg: 0.0001,
  seed: 0,
  evalEvery: 0,
  log: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
});

/** Per-side budgets in bytes taken from another method's row counts (`rowsLike`). */
interface RowsLikeBudgets {
  readonly user: number;
  readonly item: number;
  readonly userFraction: number;
  readonly itemFraction: number;
  /** Both sides' bytes over both full tables. */
  readonly fraction: number;
}

/**
 * `rowsLike: 'graphhash'`: fits GraphHash at the budget and returns its per-side row counts as
 * byte budgets, so every baseline gets exactly GraphHash's rows (the GraphHash paper's protocol).
 */
function rowsLikeBudgets(
  rowsLike: 'budget' | 'graphhash',
  dataset: RetrievalDataset,
  dim: number,
  budget: number,
  seed: number,
  extra: Readonly<Record<string, number | string | boolean>> | undefined,
  log: (line: string) => void,
): RowsLikeBudgets | null {
  if (rowsLike === 'budget') return null;
  if (rowsLike !== 'graphhash') {
    throw new InvalidArgumentError(
      `harness/runRetrievalBench: rowsLike '${String(rowsLike)}' is unknown; use 'budget' or 'graphhash'`,
    );
  }
  const um = fitMapper('graphhash', dataset, 'user', dim, budget, seed, extra);
  const im = fitMapper('graphhash', dataset, 'item', dim, budget, seed, extra);
  const fu = fullTableBytes(dataset.train.numUsers, dim);
  const fi = fullTableBytes(dataset.train.numItems, dim);
  const user = fullTableBytes(um.rows, dim);
  const item = fullTableBytes(im.rows, dim);
  log(`[bench] rows like graphhash at ${budget}: ${um.rows} user rows, ${im.rows} item rows for every method`);
  return { user, item, userFraction: user / fu, itemFraction: item / fi, fraction: (user + item) / (fu + fi) };
}

/** Loads `--data`: a LightGCN directory, a sequential file split leave-one-out, or `generated`. */
export async function loadRetrievalData(
  data: string,
  seed = 0,
  format: RetrievalDataFormat = 'lightgcn',
): Promise<RetrievalDataset> {
  if (data === 'generated') return generateRetrievalDataset({ seed });
  if (format === 'sequential-loo') return readSequentialLooDataset(data);
  if (format !== 'lightgcn') {
    throw new InvalidArgumentError(
      `harness/loadRetrievalData: format '${String(format)}' is unknown; use 'lightgcn' or 'sequential-loo'`,
    );
  }
  return readLightGcnDataset(data);
}

/** The fit data of one side of a retrieval dataset (every sharing method finds what it requires). */
export function sideFitData(dataset: RetrievalDataset, side: 'user' | 'item'): MapperFitData {
  const deg = degrees(dataset.train);
  return {
    numIds: side === 'user' ? dataset.train.numUsers : dataset.train.numItems,
    counts: side === 'user' ? deg.users : deg.items,
    interactions: dataset.train,
    side,
  };
}

/** Fits one side's mapper (the sharing part of a method) at a budget fraction of the float32 table. */
export function fitMapper(
  method: string,
  dataset: RetrievalDataset,
  side: 'user' | 'item',
  dim: number,
  budgetFraction: number,
  seed: number,
  extra?: Readonly<Record<string, number | string | boolean>>,
  /** This side's budget in bytes, overriding `budgetFraction` (e.g. another method's row count). */
  budgetBytesOverride?: number,
): IdMapper {
  const m = resolveMethod(method);
  const fit = sideFitData(dataset, side);
  const full = fullTableBytes(fit.numIds, dim);
  // GraphHash clusters both sides together: Louvain gets the run's seed, not the side's, so the
  // user and the item mapper draw on one clustering per resolution (GraphHashExtra.clusterSeed).
  const shared = GRAPHHASH_SPECS.has(m.sharing) ? { clusterSeed: seed, ...extra } : extra;
  return m.sharing.create(fit, {
    dim,
    budgetBytes: m.uncompressed ? full : (budgetBytesOverride ?? Math.floor(full * budgetFraction)),
    seed: seed * 2 + (side === 'user' ? 0 : 1),
    ...(shared ? { extra: shared } : {}),
  });
}

/**
 * Trains and evaluates the backbone once per method at the same per-table byte budget, and returns
 * one record per method with quality, the four kinds of bytes (served table, mapping, optimizer,
 * training-only), and times. A method that cannot reach the budget gets a `does not fit` record.
 */
export async function runRetrievalBench(options: RetrievalBenchOptions): Promise<ResultRecord[]> {
  const model = options.model ?? DEFAULT_RETRIEVAL_BENCH_OPTIONS.model;
  const recipe = RETRIEVAL_RECIPES[model];
  if (!recipe) {
    throw new InvalidArgumentError(
      `harness/runRetrievalBench: model '${String(model)}' is unknown; use 'mf' or 'lightgcn'`,
    );
  }
  const o = resolveOptions({ ...DEFAULT_RETRIEVAL_BENCH_OPTIONS, ...recipe }, options);
  if (!(o.budget > 0 && o.budget <= 1)) {
    throw new InvalidArgumentError(`harness/runRetrievalBench: budget (${o.budget}) must be in (0, 1]`);
  }
  const methods: EmbeddingMethod[] = o.methods.map((m) => resolveMethod(m)); // unknown names fail before any work
  if (o.quantize !== 'after' && o.quantize !== 'during') {
    throw new InvalidArgumentError(
      `harness/runRetrievalBench: quantize '${String(o.quantize)}' must be 'after' or 'during'`,
    );
  }
  const t0 = performance.now();
  const dataset = await loadRetrievalData(o.data, o.seed, o.format);
  o.log(
    `[bench] ${dataset.name}: ${dataset.train.numUsers} users, ${dataset.train.numItems} items, ${dataset.train.items.length} train / ${dataset.test.items.length} test interactions (loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s); kernels: ${kernelInfo().kind}`,
  );
  const rowsLike = rowsLikeBudgets(o.rowsLike, dataset, o.dim, o.budget, o.seed, o.extra, o.log);
  const env = runEnvironment();
  const fits = { user: sideFitData(dataset, 'user'), item: sideFitData(dataset, 'item') };
  const fullU = fullTableBytes(dataset.train.numUsers, o.dim);
  const fullI = fullTableBytes(dataset.train.numItems, o.dim);
  const records: ResultRecord[] = [];
  for (const m of methods) {
    const method = m.name;
    const budget = m.uncompressed ? 1 : (rowsLike?.fraction ?? o.budget);
    // Per-side byte budgets: the fraction of each full table, or GraphHash's rows (`rowsLike`).
    const sideBudget = {
      user: rowsLike && !m.uncompressed ? rowsLike.user : Math.floor(fullU * budget),
      item: rowsLike && !m.uncompressed ? rowsLike.item : Math.floor(fullI * budget),
    };
    const budgetBytes = sideBudget.user + sideBudget.item;
    const extra = GRAPHHASH_SPECS.has(m.sharing) ? { clusterSeed: o.seed, ...o.extra } : o.extra;
    const tFit = performance.now();
    const stepsPerEpoch = Math.ceil(dataset.train.items.length / o.batchSize);
    const lr = o.lrByMethod?.[method] ?? o.lr;
    const build = (side: 'user' | 'item'): FeatureEmbedding =>
      createFeatureEmbedding(m, fits[side], {
        dim: o.dim,
        budgetBytes: sideBudget[side],
        seed: o.seed * 2 + (side === 'user' ? 0 : 1),
        initStd: 0.1,
        totalSteps: o.epochs * stepsPerEpoch,
        quantize: o.quantize,
        optimizer: { lr },
        ...(extra ? { extra } : {}),
        storageExtra: {
          dslUpdates: o.dslUpdates,
          dslGrowth: o.dslGrowth,
          dslPruneRate: o.dslPruneRate,
          dslTraining: o.dslTraining,
          ...(o.alptStepLr !== undefined ? { alptStepLr: o.alptStepLr } : {}),
        },
      });
    let ue: FeatureEmbedding;
    let ie: FeatureEmbedding;
    try {
      ue = build('user');
      ie = build('item');
    } catch (err) {
      if (!(err instanceof BudgetError)) throw err;
      // A method that cannot reach the budget says so in its record instead of overshooting.
      o.log(`[${method}] does not fit budget ${budget}: ${err.message}`);
      records.push({
        dataset: dataset.name,
        model: o.model,
        method,
        budget,
        status: 'does not fit',
        budgetBytes,
        fullEmbeddingBytes: fullU + fullI,
        error: err.message,
      });
      continue;
    }
    const fitSeconds = (performance.now() - tFit) / 1000;
    const user = new Tower(ue);
    const item = new Tower(ie);
    // Training-time memory, measured before the tables turn into their served form.
    const optimizerBytes = user.optimizerBytes + item.optimizerBytes;
    const trainingBytes = user.trainingBytes + item.trainingBytes;
    o.log(
      `[${method}] user rows ${ue.mapper.rows}, item rows ${ie.mapper.rows} (fit ${fitSeconds.toFixed(2)} s); training ${o.epochs} epochs, lr ${lr}${user.kernelTrainable ? '' : ' (generic path)'}`,
    );
    const res = trainMfBpr(dataset, user, item, {
      model: o.model,
      layers: o.layers,
      maxNeighbors: o.maxNeighbors,
      twoHopSamples: o.twoHopSamples,
      exactHops: o.exactHops,
      refreshEvery: o.refreshEvery,
      aggregateNeighbors: o.aggregateNeighbors,
      threads: o.threads,
      ...(o.sampling ? { sampling: o.sampling } : {}),
      epochs: o.epochs,
      lr,
      lrSchedule: o.lrSchedule,
      reg: o.reg,
      negativeCandidates: o.negativeCandidates,
      batchSize: o.batchSize,
      seed: o.seed,
      evalEvery: o.evalEvery,
      finishTraining: true,
      onEpoch: (e: MfEpochReport) => {
        if (e.metrics || e.epoch === 1 || e.epoch % 10 === 0 || e.epoch === e.epochs) {
          const mm = e.metrics
            ? ` recall@${e.metrics.k} ${e.metrics.recall.toFixed(4)} ndcg ${e.metrics.ndcg.toFixed(4)}`
            : '';
          o.log(
            `[${method}] epoch ${e.epoch}/${e.epochs} loss ${e.loss.toFixed(4)} ${Math.round(e.triplesPerSecond / 1000)}k triples/s${mm}`,
          );
        }
      },
    });
    const full = fullU + fullI;
    // Served bytes: what the storages hold after finishTraining (codes, scales, sparse index).
    const emb = user.embeddingBytes + item.embeddingBytes;
    records.push({
      dataset: dataset.name,
      model: o.model,
      method,
      budget,
      status: 'ok',
      storage: ue.storage.kind,
      quantize: String(ue.storage.params.quantize ?? 'n/a'),
      userRows: ue.mapper.rows,
      itemRows: ie.mapper.rows,
      rows: ue.mapper.rows + ie.mapper.rows,
      embeddingBytes: emb,
      budgetBytes,
      ...(rowsLike ? { rowsLike: 'graphhash', requestedBudget: o.budget } : {}),
      fullEmbeddingBytes: full,
      embeddingFraction: emb / full,
      budgetUse: emb / budgetBytes,
      mappingBytes: user.mappingBytes + item.mappingBytes,
      optimizerBytes,
      trainingBytes,
      'recall@20': res.final.recall,
      'recallCapped@20': res.final.recallCapped,
      'ndcg@20': res.final.ndcg,
      bestRecall: res.best.recall,
      bestEpoch: res.best.epoch,
      epochs: o.epochs,
      lr,
      lrSchedule: o.lrSchedule,
      negativeCandidates: o.negativeCandidates,
      batchSize: o.batchSize,
      sampling: o.sampling ?? (o.model === 'lightgcn' ? 'user' : 'interaction'),
      ...(o.model === 'lightgcn'
        ? {
            layers: o.layers,
            hopGradients: o.exactHops && o.aggregateNeighbors ? 'exact' : 'sampled',
            maxNeighbors: o.maxNeighbors,
            twoHopSamples: o.twoHopSamples,
            refreshEvery: o.refreshEvery,
            aggregateNeighbors: o.aggregateNeighbors,
          }
        : {}),
      trainSeconds: res.trainSeconds,
      evalSeconds: res.evalSeconds,
      fitSeconds,
      triplesPerSecond: Math.round(res.triplesPerSecond),
      seed: o.seed,
      params: {
        user: { ...ue.mapper.params, ...ue.storage.params },
        item: { ...ie.mapper.params, ...ie.storage.params },
      },
      ...env,
    });
    await o.onRecord?.(records[records.length - 1]!, records);
    o.log(
      `[${method}] recall@20 ${res.final.recall.toFixed(4)} ndcg@20 ${res.final.ndcg.toFixed(4)} (${emb.toLocaleString('en-US')} embedding bytes, ${((100 * emb) / budgetBytes).toFixed(1)} % of the budget, ${(res.trainSeconds + res.evalSeconds).toFixed(1)} s)`,
    );
  }
  return records;
}
