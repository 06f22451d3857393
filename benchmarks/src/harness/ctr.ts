import { InvalidArgumentError, resolveOptions } from '@compactrec/core';
import {
  type CtrDataFormat,
  type CtrModelKind,
  createCtrModel,
  evaluateCtr,
  openCtrData,
  trainCtr,
} from '@compactrec/ctr';
import { initTf, type TfPreference } from '@compactrec/tf-backend';
import { methodSpec } from './methods.js';
import type { ResultRecord } from './report.js';

/** Options of {@link runCtrBench}; every field but `data`, `format` and `methods` is optional. */
export interface CtrBenchOptions {
  /** Data path (frappe/criteo) or synthetic spec. */
  data: string;
  format: CtrDataFormat;
  methods: readonly string[];
  /** @default 'deepfm' */
  model?: CtrModelKind;
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
  /** Early-stopping patience (epochs). @default 2 */
  patience?: number;
  /** @default 0 */
  seed?: number;
  /** Fields with at most this many IDs keep full tables. @default 100 */
  keepFullBelow?: number;
  /** Criteo min count. @default 10 */
  minCount?: number;
  /** Read at most this many rows per file. @default Infinity */
  maxRows?: number;
  /** tfjs backend. @default 'auto' */
  backend?: TfPreference;
  /** Method-specific settings passed to every mapper. */
  extra?: Readonly<Record<string, number | string | boolean>>;
  /** Progress sink. @default stderr */
  log?: (line: string) => void;
}

/** Defaults of {@link CtrBenchOptions}. */
export const DEFAULT_CTR_BENCH_OPTIONS = Object.freeze({
  model: 'deepfm' as CtrModelKind,
  budget: 0.25,
  dim: 16,
  mlp: Object.freeze([400, 400]) as readonly number[],
  epochs: 30,
  batchSize: 1024,
  lr: 0.001,
  patience: 2,
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
 * Trains and evaluates one CTR model per compression method at the same per-table budget (every
 * field compressed by the method; small fields keep full tables) and returns one record per method:
 * test AUC and log loss, the bytes by kind, times, and the process RSS after training.
 */
export async function runCtrBench(options: CtrBenchOptions): Promise<ResultRecord[]> {
  const o = resolveOptions(DEFAULT_CTR_BENCH_OPTIONS, options);
  if (!(o.budget > 0 && o.budget <= 1)) {
    throw new InvalidArgumentError(`benchmarks/runCtrBench: budget (${o.budget}) must be in (0, 1]`);
  }
  for (const m of o.methods) methodSpec(m); // unknown names fail before any work
  const rt = await initTf({ prefer: o.backend, quiet: true });
  o.log(`[bench ctr] backend ${rt.backend}: ${rt.reason}`);
  const t0 = performance.now();
  const data = await openCtrData(o.format, o.data, { seed: o.seed, minCount: o.minCount, maxRows: o.maxRows });
  o.log(
    `[bench ctr] ${data.schema.name}: ${data.schema.fieldNames.length} fields [${[...data.schema.cardinalities].join(', ')}], ${data.train.numSamples ?? '?'} train / ${data.valid.numSamples ?? '?'} valid / ${data.test.numSamples ?? '?'} test (opened in ${((performance.now() - t0) / 1000).toFixed(2)} s)`,
  );
  const needsCounts = o.methods.some((m) => methodSpec(m).requires.includes('counts'));
  const counts = needsCounts ? data.counts() : undefined;
  const records: ResultRecord[] = [];
  for (const method of o.methods) {
    const budget = method === 'full' ? 1 : o.budget;
    const tFit = performance.now();
    const model = createCtrModel(
      rt.tf,
      data.schema,
      {
        model: o.model,
        method,
        budget,
        dim: o.dim,
        mlp: o.mlp,
        lr: o.lr,
        seed: o.seed,
        keepFullBelow: o.keepFullBelow,
        ...(o.extra ? { extra: o.extra } : {}),
      },
      counts ? { counts } : {},
    );
    const fitSeconds = (performance.now() - tFit) / 1000;
    try {
      const mem = model.memory();
      o.log(
        `[${method}] ${mem.rows} rows, ${mem.embeddingBytes.toLocaleString('en-US')} table bytes of budget ${mem.budgetBytes.toLocaleString('en-US')} (fit ${fitSeconds.toFixed(2)} s)`,
      );
      const res = await trainCtr(
        model,
        { train: data.train, valid: data.valid },
        { epochs: o.epochs, batchSize: o.batchSize, patience: o.patience, seed: o.seed, log: o.log },
      );
      const test = await evaluateCtr(model, data.test);
      records.push({
        dataset: data.schema.name,
        model: o.model,
        method,
        budget,
        rows: mem.rows,
        embeddingBytes: mem.embeddingBytes,
        budgetBytes: mem.budgetBytes,
        fullEmbeddingBytes: mem.fullEmbeddingBytes,
        embeddingFraction: mem.embeddingBytes / mem.fullEmbeddingBytes,
        mappingBytes: mem.mappingBytes,
        optimizerBytes: mem.optimizerBytes,
        denseParams: mem.denseParams,
        auc: test.auc,
        logloss: test.logloss,
        validAuc: res.bestValidAuc ?? null,
        bestEpoch: res.bestEpoch,
        epochs: res.epochs.length,
        lr: o.lr,
        batchSize: o.batchSize,
        dim: o.dim,
        trainSeconds: res.trainSeconds,
        evalSeconds: res.evalSeconds + test.seconds,
        fitSeconds,
        samplesPerSecond: Math.round(res.samplesPerSecond),
        rssBytes: process.memoryUsage().rss,
        backend: rt.backend,
        seed: o.seed,
        params: JSON.stringify(model.mappers.map((m) => ({ method: m.method, rows: m.rows, ...m.params }))),
      });
      o.log(
        `[${method}] test auc ${test.auc.toFixed(4)} logloss ${test.logloss.toFixed(4)} (best epoch ${res.bestEpoch}, ${(res.trainSeconds + res.evalSeconds).toFixed(1)} s)`,
      );
    } finally {
      model.dispose();
    }
  }
  return records;
}
