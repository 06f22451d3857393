/**
 * Model versions the encoder builds states with, loaded on demand from a model folder where each
 * version is one sdim model-version file named `<version>.sdim` (item embeddings + SimHash projections).
 * Several instances sharing a store load whatever versions the store names, so a version switch started
 * by one instance is followed by all of them.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '@compactrec/core';
import {
  createSdimModelVersion,
  loadSdimModelVersion,
  type SdimModelVersion,
  saveSdimModelVersion,
} from '@compactrec/sdim';

/** File extension of model-version files in a model folder. */
export const MODEL_FILE_EXTENSION = '.sdim';
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

  /** Loads `version` (once; concurrent callers share the load). NotFoundError if the file is missing. */
  async ensure(version: string): Promise<SdimModelVersion> {
    const hit = this.cache.get(version);
    if (hit) return hit;
    let p = this.loading.get(version);
    if (!p) {
      const path = modelPath(this.modelDir, version);
      p = loadSdimModelVersion(path)
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
    return names
      .filter((n) => n.endsWith(MODEL_FILE_EXTENSION))
      .map((n) => n.slice(0, -MODEL_FILE_EXTENSION.length))
      .filter((v) => VERSION_RE.test(v))
      .sort();
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
