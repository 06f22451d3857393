/**
 * Exports feature embeddings (mapping + table) and GraphHash clusterings as named tensors with a
 * JSON description, written as one safetensors file or a folder of `.npy` files + `metadata.json`.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Combine,
  DataFormatError,
  f16ToF32,
  type IdMapper,
  InvalidArgumentError,
  materializeCodes,
  NotFoundError,
} from '@compactrec/core';
import { type FeatureEmbedding, snapshotFeatureEmbedding } from '@compactrec/embedding';
import type { GraphClustering } from '@compactrec/graphhash';
import { dequantized, layoutRecipe, TABLE_LAYOUTS, type TableLayoutName } from './layouts.js';
import { decodeNpy, decodeSafetensors, encodeNpy, encodeSafetensors, type Tensor, tensor } from './tensor.js';

/** `format` field of the metadata: what wrote the file. */
export const EXPORT_FORMAT = 'compactrec-export';
/** Layout version of the metadata this build writes and reads. */
export const EXPORT_VERSION = 1;
/** Key of the JSON metadata in a safetensors `__metadata__` map (and the file name of an npy folder). */
export const METADATA_KEY = 'compactrec';
/** File formats of {@link writeExport}. */
export const EXPORT_FILE_FORMATS = ['safetensors', 'npy'] as const;
export type ExportFileFormat = (typeof EXPORT_FILE_FORMATS)[number];

/**
 * How IDs map to table rows: `codes[id, k]` is the k-th row of ID `id` (−1 = none), `weights[id, k]`
 * its weight; the embedding of `id` is `combine` over k of `weights[id, k] · row[codes[id, k]]`
 * (`sum`), the element-wise product of the rows (`mult`), or their concatenation (`concat`).
 */
export interface MappingMeta {
  /** Sharing method that produced it (e.g. `graphhash`). */
  readonly method: string;
  readonly numIds: number;
  readonly rows: number;
  readonly codesPerId: number;
  readonly combine: Combine;
  /** Tensor names in the file. */
  readonly codes: string;
  readonly weights: string;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** What the file cannot express (IDs outside the fitted space are hashed by CompactRec code). */
  readonly unseenIds: string;
}

/** A table in the file: layout, its rebuild rule and the names of its tensors. */
export interface TableMeta {
  /** Storage kind it was trained with (e.g. `int8`, `dsl+int8`). */
  readonly kind: string;
  readonly layout: TableLayoutName;
  readonly rows: number;
  readonly rowDim: number;
  readonly bits?: number;
  /** Rebuild rule of the layout, in words. */
  readonly reconstruct: string;
  /** Short name (`values`, `codes`, `scale`, …) → tensor name in the file. */
  readonly tensors: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, number | string | boolean>>;
}

/** One feature: its mapping and its table (a clustering export has a mapping only). */
export interface FeatureMeta {
  readonly method: string;
  /** Embedding dimension. */
  readonly dim: number | null;
  readonly mapping: MappingMeta;
  readonly table: TableMeta | null;
}

/** The JSON metadata of an export. */
export interface ExportMetadata {
  readonly format: typeof EXPORT_FORMAT;
  readonly version: number;
  readonly features: Readonly<Record<string, FeatureMeta>>;
}

/** Tensors + metadata, ready to write (or as read back). */
export interface ExportBundle {
  readonly tensors: Readonly<Record<string, Tensor>>;
  readonly metadata: ExportMetadata;
}

const UNSEEN_NOTE =
  'IDs outside [0, numIds) are placed by CompactRec code (hashing or neighbour assignment); this file covers the fitted IDs only';

function checkName(name: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new InvalidArgumentError(
      `interop/export: feature name '${name}' must be letters, digits, '_' or '-' (it prefixes tensor and file names)`,
    );
  }
}

