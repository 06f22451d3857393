/**
 * The CTR-prediction app: trains a model on a dataset and writes a model directory, evaluates a
 * model directory on data, and serves click probabilities from one. It only wires packages:
 * `@compactrec/tf-backend` picks the tfjs backend, `@compactrec/ctr` holds data, models and the
 * model directory format.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, type OptimizerKind, type QuantizeMode } from '@compactrec/core';
import {
  type CtrDataFormat,
  type CtrEvaluation,
  type CtrMemory,
  type CtrModel,
  type CtrModelKind,
  type CtrTrainResult,
  checkCtrSplits,
  createCtrModel,
  DEFAULT_CTR_MODEL_OPTIONS,
  DEFAULT_TRAIN_CTR_OPTIONS,
  evaluateCtr,
  type FieldVocabulary,
  fieldGraphs,
  loadCtrModel,
  loadSequenceCtrModel,
  openCtrData,
  readCtrModelConfig,
  saveCtrModel,
  trainCtr,
} from '@compactrec/ctr';
import { resolveMethod } from '@compactrec/embedding';
import { initTf, type TfPreference } from '@compactrec/tf-backend';

/** Options of {@link trainCtrApp}: data, model and training settings (undefined = the packages' defaults). */
export interface CtrTrainAppOptions {
  readonly data: string;
  readonly format: CtrDataFormat;
  readonly model?: CtrModelKind;
  /** Embedding method of every field (`SHARING`, `STORAGE` or `SHARING+STORAGE`, see `@compactrec/embedding`). */
  readonly method?: string;
  /** Low-precision kinds: quantize `after` training or `during` it. */
  readonly quantize?: QuantizeMode;
  /** Settings of the storage kind of every table (e.g. `{ dslTraining: 'sparse' }`). */
  readonly storageExtra?: Readonly<Record<string, number | string | boolean>>;
  readonly budget?: number;
  readonly dim?: number;
  readonly mlp?: readonly number[];
  readonly dropout?: number;
  readonly lr?: number;
  readonly sparseOptimizer?: OptimizerKind;
  readonly epochs?: number;
  readonly batch?: number;
  readonly patience?: number;
  readonly seed?: number;
  readonly minCount?: number;
  readonly maxRows?: number;
  /** csv: label column and columns to leave out (see `OpenCtrDataOptions`). */
  readonly labelColumn?: string;
  readonly dropColumns?: readonly string[];
  readonly keepFullBelow?: number;
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
  /** tfjs backend. @default 'auto' */
  readonly backend?: TfPreference;
  /** Model directory to write (none when unset). */
  readonly out?: string;
  /** Progress lines. @default stderr */
  readonly log?: (line: string) => void;
}

/** What {@link trainCtrApp} did. */
export interface CtrTrainAppResult {
  readonly backend: string;
  readonly backendReason: string;
  readonly dataset: string;
  readonly train: CtrTrainResult;
  readonly valid: CtrEvaluation;
  readonly test: CtrEvaluation;
  /** Bytes of the served model (after `finishTraining`). */
  readonly memory: CtrMemory;
  /** Bytes while training (optimizer and training-only copies included). */
  readonly trainingMemory: CtrMemory;
  /** Files written to `out`. */
  readonly files: readonly string[];
}

const stderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function defined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Trains on `data` (train part), early-stops on its validation part, evaluates its test part, saves to `out`. */
export async function trainCtrApp(o: CtrTrainAppOptions): Promise<CtrTrainAppResult> {
  const log = o.log ?? stderr;
  const rt = await initTf({ prefer: o.backend ?? 'auto', quiet: true });
  log(`[ctr] backend ${rt.backend}: ${rt.reason}`);
  const data = await openCtrData(
    o.format,
    o.data,
    defined({
      seed: o.seed,
      minCount: o.minCount,
      maxRows: o.maxRows,
      labelColumn: o.labelColumn,
      dropColumns: o.dropColumns,
    }),
  );
  checkCtrSplits(data, o.data); // a file too small to split fails here, not after training
  log(
    `[ctr] ${data.schema.name}: ${data.schema.fieldNames.length} fields, ${data.train.numSamples ?? '?'} train / ${data.valid.numSamples ?? '?'} valid / ${data.test.numSamples ?? '?'} test samples`,
  );
  const method = resolveMethod(o.method ?? 'full'); // unknown names fail before any work
  const graphs = method.sharing.requires.includes('interactions')
    ? await fieldGraphs(data.schema, data.train, {
        method: method.name,
        keepFullBelow: o.keepFullBelow ?? DEFAULT_CTR_MODEL_OPTIONS.keepFullBelow,
      })
    : undefined;
  const epochs = o.epochs ?? DEFAULT_TRAIN_CTR_OPTIONS.epochs;
  const batch = o.batch ?? DEFAULT_TRAIN_CTR_OPTIONS.batchSize;
  const totalSteps = data.train.numSamples !== undefined ? epochs * Math.ceil(data.train.numSamples / batch) : 0;
  const model = createCtrModel(
    rt.tf,
    data.schema,
    defined({
      totalSteps,
      model: o.model,
      method: o.method,
      quantize: o.quantize,
      storageExtra: o.storageExtra,
      budget: o.budget,
      dim: o.dim,
      mlp: o.mlp,
      dropout: o.dropout,
      lr: o.lr,
      sparseOptimizer: o.sparseOptimizer,
      seed: o.seed,
      keepFullBelow: o.keepFullBelow,
      extra: o.extra,
    }),
    { counts: data.counts(), ...(graphs ? { graphs } : {}) },
  );
  try {
    const memory = model.memory();
    log(
      `[ctr] ${model.options.model}/${model.options.method}: ${memory.rows} rows, ${memory.embeddingBytes} table bytes (budget ${memory.budgetBytes}, full ${memory.fullEmbeddingBytes}), ${memory.denseParams} dense params`,
    );
    const train = await trainCtr(
      model,
      { train: data.train, valid: data.valid },
      { ...defined({ epochs: o.epochs, batchSize: o.batch, patience: o.patience, seed: o.seed }), log },
    );
    const trainingMemory = model.memory();
    model.finishTraining(); // served form: what the model directory holds and predicts with
    const valid = await evaluateCtr(model, data.valid);
    const test = await evaluateCtr(model, data.test);
    log(`[ctr] test auc ${test.auc.toFixed(4)} logloss ${test.logloss.toFixed(4)} (${test.samples} samples)`);
    const files = o.out
      ? await saveCtrModel(model, o.out, {
          ...(data.vocabulary ? { vocabulary: data.vocabulary } : {}),
          data: data.descriptor,
          training: {
            backend: rt.backend,
            epochs: train.epochs.length,
            bestEpoch: train.bestEpoch,
            bestValidAuc: train.bestValidAuc ?? null,
            batchSize: o.batch ?? null,
            valid: { auc: valid.auc, logloss: valid.logloss },
            test: { auc: test.auc, logloss: test.logloss },
          },
        })
      : [];
    return {
      backend: rt.backend,
      backendReason: rt.reason,
      dataset: data.schema.name,
      train,
      valid,
      test,
      memory: model.memory(),
      trainingMemory,
      files,
    };
  } finally {
    model.dispose();
  }
}

/** Options of {@link evaluateCtrApp}. */
export interface CtrEvalAppOptions {
  readonly modelDir: string;
  /** Data path; unset = the path the model was trained on. */
  readonly data?: string;
  /** Data format; unset = the model's. */
  readonly format?: CtrDataFormat;
  /**
   * Which rows: the seeded split's test/valid/train part, or every row ('all', frappe and criteo).
   * @default 'test' for the data the model was trained on, 'all' for another file
   */
  readonly split?: CtrEvalSplit;
  readonly backend?: TfPreference;
  readonly log?: (line: string) => void;
}

/** Rows `evaluateCtrApp` scores: one part of the seeded split, or every row of the file. */
export type CtrEvalSplit = 'train' | 'valid' | 'test' | 'all';

/**
 * Evaluates a model directory on data encoded with the model's vocabulary and split settings. A
 * file other than the training file is scored whole unless `split` says otherwise; the result says
 * which rows were scored (`split`, `samples`, `path`).
 */
