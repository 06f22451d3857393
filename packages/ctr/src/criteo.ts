import {
  bucketizeCriteoInt,
  CRITEO_NUM_CATS,
  CRITEO_NUM_INTS,
  type CriteoData,
  criteoBatches,
  fmix32,
  hashString,
  InvalidArgumentError,
  resolveOptions,
} from '@compactrec/core';
import { checkInt, checkNumber } from './internal/check.js';
import type { CtrBatch, CtrBatchesOptions, CtrSchema, CtrSource, FieldCounts } from './schema.js';
import { FieldVocabulary } from './vocabulary.js';

/** How Criteo's 13 integer columns enter the model. */
export type CriteoNumeric = 'bucketize' | 'dense';

/** Which rows of a Criteo file a source yields. */
export type CriteoSplit = 'train' | 'valid' | 'test' | 'all';

/** Options of {@link buildCriteoVocabulary}; every field is optional. */
export interface CriteoOptions {
  /**
   * Raw values seen fewer than this many times in the training rows share the field's OOV ID
   * (as do values never seen). @default 10
   */
  minCount?: number;
  /**
   * `bucketize`: I1..I13 become 13 categorical fields of ⌊ln(v)²⌋ buckets (39 fields in all);
   * `dense`: they become 13 dense features ln(1 + max(v, 0)) (missing → 0) for DLRM-style bottom MLPs.
   * @default 'bucketize'
   */
  numeric?: CriteoNumeric;
  /** Fraction of rows held out for test (row-hash split, see {@link criteoRowSplit}). @default 0.1 */
  testFraction?: number;
  /** Fraction of the remaining rows held out for validation. @default 0.1 */
  validFraction?: number;
  /** Seed of the row split. @default 0 */
  seed?: number;
  /** Read at most this many rows of the file. @default Infinity */
  maxRows?: number;
}

/** Defaults of {@link CriteoOptions}. */
export const DEFAULT_CRITEO_OPTIONS = Object.freeze({
  minCount: 10,
  numeric: 'bucketize' as CriteoNumeric,
  testFraction: 0.1,
  validFraction: 0.1,
  seed: 0,
  maxRows: Number.POSITIVE_INFINITY,
});

/** Everything needed to encode Criteo rows the same way at training and serving time. */
export interface CriteoEncoding {
  readonly options: Readonly<Required<CriteoOptions>>;
  readonly vocabulary: FieldVocabulary;
  readonly schema: CtrSchema;
}

/** A Criteo vocabulary with the training-row counts of every ID. */
export interface CriteoVocabularyResult extends CriteoEncoding {
  readonly counts: FieldCounts;
  /** Rows per split seen in the pass. */
  readonly rows: { readonly train: number; readonly valid: number; readonly test: number };
}

const SPLIT_CODE = { train: 0, valid: 1, test: 2 } as const;

/**
 * The split of row r (0-based, blank lines not counted): a hash of (seed, r) mapped to [0, 1) puts
 * the row in test below `testFraction`, in validation below `testFraction + (1 − testFraction) ·
 * validFraction`, else in train. Streaming and deterministic: no pass needs to see the others.
 */
export function criteoRowSplit(r: number, seedHash: number, testFraction: number, validFraction: number): 0 | 1 | 2 {
  const u = fmix32((Math.imul(r, 0x9e3779b1) ^ seedHash) >>> 0) / 4294967296;
  if (u < testFraction) return 2;
  if (u < testFraction + (1 - testFraction) * validFraction) return 1;
  return 0;
}

function checkOptions(where: string, o: Required<CriteoOptions>): void {
  checkInt(where, 'minCount', o.minCount, 1);
  if (o.numeric !== 'bucketize' && o.numeric !== 'dense') {
    throw new InvalidArgumentError(`${where}: numeric ('${String(o.numeric)}') must be 'bucketize' or 'dense'`);
  }
  checkNumber(where, 'testFraction', o.testFraction, 0, 0.99);
  checkNumber(where, 'validFraction', o.validFraction, 0, 0.99);
}

/** Categorical fields of a Criteo encoding: the 26 C columns, plus the 13 bucketized I columns first. */
function criteoFieldNames(numeric: CriteoNumeric): string[] {
  const cats = Array.from({ length: CRITEO_NUM_CATS }, (_, i) => `C${i + 1}`);
  if (numeric === 'dense') return cats;
  return [...Array.from({ length: CRITEO_NUM_INTS }, (_, i) => `I${i + 1}`), ...cats];
}

/** Raw key of field f of row r of a batch (bucketized I or C hash); field order as {@link criteoFieldNames}. */
function rawKey(b: CriteoData, r: number, f: number, numeric: CriteoNumeric): number {
  if (numeric === 'bucketize') {
    if (f < CRITEO_NUM_INTS) return bucketizeCriteoInt(b.ints[r * CRITEO_NUM_INTS + f]!);
    return b.cats[r * CRITEO_NUM_CATS + f - CRITEO_NUM_INTS]!;
  }
  return b.cats[r * CRITEO_NUM_CATS + f]!;
}

/**
 * One streaming pass over a raw Criteo TSV file: counts every field's raw values in the training
 * rows and builds the vocabulary — values seen ≥ minCount times get IDs by descending count (ties:
 * smaller value first), every other value the field's OOV ID (the last one). Memory is one hash
 * map entry per distinct value, never the rows.
 */