function mappingTensors(
  name: string,
  mapper: Pick<IdMapper, 'method' | 'numIds' | 'rows' | 'codesPerId' | 'combine' | 'params'>,
  codes: Int32Array,
  weights: Float32Array | null,
  tensors: Record<string, Tensor>,
): MappingMeta {
  const K = mapper.codesPerId;
  const w = weights ?? new Float32Array(mapper.numIds * K).fill(1);
  tensors[`${name}.mapping.codes`] = tensor('I32', [mapper.numIds, K], codes);
  tensors[`${name}.mapping.weights`] = tensor('F32', [mapper.numIds, K], w);
  return {
    method: mapper.method,
    numIds: mapper.numIds,
    rows: mapper.rows,
    codesPerId: K,
    combine: mapper.combine,
    codes: `${name}.mapping.codes`,
    weights: `${name}.mapping.weights`,
    params: mapper.params,
    unseenIds: UNSEEN_NOTE,
  };
}

/**
 * Tensors and metadata of feature embeddings by name (serving form: runs `finishTraining` on each).
 * Per feature `f`: `f.mapping.codes` I32 `[numIds, K]`, `f.mapping.weights` F32 `[numIds, K]` and
 * the table's tensors `f.table.<part>` in the layout of its storage kind (see `TABLE_LAYOUTS`).
 */
export function exportFeatureEmbeddings(features: Readonly<Record<string, FeatureEmbedding>>): ExportBundle {
  const tensors: Record<string, Tensor> = {};
  const meta: Record<string, FeatureMeta> = {};
  for (const [name, e] of Object.entries(features)) {
    checkName(name);
    const snap = snapshotFeatureEmbedding(e);
    const mapping = mappingTensors(name, e.mapper, materializeCodes(e.mapper), e.mapper.weights, tensors);
    const writer = TABLE_LAYOUTS[snap.storage.kind] ?? dequantized;
    const t = writer(snap.storage, e.storage);
    const names: Record<string, string> = {};
    for (const [part, x] of Object.entries(t.tensors)) {
      names[part] = `${name}.table.${part}`;
      tensors[names[part]] = x;
    }
    meta[name] = {
      method: e.method,
      dim: e.dim,
      mapping,
      table: {
        kind: snap.storage.kind,
        layout: t.layout,
        rows: snap.storage.rows,
        rowDim: snap.storage.rowDim,
        ...(t.bits !== undefined ? { bits: t.bits } : {}),
        reconstruct: layoutRecipe(t.layout),
        tensors: names,
        params: snap.storage.params,
      },
    };
  }
  return { tensors, metadata: { format: EXPORT_FORMAT, version: EXPORT_VERSION, features: meta } };
}

/** A GraphHash clustering (`compactrec cluster --out`) as two mappings, `user` and `item`: ID → cluster row. */
export function exportClustering(c: GraphClustering): ExportBundle {
  const tensors: Record<string, Tensor> = {};
  const side = (name: string, numIds: number, rows: number, cluster: Int32Array): FeatureMeta => ({
    method: 'graphhash',
    dim: null,
    mapping: mappingTensors(
      name,
      {
        method: 'graphhash',
        numIds,
        rows,
        codesPerId: 1,
        combine: 'sum',
        params: { resolution: c.resolution, seed: c.seed, modularity: c.modularityKind },
      },
      cluster,
      null,
      tensors,
    ),
    table: null,
  });
  const features = {
    user: side('user', c.numUsers, c.numUserClusters, c.userCluster),
    item: side('item', c.numItems, c.numItemClusters, c.itemCluster),
  };
  return { tensors, metadata: { format: EXPORT_FORMAT, version: EXPORT_VERSION, features } };
}

/**
 * Writes `bundle` to `path`: one safetensors file (metadata JSON under `__metadata__.compactrec`),
 * or, for `npy`, a folder with `<tensor>.npy` per tensor and `metadata.json`. Written atomically
 * (a temporary name, then a rename). Returns the paths written.
 */