export async function evaluateCtrApp(
  o: CtrEvalAppOptions,
): Promise<CtrEvaluation & { backend: string; split: CtrEvalSplit; path: string }> {
  const log = o.log ?? stderr;
  const rt = await initTf({ prefer: o.backend ?? 'auto', quiet: true });
  const loaded = (await readCtrModelConfig(o.modelDir)).sequence
    ? await loadSequenceCtrModel(rt.tf, o.modelDir)
    : await loadCtrModel(rt.tf, o.modelDir);
  try {
    const saved = loaded.config.data ?? {};
    const format = o.format ?? (saved.format as CtrDataFormat | undefined);
    const path = o.data ?? (saved.path as string | undefined);
    if (!format || path === undefined) {
      throw new InvalidArgumentError(
        `ctr-app/evaluateCtrApp: '${o.modelDir}' records no data; pass --data and --format`,
      );
    }
    const data = await openCtrData(format, path, {
      saved: format === saved.format ? saved : {},
      ...(loaded.vocabulary ? { vocabulary: loaded.vocabulary } : {}),
    });
    checkSchema(loaded.model, data.schema.cardinalities, o.modelDir, path);
    const trainedOn =
      typeof saved.path === 'string' && format === saved.format && resolve(path) === resolve(saved.path);
    const split = o.split ?? (trainedOn ? 'test' : 'all');
    const source = split === 'all' ? data.all : data[split];
    if (!source) {
      throw new InvalidArgumentError(
        `ctr-app/evaluateCtrApp: split 'all' is not available for ${format} data; use train, valid or test`,
      );
    }
    const r = await evaluateCtr(loaded.model, source);
    log(
      `[ctr] ${o.modelDir} on ${path}: scored ${split === 'all' ? `all ${r.samples} rows` : `the ${split} part of the seeded split (${r.samples} rows)`} (${rt.backend}): auc ${r.auc.toFixed(4)} logloss ${r.logloss.toFixed(4)}`,
    );
    return { ...r, backend: rt.backend, split, path };
  } finally {
    loaded.model.dispose();
  }
}

function checkSchema(model: CtrModel, cards: Int32Array, dir: string, path: string): void {
  const want = model.schema.cardinalities;
  if (cards.length !== want.length || cards.some((c, f) => c !== want[f])) {
    throw new InvalidArgumentError(
      `ctr-app: '${path}' encodes to fields [${[...cards].join(',')}] IDs but the model in '${dir}' has [${[...want].join(',')}]; pass the data and format it was trained on`,
    );
  }
}

/** Click probabilities from a model directory (serving). */
export interface CtrPredictor {
  readonly model: CtrModel;
  readonly vocabulary: FieldVocabulary | null;
  /** Probabilities of `n` samples of field IDs `[n × F]` (and dense features `[n × D]` if the model has any). */
  predictIds(ids: Int32Array, n: number, dense?: Float32Array): Float32Array;
  /** Probabilities of samples of RAW values (`[n × F]`, e.g. Criteo hashes), encoded with the model's vocabulary. */
  predictRaw(raw: ArrayLike<number>, n: number, dense?: Float32Array): Float32Array;
  dispose(): void;
}

/** Opens a model directory for serving predictions. */
export async function openCtrPredictor(
  modelDir: string,
  options: { backend?: TfPreference } = {},
): Promise<CtrPredictor> {
  const rt = await initTf({ prefer: options.backend ?? 'auto', quiet: true });
  const { model, vocabulary } = await loadCtrModel(rt.tf, modelDir);
  const F = model.numFields;
  const predictIds = (ids: Int32Array, n: number, dense?: Float32Array): Float32Array =>
    model.predict({ size: n, ids, labels: new Float32Array(n), dense: dense ?? null });
  return {
    model,
    vocabulary,
    predictIds,
    predictRaw(raw, n, dense) {
      if (!vocabulary) {
        throw new InvalidArgumentError(
          `ctr-app/predictRaw: '${modelDir}' has no vocabulary; use predictIds with field IDs`,
        );
      }
      const ids = new Int32Array(n * F);
      for (let i = 0; i < n * F; i++) ids[i] = vocabulary.lookupOrThrow(i % F, raw[i]!, 'ctr-app/predictRaw');
      return predictIds(ids, n, dense);
    },
    dispose: () => model.dispose(),
  };
}

export { type CtrPredictAppOptions, type CtrPredictAppResult, predictCtrApp } from './serving/batch.js';
export {
  type PredictInput,
  type PredictOutput,
  type PredictPath,
  RequestError,
  SequencePredictor,
  type VersionMismatchPolicy,
} from './serving/predictor.js';
export {
  type CtrServer,
  type CtrServerOptions,
  DEFAULT_CTR_SERVER_OPTIONS,
  parsePredictBody,
  startCtrServer,
} from './serving/server.js';
export { HttpUserStates, StoreUserStates, type UserState, type UserStateSource } from './serving/user-state.js';
