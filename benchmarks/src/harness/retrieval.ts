import {
  degrees,
  embeddingBytes,
  fullTableBytes,
  generateRetrievalDataset,
  type IdMapper,
  InvalidArgumentError,
  type MapperFitData,
  type RetrievalDataset,
  Rng,
  readLightGcnDataset,
  readSequentialLooDataset,
  resolveOptions,
} from '@compactrec/core';
import { DslTable, densityForBudget } from '@compactrec/dsl';
import { GRAPHHASH_METHODS } from '@compactrec/graphhash';
import { type MfEpochReport, type SparsityHook, Tower, trainMfBpr } from '@compactrec/models';
import { kernelInfo } from '@compactrec/native';
import { runEnvironment } from './environment.js';
import { methodSpec } from './methods.js';
import type { RecordSink, ResultRecord } from './report.js';

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
  /** DSL: prune/grow rounds over the whole run (ΔT = total steps / rounds; 30 beat 100 on Gowalla MF). @default 30 */
  dslUpdates?: number;
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
  dslUpdates: 30,
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

/** A DSL sparse table sized to a budget fraction of the full table, and its trainer hook. */
function createDsl(
  rows: number,
  dim: number,
  budget: number,
  totalSteps: number,
  seed: number,
  rounds: number,
  growth: 'accumulated' | 'batch',
  pruneRateStart: number,
) {
  const { density, format } = densityForBudget(Math.floor(fullTableBytes(rows, dim) * budget), rows, dim);
  // A fixed number of prune/grow rounds per run whatever its length (the reference fixes ΔT for its runs).
  const updateInterval = Math.max(10, Math.floor(totalSteps / rounds));
  const table = new DslTable(rows, dim, totalSteps, { density, seed, updateInterval, growth, pruneRateStart });
  table.initValues(0.1, new Rng(seed));
  const hook: SparsityHook = {
    mask: table.mask,
    scores: table.scores,
    updateInterval: table.options.updateInterval,
    growth: table.options.growth,
    maybeUpdate: (step, state) => table.maybeUpdate(step, state),
  };
  return {
    table,
    hook,
    params: { density, format, nnz: table.activeCount, updateInterval: table.options.updateInterval, pruneRateStart },
  };
}

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
      `benchmarks/runRetrievalBench: rowsLike '${String(rowsLike)}' is unknown; use 'budget' or 'graphhash'`,
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
      `benchmarks/loadRetrievalData: format '${String(format)}' is unknown; use 'lightgcn' or 'sequential-loo'`,
    );
  }
  return readLightGcnDataset(data);
}

/** Fits one side's mapper for a method at a byte budget. */
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
  const spec = methodSpec(method);
  const deg = degrees(dataset.train);
  const numIds = side === 'user' ? dataset.train.numUsers : dataset.train.numItems;
  const fit: MapperFitData = {
    numIds,
    counts: side === 'user' ? deg.users : deg.items,
    interactions: dataset.train,
    side,
  };
  const budgetBytes =
    method === 'full'
      ? fullTableBytes(numIds, dim)
      : (budgetBytesOverride ?? Math.floor(fullTableBytes(numIds, dim) * budgetFraction));
  // GraphHash clusters both sides together: Louvain gets the run's seed, not the side's, so the
  // user and the item mapper draw on one clustering per resolution (GraphHashExtra.clusterSeed).
  const shared = Object.hasOwn(GRAPHHASH_METHODS, method) ? { clusterSeed: seed, ...extra } : extra;
  return spec.create(fit, {
    dim,
    budgetBytes,
    seed: seed * 2 + (side === 'user' ? 0 : 1),
    ...(shared ? { extra: shared } : {}),
  });
}

/**
 * Trains and evaluates the backbone once per method at the same per-table byte budget, and returns
 * one record per method with quality, the three kinds of bytes, and times.
 */
