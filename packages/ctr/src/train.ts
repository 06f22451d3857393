import { auc, deriveSeed, InvalidArgumentError, logloss, resolveOptions } from '@compactrec/core';
import { checkInt } from './internal/check.js';
import type { CtrModel, CtrModelState } from './model.js';
import type { CtrSource } from './schema.js';

/** Quality of a model on one split. */
export interface CtrEvaluation {
  readonly auc: number;
  readonly logloss: number;
  readonly samples: number;
  readonly seconds: number;
}

/** Options of {@link evaluateCtr}; every field is optional. */
export interface EvaluateCtrOptions {
  /** Samples per forward. @default 8192 */
  batchSize?: number;
}

/** Defaults of {@link EvaluateCtrOptions}. */
export const DEFAULT_EVALUATE_CTR_OPTIONS = Object.freeze({ batchSize: 8192 });

/**
 * AUC (exact, tie-aware) and log loss of the model's click probabilities on every sample of
 * `source`. Scores are kept (4 bytes per sample); rows are streamed.
 */
export async function evaluateCtr(
  model: CtrModel,
  source: CtrSource,
  options: EvaluateCtrOptions = {},
): Promise<CtrEvaluation> {
  const o = resolveOptions(DEFAULT_EVALUATE_CTR_OPTIONS, options);
  checkInt('ctr/evaluateCtr', 'batchSize', o.batchSize, 1);
  const t0 = performance.now();
  let cap = source.numSamples ?? 1 << 16;
  let probs = new Float32Array(cap);
  let labels = new Float32Array(cap);
  let n = 0;
  let buf = new Float32Array(o.batchSize);
  for await (const batch of source.batches({ batchSize: o.batchSize })) {
    if (n + batch.size > cap) {
      cap = Math.max(cap * 2, n + batch.size);
      const p2 = new Float32Array(cap);
      p2.set(probs.subarray(0, n));
      probs = p2;
      const l2 = new Float32Array(cap);
      l2.set(labels.subarray(0, n));
      labels = l2;
    }
    if (buf.length < batch.size) buf = new Float32Array(batch.size);
    model.predict(batch, buf.subarray(0, batch.size));
    probs.set(buf.subarray(0, batch.size), n);
    labels.set(batch.labels.subarray(0, batch.size), n);
    n += batch.size;
  }
  if (n === 0) throw new InvalidArgumentError(`ctr/evaluateCtr: the source '${source.schema.name}' yielded no samples`);
  const p = probs.subarray(0, n);
  const y = labels.subarray(0, n);
  return { auc: auc(y, p), logloss: logloss(y, p), samples: n, seconds: (performance.now() - t0) / 1000 };
}

/** One epoch of {@link trainCtr}. */
export interface CtrEpochReport {
  readonly epoch: number;
  /** Mean training loss over the epoch's batches. */
  readonly loss: number;
  readonly samples: number;
  readonly samplesPerSecond: number;
  readonly seconds: number;
  /** Validation quality (absent without a validation source). */
  readonly valid?: CtrEvaluation;
}

/** Options of {@link trainCtr}; every field is optional. */
export interface TrainCtrOptions {
  /** Most epochs. @default 20 */
  epochs?: number;
  /** Samples per batch. @default 1024 */
  batchSize?: number;
  /**
   * Stop after this many epochs without a better validation AUC. 4 was chosen on validation AUC only: on
   * Frappe DeepFM (seeds 0–2, 30 epochs replayed by benchmarks/src/ctr-patience.ts) it is the smallest
   * patience whose best validation AUC equals that of never stopping; 2 stopped on plateaus. @default 4
   */
  patience?: number;
  /**
   * Restore the best validation epoch's values at the end (copies every table when a later epoch
   * may follow; off to save memory on huge tables). @default true
   */
  restoreBest?: boolean;
  /** Seed of the per-epoch shuffles. @default 0 */
  seed?: number;
  /** Print a progress line every N steps (0 = only per epoch). @default 0 */
  logEvery?: number;
  /** Progress sink, one line per call. @default stderr */
  log?: (line: string) => void;
  /** Called after each epoch. @default undefined */
  onEpoch?: (report: CtrEpochReport) => void;
}

/** Defaults of {@link TrainCtrOptions}. */
export const DEFAULT_TRAIN_CTR_OPTIONS = Object.freeze({
  epochs: 20,
  batchSize: 1024,
  patience: 4,
  restoreBest: true,
  seed: 0,
  logEvery: 0,
  log: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
});

