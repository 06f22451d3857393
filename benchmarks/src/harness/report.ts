import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One benchmark record: a flat object of numbers/strings (one row of results.csv). */
export type ResultRecord = Readonly<Record<string, string | number | boolean | null>>;

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
  const s = String(v);
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

/**
 * A horizontal bar chart (SVG, no dependencies) of `metric` per record, labelled by `label`,
 * grouped visually by `group` (e.g. the budget).
 */
export function barChartSvg(
  records: readonly ResultRecord[],
  metric: string,
  label: (r: ResultRecord) => string,
  title: string,
): string {
  const rows = records.filter((r) => typeof r[metric] === 'number');
  const max = Math.max(1e-12, ...rows.map((r) => r[metric] as number));
  const barH = 18;
  const gap = 6;
  const left = 260;
  const width = 760;
  const plotW = width - left - 80;
  const height = 50 + rows.length * (barH + gap);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = 36 + i * (barH + gap);
    const v = r[metric] as number;
    const w = Math.max(1, (v / max) * plotW);
    parts.push(
      `<text x="${left - 8}" y="${y + barH * 0.75}" text-anchor="end">${esc(label(r))}</text>`,
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="#4878a8"/>`,
      `<text x="${left + w + 6}" y="${y + barH * 0.75}">${v.toFixed(4)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
