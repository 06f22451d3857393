import {
  type Checkpoint,
  type CheckpointArray,
  type Combine,
  DataFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  type MapperSnapshot,
  NotFoundError,
  readCheckpoint,
  type StorageSnapshot,
  UsageError,
  writeCheckpoint,
} from '@compactrec/core';
import { FeatureEmbedding } from './feature-embedding.js';
import { resolveMethod, SHARING_METHODS } from './registry.js';
import { FLOAT32_STORAGE } from './storages/float32.js';

/** Checkpoint kind of a set of feature embeddings. */
export const EMBEDDING_CHECKPOINT_KIND = 'feature-embeddings';
/**
 * Layout version this build writes. Version 1 (float32 tables only: `<feature>/table` beside the
 * mapper) still loads, as float32 storages.
 */
export const EMBEDDING_FORMAT_VERSION = 2;

/** What a checkpoint stores of one feature embedding (serving form). */
export interface FeatureEmbeddingSnapshot {
  readonly method: string;
  readonly dim: number;
  /** Set when the embedding overrides its mapper's composition. */
  readonly combine?: Combine;
  readonly mapper: MapperSnapshot;
  readonly storage: StorageSnapshot;
}

/** The serving-form snapshot of `e` (runs `finishTraining` first). */
export function snapshotFeatureEmbedding(e: FeatureEmbedding): FeatureEmbeddingSnapshot {
  e.finishTraining();
  return {
    method: e.method,
    dim: e.dim,
    ...(e.combine !== e.mapper.combine ? { combine: e.combine } : {}),
    mapper: e.mapper.snapshot(),
    storage: e.storage.snapshot(),
  };
}

/** Rebuilds a feature embedding (serving form) from its snapshot. */
export function restoreFeatureEmbedding(s: FeatureEmbeddingSnapshot): FeatureEmbedding {
  const sharing = SHARING_METHODS[s.mapper.method];
  if (sharing === undefined) {
    throw new NotFoundError(
      `embedding/restoreFeatureEmbedding: mapper method '${s.mapper.method}' is not registered; known: ${Object.keys(SHARING_METHODS).join(', ')}`,
    );
  }
  const parts = resolveMethod(s.storage.kind);
  const storage = parts.storage.restore(s.storage, parts.inner);
  return new FeatureEmbedding(s.method, sharing.restore(s.mapper), storage, s.dim, s.combine);
}

interface Described {
  method: string;
  dim: number;
  combine?: Combine;
  mapper: { method: string; numIds: number; rows: number; params: MapperSnapshot['params']; arrays: string[] };
  storage?: { kind: string; rows: number; rowDim: number; params: StorageSnapshot['params']; arrays: string[] };
}

function toArrays(features: Record<string, FeatureEmbedding>): {
  header: Record<string, unknown>;
  arrays: Record<string, CheckpointArray>;
} {
  const arrays: Record<string, CheckpointArray> = {};
  const described: Record<string, Described> = {};
  for (const [name, e] of Object.entries(features)) {
    const s = snapshotFeatureEmbedding(e);
    for (const [k, a] of Object.entries(s.mapper.arrays)) arrays[`${name}/mapper/${k}`] = a;
    for (const [k, a] of Object.entries(s.storage.arrays)) arrays[`${name}/storage/${k}`] = a;
    described[name] = {
      method: s.method,
      dim: s.dim,
      ...(s.combine ? { combine: s.combine } : {}),
      mapper: {
        method: s.mapper.method,
        numIds: s.mapper.numIds,
        rows: s.mapper.rows,
        params: s.mapper.params,
        arrays: Object.keys(s.mapper.arrays),
      },
      storage: {
        kind: s.storage.kind,
        rows: s.storage.rows,
        rowDim: s.storage.rowDim,
        params: s.storage.params,
        arrays: Object.keys(s.storage.arrays),
      },
    };
  }
  return { header: { embeddingFormat: EMBEDDING_FORMAT_VERSION, features: described }, arrays };
}

