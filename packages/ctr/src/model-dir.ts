import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CheckpointArray,
  type IdMapper,
  type MapperSnapshot,
  type MapperSpec,
  NotFoundError,
  readCheckpoint,
  UsageError,
  writeCheckpoint,
} from '@compactrec/core';
import { ID_HASHING_METHODS, restoreMapper } from '@compactrec/id-hashing';
import type { Tf } from '@compactrec/tf-backend';
import type { CtrInputBlock } from './block.js';
import { CtrModel, type ResolvedCtrModelOptions, resolveCtrModelOptions } from './model.js';
import type { CtrSchema } from './schema.js';
import { FieldVocabulary } from './vocabulary.js';

/** `format` of a model directory's config.json. */
export const CTR_MODEL_DIR_FORMAT = 'compactrec-ctr-model';
/** Version of the model directory layout this build writes and reads. */
export const CTR_MODEL_DIR_VERSION = 1;

/** The files of a model directory. */
export const CTR_MODEL_FILES = Object.freeze({
  config: 'config.json',
  dense: 'dense.ckpt',
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
  /** Per field: method, rows and knob values (for people; the mappers file is authoritative). */
  readonly fields: readonly { name: string; method: string; rows: number; params: Record<string, unknown> }[];
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
 * complete), dense.ckpt (dense weights), tables.ckpt (every field's table values), mappers.ckpt
 * (mapper snapshots, restored through the registry) and vocabulary.ckpt (raw value → ID) when given.
 * Training-only state (optimizer moments) is not saved.
 */
export async function saveCtrModel(model: CtrModel, dir: string, extras: SaveCtrModelExtras = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const F = model.numFields;
  const specs = model.net.params.specs;
  const dense: Record<string, CheckpointArray> = {};
  model.paramValues().forEach((v, i) => {
    dense[`p/${i}`] = v;
  });
  const tables: Record<string, CheckpointArray> = {};
  model.fields.forEach((e, f) => {
    tables[`emb/${f}`] = e.table.data;
  });
  model.firstOrder.forEach((e, f) => {
    tables[`first/${f}`] = e.table.data;
  });
  const snaps: Omit<MapperSnapshot, 'arrays'>[] = [];
  const mapperArrays: Record<string, CheckpointArray> = {};
  model.mappers.forEach((m, f) => {
    const s = m.snapshot();
    snaps.push({ method: s.method, numIds: s.numIds, rows: s.rows, params: s.params });
    for (const [name, a] of Object.entries(s.arrays)) mapperArrays[`${f}/${name}`] = a;
  });
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
  await put(files.tables, 'ctr-tables', { version: CTR_MODEL_DIR_VERSION, fields: F }, tables);
  await put(files.mappers, 'ctr-mappers', { version: CTR_MODEL_DIR_VERSION, snapshots: snaps }, mapperArrays);
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
    fields: model.mappers.map((m, f) => ({
      name: model.schema.fieldNames[f]!,
      method: m.method,
      rows: m.rows,
      params: { ...m.params },
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
  if (config.version !== CTR_MODEL_DIR_VERSION) {
    throw new UsageError(
      `${where}: '${dir}' is a version ${String(config.version)} model directory but this build reads version ${CTR_MODEL_DIR_VERSION}; re-train the model or use a matching compactrec`,
      { context: { dir, version: config.version, supported: CTR_MODEL_DIR_VERSION } },
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
  /** Registry to restore mappers with (e.g. id-hashing plus graphhash). @default ID_HASHING_METHODS */
  registry?: Readonly<Record<string, MapperSpec>>;
  /** Input blocks to attach (their state is theirs to load). @default [] */
  blocks?: readonly CtrInputBlock[];
}

function need<T>(value: T | undefined, what: string, dir: string): T {
  if (value === undefined)
    throw new UsageError(`ctr/loadCtrModel: '${dir}' lacks ${what}; the model directory is damaged — re-train it`);
  return value;
}

/** Loads a model directory written by {@link saveCtrModel}; predictions equal the saved model's. */
export async function loadCtrModel(tf: Tf, dir: string, options: LoadCtrModelOptions = {}): Promise<LoadedCtrModel> {
  const config = await readCtrModelConfig(dir);
  if (config.sequence !== undefined && !options.blocks?.length) {
    throw new UsageError(
      `ctr/loadCtrModel: '${dir}' holds a sequence model (${String(config.sequence.kind)}); load it with loadSequenceCtrModel`,
    );
  }
  const files = CTR_MODEL_FILES;
  const [dense, tables, mappersCk] = await Promise.all([
    readCheckpoint(join(dir, files.dense), { kind: 'ctr-dense' }),
    readCheckpoint(join(dir, files.tables), { kind: 'ctr-tables' }),
    readCheckpoint(join(dir, files.mappers), { kind: 'ctr-mappers' }),
  ]);
  const schema: CtrSchema = {
    name: config.schema.name,
    fieldNames: config.schema.fieldNames,
    cardinalities: Int32Array.from(config.schema.cardinalities),
    numDense: config.schema.numDense,
  };
  const F = schema.fieldNames.length;
  const snaps = need(
    mappersCk.header.snapshots as Omit<MapperSnapshot, 'arrays'>[] | undefined,
    'mapper snapshots',
    dir,
  );
  if (snaps.length !== F)
    throw new UsageError(`ctr/loadCtrModel: '${dir}' has ${snaps.length} mappers for ${F} fields; re-train it`);
  const registry = options.registry ?? ID_HASHING_METHODS;
  const mappers: IdMapper[] = snaps.map((s, f) => {
    const arrays: Record<string, Int32Array | Uint32Array | Float32Array | Float64Array> = {};
    const prefix = `${f}/`;
    for (const [name, a] of Object.entries(mappersCk.arrays)) {
      if (name.startsWith(prefix))
        arrays[name.slice(prefix.length)] = a as Int32Array | Uint32Array | Float32Array | Float64Array;
    }
    return restoreMapper({ ...s, arrays }, registry);
  });
  const f32 = (a: CheckpointArray | undefined, what: string): Float32Array => {
    if (!(a instanceof Float32Array)) throw new UsageError(`ctr/loadCtrModel: '${dir}' lacks ${what}; re-train it`);
    return a.slice();
  };
  const options2 = resolveCtrModelOptions(config.options);
  const hasEmb = `emb/0` in tables.arrays;
  const hasFirst = `first/0` in tables.arrays;
  const model = new CtrModel(tf, schema, options2, {
    mappers,
    ...(hasEmb ? { tables: mappers.map((_, f) => f32(tables.arrays[`emb/${f}`], `table emb/${f}`)) } : {}),
    ...(hasFirst ? { firstOrder: mappers.map((_, f) => f32(tables.arrays[`first/${f}`], `table first/${f}`)) } : {}),
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
