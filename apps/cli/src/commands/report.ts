import { InvalidArgumentError } from '@compactrec/core';
import { writeReport } from '@compactrec/report';
import type { Command } from '../args.js';

/** `compactrec report RESULTS_DIR… --out report.html`: one self-contained HTML report of benchmark results. */
export const reportCommand: Command = {
  name: 'report',
  summary: 'Write one self-contained HTML report (Pareto plots, sortable tables, run environments) of results dirs',
  positionals: true,
  options: [
    { name: 'out', type: 'string', default: 'report.html', description: 'Output HTML file' },
    {
      name: 'metric',
      type: 'string',
      description: 'Metric on the y axis (default: recall@20 for retrieval, auc for CTR, per dataset × model)',
    },
    {
      name: 'bytes',
      type: 'string',
      default: 'embedding+mapping',
      choices: ['embedding+mapping', 'embedding'],
      description: 'x axis: embedding-table bytes plus ID-mapping bytes, or embedding bytes only',
    },
    { name: 'title', type: 'string', default: 'CompactRec benchmark report', description: 'Page title' },
  ],
  details:
    'Positional arguments: results directories (or results.json files) written by `compactrec bench retrieval|ctr`;\n' +
    'a directory without results.json is searched two levels down. The page needs no network to open.\n' +
    'Example:\n  compactrec report results/gowalla-0.5 results/gowalla-0.25 --out results/report.html',
  async run(a) {
    const dirs = a._;
    if (dirs.length === 0) {
      throw new InvalidArgumentError(
        'compactrec report: give at least one results directory, e.g. compactrec report results/retrieval --out report.html',
      );
    }
    const w = await writeReport(dirs, a.out as string, {
      ...(a.metric !== undefined ? { metric: a.metric as string } : {}),
      bytes: a.bytes as 'embedding' | 'embedding+mapping',
      title: a.title as string,
    });
    const plots = w.plots.map((p) => `  ${p.dataset} · ${p.model}: ${p.points} points, ${p.front} on the Pareto front`);
    process.stdout.write(
      `Wrote ${w.out} (${w.bytes.toLocaleString('en-US')} bytes) from ${w.files} results file(s), ${w.records} record(s):\n${plots.join('\n')}\n`,
    );
    return 0;
  },
};
