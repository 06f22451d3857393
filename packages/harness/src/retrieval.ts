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
import {
  evaluateFullRanking,
  type MfEpochAction,
  type MfEpochReport,
  type RetrievalMetrics,
  Tower,
  trainMfBpr,
} from '@compactrec/models';
import { kernelInfo } from '@compactrec/native';
import { runEnvironment } from './environment.js';
import {
  bestTracker,
  budgetList,
  DEFAULT_PROTOCOL,
  gridPoints,
  parseSeeds,
  parseTuneGrid,
  type TuneGrid,
} from './protocol.js';
import type { RecordSink, ResultRecord, ResultValue } from './report.js';
import { type ValidatedRetrievalData, validationSplit } from './split.js';
import { datasetIdentity, runSweep, type SweepGroup } from './sweep.js';

/** Sharing methods that read GraphHash's `extra` settings (`GraphHashExtra`, e.g. `clusterSeed`). */
const GRAPHHASH_SPECS: ReadonlySet<unknown> = new Set(Object.values(GRAPHHASH_METHODS));

/** Options of {@link runRetrievalBench}; every field but `data` and `methods` is optional. */
export interface RetrievalBenchOptions {
  /**
   * A LightGCN-format directory (train.txt, test.txt) or `generated` for the built-in synthetic set;
   * or a list of them (one sweep over every data set × model, sharing one journal and ETA).
   */
  data: string | readonly string[];
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
  /** Backbone, or a list of them (each with its own recipe). @default 'mf' */
  model?: 'mf' | 'lightgcn' | readonly ('mf' | 'lightgcn')[];
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
  /**
   * Fraction of each table's full embedding bytes every method may use, or a list of them (a sweep:
   * every method at every budget; uncompressed methods such as `full` run once). @default 0.25
   */
  budget?: number | readonly number[];
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
  /**
   * Seeds to repeat every reported cell with (the grid is searched on the first, the chosen point
   * re-run on the others); the reported metrics are the mean, `<metric>.std` the sample std.
   * @default [seed]
   */
  seeds?: readonly number[];
  /**
   * Tuning grid (`{ lr: [1e-3, 3e-3, 1e-2], wd: [1e-4] }` or the CLI's text `lr=1e-3,3e-3,1e-2,wd=1e-4`):
   * every point is trained per method × budget and the one with the best validation metric reported.
   * `wd` is the L2 coefficient (`reg`). @default none (one point: lr, reg)
   */
  tune?: TuneGrid | string | undefined;
  /**
   * Fraction of each user's training items held out for validation (seeded per seed); 0 = no
   * validation: the last epoch is tested (the old protocol). A `sequential-loo` set always uses its
   * second-to-last item instead. @default DEFAULT_PROTOCOL.validFraction (0.1)
   */
  validFraction?: number;
  /** Validate every N epochs (and after the last); 0 = after the last only. @default DEFAULT_PROTOCOL.evalEvery (10) */
  evalEvery?: number;
  /** Stop after this many epochs without a better validation Recall@20. @default DEFAULT_PROTOCOL.patience (50) */
  patience?: number;
  /** Output directory: the sweep's journal (results.jsonl, resumable) and results.json/.csv/.md. @default none */
  out?: string | undefined;
  /** Ignore (move aside) an existing journal in `out` instead of resuming from it. @default false */
  fresh?: boolean;
  /** Draws `out`'s plot.svg from the reported records (none when omitted). */
  plot?: ((records: readonly ResultRecord[]) => string) | undefined;
  /** Method-specific settings passed to every mapper (e.g. { combine: 'mult' }). */
  extra?: Readonly<Record<string, number | string | boolean>>;
  /** Progress sink (one line per event); default stderr. */
  log?: (line: string) => void;
  /** Receives each cell's record as soon as it finishes, and every cell record of this run so far. */
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
  validFraction: DEFAULT_PROTOCOL.validFraction,
  evalEvery: DEFAULT_PROTOCOL.evalEvery,
  patience: DEFAULT_PROTOCOL.patience,
  fresh: false,
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

/** A seed's view of the data: what the models train and validate on, and what they are tested on. */
interface SeedData {
  readonly dataset: RetrievalDataset;
  /** Train = training minus validation, test = validation (or the test split without validation). */
  readonly fit: RetrievalDataset;
  readonly split: ValidatedRetrievalData | null;
}

/** One data set × model of a retrieval sweep. */
interface RetrievalBlock {
  readonly index: number;
  readonly data: string;
  /** The data as loaded for the first seed. */
  readonly first: RetrievalDataset;
  /** The options with this model's recipe. */
  readonly o: ResolvedRetrievalOptions;
  /** What, besides the group, point and seed, determines a cell's result (hashed into its key). */
  readonly shared: Readonly<Record<string, ResultValue>>;
}

/** The options of a block that change a cell's result, with the dataset's identity (see `runSweep`). */
function blockKeyOptions(
  o: ResolvedRetrievalOptions,
  identity: string,
  validated: boolean,
): Readonly<Record<string, ResultValue>> {
  return {
    harness: 'retrieval/v2',
    data: identity,
    format: o.format,
    generatedSeeded: o.data === 'generated',
    model: o.model,
    dim: o.dim,
    epochs: o.epochs,
    lrSchedule: o.lrSchedule,
    batchSize: o.batchSize,
    negativeCandidates: o.negativeCandidates,
    sampling: o.sampling ?? null,
    quantize: o.quantize,
    dsl: [o.dslUpdates, o.dslTraining, o.dslGrowth, o.dslPruneRate],
    ...(o.alptStepLr !== undefined ? { alptStepLr: o.alptStepLr } : {}),
    ...(o.model === 'lightgcn'
      ? {
          gcn: [
            o.layers,
            o.maxNeighbors,
            o.twoHopSamples,
            o.exactHops,
            o.refreshEvery,
            o.aggregateNeighbors,
            o.threads,
          ],
        }
      : {}),
    extra: o.extra ?? null,
    validFraction: validated ? (o.format === 'sequential-loo' ? 'loo' : o.validFraction) : 0,
    evalEvery: o.evalEvery,
    patience: validated ? o.patience : null,
  };
}

/** Record keys averaged over seeds in the reported records. */
const RETRIEVAL_AGGREGATE = [
  'recall@20',
  'recallCapped@20',
  'ndcg@20',
  'valid.recall@20',
  'valid.recallCapped@20',
  'valid.ndcg@20',
  'bestEpoch',
  'epochsTrained',
  'trainSeconds',
] as const;

/**
 * Runs a retrieval benchmark sweep: every method at every budget (× tuning point × seed), each
 * cell trained with early stopping on a validation split and tested at its best-validation
 * checkpoint; returns one reported record per method × budget (the tuning point with the best
 * validation Recall@20, its metrics averaged over seeds). With `out`, every finished cell is
 * appended to `out/results.jsonl` and a re-run skips the cells found there. A method that cannot
 * reach the budget gets a `does not fit` record.
 */
export async function runRetrievalBench(options: RetrievalBenchOptions): Promise<ResultRecord[]> {
  const where = 'harness/runRetrievalBench';
  const o = resolveRetrievalOptions(options);
  const budgets = budgetList(o.budget, where);
  const methods: EmbeddingMethod[] = o.methods.map((m) => resolveMethod(m)); // unknown names fail before any work
  if (o.quantize !== 'after' && o.quantize !== 'during') {
    throw new InvalidArgumentError(`${where}: quantize '${String(o.quantize)}' must be 'after' or 'during'`);
  }
  if (o.rowsLike !== 'budget' && o.rowsLike !== 'graphhash') {
    throw new InvalidArgumentError(
      `${where}: rowsLike '${String(o.rowsLike)}' is unknown; use 'budget' or 'graphhash'`,
    );
  }
  if (!(o.validFraction >= 0 && o.validFraction < 1)) {
    throw new InvalidArgumentError(`${where}: validFraction (${o.validFraction}) must be in [0, 1); 0 = no validation`);
  }
  if (!(Number.isInteger(o.evalEvery) && o.evalEvery >= 0)) {
    throw new InvalidArgumentError(`${where}: evalEvery (${o.evalEvery}) must be a non-negative integer`);
  }
  if (!(Number.isInteger(o.patience) && o.patience >= 1)) {
    throw new InvalidArgumentError(`${where}: patience (${o.patience}) must be a positive integer (epochs)`);
  }
  const seeds = o.seeds ? parseSeeds(o.seeds, `${where}: seeds`) : [o.seed];
  const tune = typeof o.tune === 'string' ? parseTuneGrid(o.tune, `${where}: tune`) : o.tune;
  const validated = o.validFraction > 0 || o.format === 'sequential-loo';
  if (tune && !validated) {
    throw new InvalidArgumentError(
      `${where}: tuning (tune) picks by validation, but validFraction is 0; give a validFraction > 0 (e.g. 0.1)`,
    );
  }
  const dataList = typeof options.data === 'string' ? [options.data] : [...options.data];
  const modelList: ('mf' | 'lightgcn')[] =
    options.model === undefined ? [o.model] : typeof options.model === 'string' ? [options.model] : [...options.model];
  if (dataList.length === 0 || modelList.length === 0) {
    throw new InvalidArgumentError(`${where}: give at least one data set and one model`);
  }
  // One block per data set × model: its own resolved options (the model's recipe) and key options.
  const blocks: RetrievalBlock[] = [];
  for (const data of dataList) {
    const t0 = performance.now();
    const first = await loadRetrievalData(data, seeds[0]!, o.format);
    o.log(
      `[bench] ${first.name}: ${first.train.numUsers} users, ${first.train.numItems} items, ${first.train.items.length} train / ${first.test.items.length} test interactions (loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s); kernels: ${kernelInfo().kind}`,
    );
    const identity = await datasetIdentity(data);
    for (const model of modelList) {
      const bo = resolveRetrievalOptions({ ...options, data, model });
      blocks.push({ index: blocks.length, data, first, o: bo, shared: blockKeyOptions(bo, identity, validated) });
    }
  }
  const many = blocks.length > 1;
  // One seed's data at a time (the sweep runs block- then seed-major); `generated` data depends on the seed.
  let seedData: { key: string; data: SeedData } | null = null;
  const dataFor = async (b: RetrievalBlock, seed: number): Promise<SeedData> => {
    const key = `${b.data}\u0000${seed}`;
    if (seedData?.key === key) return seedData.data;
    const dataset =
      b.data === 'generated' && seed !== seeds[0] ? await loadRetrievalData(b.data, seed, o.format) : b.first;
    const split = validated ? validationSplit(dataset, o.validFraction, seed) : null;
    const fit: RetrievalDataset = split ? { name: dataset.name, train: split.train, test: split.validation } : dataset;
    if (split) {
      o.log(
        `[bench] ${dataset.name} seed ${seed}: ${split.train.items.length} train / ${split.validation.items.length} validation interactions (${(dataset as { validation?: unknown }).validation ? 'leave-one-out second-to-last' : `${o.validFraction} of each user's training items`})`,
      );
    }
    seedData = { key, data: { dataset, fit, split } };
    return seedData.data;
  };
  const rowsLikeCache = new Map<string, RowsLikeBudgets | null>();
  const env = runEnvironment();
  const groups: SweepGroup[] = [];
  for (const blk of blocks) {
    const bo = blk.o;
    const seen = new Set<string>();
    for (const budget of budgets) {
      for (const m of methods) {
        const b = m.uncompressed ? 1 : budget;
        const id = { dataset: blk.first.name, model: bo.model, method: m.name, budget: b, rowsLike: o.rowsLike };
        const k = JSON.stringify(id);
        if (seen.has(k)) continue; // `full` does not depend on the budget: one group
        seen.add(k);
        const base = { lr: bo.lrByMethod?.[m.name] ?? bo.lr, wd: bo.reg };
        groups.push({
          id,
          label: `${many ? `${blk.first.name}/${bo.model} ` : ''}${m.name} @ ${b}`,
          grid: gridPoints(tune, base),
          shared: blk.shared,
          context: blk,
        });
      }
    }
  }
  const cellRecords: ResultRecord[] = [];
  const out = o.out;
  const result = await runSweep({
    out,
    fresh: o.fresh,
    shared: blocks[0]!.shared,
    groups,
    seeds,
    select: validated ? `valid.${DEFAULT_PROTOCOL.select}` : DEFAULT_PROTOCOL.select,
    aggregate: RETRIEVAL_AGGREGATE,
    gitCommit: env.gitCommit,
    log: o.log,
    plot: o.plot,
    run: async (cell) => {
      const blk = cell.group.context as RetrievalBlock;
      const o = blk.o;
      const d = await dataFor(blk, cell.seed);
      const method = cell.group.id.method as string;
      const budget = cell.group.id.budget as number;
      let rowsLike: RowsLikeBudgets | null = null;
      if (o.rowsLike === 'graphhash' && !resolveMethod(method).uncompressed) {
        const rk = `${blk.index}/${budget}/${cell.seed}`;
        if (!rowsLikeCache.has(rk)) {
          rowsLikeCache.set(rk, rowsLikeBudgets(o.rowsLike, d.fit, o.dim, budget, cell.seed, o.extra, o.log));
        }
        rowsLike = rowsLikeCache.get(rk)!;
      }
      const rec = trainRetrievalCell(
        o,
        d,
        method,
        budget,
        rowsLike,
        cell.hp.lr,
        cell.hp.wd ?? o.reg,
        cell.seed,
        validated,
        `[${cell.index}/${cell.total} ${cell.group.label} lr ${cell.hp.lr}]`,
      );
      const full = {
        ...rec,
        ...(tune ? { tuned: Object.keys(tune).join(',') } : {}),
        ...env,
      };
      cellRecords.push(full);
      await o.onRecord?.(full, cellRecords);
      return full;
    },
  });
  return result.records;
}

/** The options with every default filled in (the recipe's training settings included). */
function resolveRetrievalOptions(options: RetrievalBenchOptions) {
  const m = options.model ?? DEFAULT_RETRIEVAL_BENCH_OPTIONS.model;
  const model = typeof m === 'string' ? m : (m[0] ?? DEFAULT_RETRIEVAL_BENCH_OPTIONS.model);
  const data = typeof options.data === 'string' ? options.data : (options.data[0] ?? '');
  const recipe = RETRIEVAL_RECIPES[model];
  if (!recipe) {
    throw new InvalidArgumentError(
      `harness/runRetrievalBench: model '${String(model)}' is unknown; use 'mf' or 'lightgcn'`,
    );
  }
  for (const x of typeof m === 'string' ? [m] : m) {
    if (!RETRIEVAL_RECIPES[x]) {
      throw new InvalidArgumentError(
        `harness/runRetrievalBench: model '${String(x)}' is unknown; use 'mf' or 'lightgcn'`,
      );
    }
  }
  return resolveOptions({ ...DEFAULT_RETRIEVAL_BENCH_OPTIONS, ...recipe }, { ...options, data, model });
}
type ResolvedRetrievalOptions = ReturnType<typeof resolveRetrievalOptions>;

/**
 * Trains one method at one budget, learning rate, L2 and seed. With validation: evaluates the
 * validation split every `evalEvery` epochs, stops after `patience` epochs without a better
 * validation Recall@20, and tests the embeddings of the best validation epoch (kept as composed
 * matrices when they improve: the test metric of the best checkpoint without a copy of the tables).
 */
function trainRetrievalCell(
  o: ResolvedRetrievalOptions,
  d: SeedData,
  method: string,
  budgetFraction: number,
  rowsLike: RowsLikeBudgets | null,
  lr: number,
  reg: number,
  seed: number,
  validated: boolean,
  tag: string,
): ResultRecord {
  const m = resolveMethod(method);
  const data = d.fit;
  const fits = { user: sideFitData(data, 'user'), item: sideFitData(data, 'item') };
  const fullU = fullTableBytes(data.train.numUsers, o.dim);
  const fullI = fullTableBytes(data.train.numItems, o.dim);
  const budget = m.uncompressed ? 1 : (rowsLike?.fraction ?? budgetFraction);
  // Per-side byte budgets: the fraction of each full table, or GraphHash's rows (`rowsLike`).
  const sideBudget = {
    user: rowsLike && !m.uncompressed ? rowsLike.user : Math.floor(fullU * budget),
    item: rowsLike && !m.uncompressed ? rowsLike.item : Math.floor(fullI * budget),
  };
  const budgetBytes = sideBudget.user + sideBudget.item;
  const extra = GRAPHHASH_SPECS.has(m.sharing) ? { clusterSeed: seed, ...o.extra } : o.extra;
  const tFit = performance.now();
  const stepsPerEpoch = Math.ceil(data.train.items.length / o.batchSize);
  const build = (side: 'user' | 'item'): FeatureEmbedding =>
    createFeatureEmbedding(m, fits[side], {
      dim: o.dim,
      budgetBytes: sideBudget[side],
      seed: seed * 2 + (side === 'user' ? 0 : 1),
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
  const head = {
    dataset: data.name,
    model: o.model,
    method,
    budget,
    ...(rowsLike ? { rowsLike: 'graphhash', requestedBudget: budgetFraction } : {}),
  };
  let ue: FeatureEmbedding;
  let ie: FeatureEmbedding;
  try {
    ue = build('user');
    ie = build('item');
  } catch (err) {
    if (!(err instanceof BudgetError)) throw err;
    // A method that cannot reach the budget says so in its record instead of overshooting.
    o.log(`${tag} does not fit budget ${budget}: ${err.message}`);
    return {
      ...head,
      status: 'does not fit',
      budgetBytes,
      fullEmbeddingBytes: fullU + fullI,
      error: err.message,
      lr,
      reg,
      seed,
    };
  }
  const fitSeconds = (performance.now() - tFit) / 1000;
  const user = new Tower(ue);
  const item = new Tower(ie);
  // Training-time memory, measured before the tables turn into their served form.
  const optimizerBytes = user.optimizerBytes + item.optimizerBytes;
  const trainingBytes = user.trainingBytes + item.trainingBytes;
  o.log(
    `${tag} user rows ${ue.mapper.rows}, item rows ${ie.mapper.rows} (fit ${fitSeconds.toFixed(2)} s); training ≤ ${o.epochs} epochs, lr ${lr}, reg ${reg}${user.kernelTrainable ? '' : ' (generic path)'}`,
  );
  const tracker = bestTracker<{ user: Float32Array; item: Float32Array }>(
    validated ? o.patience : Number.POSITIVE_INFINITY,
  );
  const res = trainMfBpr(data, user, item, {
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
    reg,
    negativeCandidates: o.negativeCandidates,
    batchSize: o.batchSize,
    seed,
    evalEvery: o.evalEvery,
    finishTraining: true,
    onEpoch: (e: MfEpochReport): MfEpochAction => {
      let stop = false;
      if (e.metrics && validated) {
        const emb = e.embeddings!;
        stop = tracker.observe(e.epoch, e.metrics.recall, () => ({
          user: emb.user.slice(),
          item: emb.item.slice(),
        })).stop;
      }
      if (e.metrics || e.epoch === 1 || e.epoch % 10 === 0 || e.epoch === e.epochs) {
        const mm = e.metrics
          ? ` ${validated ? 'valid' : 'test'} recall@${e.metrics.k} ${e.metrics.recall.toFixed(4)} ndcg ${e.metrics.ndcg.toFixed(4)}`
          : '';
        o.log(
          `${tag} epoch ${e.epoch}/${e.epochs} loss ${e.loss.toFixed(4)} ${Math.round(e.triplesPerSecond / 1000)}k triples/s${mm}${stop ? ` — no better validation for ${o.patience} epochs, stopping (best epoch ${tracker.best.epoch})` : ''}`,
        );
      }
      return stop ? 'stop' : undefined;
    },
  });
  // Test: the best validation epoch's embeddings, the validation items masked as known positives.
  let test: RetrievalMetrics;
  let valid: (RetrievalMetrics & { epoch: number }) | null = null;
  let testSeconds = 0;
  if (validated && d.split) {
    const best = tracker.best;
    const t = performance.now();
    test = evaluateFullRanking(best.state!.user, best.state!.item, o.dim, d.split.testMask, d.split.test, 20);
    testSeconds = (performance.now() - t) / 1000;
    valid = { ...res.best, epoch: best.epoch };
  } else {
    test = res.final;
  }
  const full = fullU + fullI;
  // Served bytes: what the storages hold after finishTraining (codes, scales, sparse index).
  const emb = user.embeddingBytes + item.embeddingBytes;
  o.log(
    `${tag} test recall@20 ${test.recall.toFixed(4)} ndcg@20 ${test.ndcg.toFixed(4)}${valid ? ` at the best validation epoch ${valid.epoch} (valid recall@20 ${valid.recall.toFixed(4)}; ${res.epochs} epochs trained)` : ''} (${emb.toLocaleString('en-US')} embedding bytes, ${((100 * emb) / budgetBytes).toFixed(1)} % of the budget, ${(res.trainSeconds + res.evalSeconds + testSeconds).toFixed(1)} s)`,
  );
  return {
    ...head,
    status: 'ok',
    storage: ue.storage.kind,
    quantize: String(ue.storage.params.quantize ?? 'n/a'),
    userRows: ue.mapper.rows,
    itemRows: ie.mapper.rows,
    rows: ue.mapper.rows + ie.mapper.rows,
    embeddingBytes: emb,
    budgetBytes,
    fullEmbeddingBytes: full,
    embeddingFraction: emb / full,
    budgetUse: emb / budgetBytes,
    mappingBytes: user.mappingBytes + item.mappingBytes,
    optimizerBytes,
    trainingBytes,
    'recall@20': test.recall,
    'recallCapped@20': test.recallCapped,
    'ndcg@20': test.ndcg,
    ...(valid
      ? {
          'valid.recall@20': valid.recall,
          'valid.recallCapped@20': valid.recallCapped,
          'valid.ndcg@20': valid.ndcg,
        }
      : {}),
    selection: valid ? 'best-validation' : 'last-epoch',
    bestEpoch: valid ? valid.epoch : res.epochs,
    epochsTrained: res.epochs,
    epochs: o.epochs,
    stoppedEarly: res.epochs < o.epochs,
    evalEvery: o.evalEvery,
    ...(valid
      ? {
          patience: o.patience,
          validation: (d.dataset as { validation?: unknown }).validation
            ? 'leave-one-out'
            : `holdout ${o.validFraction}`,
          validationInteractions: d.split!.validation.items.length,
          validCurve: tracker.curve.map(([e, v]) => [e, Number(v.toFixed(6))]),
        }
      : {}),
    lr,
    reg,
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
    evalSeconds: res.evalSeconds + testSeconds,
    fitSeconds,
    triplesPerSecond: Math.round(res.triplesPerSecond),
    seed,
    params: {
      user: { ...ue.mapper.params, ...ue.storage.params },
      item: { ...ie.mapper.params, ...ie.storage.params },
    },
  };
}
