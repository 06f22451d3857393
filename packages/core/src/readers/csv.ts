import { DataFormatError, InvalidArgumentError } from '../errors.js';
import { Growable } from '../internal/growable.js';
import { forEachLine } from '../internal/lines.js';
import { parseDecimal } from '../internal/parse.js';

/**
 * A header CSV file of CTR samples (Avazu's `id,click,hour,…`, DeepCTR's Criteo sample
 * `label,I1,…,C26`): a 0/1 label column and categorical columns, each value kept as a hash key.
 */
export interface HeaderCsvData {
  /** Names of the feature columns, in file order (label and dropped columns left out). */
  readonly fieldNames: readonly string[];
  /** Header name of the label column. */
  readonly labelColumn: string;
  /** Columns read but not used. */
  readonly dropped: readonly string[];
  /** 0/1 per sample. */
  readonly labels: Float32Array;
  /**
   * Per sample and field (`[numSamples × numFields]`), a 53-bit hash of the value's bytes, so
   * equal values get equal keys; an empty cell is a value of its own (missing).
   */
  readonly keys: Float64Array;
  readonly numSamples: number;
}

/** Options of {@link readHeaderCsv}; every field is optional. */
export interface ReadHeaderCsvOptions {
  /** Label column. @default the first of `label`, `click`, `clicked`, `y`, `target` in the header */
  label?: string;
  /** Columns to leave out (e.g. a per-row id). @default `['id']` when the header has an `id` column */
  drop?: readonly string[];
  /** Stop after this many samples. @default Infinity */
  maxRows?: number;
}

/** Header names taken as the label when `label` is not given, in this order. */
export const CSV_LABEL_NAMES: readonly string[] = Object.freeze(['label', 'click', 'clicked', 'y', 'target']);

const COMMA = 44;
const QUOTE = 34;

class EnoughRows {}

/**
 * For another reader's error on a line that looks like a CSV header (commas, a letter first): a
 * hint naming the header-CSV reader and the formats there are; '' otherwise.
 */
export function csvHeaderHint(buf: Buffer, start: number, end: number): string {
  const text = buf.toString('utf8', start, Math.min(end, start + 200));
  if (!/^[A-Za-z_"][^\t]*,/.test(text)) return '';
  return `; this line looks like the header of a CSV file (${text.split(',').slice(0, 3).join(',')},…): read it as header CSV (--format csv, with --label-column / --drop-columns). Formats: libFM (frappe), Criteo TSV (criteo), header CSV (csv), RecBole atomic (ml100k), LightGCN train.txt/test.txt`;
}

/** The cells of a header line (commas; double quotes around a cell are removed). */
function splitHeader(text: string): string[] {
  return text.split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1'));
}

/**
 * Reads a header CSV file: the first non-blank line names the columns, every later line has that
 * many comma-separated cells (CRLF tolerated, blank lines skipped; a cell in double quotes may hold
 * commas). The label column must hold 0 or 1; every other column not dropped is a categorical
 * field whose values are hashed (FNV-1a, 53 bits) without allocating a string per cell.
 * Errors name the file, the line and the column.
 */
export async function readHeaderCsv(path: string, options: ReadHeaderCsvOptions = {}): Promise<HeaderCsvData> {
  const where = 'core/readHeaderCsv';
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  if (!(maxRows >= 1) || (maxRows !== Number.POSITIVE_INFINITY && !Number.isInteger(maxRows))) {
    throw new InvalidArgumentError(`${where}: maxRows (${maxRows}) must be a positive integer`);
  }
  let header: string[] | null = null;
  let labelCol = -1;
  /** Per column: field index, -1 for the label, -2 for a dropped column. */
  let role: Int32Array = new Int32Array(0);
  let numFields = 0;
  let fieldNames: string[] = [];
  let dropped: string[] = [];
  const labels = new Growable(Float32Array, 1 << 12);
  const keys = new Growable(Float64Array, 1 << 16);
  let row = new Float64Array(0);
  try {
    await forEachLine(path, where, (buf, start, end, line) => {
      if (!header) {
        header = splitHeader(buf.toString('utf8', start, end));
        const h = header;
        const label = options.label ?? CSV_LABEL_NAMES.find((n) => h.includes(n));
        labelCol = label === undefined ? -1 : h.indexOf(label);
        if (labelCol < 0) {
          throw new DataFormatError(
            path,
            line,
            `${label === undefined ? 'no label column' : `no column '${label}'`} in the header (${h.slice(0, 8).join(',')}${h.length > 8 ? ',…' : ''}); name the label column (--label-column)`,
          );
        }
        const drop = options.drop ?? (h.includes('id') && h[labelCol] !== 'id' ? ['id'] : []);
        for (const d of drop) {
          if (!h.includes(d)) throw new DataFormatError(path, line, `cannot drop column '${d}': not in the header`);
        }
        role = new Int32Array(h.length);
        fieldNames = [];
        dropped = [];
        h.forEach((name, c) => {
          if (c === labelCol) role[c] = -1;
          else if (drop.includes(name)) {
            role[c] = -2;
            dropped.push(name);
          } else role[c] = fieldNames.push(name) - 1;
        });
        numFields = fieldNames.length;
        if (numFields === 0) throw new DataFormatError(path, line, 'no feature column besides the label');
        row = new Float64Array(numFields);
        return;
      }
      const h = header as string[];
      let c = 0;
      let p = start;
      let label = Number.NaN;
      for (;;) {
        // One cell: FNV-1a over its bytes (quotes removed), split into two 32-bit lanes → 53 bits.
        let h1 = 0x811c9dc5;
        let h2 = 0x01000193 ^ c;
        let inQuote = false;
        const cellStart = p;
        for (; p < end; p++) {
          const b = buf[p]!;
          if (b === QUOTE) {
            inQuote = !inQuote;
            continue;
          }
          if (b === COMMA && !inQuote) break;
          h1 = Math.imul(h1 ^ b, 0x01000193);
          h2 = Math.imul(h2 ^ b, 0x5bd1e995) ^ (h2 >>> 15);
        }
        if (c >= h.length) {
          throw new DataFormatError(path, line, `more than the header's ${h.length} columns`);
        }
        const r = role[c]!;
        if (r === -1) {
          label = parseDecimal(buf, cellStart, p);
          if (label !== 0 && label !== 1) {
            throw new DataFormatError(
              path,
              line,
              `label '${buf.toString('utf8', cellStart, Math.min(p, cellStart + 40))}' in column '${h[c]}' is not 0 or 1`,
            );
          }
        } else if (r >= 0) {
          row[r] = (h1 >>> 0) * 2 ** 21 + ((h2 >>> 0) >>> 11);
        }
        c++;
        if (p >= end) break;
        p++; // the comma
      }
      if (c !== h.length) {
        throw new DataFormatError(path, line, `${c} columns but the header has ${h.length}`);
      }
      labels.push(label);
      for (let f = 0; f < numFields; f++) keys.push(row[f]!);
      if (labels.length >= maxRows) throw new EnoughRows();
    });
  } catch (err) {
    if (!(err instanceof EnoughRows)) throw err;
  }
  if (labels.length === 0) throw new DataFormatError(path, 2, 'has a header but no data line');
  return {
    fieldNames,
    labelColumn: (header as string[] | null)?.[labelCol] ?? '',
    dropped,
    labels: labels.trimmed(),
    keys: keys.trimmed(),
    numSamples: labels.length,
  };
}
