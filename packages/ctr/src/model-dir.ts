import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CheckpointArray,
  type MapperSnapshot,
  NotFoundError,
  readCheckpoint,
  UsageError,
  writeCheckpoint,
} from '@compactrec/core';
import {
  type FeatureEmbedding,
  FLOAT32_STORAGE,
  loadFeatureEmbeddings,
  restoreFeatureEmbedding,
  saveFeatureEmbeddings,
} from '@compactrec/embedding';
import type { Tf } from '@compactrec/tf-backend';
import type { CtrInputBlock } from './block.js';
import { CtrModel, type ResolvedCtrModelOptions, resolveCtrModelOptions } from './model.js';
import type { CtrSchema } from './schema.js';
import { FieldVocabulary } from './vocabulary.js';

/** `format` of a model directory's config.json. */
export const CTR_MODEL_DIR_FORMAT = 'compactrec-ctr-model';
/**
 * Version of the model directory layout this build writes: 2 = field embeddings in one
 * `embeddings.ckpt` through the embedding contract (any composed method, served form). Version 1
 * (float32 `tables.ckpt` + `mappers.ckpt`) still loads, as float32 tables.
 */
export const CTR_MODEL_DIR_VERSION = 2;
/** Model directory versions this build reads. */
export const CTR_MODEL_DIR_READABLE_VERSIONS: readonly number[] = Object.freeze([1, 2]);

/** The files of a model directory (`tables` and `mappers`: version 1 only). */
export const CTR_MODEL_FILES = Object.freeze({
  config: 'config.json',
  dense: 'dense.ckpt',
  embeddings: 'embeddings.ckpt',
  tables: 'tables.ckpt',
  mappers: 'mappers.ckpt',
  vocabulary: 'vocabulary.ckpt',
});

/** config.json of a model directory. */
export interface CtrModelConfig {
  readonly format: typeof CTR_MODEL_DIR_FORMAT;
  readonly version: number;
  readonly createdAt: string;
  readonly options: ResolvedCtrModelOptions;
  readonly schema: {
    readonly name: string;
    readonly fieldNames: readonly string[];
    readonly cardinalities: readonly number[];
    readonly numDense: number;
  };
  /**
   * Per field: method, rows and knob values of its mapper (and its storage kind and knobs, version
   * 2), for people; the embeddings file is authoritative.
   */
  readonly fields: readonly {
    name: string;
    method: string;
    rows: number;
    params: Record<string, unknown>;
    storage?: string;
    storageParams?: Record<string, unknown>;
  }[];
  /** Dense parameters in the network's order. */
  readonly params: readonly { name: string; shape: readonly number[] }[];
  /** Whether vocabulary.ckpt exists. */
  readonly hasVocabulary: boolean;
  /** How the data was read (format, path, split options), so eval and serving encode rows the same way. */
  readonly data?: Readonly<Record<string, unknown>>;
  /** Training summary (epochs, best validation AUC, test metrics...). */
  readonly training?: Readonly<Record<string, unknown>>;
  /** Sequence models only: the sequence block (see `saveSequenceCtrModel` in sequence/model-dir.ts). */
  readonly sequence?: Readonly<Record<string, unknown>>;
}