export async function buildCriteoVocabulary(
  path: string,
  options: CriteoOptions = {},
): Promise<CriteoVocabularyResult> {
  const where = 'ctr/buildCriteoVocabulary';
  const o = resolveOptions(DEFAULT_CRITEO_OPTIONS, options) as Required<CriteoOptions>;
  checkOptions(where, o);
  const names = criteoFieldNames(o.numeric);
  const F = names.length;
  const maps = Array.from({ length: F }, () => new Map<number, number>());
  const seedHash = hashString(`criteo-split/${o.seed}`);
  const rows = { train: 0, valid: 0, test: 0 };
  let r = 0;
  for await (const b of criteoBatches(path, 1 << 14, { maxRows: o.maxRows })) {
    for (let i = 0; i < b.numRows; i++, r++) {
      const split = criteoRowSplit(r, seedHash, o.testFraction, o.validFraction);
      if (split !== 0) {
        if (split === 1) rows.valid++;
        else rows.test++;
        continue;
      }
      rows.train++;
      for (let f = 0; f < F; f++) {
        const k = rawKey(b, i, f, o.numeric);
        const m = maps[f]!;
        m.set(k, (m.get(k) ?? 0) + 1);
      }
    }
  }
  const keys: Float64Array[] = [];
  const ids: Int32Array[] = [];
  const counts: Uint32Array[] = [];
  for (let f = 0; f < F; f++) {
    const entries = [...maps[f]!.entries()];
    maps[f]!.clear();
    let rare = 0;
    const kept: [number, number][] = [];
    for (const e of entries) {
      if (e[1] >= o.minCount) kept.push(e);
      else rare += e[1];
    }
    kept.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const c = new Uint32Array(kept.length + 1);
    for (let i = 0; i < kept.length; i++) c[i] = kept[i]![1];
    c[kept.length] = rare;
    const byKey = kept.map((e, i) => [e[0], i] as const).sort((a, b) => a[0] - b[0]);
    keys.push(Float64Array.from(byKey, (e) => e[0]));
    ids.push(Int32Array.from(byKey, (e) => e[1]));
    counts.push(c);
  }
  const vocabulary = new FieldVocabulary(keys, ids, new Array<boolean>(F).fill(true));
  const schema: CtrSchema = {
    name: 'criteo',
    fieldNames: names,
    cardinalities: vocabulary.cardinalities,
    numDense: o.numeric === 'dense' ? CRITEO_NUM_INTS : 0,
  };
  return { options: Object.freeze({ ...o }), vocabulary, schema, counts, rows };
}

/**
 * The rows of one split of a raw Criteo file, encoded with a vocabulary, streamed in file order
 * (each pass re-reads the file, so it may be larger than memory; there is no shuffling).
 */
export class CriteoCtrSource implements CtrSource {
  readonly schema: CtrSchema;
  readonly numSamples: number | undefined;
  private readonly seedHash: number;

  /**
   * @param path raw Criteo TSV file
   * @param encoding the vocabulary and options (from {@link buildCriteoVocabulary} or a model directory)
   * @param split which rows to yield
   * @param numSamples rows of that split, when known
   */
  constructor(
    readonly path: string,
    readonly encoding: CriteoEncoding,
    readonly split: CriteoSplit,
    numSamples?: number,
  ) {
    this.schema = encoding.schema;
    this.numSamples = numSamples;
    this.seedHash = hashString(`criteo-split/${encoding.options.seed}`);
  }

  async *batches(options: CtrBatchesOptions): AsyncGenerator<CtrBatch> {
    checkInt('ctr/CriteoCtrSource.batches', 'batchSize', options.batchSize, 1);
    const { vocabulary, options: o } = this.encoding;
    const F = this.schema.fieldNames.length;
    const D = this.schema.numDense;
    const B = options.batchSize;
    const ids = new Int32Array(B * F);
    const labels = new Float32Array(B);
    const dense = D > 0 ? new Float32Array(B * D) : null;
    const want = this.split === 'all' ? -1 : SPLIT_CODE[this.split];
    let n = 0;
    let r = 0;
    for await (const b of criteoBatches(this.path, 1 << 14, { maxRows: o.maxRows })) {
      for (let i = 0; i < b.numRows; i++, r++) {
        if (want >= 0 && criteoRowSplit(r, this.seedHash, o.testFraction, o.validFraction) !== want) continue;
        for (let f = 0; f < F; f++) ids[n * F + f] = vocabulary.lookup(f, rawKey(b, i, f, o.numeric));
        if (dense) {
          for (let j = 0; j < D; j++) {
            const v = b.ints[i * CRITEO_NUM_INTS + j]!;
            dense[n * D + j] = Number.isNaN(v) ? 0 : Math.log1p(Math.max(v, 0));
          }
        }
        labels[n] = b.labels[i]!;
        if (++n === B) {
          yield { size: B, ids, labels, dense };
          n = 0;
        }
      }
    }
    if (n > 0) {
      yield {
        size: n,
        ids: ids.subarray(0, n * F),
        labels: labels.subarray(0, n),
        dense: dense ? dense.subarray(0, n * D) : null,
      };
    }
  }
}
