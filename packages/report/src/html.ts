/**
 * The report page: per dataset × model, the metric-vs-bytes plot (SVG inlined), a sortable table
 * and per-method notes; per run, its protocol and environment. One file, no external resource.
 */
import { InvalidArgumentError } from '@compactrec/core';
import { type PlotPoint, plotSpec, renderSvg } from './chart.js';
import { paretoFront } from './pareto.js';
import type { BenchRecord, RecordValue, ResultSet } from './records.js';

/** Options of {@link renderReport}; every field is optional. */
export interface ReportOptions {
  /** Page title. @default 'CompactRec benchmark report' */
  title?: string;
  /** The y metric (higher is better); per group the first of {@link DEFAULT_METRICS} present when unset. */
  metric?: string;
  /**
   * The x axis: embedding bytes only, or embedding + ID-mapping bytes (what serving holds).
   * @default 'embedding+mapping'
   */
  bytes?: 'embedding' | 'embedding+mapping';
  /** Time stamp printed on the page. @default now */
  generatedAt?: Date;
}

/** Defaults of {@link ReportOptions}. */
export const DEFAULT_REPORT_OPTIONS = Object.freeze({
  title: 'CompactRec benchmark report',
  bytes: 'embedding+mapping' as 'embedding' | 'embedding+mapping',
});

/** Metrics tried, in order, when no metric is given (retrieval, then CTR). */
export const DEFAULT_METRICS: readonly string[] = Object.freeze(['recall@20', 'auc', 'ndcg@20']);

/**
 * Environment fields a record may carry (newer harness runs add them; older records lack them and
 * the report says "not recorded").
 */
export const ENVIRONMENT_FIELDS: readonly string[] = Object.freeze([
  'gitCommit',
  'gitDirty',
  'compactrecVersion',
  'nodeVersion',
  'kernels',
  'platform',
  'cpuModel',
  'cpus',
  'memoryBytes',
  'hostname',
  'startedAt',
]);

/** Fields that describe one method's result rather than the run's protocol. */
const RESULT_FIELDS = new Set([
  'method',
  'budget',
  'rows',
  'userRows',
  'itemRows',
  'embeddingBytes',
  'budgetBytes',
  'fullEmbeddingBytes',
  'embeddingFraction',
  'mappingBytes',
  'optimizerBytes',
  'trainingTableBytes',
  'denseParams',
  'itemTableBytes',
  'recall@20',
  'recallCapped@20',
  'ndcg@20',
  'bestRecall',
  'bestEpoch',
  'auc',
  'logloss',
  'validAuc',
  'trainSeconds',
  'evalSeconds',
  'fitSeconds',
  'secondsPerEpoch',
  'triplesPerSecond',
  'samplesPerSecond',
  'lookupsPerSecond',
  'rssBytes',
  'params',
  'lr',
  // Harness v2 (validation, tuning, sweeps): per-record results, not the run's protocol.
  'reg',
  'valid.recall@20',
  'valid.recallCapped@20',
  'valid.ndcg@20',
  'validCurve',
  'validationInteractions',
  'epochsTrained',
  'stoppedEarly',
  'tuneGrid',
  'cellKey',
  'groupKey',
  'cellSeconds',
  'tuneIncomplete',
]);

/** A record key that is a result: one of {@link RESULT_FIELDS} or a seed spread (`<metric>.std`). */
function isResultField(k: string): boolean {
  return RESULT_FIELDS.has(k) || k.endsWith('.std');
}

/** Throughput fields shown as "lookup/training throughput", the first present wins. */
const THROUGHPUT_FIELDS = ['lookupsPerSecond', 'triplesPerSecond', 'samplesPerSecond'];

/** A record with the run it came from. */
export type RunRecord = BenchRecord & { readonly run: string };

/** One dataset × model section of the report. */
export interface ReportGroup {
  readonly dataset: string;
  readonly model: string;
  readonly metric: string;
  /** Records plotted (those with the metric and bytes), in plot order; `points[i]` is `records[i]`. */
  readonly records: readonly RunRecord[];
  readonly points: readonly PlotPoint[];
  /** Records of the group without the metric or bytes (listed, not plotted). */
  readonly unplotted: readonly RunRecord[];
}

