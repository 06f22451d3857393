import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  type CtrDataset,
  DataFormatError,
  InvalidArgumentError,
  type LibfmData,
  NotFoundError,
  readLibfm,
  resolveOptions,
} from '@compactrec/core';
import { MemoryCtrSource, splitIndices } from './memory-source.js';
import { FieldVocabulary } from './vocabulary.js';

/** Field names of Frappe in file order (see ../shared/datasets/README.md). */
export const FRAPPE_FIELDS: readonly string[] = Object.freeze([
  'user',
  'item',
  'daytime',
  'weekday',
  'isweekend',
  'homework',
  'cost',
  'weather',
  'country',
  'city',
]);

/** Options of {@link loadLibfmCtr}; every field is optional. */
export interface LoadLibfmCtrOptions {
  /** Seed of the train/validation/test split. @default 0 */
  seed?: number;
  /** Fraction of all rows held out for test. @default 0.2 */
  testFraction?: number;
  /** Fraction of the training part held out for early stopping. @default 0.1 */
  validFraction?: number;
  /** Read at most this many rows per file (quick slices). @default Infinity */
  maxRows?: number;
  /**
   * Encode with this vocabulary (a trained model's) instead of building one from the files;
   * unknown feature indices are an error (libFM fields have no OOV ID). @default undefined
   */
  vocabulary?: FieldVocabulary;
}

/** Defaults of {@link LoadLibfmCtrOptions}. */
export const DEFAULT_LOAD_LIBFM_CTR_OPTIONS = Object.freeze({
  seed: 0,
  testFraction: 0.2,
  validFraction: 0.1,
  maxRows: Number.POSITIVE_INFINITY,
});

/** A libFM CTR dataset with its vocabulary and seeded split. */
export interface LibfmCtrData {
  readonly dataset: CtrDataset;
  readonly vocabulary: FieldVocabulary;
  /** The files read, in the order their rows were concatenated. */
  readonly files: readonly string[];
  readonly train: MemoryCtrSource;
  readonly valid: MemoryCtrSource;
  readonly test: MemoryCtrSource;
}

/**
 * The libFM files of `path`: the file itself, or in a directory `frappe.validation.libfm` then
 * `frappe.test.libfm` when both exist (the NFM Frappe split, whose train file is not staged),
 * else every `*.libfm` / `*.libsvm` file by name.
 */
export async function libfmFiles(path: string): Promise<string[]> {
  const where = 'ctr/libfmFiles';
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    throw new NotFoundError(`${where}: '${path}' does not exist; pass a libFM file or a directory of them`);
  }
  if (!st.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => n.endsWith('.libfm') || n.endsWith('.libsvm')).sort();
  const nfm = ['frappe.validation.libfm', 'frappe.test.libfm'];
  if (nfm.every((n) => names.includes(n))) return nfm.map((n) => join(path, n));
  if (names.length === 0) throw new NotFoundError(`${where}: '${path}' holds no .libfm or .libsvm file`);
  return names.map((n) => join(path, n));
}

function concat(parts: readonly LibfmData[], files: readonly string[]): LibfmData {
  const numFields = parts[0]!.numFields;
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.numFields !== numFields) {
      throw new DataFormatError(files[i]!, 1, `has ${p.numFields} features per line but ${files[0]} has ${numFields}`);
    }
    if (p.values) throw new DataFormatError(files[i]!, 1, 'has feature values other than 1; CTR fields are one-hot');
    n += p.numSamples;
  }
  const labels = new Float32Array(n);
  const indices = new Int32Array(n * numFields);
  let at = 0;
  for (const p of parts) {
    labels.set(p.labels, at);
    indices.set(p.indices, at * numFields);
    at += p.numSamples;
  }
  return { labels, indices, numFields, numSamples: n };
}

/** Builds the vocabulary of one-hot libFM data: per field position, the sorted distinct global indices get IDs 0... */
function buildVocabulary(data: LibfmData): FieldVocabulary {
  const { numFields: F, numSamples: n, indices } = data;
  const keys: Float64Array[] = [];
  const ids: Int32Array[] = [];
  const column = new Int32Array(n);
  for (let f = 0; f < F; f++) {
    for (let s = 0; s < n; s++) column[s] = indices[s * F + f]!;
    column.sort();
    let card = 0;
    for (let i = 0; i < n; i++) if (i === 0 || column[i] !== column[i - 1]) column[card++] = column[i]!;
    keys.push(Float64Array.from(column.subarray(0, card)));
    ids.push(Int32Array.from({ length: card }, (_, i) => i));
  }
  return new FieldVocabulary(keys, ids, new Array<boolean>(F).fill(false));
}

/**
 * Reads a one-hot libFM CTR dataset (Frappe, MovieLens-tag) into memory with a documented, seeded
 * split: the rows of every file are concatenated (validation then test for the NFM Frappe
 * directory), `splitIndices(n, testFraction, validFraction, seed)` picks test rows (20 %) and,
 * from the rest, validation rows for early stopping (10 % of the training part). Field IDs come
 * from the vocabulary: per field, the sorted distinct global feature indices.
 */
export async function loadLibfmCtr(path: string, options: LoadLibfmCtrOptions = {}): Promise<LibfmCtrData> {
  const o = resolveOptions(DEFAULT_LOAD_LIBFM_CTR_OPTIONS, options);
  const files = await libfmFiles(path);
  const parts: LibfmData[] = [];
  for (const file of files) parts.push(await readLibfm(file, { maxRows: o.maxRows }));
  const data = concat(parts, files);
  const vocabulary = options.vocabulary ?? buildVocabulary(data);
  if (vocabulary.numFields !== data.numFields) {
    throw new InvalidArgumentError(
      `ctr/loadLibfmCtr: '${path}' has ${data.numFields} fields but the model's vocabulary has ${vocabulary.numFields}`,
    );
  }
  const F = data.numFields;
  const ids = new Int32Array(data.numSamples * F);
  let lineFile = 0;
  let fileStart = 0;
  for (let s = 0; s < data.numSamples; s++) {
    while (s - fileStart >= parts[lineFile]!.numSamples) fileStart += parts[lineFile++]!.numSamples;
    for (let f = 0; f < F; f++) {
      const id = vocabulary.lookup(f, data.indices[s * F + f]!);
      if (id < 0) {
        throw new DataFormatError(
          files[lineFile]!,
          s - fileStart + 1,
          `feature index ${data.indices[s * F + f]} in field ${f} is not in the model's vocabulary (sample ${s - fileStart + 1} of the file, blank lines not counted)`,
        );
      }
      ids[s * F + f] = id;
    }
  }
  const isFrappe = F === FRAPPE_FIELDS.length && files.some((f) => basename(f).startsWith('frappe'));
  const dataset: CtrDataset = {
    name: isFrappe ? 'frappe' : basename(path),
    numFields: F,
    fieldNames: isFrappe ? FRAPPE_FIELDS : Array.from({ length: F }, (_, f) => `f${f}`),
    cardinalities: vocabulary.cardinalities,
    ids,
    labels: data.labels,
    numSamples: data.numSamples,
  };
  const split = splitIndices(data.numSamples, o.testFraction, o.validFraction, o.seed);
  return {
    dataset,
    vocabulary,
    files,
    train: new MemoryCtrSource(dataset, split.train),
    valid: new MemoryCtrSource(dataset, split.valid),
    test: new MemoryCtrSource(dataset, split.test),
  };
}
