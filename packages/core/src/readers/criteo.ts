import { DataFormatError, InvalidArgumentError } from '../errors.js';
import { lineChunks } from '../internal/lines.js';
import { TAB, tokenText } from '../internal/parse.js';
import { csvHeaderHint } from './csv.js';

/** Integer (dense) columns I1..I13 of a Criteo row. */
export const CRITEO_NUM_INTS = 13;
/** Categorical columns C1..C26 of a Criteo row. */
export const CRITEO_NUM_CATS = 26;
/** Fields of a full Criteo row: label + 13 ints + 26 categoricals. */
export const CRITEO_NUM_FIELDS = 1 + CRITEO_NUM_INTS + CRITEO_NUM_CATS;
/**
 * Value stored in `cats` for an empty categorical field. A real hash equal to 0xffffffff would
 * collide with it (probability 2^-32 per distinct value); treat it as "missing" downstream.
 */
export const CRITEO_MISSING_CAT = 0xffffffff;
/**
 * Bucket {@link bucketizeCriteoInt} gives a missing (NaN) integer: int32 min, which no present value
 * reaches (values ≤ 2 keep their own value, which parsing bounds to ±(2^31 − 1); larger ones give
 * positive buckets).
 */
export const CRITEO_MISSING_INT_BUCKET = -2147483648;

/**
 * Criteo rows as flat typed arrays. `ints` is `[numRows × 13]` (NaN = missing; float32, so counts
 * above 2^24 are rounded — harmless after {@link bucketizeCriteoInt}); `cats` is `[numRows × 26]`,
 * the 8-hex-digit hashes parsed as uint32 ({@link CRITEO_MISSING_CAT} = missing).
 */
export interface CriteoData {
  /** 0/1 click labels, length numRows. */
  readonly labels: Float32Array;
  readonly ints: Float32Array;
  readonly cats: Uint32Array;
  readonly numRows: number;
}

/** Options of {@link readCriteo}; every field is optional. */
export interface ReadCriteoOptions {
  /** Stop after this many rows. @default Infinity */
  maxRows?: number;
}

/** Defaults of {@link ReadCriteoOptions}. */
export const DEFAULT_READ_CRITEO_OPTIONS: Readonly<Required<ReadCriteoOptions>> = Object.freeze({
  maxRows: Number.POSITIVE_INFINITY,
});

const LF = 10;
const CR = 13;
const INT32_MAX = 2147483647;

/** Hex digit value of a byte, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses one raw Criteo row (`label \t I1..I13 \t C1..C26`) into row `r` of the arrays. Short
 * rows are padded with missing values (trailing empty fields are often stripped); more than 40
 * fields, a label other than 0/1, a non-integer I field or a C field that is not 8 hex digits
 * is a {@link DataFormatError} at `line`.
 */
function parseCriteoRow(
  file: string,
  line: number,
  buf: Buffer,
  start: number,
  end: number,
  r: number,
  labels: Float32Array,
  ints: Float32Array,
  cats: Uint32Array,
): void {
  const ib = r * CRITEO_NUM_INTS;
  const cb = r * CRITEO_NUM_CATS;
  let f = 0;
  let p = start;
  for (;;) {
    let e = p;
    while (e < end && buf[e] !== TAB) e++;
    if (f === 0) {
      if (e - p !== 1 || (buf[p] !== 48 && buf[p] !== 49)) {
        throw new DataFormatError(
          file,
          line,
          `label '${tokenText(buf, p, end, true)}' is not 0 or 1${csvHeaderHint(buf, p, end)}`,
        );
      }
      labels[r] = buf[p]! - 48;
    } else if (f <= CRITEO_NUM_INTS) {
      if (e === p) {
        ints[ib + f - 1] = Number.NaN;
      } else {
        let q = p;
        const neg = buf[q] === 45;
        if (neg) q++;
        let v = 0;
        if (q === e) v = Number.NaN;
        for (; q < e; q++) {
          const d = buf[q]! - 48;
          if (d < 0 || d > 9) {
            v = Number.NaN;
            break;
          }
          v = v * 10 + d;
        }
        if (Number.isNaN(v) || v > INT32_MAX) {
          throw new DataFormatError(file, line, `I${f} '${tokenText(buf, p, end, true)}' is not an int32 integer`);
        }
        ints[ib + f - 1] = neg ? -v : v;
      }
    } else if (f < CRITEO_NUM_FIELDS) {
      if (e === p) {
        cats[cb + f - 1 - CRITEO_NUM_INTS] = CRITEO_MISSING_CAT;
      } else {
        let v = 0;
        let ok = e - p === 8;
        for (let q = p; ok && q < e; q++) {
          const h = hexValue(buf[q]!);
          if (h < 0) ok = false;
          v = v * 16 + h;
        }
        if (!ok) {
          throw new DataFormatError(
            file,
            line,
            `C${f - CRITEO_NUM_INTS} '${tokenText(buf, p, end, true)}' is not 8 hex digits`,
          );
        }
        cats[cb + f - 1 - CRITEO_NUM_INTS] = v;
      }
    } else {
      throw new DataFormatError(file, line, `row has more than ${CRITEO_NUM_FIELDS} tab-separated fields`);
    }
    f++;
    if (e >= end) break;
    p = e + 1;
  }
  for (; f < CRITEO_NUM_FIELDS; f++) {
    if (f <= CRITEO_NUM_INTS) ints[ib + f - 1] = Number.NaN;
    else cats[cb + f - 1 - CRITEO_NUM_INTS] = CRITEO_MISSING_CAT;
  }
}