const num = (v: RecordValue | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: RecordValue | undefined, fallback: string): string =>
  v === undefined || v === null || v === '' ? fallback : String(v);

/** Bytes on the x axis for a record, or null when it lacks them. */
export function recordBytes(r: BenchRecord, mode: 'embedding' | 'embedding+mapping'): number | null {
  const e = num(r.embeddingBytes);
  if (e === null) return null;
  return mode === 'embedding' ? e : e + (num(r.mappingBytes) ?? 0);
}

/** Groups records by dataset × model and computes each group's points and Pareto front. */
export function groupResults(sets: readonly ResultSet[], options: ReportOptions = {}): ReportGroup[] {
  const bytesMode = options.bytes ?? DEFAULT_REPORT_OPTIONS.bytes;
  if (bytesMode !== 'embedding' && bytesMode !== 'embedding+mapping') {
    throw new InvalidArgumentError(
      `report/groupResults: bytes '${String(bytesMode)}' must be 'embedding' or 'embedding+mapping'`,
    );
  }
  const byKey = new Map<string, RunRecord[]>();
  for (const s of sets) {
    for (const r of s.records) {
      const key = JSON.stringify([str(r.dataset, 'unknown dataset'), str(r.model, 'unknown model')]);
      let list = byKey.get(key);
      if (list === undefined) {
        list = [];
        byKey.set(key, list);
      }
      list.push({ ...r, run: s.label });
    }
  }
  const groups: ReportGroup[] = [];
  for (const [key, all] of byKey) {
    const [dataset, model] = JSON.parse(key) as [string, string];
    const metric =
      options.metric ?? DEFAULT_METRICS.find((m) => all.some((r) => num(r[m]) !== null)) ?? DEFAULT_METRICS[0]!;
    const records: RunRecord[] = [];
    const unplotted: RunRecord[] = [];
    for (const r of all) {
      if (num(r[metric]) !== null && (recordBytes(r, bytesMode) ?? 0) > 0) records.push(r);
      else unplotted.push(r);
    }
    const raw = records.map((r) => ({ bytes: recordBytes(r, bytesMode)!, value: num(r[metric])! }));
    const onFront = new Set(paretoFront(raw));
    const points = records.map((r, i) => ({
      method: String(r.method),
      bytes: raw[i]!.bytes,
      value: raw[i]!.value,
      budget: num(r.budget),
      run: r.run,
      pareto: onFront.has(i),
      std: num(r[`${metric}.std`]),
    }));
    groups.push({ dataset, model, metric, records, points, unplotted });
  }
  return groups;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: RecordValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    const a = Math.abs(v);
    return a >= 100
      ? v.toFixed(1)
      : a >= 1
        ? v.toFixed(3)
        : a === 0
          ? '0'
          : a >= 1e-3
            ? v.toFixed(4)
            : v.toExponential(2);
  }
  return String(v);
}