/** Extra content of {@link saveCtrModel}. */
export interface SaveCtrModelExtras {
  readonly vocabulary?: FieldVocabulary;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly training?: Readonly<Record<string, unknown>>;
  /** Sequence models: the config's `sequence` section (written by `saveSequenceCtrModel`). */
  readonly sequence?: Readonly<Record<string, unknown>>;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

/**
 * Writes a model directory: config.json (versioned; written last, so a directory with a config is
 * complete), dense.ckpt (dense weights), embeddings.ckpt (every field's embedding — mapper and
 * storage, in served form — as `emb/<f>` and `first/<f>`) and vocabulary.ckpt (raw value → ID)
 * when given. Saving finishes training (low-precision tables are quantized, optimizer state is
 * dropped), so the saved model predicts exactly as the directory will after loading.
 */
export async function saveCtrModel(model: CtrModel, dir: string, extras: SaveCtrModelExtras = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const specs = model.net.params.specs;
  const dense: Record<string, CheckpointArray> = {};
  model.paramValues().forEach((v, i) => {
    dense[`p/${i}`] = v;
  });
  const embeddings: Record<string, FeatureEmbedding> = {};
  model.fields.forEach((e, f) => {
    embeddings[`emb/${f}`] = e;
  });
  model.firstOrder.forEach((e, f) => {
    embeddings[`first/${f}`] = e;
  });
  model.finishTraining();
  const files = CTR_MODEL_FILES;
  const written: string[] = [];
  const put = async (
    name: string,
    kind: string,
    header: Record<string, unknown>,
    arrays: Record<string, CheckpointArray>,
  ) => {
    const path = join(dir, name);
    await writeCheckpoint(path, kind, header, arrays);
    written.push(path);
  };
  await put(files.dense, 'ctr-dense', { version: CTR_MODEL_DIR_VERSION, count: specs.length }, dense);
  const embPath = join(dir, files.embeddings);
  await saveFeatureEmbeddings(embPath, embeddings);
  written.push(embPath);
  if (extras.vocabulary) {
    const v = extras.vocabulary.toArrays();
    await put(files.vocabulary, 'ctr-vocabulary', { version: CTR_MODEL_DIR_VERSION, ...v.header }, v.arrays);
  }
  const config: CtrModelConfig = {
    format: CTR_MODEL_DIR_FORMAT,
    version: CTR_MODEL_DIR_VERSION,
    createdAt: new Date().toISOString(),
    options: model.options,
    schema: {
      name: model.schema.name,
      fieldNames: [...model.schema.fieldNames],
      cardinalities: [...model.schema.cardinalities],
      numDense: model.schema.numDense,
    },
    fields: (model.fields.length > 0 ? model.fields : model.firstOrder).map((e, f) => ({
      name: model.schema.fieldNames[f]!,
      method: e.mapper.method,
      rows: e.mapper.rows,
      params: { ...e.mapper.params },
      storage: e.storage.kind,
      storageParams: { ...e.storage.params },
    })),
    params: specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
    hasVocabulary: extras.vocabulary !== undefined,
    ...(extras.data ? { data: extras.data } : {}),
    ...(extras.training ? { training: extras.training } : {}),
    ...(extras.sequence ? { sequence: extras.sequence } : {}),
  };
  const configPath = join(dir, files.config);
  await writeJsonAtomic(configPath, config);
  written.push(configPath);
  return written;
}

/**
 * Reads and checks a model directory's config.json: a missing directory or config is a
 * NotFoundError; another format or version is a UsageError with one line naming both versions.
 */
export async function readCtrModelConfig(dir: string): Promise<CtrModelConfig> {
  const where = 'ctr/loadCtrModel';
  const path = join(dir, CTR_MODEL_FILES.config);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new NotFoundError(
      `${where}: '${dir}' is not a CTR model directory (no ${CTR_MODEL_FILES.config}); train one with 'ctr train --out'`,
    );
  }
  let config: Partial<CtrModelConfig>;
  try {
    config = JSON.parse(text) as Partial<CtrModelConfig>;
  } catch {
    throw new UsageError(`${where}: ${path} is not valid JSON; the model directory is damaged — re-train it`);
  }
  if (config.format !== CTR_MODEL_DIR_FORMAT) {
    throw new UsageError(
      `${where}: ${path} is not a CTR model config (format '${String(config.format)}', expected '${CTR_MODEL_DIR_FORMAT}')`,
    );
  }
  if (!CTR_MODEL_DIR_READABLE_VERSIONS.includes(config.version as number)) {
    throw new UsageError(
      `${where}: '${dir}' is a version ${String(config.version)} model directory but this build reads versions ${CTR_MODEL_DIR_READABLE_VERSIONS.join(' and ')}; re-train the model or use a matching compactrec`,
      { context: { dir, version: config.version, supported: CTR_MODEL_DIR_READABLE_VERSIONS } },
    );
  }
  return config as CtrModelConfig;
}

/** A loaded model directory. */
export interface LoadedCtrModel {
  readonly model: CtrModel;
  readonly config: CtrModelConfig;
  readonly vocabulary: FieldVocabulary | null;
}

/** Options of {@link loadCtrModel}; every field is optional. */
export interface LoadCtrModelOptions {
  /** Input blocks to attach (their state is theirs to load). @default [] */
  blocks?: readonly CtrInputBlock[];
}

function need<T>(value: T | undefined, what: string, dir: string): T {
  if (value === undefined)
    throw new UsageError(`ctr/loadCtrModel: '${dir}' lacks ${what}; the model directory is damaged — re-train it`);
  return value;
}

/**
 * Loads a model directory written by {@link saveCtrModel} (version 2, any composed method) or a
 * version-1 one (float32 tables); predictions equal the saved model's. Mappers and storages are
 * restored through the embedding contract's registry.
 */
