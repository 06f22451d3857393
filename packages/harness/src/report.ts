import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A value of a {@link ResultRecord}: a scalar, or structured settings such as a method's `params`. */
export type ResultValue =
  | string
  | number
  | boolean
  | null
  | readonly ResultValue[]
  | { readonly [key: string]: ResultValue | undefined };

/**
 * One benchmark record (one row of results.csv). Scalars are columns; an object or array value
 * (e.g. `params`) stays structured in results.json and is written as compact JSON in a CSV cell.
 */
export type ResultRecord = Readonly<Record<string, ResultValue>>;

/** Called by the benchmark runners with each record as soon as it is finished, and every record so far. */
export type RecordSink = (record: ResultRecord, records: readonly ResultRecord[]) => void | Promise<void>;

/** Writes `results.json`, `results.csv` and `results.md` (and `plot.svg` when given) into `dir`, atomically per file. */
export async function writeResults(dir: string, records: readonly ResultRecord[], svg?: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['results.json', `${JSON.stringify(records, null, 2)}\n`],
    ['results.csv', toCsv(records)],
    ['results.md', `${toMarkdown(records)}\n`],
  ];
  if (svg) files.push(['plot.svg', svg]);
  const written: string[] = [];
  for (const [name, text] of files) {
    const path = join(dir, name);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, text);
    await rename(tmp, path);
    written.push(path);
  }
  return written;
}

/**
 * A {@link RecordSink} that rewrites every result file of `dir` (atomically, via a temporary file
 * and a rename) after each finished record, so an interrupted run keeps every record it finished.
 * `svg` draws the plot of the records so far (none when omitted).
 */
export function resultsSink(dir: string, svg?: (records: readonly ResultRecord[]) => string): RecordSink {
  return async (_record, records) => {
    await writeResults(dir, records, svg?.(records));
  };
}

function columns(records: readonly ResultRecord[]): string[] {
  const cols: string[] = [];
  const seen = new Set<string>();
  for (const r of records)
    for (const k of Object.keys(r))
      if (!seen.has(k)) {
        seen.add(k);
        cols.push(k);
      }
  return cols;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header of every key seen. */
export function toCsv(records: readonly ResultRecord[]): string {
  const cols = columns(records);
  const lines = [cols.join(',')];
  for (const r of records) lines.push(cols.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

function fmt(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4);
  }
  if (v !== null && typeof v === 'object') return JSON.stringify(v).replace(/\|/g, '\\|');
  return v === null || v === undefined ? '' : String(v);
}

/** A GitHub-flavoured markdown table of the chosen columns (default: all). */
export function toMarkdown(records: readonly ResultRecord[], cols = columns(records)): string {
  const head = `| ${cols.join(' | ')} |`;
  const sep = `| ${cols.map((c) => (typeof records[0]?.[c] === 'number' ? '---:' : '---')).join(' | ')} |`;
  const rows = records.map((r) => `| ${cols.map((c) => fmt(r[c])).join(' | ')} |`);
  return [head, sep, ...rows].join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Options of {@link barChartSvg}; every field is optional. */
export interface BarChartOptions {
  /**
   * Value where the bars start: a number (e.g. 0.5 for AUC, a random ranking's score), or 'zero'.
   * Differences read as bar lengths above it, and the axis says where it is. @default 'zero'
   */
  baseline?: number | 'zero';
  /** Label under the value axis. @default the metric name */
  axisLabel?: string;
  /** Record key of the embedding bytes shown beside each bar (with `fullEmbeddingBytes`, as a fraction). @default 'embeddingBytes' */
  bytesKey?: string;
  /** Footnote lines under the chart. @default a line saying what the budget means */
  notes?: readonly string[];
}

/** Bytes as B / KB / MB / GB (powers of 1024, one decimal). */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toFixed(12)));
  return out;
}

