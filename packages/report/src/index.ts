/**
 * @compactrec/report: one self-contained HTML file from benchmark results directories — per
 * dataset × model a metric-vs-bytes Pareto plot (Vega-Lite rendered to SVG at build time), a
 * sortable table with per-method notes, and each run's protocol and environment.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { groupResults, type ReportOptions, renderReport } from './html.js';
import { loadResults } from './records.js';

export { PLOT_LAYERS, type PlotInput, type PlotPoint, plotSpec, renderSvg } from './chart.js';
export {
  DEFAULT_METRICS,
  DEFAULT_REPORT_OPTIONS,
  ENVIRONMENT_FIELDS,
  groupResults,
  knobSummary,
  type ReportGroup,
  type ReportOptions,
  type RunRecord,
  recordBytes,
  renderReport,
  runFacts,
} from './html.js';
export { type ParetoPoint, paretoFront } from './pareto.js';
export {
  type BenchRecord,
  loadResults,
  parseResults,
  RESULT_FILE_NAMES,
  type RecordValue,
  type ResultSet,
} from './records.js';

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  readonly out: string;
  readonly bytes: number;
  readonly files: number;
  readonly records: number;
  /** Dataset × model plots, with their plotted point counts. */
  readonly plots: readonly { dataset: string; model: string; points: number; front: number }[];
}

/** Reads the results under `paths` and writes the report to `out` (atomically: temp file + rename). */
export async function writeReport(
  paths: readonly string[],
  out: string,
  options: ReportOptions = {},
): Promise<WrittenReport> {
  const sets = await loadResults(paths);
  const html = await renderReport(sets, options);
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  await writeFile(tmp, html);
  await rename(tmp, out);
  return {
    out,
    bytes: Buffer.byteLength(html),
    files: sets.length,
    records: sets.reduce((n, s) => n + s.records.length, 0),
    plots: groupResults(sets, options).map((g) => ({
      dataset: g.dataset,
      model: g.model,
      points: g.points.length,
      front: g.points.filter((p) => p.pareto).length,
    })),
  };
}
