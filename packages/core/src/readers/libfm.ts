import type { CtrDataset } from '../data.js';
import { DataFormatError, InvalidArgumentError } from '../errors.js';
import { Growable } from '../internal/growable.js';
import { forEachLine } from '../internal/lines.js';
import { parseDecimal, SPACE, TAB, tokenText } from '../internal/parse.js';
import { csvHeaderHint } from './csv.js';

/**
 * A libFM / libSVM file with the same number of features on every line (one per field, as in
 * Frappe or MovieLens-tag). Global feature indices are kept as written.
 */
export interface LibfmData {
  /** 1 for label 1, 0 for label 0 or -1; length numSamples. */
  readonly labels: Float32Array;
  /** Features per line (the field count). */
  readonly numFields: number;
  /** Global feature indices, `[numSamples × numFields]` row-major, in line order. */
  readonly indices: Int32Array;
  /** Feature values aligned with `indices`; present only if some value is not 1. */
  readonly values?: Float32Array;
  readonly numSamples: number;
}

/** Options of {@link readLibfm}; every field is optional. */
export interface ReadLibfmOptions {
  /** Stop after this many samples (a quick slice of a big file). @default Infinity */
  maxRows?: number;
}

/** Defaults of {@link ReadLibfmOptions}. */
export const DEFAULT_READ_LIBFM_OPTIONS: Readonly<Required<ReadLibfmOptions>> = Object.freeze({
  maxRows: Number.POSITIVE_INFINITY,
});

const INT32_MAX = 2147483647;

/** Stops the line loop early once `maxRows` samples are in (caught by {@link readLibfm}). */
class EnoughRows {}

/**
 * Reads a libFM file: `label idx:val idx:val ...` per line (spaces or tabs, CRLF tolerated, blank
 * lines skipped). Labels 1 → 1, 0 or -1 → 0, anything else is an error. Every line must have as
 * many features as the first one.
 */
export async function readLibfm(path: string, options: ReadLibfmOptions = {}): Promise<LibfmData> {
  const where = 'core/readLibfm';
  const maxRows = options.maxRows ?? DEFAULT_READ_LIBFM_OPTIONS.maxRows;
  if (!(maxRows >= 1) || (maxRows !== Number.POSITIVE_INFINITY && !Number.isInteger(maxRows))) {
    throw new InvalidArgumentError(`${where}: maxRows (${maxRows}) must be a positive integer`);
  }
  const labels = new Growable(Float32Array, 1 << 14);
  const indices = new Growable(Int32Array, 1 << 16);
  const values = new Growable(Float32Array, 1 << 16);
  let numFields = -1;
  let firstLine = 0;
  let allOnes = true;
  try {
    await forEachLine(path, where, (buf, start, end, line) => {
      let p = start;
      while (p < end && (buf[p] === SPACE || buf[p] === TAB)) p++;
      if (p === end) return; // whitespace-only line
      // Label.
      const l0 = p;
      while (p < end && buf[p] !== SPACE && buf[p] !== TAB) p++;
      const lab = parseDecimal(buf, l0, p);
      let y: number;
      if (lab === 1) y = 1;
      else if (lab === 0 || lab === -1) y = 0;
      else
        throw new DataFormatError(
          path,
          line,
          `label '${tokenText(buf, l0, end)}' is not 1, 0 or -1${csvHeaderHint(buf, l0, end)}`,
        );
      // Features.
      let nf = 0;
      while (p < end) {
        const c = buf[p]!;
        if (c === SPACE || c === TAB) {
          p++;
          continue;
        }
        const t0 = p;
        let idx = 0;
        let digits = 0;
        while (p < end) {
          const d = buf[p]! - 48;
          if (d < 0 || d > 9) break;
          idx = idx * 10 + d;
          digits++;
          p++;
        }
        if (digits === 0 || p === end || buf[p] !== 58 /* ':' */) {
          throw new DataFormatError(
            path,
            line,
            `feature '${tokenText(buf, t0, end)}' is not idx:value with a non-negative integer idx`,
          );
        }
        if (idx > INT32_MAX)
          throw new DataFormatError(path, line, `feature index in '${tokenText(buf, t0, end)}' does not fit in int32`);
        p++;
        const v0 = p;
        while (p < end && buf[p] !== SPACE && buf[p] !== TAB) p++;
        const v = p - v0 === 1 && buf[v0] === 49 ? 1 : parseDecimal(buf, v0, p);
        if (Number.isNaN(v)) {
          throw new DataFormatError(path, line, `feature '${tokenText(buf, t0, end)}' has a non-numeric value`);
        }
        if (v !== 1) allOnes = false;
        indices.push(idx);
        values.push(v);
        nf++;
      }
      if (numFields < 0) {
        if (nf === 0) throw new DataFormatError(path, line, 'line has a label but no features');
        numFields = nf;
        firstLine = line;
      } else if (nf !== numFields) {
        throw new DataFormatError(
          path,
          line,
          `line has ${nf} features but the first line (line ${firstLine}) has ${numFields}; every line needs one feature per field`,
        );
      }
      labels.push(y);
      if (labels.length >= maxRows) throw new EnoughRows();
    });
  } catch (err) {
    if (!(err instanceof EnoughRows)) throw err;
  }
  if (labels.length === 0) throw new DataFormatError(path, 1, 'file is empty (only blank lines)');
  const out: LibfmData = {
    labels: labels.trimmed(),
    numFields,
    indices: indices.trimmed(),
    numSamples: labels.length,
  };
  return allOnes ? out : { ...out, values: values.trimmed() };
}

/**
 * Turns one-feature-per-field libFM data into a {@link CtrDataset}: for each field position the
 * global indices seen there are sorted and renumbered 0 .. card − 1 (deterministic, independent of
 * row order). Values other than 1 cannot be represented and are an error.
 *
 * @param fieldNames one name per field; @default `f0`, `f1`, ...
 */
export function libfmToCtr(data: LibfmData, name: string, fieldNames?: readonly string[]): CtrDataset {
  const where = 'core/libfmToCtr';
  const { numFields, numSamples, indices } = data;
  if (data.values) {
    throw new InvalidArgumentError(
      `${where}: '${name}' has feature values other than 1; a CtrDataset holds one categorical id per field`,
    );
  }
  if (fieldNames && fieldNames.length !== numFields) {
    throw new InvalidArgumentError(`${where}: ${fieldNames.length} field names given for ${numFields} fields`);
  }
  const names = fieldNames ? [...fieldNames] : Array.from({ length: numFields }, (_, f) => `f${f}`);
  const ids = new Int32Array(numSamples * numFields);
  const cardinalities = new Int32Array(Math.max(numFields, 0));
  const column = new Int32Array(numSamples);
  for (let f = 0; f < numFields; f++) {
    for (let s = 0; s < numSamples; s++) column[s] = indices[s * numFields + f]!;
    const uniq = column.slice().sort();
    let card = 0;
    for (let i = 0; i < uniq.length; i++) if (i === 0 || uniq[i] !== uniq[i - 1]) uniq[card++] = uniq[i]!;
    cardinalities[f] = card;
    for (let s = 0; s < numSamples; s++) {
      const g = column[s]!;
      let lo = 0;
      let hi = card - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (uniq[mid]! < g) lo = mid + 1;
        else hi = mid;
      }
      ids[s * numFields + f] = lo;
    }
  }
  return {
    name,
    numFields: Math.max(numFields, 0),
    fieldNames: names,
    cardinalities,
    ids,
    labels: data.labels,
    numSamples,
  };
}