export async function writeExport(bundle: ExportBundle, path: string, format: ExportFileFormat): Promise<string[]> {
  const tmp = `${path}.tmp-${process.pid}`;
  if (format === 'safetensors') {
    await writeFile(tmp, encodeSafetensors(bundle.tensors, { [METADATA_KEY]: JSON.stringify(bundle.metadata) }));
    await rename(tmp, path);
    return [path];
  }
  if (format !== 'npy') {
    throw new InvalidArgumentError(
      `interop/writeExport: format '${String(format)}' is unknown; use ${EXPORT_FILE_FORMATS.join(' or ')}`,
    );
  }
  await mkdir(path, { recursive: true });
  const written: string[] = [];
  for (const [name, t] of Object.entries(bundle.tensors)) {
    const file = join(path, `${name}.npy`);
    await writeFile(`${file}.tmp-${process.pid}`, encodeNpy(t));
    await rename(`${file}.tmp-${process.pid}`, file);
    written.push(file);
  }
  const metaFile = join(path, 'metadata.json');
  await writeFile(`${metaFile}.tmp-${process.pid}`, `${JSON.stringify(bundle.metadata, null, 2)}\n`);
  await rename(`${metaFile}.tmp-${process.pid}`, metaFile);
  written.push(metaFile);
  return written;
}

function checkMetadata(m: unknown, source: string): ExportMetadata {
  const meta = m as Partial<ExportMetadata> | null;
  if (meta === null || typeof meta !== 'object' || meta.format !== EXPORT_FORMAT) {
    throw new DataFormatError(source, 0, `metadata is not a ${EXPORT_FORMAT} description`);
  }
  if (meta.version !== EXPORT_VERSION) {
    throw new DataFormatError(source, 0, `export version ${String(meta.version)}; this build reads ${EXPORT_VERSION}`);
  }
  return meta as ExportMetadata;
}

/** Reads what {@link writeExport} wrote (a safetensors file or an npy folder). */
export async function readExport(path: string): Promise<ExportBundle> {
  let entries: string[] | null = null;
  try {
    entries = await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`interop/readExport: ${path} does not exist`, { cause: err });
      }
      throw err;
    }
  }
  if (entries === null) {
    const st = decodeSafetensors(await readFile(path), path);
    const json = st.metadata[METADATA_KEY];
    if (json === undefined) throw new DataFormatError(path, 0, `no '${METADATA_KEY}' entry in __metadata__`);
    return { tensors: st.tensors, metadata: checkMetadata(JSON.parse(json), path) };
  }
  const metaPath = join(path, 'metadata.json');
  const metadata = checkMetadata(JSON.parse(await readFile(metaPath, 'utf8')), metaPath);
  const tensors: Record<string, Tensor> = {};
  for (const f of entries) {
    if (f.endsWith('.npy')) tensors[f.slice(0, -4)] = decodeNpy(await readFile(join(path, f)), join(path, f));
  }
  return { tensors, metadata };
}

function asFloat(t: Tensor): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  if (t.dtype === 'F16') {
    const h = t.data as Uint16Array;
    const out = new Float32Array(h.length);
    for (let i = 0; i < h.length; i++) out[i] = f16ToF32(h[i]!);
    return out;
  }
  if (t.dtype === 'F64') return Float32Array.from(t.data as Float64Array);
  throw new InvalidArgumentError(`interop: a ${t.dtype} tensor is not a float table; use F32, F16 or F64`);
}

function code(codes: Uint8Array, rowBytes: number, bits: number, r: number, c: number): number {
  if (bits === 8) return codes[r * rowBytes + c]!;
  const b = codes[r * rowBytes + (c >> 1)]!;
  return (c & 1) === 0 ? b & 15 : b >>> 4;
}

/**
 * Every row of an exported table as float32 `[rows × rowDim]`, by the rule of its layout — the
 * reference the Python reader (`python/reconstruct.py`) implements.
 */
