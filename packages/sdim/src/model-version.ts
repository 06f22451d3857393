import {
  DataFormatError,
  deriveSeed,
  InvalidArgumentError,
  Rng,
  readCheckpoint,
  writeCheckpoint,
} from '@compactrec/core';
import { SimHasher, type SimHashOptions } from './simhash.js';

/**
 * One model version as the BSE encoder sees it: the item embeddings behaviours are looked up in and
 * the SimHash projections. A BSE state is only meaningful with the version it was built with.
 */
export interface SdimModelVersion {
  version: string;
  hasher: SimHasher;
  /** `[numItems × dim]` row-major; row i is item i. */
  itemEmbeddings: Float32Array;
  numItems: number;
  dim: number;
}

/** Checkpoint kind of model version files. */
export const SDIM_MODEL_KIND = 'sdim-model';

/** Saves a model version (header: version, shapes, hash config; arrays: itemEmbeddings, projections). */
export async function saveSdimModelVersion(path: string, model: SdimModelVersion): Promise<void> {
  checkModel('saveSdimModelVersion', model);
  const h = model.hasher;
  await writeCheckpoint(
    path,
    SDIM_MODEL_KIND,
    {
      version: model.version,
      numItems: model.numItems,
      dim: model.dim,
      numHashes: h.numHashes,
      bitsPerSignature: h.bitsPerSignature,
      seed: h.seed,
    },
    { itemEmbeddings: model.itemEmbeddings, projections: h.projections },
  );
}

/** Loads a model version saved by {@link saveSdimModelVersion}; the projections are restored bit for bit. */
export async function loadSdimModelVersion(path: string): Promise<SdimModelVersion> {
  const { header, arrays } = await readCheckpoint(path, { kind: SDIM_MODEL_KIND });
  const bad = (what: string): DataFormatError => new DataFormatError(path, 0, `sdim/loadSdimModelVersion: ${what}`);
  const { version, numItems, dim, numHashes, bitsPerSignature, seed } = header as Record<string, unknown>;
  if (typeof version !== 'string') throw bad('header.version is not a string');
  for (const [k, v] of Object.entries({ numItems, dim, numHashes, bitsPerSignature, seed })) {
    if (!Number.isInteger(v)) throw bad(`header.${k} (${String(v)}) is not an integer`);
  }
  const items = arrays.itemEmbeddings;
  const proj = arrays.projections;
  if (!(items instanceof Float32Array) || items.length !== (numItems as number) * (dim as number)) {
    throw bad(
      `itemEmbeddings must be Float32Array of numItems × dim = ${(numItems as number) * (dim as number)} values`,
    );
  }
  if (!(proj instanceof Float32Array)) throw bad('projections must be a Float32Array');
  let hasher: SimHasher;
  try {
    hasher = SimHasher.fromProjections(proj, {
      dim: dim as number,
      numHashes: numHashes as number,
      bitsPerSignature: bitsPerSignature as number,
      seed: seed as number,
    });
  } catch (cause) {
    throw new DataFormatError(path, 0, `sdim/loadSdimModelVersion: bad hash config (${String(cause)})`, { cause });
  }
  return { version, hasher, itemEmbeddings: items, numItems: numItems as number, dim: dim as number };
}

/**
 * A model version with random N(0, 1/dim) item embeddings (unit-ish norm), for tests and demos.
 * Item embeddings come from `deriveSeed(seed, 'items')`, projections from `hash.seed ?? seed`.
 */
export function createSdimModelVersion(options: {
  version: string;
  numItems: number;
  dim: number;
  seed: number;
  hash?: Omit<SimHashOptions, 'dim'>;
}): SdimModelVersion {
  const { version, numItems, dim, seed } = options;
  if (typeof version !== 'string') {
    throw new InvalidArgumentError(`sdim/createSdimModelVersion: version (${String(version)}) must be a string`);
  }
  if (!Number.isInteger(numItems) || numItems < 1) {
    throw new InvalidArgumentError(`sdim/createSdimModelVersion: numItems (${numItems}) must be a positive integer`);
  }
  const hasher = new SimHasher({ ...options.hash, dim, seed: options.hash?.seed ?? seed });
  const itemEmbeddings = new Float32Array(numItems * dim);
  new Rng(deriveSeed(seed, 'items')).fillNormal(itemEmbeddings, 1 / Math.sqrt(dim));
  return { version, hasher, itemEmbeddings, numItems, dim };
}

function checkModel(fn: string, m: SdimModelVersion): void {
  if (typeof m?.version !== 'string') throw new InvalidArgumentError(`sdim/${fn}: model.version must be a string`);
  if (!(m.hasher instanceof SimHasher) || m.hasher.dim !== m.dim) {
    throw new InvalidArgumentError(`sdim/${fn}: model.hasher must be a SimHasher of dim ${m.dim}`);
  }
  if (!(m.itemEmbeddings instanceof Float32Array) || m.itemEmbeddings.length !== m.numItems * m.dim) {
    throw new InvalidArgumentError(
      `sdim/${fn}: model.itemEmbeddings must be a Float32Array of numItems × dim = ${m.numItems * m.dim} values`,
    );
  }
}