/** What {@link trainCtr} did. */
export interface CtrTrainResult {
  readonly epochs: readonly CtrEpochReport[];
  /** 1-based epoch whose values the model holds at the end (best validation AUC, or the last). */
  readonly bestEpoch: number;
  readonly bestValidAuc: number | undefined;
  /** Whether training stopped before `epochs` because validation AUC stopped improving. */
  readonly stoppedEarly: boolean;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  /** Training samples per second over all epochs (excluding validation). */
  readonly samplesPerSecond: number;
}

/**
 * Trains a model with mini-batches streamed from `data.train` (shuffled per epoch with a seed
 * when the source can), evaluates validation AUC after every epoch, stops after `patience` epochs
 * without improvement and (by default) restores the best epoch's values. Deterministic for a seed
 * on one backend.
 */
export async function trainCtr(
  model: CtrModel,
  data: { readonly train: CtrSource; readonly valid?: CtrSource },
  options: TrainCtrOptions = {},
): Promise<CtrTrainResult> {
  const where = 'ctr/trainCtr';
  const o = resolveOptions(DEFAULT_TRAIN_CTR_OPTIONS, options);
  checkInt(where, 'epochs', o.epochs, 1);
  checkInt(where, 'batchSize', o.batchSize, 1);
  checkInt(where, 'patience', o.patience, 1);
  checkInt(where, 'logEvery', o.logEvery, 0);
  const reports: CtrEpochReport[] = [];
  let best: { epoch: number; auc: number; state: CtrModelState | null } | null = null;
  let trainSeconds = 0;
  let evalSeconds = 0;
  let totalSamples = 0;
  let stoppedEarly = false;
  const name = `${model.options.model}/${model.options.method}`;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    let batches = 0;
    let samples = 0;
    let tLog = t0;
    let samplesLog = 0;
    for await (const batch of data.train.batches({
      batchSize: o.batchSize,
      shuffleSeed: deriveSeed(o.seed, `epoch/${epoch}`),
    })) {
      const loss = model.trainStep(batch);
      if (!Number.isFinite(loss)) {
        throw new InvalidArgumentError(
          `${where}: loss became ${loss} at epoch ${epoch} step ${batches + 1}; lower the learning rate`,
        );
      }
      lossSum += loss;
      batches++;
      samples += batch.size;
      samplesLog += batch.size;
      if (o.logEvery > 0 && batches % o.logEvery === 0) {
        const now = performance.now();
        o.log(
          `[ctr ${name}] epoch ${epoch} step ${batches} loss ${(lossSum / batches).toFixed(4)} ${Math.round((samplesLog * 1000) / (now - tLog))} samples/s`,
        );
        tLog = now;
        samplesLog = 0;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    totalSamples += samples;
    if (batches === 0)
      throw new InvalidArgumentError(`${where}: the training source '${data.train.schema.name}' is empty`);
    let valid: CtrEvaluation | undefined;
    if (data.valid) {
      valid = await evaluateCtr(model, data.valid);
      evalSeconds += valid.seconds;
    }
    const report: CtrEpochReport = {
      epoch,
      loss: lossSum / batches,
      samples,
      samplesPerSecond: samples / Math.max(seconds, 1e-9),
      seconds,
      ...(valid ? { valid } : {}),
    };
    reports.push(report);
    o.log(
      `[ctr ${name}] epoch ${epoch}/${o.epochs} loss ${report.loss.toFixed(4)} ${Math.round(report.samplesPerSecond)} samples/s` +
        (valid ? ` valid auc ${valid.auc.toFixed(4)} logloss ${valid.logloss.toFixed(4)}` : ''),
    );
    o.onEpoch?.(report);
    if (!valid) continue;
    if (best === null || valid.auc > best.auc) {
      const more = epoch < o.epochs;
      best = { epoch, auc: valid.auc, state: o.restoreBest && more ? model.captureState() : null };
    } else if (epoch - best.epoch >= o.patience) {
      stoppedEarly = epoch < o.epochs;
      break;
    }
  }
  const last = reports.length;
  let bestEpoch = last;
  if (best && best.epoch !== last && o.restoreBest && best.state) {
    model.restoreState(best.state);
    bestEpoch = best.epoch;
    o.log(`[ctr ${name}] restored epoch ${best.epoch} (best valid auc ${best.auc.toFixed(4)})`);
  }
  return {
    epochs: reports,
    bestEpoch,
    bestValidAuc: best?.auc,
    stoppedEarly,
    trainSeconds,
    evalSeconds,
    samplesPerSecond: totalSamples / Math.max(trainSeconds, 1e-9),
  };
}