/** "user: resolution=12.3, clusters=7464; item: …" from a record's `params` JSON (the knob each side chose). */
export function knobSummary(params: RecordValue | undefined, maxLength = 160): string {
  if (typeof params !== 'string' || params === '') return '';
  let p: unknown;
  try {
    p = JSON.parse(params);
  } catch {
    return params.slice(0, maxLength);
  }
  const flat = (o: unknown): string =>
    typeof o === 'object' && o !== null
      ? Object.entries(o)
          .filter(([, v]) => typeof v !== 'object' || v === null)
          .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : String(v)}`)
          .join(', ')
      : String(o);
  let text: string;
  if (Array.isArray(p)) text = p.map(flat).join('; ');
  else if (typeof p === 'object' && p !== null) {
    const entries = Object.entries(p);
    const nested = entries.every(([, v]) => typeof v === 'object' && v !== null);
    text = nested ? entries.map(([k, v]) => `${k}: ${flat(v)}`).join('; ') : flat(p);
  } else text = String(p);
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

function cell(v: RecordValue | undefined, extraClass = ''): string {
  const sortKey = typeof v === 'number' ? ` data-v="${v}"` : '';
  const cls = typeof v === 'number' ? `num${extraClass}` : extraClass.trim();
  return `<td${cls ? ` class="${cls}"` : ''}${sortKey}>${esc(fmt(v))}</td>`;
}

/** A metric cell: the value, with `± std` when the record averages seeds (`<metric>.std`). */
function metricCell(r: BenchRecord, m: string): string {
  const v = r[m];
  const sd = num(r[`${m}.std`]);
  if (typeof v !== 'number' || sd === null) return cell(v);
  return `<td class="num" data-v="${v}" title="mean ± sample std over seeds">${esc(fmt(v))} ± ${esc(fmt(sd))}</td>`;
}

function groupTable(g: ReportGroup, bytesMode: 'embedding' | 'embedding+mapping'): string {
  const metrics = [
    g.metric,
    ...['recallCapped@20', 'ndcg@20', 'logloss', 'valid.recall@20', 'validAuc'].filter((m) => m !== g.metric),
  ].filter((m) => g.records.some((r) => r[m] !== undefined));
  const head = [
    'run',
    'method',
    'budget',
    bytesMode === 'embedding' ? 'bytes (embedding)' : 'bytes (emb.+map.)',
    ...metrics,
    'Pareto',
    'embeddingBytes',
    'mappingBytes',
    'optimizerBytes',
    'userRows',
    'itemRows',
    'epochs',
    'bestEpoch',
    'lr',
    'throughput /s',
    'trainSeconds',
    'knob chosen',
  ];
  const rows = [...g.records, ...g.unplotted].map((r) => {
    const i = g.records.indexOf(r);
    const p = i >= 0 ? g.points[i]! : null;
    const tp = THROUGHPUT_FIELDS.find((f) => num(r[f]) !== null);
    return `<tr>${[
      cell(r.run),
      cell(r.method),
      cell(r.budget),
      cell(p ? p.bytes : recordBytes(r, bytesMode)),
      ...metrics.map((m) => metricCell(r, m)),
      `<td data-v="${p?.pareto ? 1 : 0}">${p === null ? 'not plotted' : p.pareto ? '★' : ''}</td>`,
      cell(r.embeddingBytes),
      cell(r.mappingBytes),
      cell(r.optimizerBytes),
      cell(r.userRows),
      cell(r.itemRows),
      cell(r.epochsTrained ?? r.epochs),
      cell(r.bestEpoch),
      r.tuneIncomplete !== undefined
        ? `<td class="num" data-v="${num(r.lr) ?? ''}" title="tuning incomplete">${esc(fmt(r.lr))} (${esc(String(r.tuneIncomplete))})</td>`
        : cell(r.lr),
      tp ? `<td class="num" data-v="${num(r[tp])}" title="${esc(tp)}">${esc(fmt(r[tp]))}</td>` : '<td></td>',
      cell(r.trainSeconds),
      `<td class="notes">${esc(knobSummary(r.params))}</td>`,
    ].join('')}</tr>`;
  });
  return `<div class="tablewrap"><table class="sortable"><thead><tr>${head.map((h) => `<th title="click to sort">${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

/** The protocol (fields constant over the run's records) and environment of one run. */
export function runFacts(set: ResultSet): { protocol: [string, RecordValue][]; environment: [string, string][] } {
  const keys = new Set<string>();
  for (const r of set.records) for (const k of Object.keys(r)) keys.add(k);
  const protocol: [string, RecordValue][] = [];
  for (const k of keys) {
    if (isResultField(k) || ENVIRONMENT_FIELDS.includes(k)) continue;
    const vals = new Set(set.records.map((r) => JSON.stringify(r[k] ?? null)));
    if (vals.size === 1) protocol.push([k, set.records[0]![k] ?? null]);
    else protocol.push([k, `varies (${[...vals].map((v) => JSON.parse(v) as RecordValue).join(', ')})`]);
  }
  for (const k of ['lr', 'epochs']) {
    const vals = [...new Set(set.records.map((r) => r[k]).filter((v) => v !== undefined))];
    if (vals.length > 0 && !protocol.some(([p]) => p === k))
      protocol.push([k, vals.length === 1 ? vals[0]! : `per method (${vals.join(', ')})`]);
  }
  const environment = ENVIRONMENT_FIELDS.map((k): [string, string] => {
    const vals = [...new Set(set.records.map((r) => r[k]).filter((v) => v !== undefined && v !== null))];
    return [k, vals.length === 0 ? 'not recorded' : vals.map((v) => fmt(v)).join(', ')];
  });
  return { protocol, environment };
}

const STYLE = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}h3{font-size:15px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2;cursor:pointer;user-select:none;white-space:nowrap}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.notes{font-size:11px;color:#444;min-width:320px;max-width:520px}
.tablewrap{overflow-x:auto}
.plot svg{max-width:100%;height:auto}.muted{color:#777;font-size:12px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:12px}
dl.facts dt{font-weight:bold}dl.facts dd{margin:0}
`;

/** Click a header to sort by it (numbers by value, text alphabetically); click again to reverse. */
const SORT_SCRIPT = `
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.querySelectorAll('th');
  heads.forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      heads.forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var xv = x.getAttribute('data-v'), yv = y.getAttribute('data-v');
        var c = xv !== null && yv !== null ? Number(xv) - Number(yv)
          : xv !== null ? -1 : yv !== null ? 1 : x.textContent.localeCompare(y.textContent);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
`;

/**
 * Renders the whole report as one self-contained HTML document: every plot is a Vega-Lite spec
 * rendered to inline SVG here, the only script is the table sorter, nothing is fetched.
 */
export async function renderReport(sets: readonly ResultSet[], options: ReportOptions = {}): Promise<string> {
  const title = options.title ?? DEFAULT_REPORT_OPTIONS.title;
  const bytesMode = options.bytes ?? DEFAULT_REPORT_OPTIONS.bytes;
  const groups = groupResults(sets, options);
  const when = (options.generatedAt ?? new Date()).toISOString();
  const allMethods = [...new Set(groups.flatMap((g) => g.points.map((p) => p.method)))];
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p class="muted">Generated ${esc(when)} from ${sets.length} results file(s); ${groups.length} dataset × model plot(s). ` +
      `x: ${bytesMode === 'embedding' ? 'embedding-table bytes' : 'embedding-table + ID-mapping bytes'} on a log axis; ` +
      'dashed staircase and rings: the Pareto front (no other result has fewer bytes and a higher metric). ' +
      'Click a table header to sort.</p>',
  ];
  for (const [gi, g] of groups.entries()) {
    const svg =
      g.points.length > 0
        ? await renderSvg(
            plotSpec({
              title: `${g.dataset} · ${g.model}: ${g.metric} vs bytes`,
              metric: g.metric,
              bytesLabel: bytesMode === 'embedding' ? 'embedding bytes (log)' : 'embedding + mapping bytes (log)',
              points: g.points,
              methods: allMethods,
            }),
          )
        : '<p class="muted">No record of this group has the metric and bytes: nothing to plot.</p>';
    const methods = new Set(g.points.map((p) => p.method)).size;
    const onFront = g.points.filter((p) => p.pareto).length;
    parts.push(
      `<section class="group" data-dataset="${esc(g.dataset)}" data-model="${esc(g.model)}" data-points="${g.points.length}" data-methods="${methods}" data-front="${onFront}" id="group-${gi}">`,
      `<h2>${esc(g.dataset)} · ${esc(g.model)}</h2>`,
      `<p class="muted">${g.points.length} result(s) of ${methods} method(s) plotted, ${onFront} on the Pareto front; metric ${esc(g.metric)}.</p>`,
      `<div class="plot">${svg}</div>`,
      groupTable(g, bytesMode),
      '</section>',
    );
  }
  parts.push('<h2>Runs: protocol and environment</h2>');
  for (const s of sets) {
    const { protocol, environment } = runFacts(s);
    const dl = (rows: [string, RecordValue][]): string =>
      `<dl class="facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(fmt(v))}</dd>`).join('')}</dl>`;
    parts.push(
      `<section class="run"><h3>${esc(s.label)}</h3><p class="muted">${esc(s.file)}: ${s.records.length} record(s)${s.skipped.length > 0 ? `; skipped: ${esc(s.skipped.join('; '))}` : ''}</p>`,
      '<h4>Protocol</h4>',
      dl(protocol),
      '<h4>Environment</h4>',
      dl(environment),
      '</section>',
    );
  }
  parts.push(`<script>${SORT_SCRIPT}</script>`, '</body></html>');
  return `${parts.join('\n')}\n`;
}
