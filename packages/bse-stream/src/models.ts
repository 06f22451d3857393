/**
 * Model versions the encoder builds states with, loaded on demand from a model folder where each
 * version is one sdim model-version file named `<version>.sdim` (float32 item embeddings + SimHash
 * projections) or one compressed model-version file `<version>.csdim` (the item table as a
 * feature-embeddings checkpoint of any composed method, e.g. `double-frequency+int8`, + projections).
 * Several instances sharing a store load whatever versions the store names, so a version switch started
 * by one instance is followed by all of them.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DataFormatError,
  InvalidArgumentError,
  NotFoundError,
  readCheckpoint,
  writeCheckpoint,
} from '@compactrec/core';
import { decodeFeatureEmbeddings, encodeFeatureEmbeddings, type FeatureEmbedding } from '@compactrec/embedding';
import {
  createSdimModelVersion,
  loadSdimModelVersion,
  type SdimModelVersion,
  SimHasher,
  saveSdimModelVersion,
} from '@compactrec/sdim';

/** File extension of (float32) model-version files in a model folder. */
export const MODEL_FILE_EXTENSION = '.sdim';
/** File extension of compressed model-version files (item table through the embedding contract). */
export const COMPRESSED_MODEL_FILE_EXTENSION = '.csdim';
/** Checkpoint kind of a compressed model-version file. */
export const COMPRESSED_MODEL_KIND = 'bse-compressed-model';
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws unless `version` can name a model file (letters, digits, `.`, `_`, `-`; at most 64). */
export function checkVersionName(version: string, where: string): void {
  if (typeof version !== 'string' || !VERSION_RE.test(version)) {
    throw new InvalidArgumentError(
      `${where}: model version '${String(version)}' must be 1..64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

/** The path of `version`'s file in `modelDir`. */
export function modelPath(modelDir: string, version: string): string {
  checkVersionName(version, 'bse-stream/modelPath');
  return join(modelDir, `${version}${MODEL_FILE_EXTENSION}`);
}

/** The path of `version`'s compressed file in `modelDir`. */
export function compressedModelPath(modelDir: string, version: string): string {
  checkVersionName(version, 'bse-stream/compressedModelPath');
  return join(modelDir, `${version}${COMPRESSED_MODEL_FILE_EXTENSION}`);
}

/** A model version whose item rows come from a compressed item table. */
export interface CompressedModelVersion {
  readonly version: string;
  /** The item table: ids 0 .. numItems − 1, any composed method (served form). */
  readonly items: FeatureEmbedding;
  readonly hasher: SimHasher;
}

/**
 * Saves a compressed model version as `<modelDir>/<version>.csdim`: the item table in served form
 * (an embedded feature-embeddings checkpoint — `finishTraining` runs first) and the SimHash
 * projections. Returns the path.
 */
export async function saveCompressedModelToDir(modelDir: string, model: CompressedModelVersion): Promise<string> {
  const where = 'bse-stream/saveCompressedModelToDir';
  const h = model.hasher;
  if (model.items.dim !== h.dim) {
    throw new InvalidArgumentError(`${where}: the item table has dim ${model.items.dim} but the hasher ${h.dim}`);
  }
  const path = compressedModelPath(modelDir, model.version);
  const items = encodeFeatureEmbeddings({ items: model.items });
  await writeCheckpoint(
    path,
    COMPRESSED_MODEL_KIND,
    {
      version: model.version,
      numItems: model.items.numIds,
      dim: h.dim,
      method: model.items.method,
      numHashes: h.numHashes,
      bitsPerSignature: h.bitsPerSignature,
      seed: h.seed,
    },
    { items, projections: h.projections },
  );
  return path;
}

/**
 * Loads a compressed model version: restores the item table through the embedding contract and
 * decodes every item's row once into the model version's `itemEmbeddings` (the rows the compressed
 * table serves — dequantized, shared, or sparse — exactly as its `lookup` gives them), so states are
 * built from the compressed table. Returns the model version and the item table it came from.
 */
export async function loadCompressedModelVersion(
  path: string,
): Promise<{ model: SdimModelVersion; items: FeatureEmbedding }> {
  const { header, arrays } = await readCheckpoint(path, { kind: COMPRESSED_MODEL_KIND });
  const bad = (what: string): DataFormatError =>
    new DataFormatError(path, 0, `bse-stream/loadCompressedModelVersion: ${what}`);
  const { version, numItems, dim, numHashes, bitsPerSignature, seed } = header as Record<string, unknown>;
  if (typeof version !== 'string') throw bad('header.version is not a string');
  for (const [k, v] of Object.entries({ numItems, dim, numHashes, bitsPerSignature, seed })) {
    if (!Number.isInteger(v)) throw bad(`header.${k} (${String(v)}) is not an integer`);
  }
  const bytes = arrays.items;
  const proj = arrays.projections;
  if (!(bytes instanceof Uint8Array))
    throw bad('items must be a Uint8Array (an embedded feature-embeddings checkpoint)');
  if (!(proj instanceof Float32Array)) throw bad('projections must be a Float32Array');
  const items = decodeFeatureEmbeddings(bytes, `${path}#items`).items;
  if (items === undefined) throw bad("the embedded checkpoint has no feature 'items'");
  if (items.numIds !== numItems || items.dim !== dim) {
    throw bad(`the item table is ${items.numIds} × ${items.dim}, the header says ${String(numItems)} × ${String(dim)}`);
  }
  let hasher: SimHasher;
  try {
    hasher = SimHasher.fromProjections(proj, {
      dim: dim as number,
      numHashes: numHashes as number,
      bitsPerSignature: bitsPerSignature as number,
      seed: seed as number,
    });
  } catch (cause) {
    throw new DataFormatError(path, 0, `bse-stream/loadCompressedModelVersion: bad hash config (${String(cause)})`, {
      cause,
    });
  }
  const n = numItems as number;
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  const itemEmbeddings = new Float32Array(n * (dim as number));
  items.lookup(ids, itemEmbeddings, n);
  return { model: { version, hasher, itemEmbeddings, numItems: n, dim: dim as number }, items };
}

/** Saves `model` as `<modelDir>/<model.version>.sdim` (the layout {@link ModelRegistry} reads). */
export async function saveModelToDir(modelDir: string, model: SdimModelVersion): Promise<string> {
  const path = modelPath(modelDir, model.version);
  await saveSdimModelVersion(path, model);
  return path;
}

/** Loads and caches model versions from one folder. */
export class ModelRegistry {
  private readonly cache = new Map<string, SdimModelVersion>();
  private readonly loading = new Map<string, Promise<SdimModelVersion>>();

  constructor(readonly modelDir: string) {}

  /** The version if already loaded. */
  get(version: string): SdimModelVersion | undefined {
    return this.cache.get(version);
  }

  /**
   * Loads `version` (once; concurrent callers share the load) from `<version>.sdim`, or from
   * `<version>.csdim` when there is no float32 file. NotFoundError if neither file exists.
   */
  async ensure(version: string): Promise<SdimModelVersion> {
    const hit = this.cache.get(version);
    if (hit) return hit;
    let p = this.loading.get(version);
    if (!p) {
      const path = modelPath(this.modelDir, version);
      const compressed = compressedModelPath(this.modelDir, version);
      const missing = (err: unknown): boolean =>
        err instanceof NotFoundError || (err as NodeJS.ErrnoException)?.code === 'ENOENT';
      const load = async (): Promise<SdimModelVersion> => {
        try {
          return await loadSdimModelVersion(path);
        } catch (err) {
          if (!missing(err)) throw err;
        }
        try {
          return (await loadCompressedModelVersion(compressed)).model;
        } catch (err) {
          if (!missing(err)) throw err;
          throw new NotFoundError(
            `bse-stream/ModelRegistry: model version '${version}' has no file ${path} (nor ${compressed}); save it there first`,
            { cause: err },
          );
        }
      };
      p = load()
        .then((m) => {
          if (m.version !== version) {
            throw new InvalidArgumentError(
              `bse-stream/ModelRegistry: ${path} holds version '${m.version}', not '${version}'; name files <version>${MODEL_FILE_EXTENSION}`,
            );
          }
          this.cache.set(version, m);
          return m;
        })
        .catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') {
            throw new NotFoundError(
              `bse-stream/ModelRegistry: model version '${version}' has no file ${path}; save it there first`,
              { cause: err },
            );
          }
          throw err;
        })
        .finally(() => this.loading.delete(version));
      this.loading.set(version, p);
    }
    return p;
  }

  /** Adds an in-memory model (tests, or a model built in-process). */
  put(model: SdimModelVersion): void {
    checkVersionName(model.version, 'bse-stream/ModelRegistry.put');
    this.cache.set(model.version, model);
  }

  /** Versions with a file in the folder, sorted. */
  async available(): Promise<string[]> {
    const names = await readdir(this.modelDir);
    const versions = new Set<string>();
    for (const ext of [MODEL_FILE_EXTENSION, COMPRESSED_MODEL_FILE_EXTENSION]) {
      for (const n of names) if (n.endsWith(ext)) versions.add(n.slice(0, -ext.length));
    }
    return [...versions].filter((v) => VERSION_RE.test(v)).sort();
  }
}

/** Options of {@link writeDemoModel}. */
export interface DemoModelOptions {
  /** @default 'demo' */
  version?: string;
  /** @default 1000 */
  numItems?: number;
  /** @default 32 */
  dim?: number;
  /** m SimHash functions. @default 48 */
  numHashes?: number;
  /** τ bits per signature. @default 3 */
  bitsPerSignature?: number;
  /** @default 0 */
  seed?: number;
}

/**
 * Writes a model version with random item embeddings (sdim's createSdimModelVersion) into `modelDir`,
 * for demos, load tests and benchmarks that have no trained model. Returns the model and its path.
 */
export async function writeDemoModel(
  modelDir: string,
  options: DemoModelOptions = {},
): Promise<{ model: SdimModelVersion; path: string }> {
  const model = createSdimModelVersion({
    version: options.version ?? 'demo',
    numItems: options.numItems ?? 1000,
    dim: options.dim ?? 32,
    seed: options.seed ?? 0,
    hash: { numHashes: options.numHashes ?? 48, bitsPerSignature: options.bitsPerSignature ?? 3 },
  });
  await mkdir(modelDir, { recursive: true });
  return { model, path: await saveModelToDir(modelDir, model) };
}