export async function runRetrievalBench(options: RetrievalBenchOptions): Promise<ResultRecord[]> {
  const model = options.model ?? DEFAULT_RETRIEVAL_BENCH_OPTIONS.model;
  const recipe = RETRIEVAL_RECIPES[model];
  if (!recipe) {
    throw new InvalidArgumentError(
      `benchmarks/runRetrievalBench: model '${String(model)}' is unknown; use 'mf' or 'lightgcn'`,
    );
  }
  const o = resolveOptions({ ...DEFAULT_RETRIEVAL_BENCH_OPTIONS, ...recipe }, options);
  if (!(o.budget > 0 && o.budget <= 1)) {
    throw new InvalidArgumentError(`benchmarks/runRetrievalBench: budget (${o.budget}) must be in (0, 1]`);
  }
  for (const m of o.methods) if (m !== 'dsl') methodSpec(m); // unknown names fail before any work
  const t0 = performance.now();
  const dataset = await loadRetrievalData(o.data, o.seed, o.format);
  o.log(
    `[bench] ${dataset.name}: ${dataset.train.numUsers} users, ${dataset.train.numItems} items, ${dataset.train.items.length} train / ${dataset.test.items.length} test interactions (loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s); kernels: ${kernelInfo().kind}`,
  );
  const rowsLike = rowsLikeBudgets(o.rowsLike, dataset, o.dim, o.budget, o.seed, o.extra, o.log);
  const env = runEnvironment();
  const records: ResultRecord[] = [];
  for (const method of o.methods) {
    const budget = method === 'full' ? 1 : (rowsLike?.fraction ?? o.budget);
    const tFit = performance.now();
    const sparse = method === 'dsl';
    // DSL keeps one row per ID and spends the budget on a fraction of the weights instead.
    const um = fitMapper(
      sparse ? 'full' : method,
      dataset,
      'user',
      o.dim,
      sparse ? 1 : budget,
      o.seed,
      o.extra,
      sparse ? undefined : rowsLike?.user,
    );
    const im = fitMapper(
      sparse ? 'full' : method,
      dataset,
      'item',
      o.dim,
      sparse ? 1 : budget,
      o.seed,
      o.extra,
      sparse ? undefined : rowsLike?.item,
    );
    const stepsPerEpoch = Math.ceil(dataset.train.items.length / o.batchSize);
    const dslUser = sparse
      ? createDsl(
          um.rows,
          o.dim,
          rowsLike?.userFraction ?? budget,
          o.epochs * stepsPerEpoch,
          o.seed * 2 + 21,
          o.dslUpdates,
          o.dslGrowth,
          o.dslPruneRate,
        )
      : null;
    const dslItem = sparse
      ? createDsl(
          im.rows,
          o.dim,
          rowsLike?.itemFraction ?? budget,
          o.epochs * stepsPerEpoch,
          o.seed * 2 + 22,
          o.dslUpdates,
          o.dslGrowth,
          o.dslPruneRate,
        )
      : null;
    const fitSeconds = (performance.now() - tFit) / 1000;
    const user = new Tower(um, o.dim, { seed: o.seed * 2 + 11, ...(dslUser ? { table: dslUser.table.table } : {}) });
    const item = new Tower(im, o.dim, { seed: o.seed * 2 + 12, ...(dslItem ? { table: dslItem.table.table } : {}) });
    const lr = o.lrByMethod?.[method] ?? o.lr;
    o.log(
      `[${method}] user rows ${um.rows}, item rows ${im.rows} (fit ${fitSeconds.toFixed(2)} s); training ${o.epochs} epochs, lr ${lr}`,
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
      ...(dslUser && dslItem ? { sparsity: { user: dslUser.hook, item: dslItem.hook } } : {}),
      onEpoch: (e: MfEpochReport) => {
        if (e.metrics || e.epoch === 1 || e.epoch % 10 === 0 || e.epoch === e.epochs) {
          const m = e.metrics
            ? ` recall@${e.metrics.k} ${e.metrics.recall.toFixed(4)} ndcg ${e.metrics.ndcg.toFixed(4)}`
            : '';
          o.log(
            `[${method}] epoch ${e.epoch}/${e.epochs} loss ${e.loss.toFixed(4)} ${Math.round(e.triplesPerSecond / 1000)}k triples/s${m}`,
          );
        }
      },
    });
    const full = fullTableBytes(dataset.train.numUsers, o.dim) + fullTableBytes(dataset.train.numItems, o.dim);
    // A sparse table's bytes are its compact storage (values + index), as served.
    const emb =
      dslUser && dslItem
        ? dslUser.table.compactBytes() + dslItem.table.compactBytes()
        : embeddingBytes(um, o.dim) + embeddingBytes(im, o.dim);
    records.push({
      dataset: dataset.name,
      model: o.model,
      method,
      budget,
      userRows: um.rows,
      itemRows: im.rows,
      rows: um.rows + im.rows,
      embeddingBytes: emb,
      budgetBytes:
        rowsLike && method !== 'full'
          ? rowsLike.user + rowsLike.item
          : Math.floor(fullTableBytes(dataset.train.numUsers, o.dim) * budget) +
            Math.floor(fullTableBytes(dataset.train.numItems, o.dim) * budget),
      ...(rowsLike ? { rowsLike: 'graphhash', requestedBudget: o.budget } : {}),
      fullEmbeddingBytes: full,
      embeddingFraction: emb / full,
      mappingBytes: um.mappingBytes + im.mappingBytes,
      optimizerBytes: user.optimizerBytes + item.optimizerBytes,
      trainingTableBytes:
        dslUser && dslItem
          ? dslUser.table.trainingBytes() + dslItem.table.trainingBytes()
          : user.embeddingBytes + item.embeddingBytes,
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
      params:
        dslUser && dslItem ? { user: dslUser.params, item: dslItem.params } : { user: um.params, item: im.params },
      ...env,
    });
    await o.onRecord?.(records[records.length - 1]!, records);
    o.log(
      `[${method}] recall@20 ${res.final.recall.toFixed(4)} ndcg@20 ${res.final.ndcg.toFixed(4)} (${emb.toLocaleString('en-US')} embedding bytes, ${(res.trainSeconds + res.evalSeconds).toFixed(1)} s)`,
    );
  }
  return records;
}