/**
 * A horizontal bar chart (SVG, no dependencies) of `metric` per record, labelled by `label`: a value
 * axis with ticks and a label, bars from `options.baseline`, each bar's value, and beside it the
 * record's embedding bytes and their fraction of the full table; a footnote says what the budget means.
 */
export function barChartSvg(
  records: readonly ResultRecord[],
  metric: string,
  label: (r: ResultRecord) => string,
  title: string,
  options: BarChartOptions = {},
): string {
  const rows = records.filter((r) => typeof r[metric] === 'number');
  const values = rows.map((r) => r[metric] as number);
  const bytesKey = options.bytesKey ?? 'embeddingBytes';
  const base = options.baseline === undefined || options.baseline === 'zero' ? 0 : options.baseline;
  const lo = Math.min(base, ...values);
  const maxV = Math.max(lo + 1e-12, ...values);
  const tickValues = ticks(lo, maxV);
  const hi = Math.max(maxV, tickValues[tickValues.length - 1] ?? maxV);
  const notes = options.notes ?? [
    'budget b: every embedding table may take at most b × its full-table bytes; budget 1 = the full (uncompressed) table.',
    `Bytes: the embedding tables' bytes and their fraction of the full tables. Bars start at ${base}.`,
  ];
  const barH = 18;
  const gap = 6;
  const left = 260;
  const width = 900;
  const right = 230;
  const plotW = width - left - right;
  const top = 36;
  const plotBottom = top + rows.length * (barH + gap);
  const height = plotBottom + 44 + notes.length * 16;
  const x = (v: number): number => left + ((v - lo) / (hi - lo)) * plotW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${width - right + 70}" y="${top - 6}" font-weight="bold">embedding bytes</text>`,
  ];
  const axis = [`<g class="axis">`];
  for (const t of tickValues) {
    const tx = x(t).toFixed(1);
    axis.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${plotBottom}" stroke="#ddd"/>`,
      `<line x1="${tx}" y1="${plotBottom}" x2="${tx}" y2="${plotBottom + 4}" stroke="black"/>`,
      `<text x="${tx}" y="${plotBottom + 16}" text-anchor="middle">${fmtTick(t)}</text>`,
    );
  }
  axis.push(
    `<line x1="${left}" y1="${plotBottom}" x2="${left + plotW}" y2="${plotBottom}" stroke="black"/>`,
    `<line x1="${x(base).toFixed(1)}" y1="${top - 4}" x2="${x(base).toFixed(1)}" y2="${plotBottom}" stroke="black"/>`,
    `<text x="${left + plotW / 2}" y="${plotBottom + 32}" text-anchor="middle">${esc(options.axisLabel ?? metric)}</text>`,
    '</g>',
  );
  parts.push(...axis);
  rows.forEach((r, i) => {
    const y = top + i * (barH + gap);
    const v = r[metric] as number;
    const x0 = x(Math.min(base, v));
    const w = Math.max(1, Math.abs(x(v) - x(base)));
    const bytes = r[bytesKey];
    const full = r.fullEmbeddingBytes;
    const mem =
      typeof bytes === 'number'
        ? `${formatBytes(bytes)}${typeof full === 'number' && full > 0 ? ` (${(bytes / full).toFixed(3)} of full)` : ''}`
        : '';
    parts.push(
      `<text x="${left - 8}" y="${y + barH * 0.75}" text-anchor="end">${esc(label(r))}</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="#4878a8"/>`,
      `<text x="${(Math.max(x(v), x(base)) + 6).toFixed(1)}" y="${y + barH * 0.75}">${v.toFixed(4)}</text>`,
      `<text class="bytes" x="${width - right + 70}" y="${y + barH * 0.75}">${esc(mem)}</text>`,
    );
  });
  notes.forEach((n, i) => {
    parts.push(`<text x="10" y="${plotBottom + 52 + i * 16}" font-size="11" fill="#444">${esc(n)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function fmtTick(t: number): string {
  return Number.isInteger(t) ? String(t) : String(Number(t.toPrecision(6)));
}