function emptyBatch(rows: number): { labels: Float32Array; ints: Float32Array; cats: Uint32Array } {
  return {
    labels: new Float32Array(rows),
    ints: new Float32Array(rows * CRITEO_NUM_INTS),
    cats: new Uint32Array(rows * CRITEO_NUM_CATS),
  };
}

/**
 * Streams a raw Criteo TSV file (Kaggle / Terabyte layout) in batches of `batchRows` rows (the
 * last batch may be shorter), so files larger than memory can be trained on. Each batch has
 * fresh arrays the caller may keep. Empty lines are skipped; CRLF is tolerated.
 */
export async function* criteoBatches(
  path: string,
  batchRows: number,
  options: ReadCriteoOptions = {},
): AsyncGenerator<CriteoData> {
  const where = 'core/criteoBatches';
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new InvalidArgumentError(`${where}: batchRows (${batchRows}) must be a positive integer`);
  }
  const maxRows = options.maxRows ?? DEFAULT_READ_CRITEO_OPTIONS.maxRows;
  if (!(maxRows >= 1) || (maxRows !== Number.POSITIVE_INFINITY && !Number.isInteger(maxRows))) {
    throw new InvalidArgumentError(`${where}: maxRows (${maxRows}) must be a positive integer`);
  }
  let batch = emptyBatch(batchRows);
  let r = 0;
  let total = 0;
  let line = 1;
  for await (const chunk of lineChunks(path, where)) {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      let nl = chunk.indexOf(LF, pos);
      if (nl < 0) nl = n;
      let end = nl;
      if (end > pos && chunk[end - 1] === CR) end--;
      if (end > pos) {
        parseCriteoRow(path, line, chunk, pos, end, r, batch.labels, batch.ints, batch.cats);
        r++;
        total++;
        if (r === batchRows || total >= maxRows) {
          yield trimBatch(batch, r);
          if (total >= maxRows) return;
          batch = emptyBatch(batchRows);
          r = 0;
        }
      }
      line++;
      pos = nl + 1;
    }
  }
  if (total === 0) throw new DataFormatError(path, 1, 'file is empty (only blank lines)');
  if (r > 0) yield trimBatch(batch, r);
}

/** The first `r` rows of a batch (views, no copy). */
function trimBatch(b: { labels: Float32Array; ints: Float32Array; cats: Uint32Array }, r: number): CriteoData {
  if (r === b.labels.length) return { ...b, numRows: r };
  return {
    labels: b.labels.subarray(0, r),
    ints: b.ints.subarray(0, r * CRITEO_NUM_INTS),
    cats: b.cats.subarray(0, r * CRITEO_NUM_CATS),
    numRows: r,
  };
}

/** Reads a whole raw Criteo TSV file (see {@link criteoBatches} for the format rules). */
export async function readCriteo(path: string, options: ReadCriteoOptions = {}): Promise<CriteoData> {
  const batches: CriteoData[] = [];
  let numRows = 0;
  for await (const b of criteoBatches(path, 1 << 16, options)) {
    batches.push(b);
    numRows += b.numRows;
  }
  if (batches.length === 1) {
    const b = batches[0]!;
    return { labels: b.labels.slice(), ints: b.ints.slice(), cats: b.cats.slice(), numRows };
  }
  const out = emptyBatch(numRows);
  let r = 0;
  for (const b of batches) {
    out.labels.set(b.labels, r);
    out.ints.set(b.ints, r * CRITEO_NUM_INTS);
    out.cats.set(b.cats, r * CRITEO_NUM_CATS);
    r += b.numRows;
  }
  return { ...out, numRows };
}

/**
 * The standard Criteo integer bucketization (Kaggle winners, DeepFM/DCN pipelines):
 * `v > 2 ? floor(ln(v)²) : v`, and {@link CRITEO_MISSING_INT_BUCKET} for a missing (NaN) value.
 * Turns the heavy-tailed counts into a few dozen categorical buckets.
 */
export function bucketizeCriteoInt(v: number): number {
  if (Number.isNaN(v)) return CRITEO_MISSING_INT_BUCKET;
  if (v > 2) {
    const l = Math.log(v);
    return Math.floor(l * l);
  }
  return v;
}