export async function loadCtrModel(tf: Tf, dir: string, options: LoadCtrModelOptions = {}): Promise<LoadedCtrModel> {
  const config = await readCtrModelConfig(dir);
  if (config.sequence !== undefined && !options.blocks?.length) {
    throw new UsageError(
      `ctr/loadCtrModel: '${dir}' holds a sequence model (${String(config.sequence.kind)}); load it with loadSequenceCtrModel`,
    );
  }
  const files = CTR_MODEL_FILES;
  const dense = await readCheckpoint(join(dir, files.dense), { kind: 'ctr-dense' });
  const schema: CtrSchema = {
    name: config.schema.name,
    fieldNames: config.schema.fieldNames,
    cardinalities: Int32Array.from(config.schema.cardinalities),
    numDense: config.schema.numDense,
  };
  const F = schema.fieldNames.length;
  const embeddings =
    config.version === 1 ? await loadVersion1Tables(dir, F, config.options.dim) : await loadEmbeddings(dir);
  const pick = (prefix: string): FeatureEmbedding[] => {
    if (!(`${prefix}/0` in embeddings)) return [];
    return Array.from({ length: F }, (_, f) => need(embeddings[`${prefix}/${f}`], `embedding ${prefix}/${f}`, dir));
  };
  const f32 = (a: CheckpointArray | undefined, what: string): Float32Array => {
    if (!(a instanceof Float32Array)) throw new UsageError(`ctr/loadCtrModel: '${dir}' lacks ${what}; re-train it`);
    return a.slice();
  };
  // A loaded model serves (its storages are in served form), so a version-1 directory's row optimizer
  // (sgd, adagrad…) does not matter; the storages know lazy Adam only.
  const options2 = resolveCtrModelOptions({ ...config.options, sparseOptimizer: 'adam' });
  const model = new CtrModel(tf, schema, options2, {
    fields: pick('emb'),
    firstOrder: pick('first'),
    params: config.params.map((_, i) => f32(dense.arrays[`p/${i}`], `dense parameter ${i}`)),
    ...(options.blocks ? { blocks: options.blocks } : {}),
  });
  let vocabulary: FieldVocabulary | null = null;
  if (config.hasVocabulary) {
    const v = await readCheckpoint(join(dir, files.vocabulary), { kind: 'ctr-vocabulary' });
    vocabulary = FieldVocabulary.fromArrays(v.header, v.arrays, 'ctr/loadCtrModel');
  }
  return { model, config, vocabulary };
}

async function loadEmbeddings(dir: string): Promise<Record<string, FeatureEmbedding>> {
  const path = join(dir, CTR_MODEL_FILES.embeddings);
  try {
    await access(path);
  } catch {
    throw new UsageError(
      `ctr/loadCtrModel: '${dir}' lacks ${CTR_MODEL_FILES.embeddings}; the model directory is damaged — re-train it`,
    );
  }
  return loadFeatureEmbeddings(path);
}

/** Version 1: float32 `tables.ckpt` (`emb/<f>`, `first/<f>`) beside `mappers.ckpt`, restored as float32 embeddings. */
async function loadVersion1Tables(dir: string, F: number, dim: number): Promise<Record<string, FeatureEmbedding>> {
  const files = CTR_MODEL_FILES;
  const [tables, mappersCk] = await Promise.all([
    readCheckpoint(join(dir, files.tables), { kind: 'ctr-tables' }),
    readCheckpoint(join(dir, files.mappers), { kind: 'ctr-mappers' }),
  ]);
  const snaps = need(
    mappersCk.header.snapshots as Omit<MapperSnapshot, 'arrays'>[] | undefined,
    'mapper snapshots',
    dir,
  );
  if (snaps.length !== F)
    throw new UsageError(`ctr/loadCtrModel: '${dir}' has ${snaps.length} mappers for ${F} fields; re-train it`);
  const out: Record<string, FeatureEmbedding> = {};
  snaps.forEach((s, f) => {
    const arrays: Record<string, CheckpointArray> = {};
    const prefix = `${f}/`;
    for (const [name, a] of Object.entries(mappersCk.arrays)) {
      if (name.startsWith(prefix)) arrays[name.slice(prefix.length)] = a;
    }
    const mapper = { ...s, arrays } as MapperSnapshot;
    for (const table of ['emb', 'first']) {
      const values = tables.arrays[`${table}/${f}`];
      if (values === undefined) continue;
      if (!(values instanceof Float32Array))
        throw new UsageError(`ctr/loadCtrModel: '${dir}' table ${table}/${f} is not float32; re-train it`);
      const rowDim = values.length / s.rows;
      out[`${table}/${f}`] = restoreFeatureEmbedding({
        method: s.method,
        dim: table === 'first' ? 1 : dim,
        mapper,
        storage: { kind: FLOAT32_STORAGE.name, rows: s.rows, rowDim, params: {}, arrays: { values: values.slice() } },
      });
    }
  });
  return out;
}
