import { basename } from 'node:path';
import { type CtrDataset, InvalidArgumentError, readHeaderCsv, resolveOptions } from '@compactrec/core';
import { MemoryCtrSource, splitIndices } from './memory-source.js';
import { FieldVocabulary } from './vocabulary.js';

/** Options of {@link loadCsvCtr}; every field is optional. */
export interface LoadCsvCtrOptions {
  /** Seed of the train/validation/test split. @default 0 */
  seed?: number;
  /** Fraction of all rows held out for test. @default 0.2 */
  testFraction?: number;
  /** Fraction of the training part held out for early stopping. @default 0.1 */
  validFraction?: number;
  /** Read at most this many rows. @default Infinity */
  maxRows?: number;
  /** Label column. @default the first of label, click, clicked, y, target (see `readHeaderCsv`) */
  label?: string;
  /** Columns left out. @default ['id'] when the header has one */
  drop?: readonly string[];
  /** Encode with a trained model's vocabulary (unknown values get each field's OOV ID). @default undefined */
  vocabulary?: FieldVocabulary;
}

/** Defaults of {@link LoadCsvCtrOptions}. */
export const DEFAULT_LOAD_CSV_CTR_OPTIONS = Object.freeze({
  seed: 0,
  testFraction: 0.2,
  validFraction: 0.1,
  maxRows: Number.POSITIVE_INFINITY,
});

/** A header-CSV CTR dataset with its vocabulary, seeded split and column mapping. */
export interface CsvCtrData {
  readonly dataset: CtrDataset;
  readonly vocabulary: FieldVocabulary;
  readonly label: string;
  readonly dropped: readonly string[];
  readonly train: MemoryCtrSource;
  readonly valid: MemoryCtrSource;
  readonly test: MemoryCtrSource;
  readonly all: MemoryCtrSource;
}

/** Per field: the sorted distinct value keys get IDs 0..n-1, and one OOV ID for values not seen. */
function buildVocabulary(keys: Float64Array, n: number, F: number): FieldVocabulary {
  const fieldKeys: Float64Array[] = [];
  const ids: Int32Array[] = [];
  const column = new Float64Array(n);
  for (let f = 0; f < F; f++) {
    for (let s = 0; s < n; s++) column[s] = keys[s * F + f]!;
    column.sort();
    let card = 0;
    for (let i = 0; i < n; i++) if (i === 0 || column[i] !== column[i - 1]) column[card++] = column[i]!;
    fieldKeys.push(column.slice(0, card));
    ids.push(Int32Array.from({ length: card }, (_, i) => i));
  }
  return new FieldVocabulary(fieldKeys, ids, new Array<boolean>(F).fill(true));
}

/**
 * Reads a header CSV CTR file (Avazu, DeepCTR's Criteo sample; see `readHeaderCsv`) into memory:
 * every column but the label and the dropped ones is a categorical field (numbers too: each
 * distinct text is a value), IDs per field from a vocabulary of the file's values plus an OOV ID,
 * and the same seeded 80/20 split with 10 % of train for validation as the libFM loader.
 */
export async function loadCsvCtr(path: string, options: LoadCsvCtrOptions = {}): Promise<CsvCtrData> {
  const o = resolveOptions(DEFAULT_LOAD_CSV_CTR_OPTIONS, options);
  const csv = await readHeaderCsv(path, {
    maxRows: o.maxRows,
    ...(o.label !== undefined ? { label: o.label } : {}),
    ...(o.drop !== undefined ? { drop: o.drop } : {}),
  });
  const F = csv.fieldNames.length;
  const n = csv.numSamples;
  const vocabulary = options.vocabulary ?? buildVocabulary(csv.keys, n, F);
  if (vocabulary.numFields !== F) {
    throw new InvalidArgumentError(
      `ctr/loadCsvCtr: '${path}' has ${F} feature columns but the model's vocabulary has ${vocabulary.numFields}; use the column mapping it was trained with`,
    );
  }
  const ids = new Int32Array(n * F);
  for (let s = 0; s < n; s++) {
    for (let f = 0; f < F; f++) ids[s * F + f] = vocabulary.lookup(f, csv.keys[s * F + f]!);
  }
  const dataset: CtrDataset = {
    name: basename(path),
    numFields: F,
    fieldNames: csv.fieldNames,
    cardinalities: vocabulary.cardinalities,
    ids,
    labels: csv.labels,
    numSamples: n,
  };
  const split = splitIndices(n, o.testFraction, o.validFraction, o.seed);
  return {
    dataset,
    vocabulary,
    label: csv.labelColumn,
    dropped: csv.dropped,
    train: new MemoryCtrSource(dataset, split.train),
    valid: new MemoryCtrSource(dataset, split.valid),
    test: new MemoryCtrSource(dataset, split.test),
    all: new MemoryCtrSource(dataset),
  };
}
