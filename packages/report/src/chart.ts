/**
 * The metric-vs-bytes plot of one dataset × model: a Vega-Lite spec, compiled to Vega and
 * rendered to a static SVG when the report is built (no script or network needed to view it).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One plotted result. */
export interface PlotPoint {
  readonly method: string;
  /** Bytes on the x axis (log scale). */
  readonly bytes: number;
  /** The metric on the y axis (higher is better). */
  readonly value: number;
  /** The record's budget fraction, shown in the tooltip. */
  readonly budget: number | null;
  /** The run (results directory) it came from. */
  readonly run: string;
  /** On the Pareto front of its plot. */
  readonly pareto: boolean;
  /** Sample std of the metric over seeds (`<metric>.std`), drawn as an error bar; null without seeds. */
  readonly std?: number | null;
}

/** What {@link plotSpec} draws. */
export interface PlotInput {
  readonly title: string;
  readonly metric: string;
  /** What the bytes are (axis title). */
  readonly bytesLabel: string;
  readonly points: readonly PlotPoint[];
  /** Every method of the report in one order, so a method has the same colour in every plot. @default this plot's methods */
  readonly methods?: readonly string[];
}

/**
 * Names of the spec's layers; Vega gives each layer's marks the SVG class `<name>_marks`, which is
 * how a test (or a person with dev tools) counts what was drawn.
 */
export const PLOT_LAYERS = Object.freeze({
  /** One line per method through its points, by bytes. */
  curves: 'curves',
  /** The Pareto front as a staircase. */
  front: 'front',
  /** One filled symbol per result. */
  points: 'points',
  /** A ring around each result on the front. */
  frontPoints: 'frontpoints',
  /** value ± std over seeds, one vertical rule per result that has a std. */
  errors: 'errors',
});

/** Plot size in CSS pixels (the SVG adds axes and the legend around it). */
const WIDTH = 560;
const HEIGHT = 300;

/** The Vega-Lite spec of one plot: method curves, Pareto front, points (± std over seeds) on a log-bytes axis. */
export function plotSpec(input: PlotInput): TopLevelSpec {
  const values = input.points.map((p) => ({ ...p }));
  const front = values.filter((p) => p.pareto).sort((a, b) => a.bytes - b.bytes);
  const spread = values
    .filter((p) => typeof p.std === 'number')
    .map((p) => ({ ...p, lo: p.value - (p.std as number), hi: p.value + (p.std as number) }));
  const x = {
    field: 'bytes',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, nice: false, padding: 12 },
    axis: { title: input.bytesLabel, format: '~s', grid: true },
  };
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    scale: { zero: false, padding: 12 },
    axis: { title: input.metric },
  };
  const color = {
    field: 'method',
    type: 'nominal' as const,
    legend: { title: 'method' },
    ...(input.methods ? { scale: { domain: [...input.methods] } } : {}),
  };
  const tooltip = [
    { field: 'method', type: 'nominal' as const },
    { field: 'run', type: 'nominal' as const },
    { field: 'budget', type: 'quantitative' as const },
    { field: 'bytes', type: 'quantitative' as const, format: ',' },
    { field: 'value', type: 'quantitative' as const, title: input.metric, format: '.4f' },
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: input.title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
    layer: [
      {
        name: PLOT_LAYERS.curves,
        data: { values },
        mark: { type: 'line', strokeWidth: 1.5, opacity: 0.7 },
        encoding: { x, y, color, order: { field: 'bytes', type: 'quantitative' } },
      },
      {
        name: PLOT_LAYERS.front,
        data: { values: front },
        mark: { type: 'line', interpolate: 'step-after', color: '#222', strokeDash: [5, 3], strokeWidth: 1.5 },
        encoding: { x, y, order: { field: 'bytes', type: 'quantitative' } },
      },
      {
        name: PLOT_LAYERS.points,
        data: { values },
        mark: { type: 'point', filled: true, size: 70, opacity: 0.95 },
        encoding: { x, y, color, shape: { field: 'run', type: 'nominal', legend: { title: 'run' } }, tooltip },
      },
      ...(spread.length > 0
        ? [
            {
              name: PLOT_LAYERS.errors,
              data: { values: spread },
              mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.8 },
              encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
            },
          ]
        : []),
      {
        name: PLOT_LAYERS.frontPoints,
        data: { values: front },
        mark: { type: 'point', filled: false, size: 220, color: '#222', strokeWidth: 1.5 },
        encoding: { x, y, tooltip },
      },
    ],
  } as TopLevelSpec;
}

/** Compiles a Vega-Lite spec and renders it to a standalone SVG string (headless, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