export function reconstructTable(bundle: ExportBundle, feature: string): Float32Array {
  const f = bundle.metadata.features[feature];
  if (f === undefined || f.table === null) {
    throw new NotFoundError(
      `interop/reconstructTable: no table for feature '${feature}'; the export has ${Object.keys(bundle.metadata.features).join(', ')}`,
    );
  }
  const t = f.table;
  const get = (part: string): Tensor => {
    const x = bundle.tensors[t.tensors[part] ?? ''];
    if (x === undefined) throw new DataFormatError(feature, 0, `table tensor '${part}' is missing`);
    return x;
  };
  const R = t.rows;
  const d = t.rowDim;
  const out = new Float32Array(R * d);
  switch (t.layout) {
    case 'dense':
      out.set(asFloat(get('values')));
      break;
    case 'rowwise-affine':
    case 'alpt': {
      const codes = get('codes').data as Uint8Array;
      const rb = get('codes').shape[1]!;
      const bits = t.bits!;
      const half = 1 << (bits - 1);
      const scale = t.layout === 'alpt' ? (get('step').data as Float32Array) : (get('scale').data as Float32Array);
      const bias = t.layout === 'alpt' ? null : (get('bias').data as Float32Array);
      for (let r = 0; r < R; r++)
        for (let c = 0; c < d; c++) {
          const q = code(codes, rb, bits, r, c);
          out[r * d + c] = bias === null ? scale[r]! * (q - half) : bias[r]! + scale[r]! * q;
        }
      break;
    }
    case 'csr': {
      const indptr = get('indptr').data as Int32Array;
      const indices = get('indices').data as Int32Array;
      const coded = t.bits !== undefined;
      const values = coded ? null : asFloat(get('values'));
      const codes = coded ? (get('codes').data as Uint8Array) : null;
      const scale = coded ? (get('scale').data as Float32Array) : null;
      const bias = coded ? (get('bias').data as Float32Array) : null;
      for (let r = 0; r < R; r++)
        for (let e = indptr[r]!; e < indptr[r + 1]!; e++) {
          out[r * d + indices[e]!] = values ? values[e]! : bias![r]! + scale![r]! * codes![e]!;
        }
      break;
    }
  }
  return out;
}

/** Embeddings of `ids` (fitted IDs) `[n × dim]` from an export, by its mapping and table — the reference of the Python reader. */
export function reconstructEmbeddings(bundle: ExportBundle, feature: string, ids: ArrayLike<number>): Float32Array {
  const f = bundle.metadata.features[feature]!;
  const table = reconstructTable(bundle, feature);
  const m = f.mapping;
  const codes = bundle.tensors[m.codes]!.data as Int32Array;
  const weights = bundle.tensors[m.weights]!.data as Float32Array;
  const K = m.codesPerId;
  const rd = f.table!.rowDim;
  const dim = f.dim!;
  const out = new Float32Array(ids.length * dim);
  for (let j = 0; j < ids.length; j++) {
    const id = ids[j]!;
    if (!(Number.isInteger(id) && id >= 0 && id < m.numIds)) {
      throw new InvalidArgumentError(
        `interop/reconstructEmbeddings: ID ${id} is outside [0, ${m.numIds}); ${UNSEEN_NOTE}`,
      );
    }
    const o = j * dim;
    for (let k = 0; k < K; k++) {
      const r = codes[id * K + k]!;
      if (m.combine === 'concat') {
        for (let c = 0; c < rd; c++) out[o + k * rd + c] = table[r * rd + c]!;
      } else if (m.combine === 'mult') {
        for (let c = 0; c < dim; c++) out[o + c] = k === 0 ? table[r * rd + c]! : out[o + c]! * table[r * rd + c]!;
      } else if (r >= 0) {
        const w = weights[id * K + k]!;
        for (let c = 0; c < dim; c++) out[o + c]! += w * table[r * rd + c]!;
      }
    }
  }
  return out;
}
