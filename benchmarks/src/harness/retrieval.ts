import {
  degrees,
  embeddingBytes,
  fullTableBytes,
  generateRetrievalDataset,
  type IdMapper,
  InvalidArgumentError,
  type MapperFitData,
  type RetrievalDataset,
  readLightGcnDataset,
  resolveOptions,
} from '@compactrec/core';
import { type MfEpochReport, Tower, trainMfBpr } from '@compactrec/models';
import { kernelInfo } from '@compactrec/native';
import { methodSpec } from './methods.js';
import type { ResultRecord } from './report.js';

/** Options of {@link runRetrievalBench}; every field but `data` and `methods` is optional. */
export interface RetrievalBenchOptions {
  /** A LightGCN-format directory (train.txt, test.txt) or `generated` for the built-in synthetic set. */
  data: string;
  methods: readonly string[];
  /** Backbone. @default 'mf' */
  model?: 'mf';
  /** Fraction of each table's full embedding bytes every method may use. @default 0.25 */
  budget?: number;
  /** @default 64 */
  dim?: number;
  /** @default 150 */
  epochs?: number;
  /** Adam learning rate, or per-method overrides. @default 0.001 */
  lr?: number;
  lrByMethod?: Readonly<Record<string, number>>;
  /** @default 0.0001 */
  reg?: number;
  /** @default 2048 */
  batchSize?: number;
  /** @default 0 */
  seed?: number;
  /** Evaluate every N epochs and report the best too (0 = last epoch only). @default 0 */
  evalEvery?: number;
  /** Method-specific settings passed to every mapper (e.g. { combine: 'mult' }). */
  extra?: Readonly<Record<string, number | string | boolean>>;
  /** Progress sink (one line per event); default stderr. */
  log?: (line: string) => void;
}

export const DEFAULT_RETRIEVAL_BENCH_OPTIONS = Object.freeze({
  model: 'mf' as const,
  budget: 0.25,
  dim: 64,
  epochs: 150,
  lr: 0.001,
  reg: 0.0001,
  batchSize: 2048,
  seed: 0,
  evalEvery: 0,
  log: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
});

/** Loads `--data`: a LightGCN directory, or `generated`. */
export async function loadRetrievalData(data: string, seed = 0): Promise<RetrievalDataset> {
  if (data === 'generated') return generateRetrievalDataset({ seed });
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
    method === 'full' ? fullTableBytes(numIds, dim) : Math.floor(fullTableBytes(numIds, dim) * budgetFraction);
  return spec.create(fit, {
    dim,
    budgetBytes,
    seed: seed * 2 + (side === 'user' ? 0 : 1),
    ...(extra ? { extra } : {}),
  });
}

/**
 * Trains and evaluates the backbone once per method at the same per-table byte budget, and returns
 * one record per method with quality, the three kinds of bytes, and times.
 */
export async function runRetrievalBench(options: RetrievalBenchOptions): Promise<ResultRecord[]> {
  const o = resolveOptions(DEFAULT_RETRIEVAL_BENCH_OPTIONS, options);
  if (!(o.budget > 0 && o.budget <= 1)) {
    throw new InvalidArgumentError(`benchmarks/runRetrievalBench: budget (${o.budget}) must be in (0, 1]`);
  }
  for (const m of o.methods) methodSpec(m); // unknown names fail before any work
  const t0 = performance.now();
  const dataset = await loadRetrievalData(o.data, o.seed);
  o.log(
    `[bench] ${dataset.name}: ${dataset.train.numUsers} users, ${dataset.train.numItems} items, ${dataset.train.items.length} train / ${dataset.test.items.length} test interactions (loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s); kernels: ${kernelInfo().kind}`,
  );
  const records: ResultRecord[] = [];
  for (const method of o.methods) {
    const budget = method === 'full' ? 1 : o.budget;
    const tFit = performance.now();
    const um = fitMapper(method, dataset, 'user', o.dim, budget, o.seed, o.extra);
    const im = fitMapper(method, dataset, 'item', o.dim, budget, o.seed, o.extra);
    const fitSeconds = (performance.now() - tFit) / 1000;
    const user = new Tower(um, o.dim, { seed: o.seed * 2 + 11 });
    const item = new Tower(im, o.dim, { seed: o.seed * 2 + 12 });
    const lr = o.lrByMethod?.[method] ?? o.lr;
    o.log(
      `[${method}] user rows ${um.rows}, item rows ${im.rows} (fit ${fitSeconds.toFixed(2)} s); training ${o.epochs} epochs, lr ${lr}`,
    );
    const res = trainMfBpr(dataset, user, item, {
      epochs: o.epochs,
      lr,
      reg: o.reg,
      batchSize: o.batchSize,
      seed: o.seed,
      evalEvery: o.evalEvery,
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
    const emb = embeddingBytes(um, o.dim) + embeddingBytes(im, o.dim);
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
        Math.floor(fullTableBytes(dataset.train.numUsers, o.dim) * budget) +
        Math.floor(fullTableBytes(dataset.train.numItems, o.dim) * budget),
      fullEmbeddingBytes: full,
      embeddingFraction: emb / full,
      mappingBytes: um.mappingBytes + im.mappingBytes,
      optimizerBytes: user.optimizerBytes + item.optimizerBytes,
      'recall@20': res.final.recall,
      'ndcg@20': res.final.ndcg,
      bestRecall: res.best.recall,
      bestEpoch: res.best.epoch,
      epochs: o.epochs,
      lr,
      trainSeconds: res.trainSeconds,
      evalSeconds: res.evalSeconds,
      fitSeconds,
      triplesPerSecond: Math.round(res.triplesPerSecond),
      seed: o.seed,
      params: JSON.stringify({ user: um.params, item: im.params }),
    });
    o.log(
      `[${method}] recall@20 ${res.final.recall.toFixed(4)} ndcg@20 ${res.final.ndcg.toFixed(4)} (${emb.toLocaleString('en-US')} embedding bytes, ${(res.trainSeconds + res.evalSeconds).toFixed(1)} s)`,
    );
  }
  return records;
}