function fromCheckpoint(ck: Checkpoint, source: string): Record<string, FeatureEmbedding> {
  const version = ck.header.embeddingFormat;
  if (version !== 1 && version !== EMBEDDING_FORMAT_VERSION) {
    throw new UsageError(
      `embedding/loadFeatureEmbeddings: ${source} has embedding layout version ${String(version)}; this build reads versions 1 and ${EMBEDDING_FORMAT_VERSION}`,
      { context: { source, version } },
    );
  }
  const features = ck.header.features as Record<string, Described> | undefined;
  if (features === null || typeof features !== 'object')
    throw new DataFormatError(source, 0, 'header.features is missing');
  const pick = (prefix: string, names: string[]): Record<string, CheckpointArray> => {
    const out: Record<string, CheckpointArray> = {};
    for (const n of names) {
      const a = ck.arrays[`${prefix}/${n}`];
      if (a === undefined) throw new DataFormatError(source, 0, `array '${prefix}/${n}' is missing`);
      out[n] = a;
    }
    return out;
  };
  const out: Record<string, FeatureEmbedding> = {};
  for (const [name, d] of Object.entries(features)) {
    const mapper: MapperSnapshot = {
      method: d.mapper.method,
      numIds: d.mapper.numIds,
      rows: d.mapper.rows,
      params: d.mapper.params,
      arrays: pick(`${name}/mapper`, d.mapper.arrays) as MapperSnapshot['arrays'],
    };
    let storage: StorageSnapshot;
    if (version === 1) {
      // Version 1: a float32 table `<feature>/table` of rows × rowDim.
      const values = ck.arrays[`${name}/table`];
      if (!(values instanceof Float32Array))
        throw new DataFormatError(source, 0, `version 1: '${name}/table' must be float32`);
      storage = {
        kind: FLOAT32_STORAGE.name,
        rows: mapper.rows,
        rowDim: values.length / mapper.rows,
        params: {},
        arrays: { values },
      };
    } else {
      const s = d.storage!;
      storage = {
        kind: s.kind,
        rows: s.rows,
        rowDim: s.rowDim,
        params: s.params,
        arrays: pick(`${name}/storage`, s.arrays),
      };
    }
    out[name] = restoreFeatureEmbedding({
      method: d.method,
      dim: d.dim,
      ...(d.combine ? { combine: d.combine } : {}),
      mapper,
      storage,
    });
  }
  return out;
}

/** Serializes feature embeddings by name (serving form; runs `finishTraining` on each). */
export function encodeFeatureEmbeddings(features: Record<string, FeatureEmbedding>): Uint8Array {
  const { header, arrays } = toArrays(features);
  return encodeCheckpoint(EMBEDDING_CHECKPOINT_KIND, header, arrays);
}

/** Decodes {@link encodeFeatureEmbeddings}' bytes; `source` names them in errors. */
export function decodeFeatureEmbeddings(bytes: Uint8Array, source: string): Record<string, FeatureEmbedding> {
  return fromCheckpoint(decodeCheckpoint(bytes, source, { kind: EMBEDDING_CHECKPOINT_KIND }), source);
}

/** Writes feature embeddings to one checkpoint file atomically. */
export async function saveFeatureEmbeddings(path: string, features: Record<string, FeatureEmbedding>): Promise<void> {
  const { header, arrays } = toArrays(features);
  await writeCheckpoint(path, EMBEDDING_CHECKPOINT_KIND, header, arrays);
}

/** Reads a file written by {@link saveFeatureEmbeddings} (or a version-1 one). */
export async function loadFeatureEmbeddings(path: string): Promise<Record<string, FeatureEmbedding>> {
  return fromCheckpoint(await readCheckpoint(path, { kind: EMBEDDING_CHECKPOINT_KIND }), path);
}
