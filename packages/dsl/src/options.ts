import { InvalidArgumentError, resolveOptions } from '@compactrec/core';

/** How the prune rate r_t evolves over training. */
export type DslSchedule = 'cosine' | 'constant';

/**
 * Which gradients score the inactive weights for regrowth.
 *
 * - `'batch'`: |g| of the single batch right before an update (the reference implementation).
 * - `'accumulated'`: Σ|g| over every batch since the previous update, only for the rows those batches touched.
 */
export type DslGrowth = 'batch' | 'accumulated';

/** Options of {@link DslTable}; every field is optional. */
export interface DslOptions {
  /** Fraction of the `rows × dim` weights that are active (exactly `round(density · rows · dim)`). @default 0.5 */
  density?: number;
  /** ΔT: optimizer steps between two prune/grow updates. @default 1000 */
  updateInterval?: number;
  /** r_0: prune rate at step 0 (fraction of the active weights replaced per update). @default 0.5 */
  pruneRateStart?: number;
  /** r_min: prune rate at the last step (cosine schedule only). @default 0.005 */
  pruneRateEnd?: number;
  /** `'cosine'`: r_t = r_min + (r_0 − r_min)(1 + cos(π t/T))/2; `'constant'`: r_t = r_0. @default 'cosine' */
  schedule?: DslSchedule;
  /** Growth score source, see {@link DslGrowth}. @default 'accumulated' */
  growth?: DslGrowth;
  /** Seed of the initial mask and of tie-breaking among equal magnitudes/scores. @default 0 */
  seed?: number;
}

/** Defaults of {@link DslOptions} (the reference code's values, ΔT scaled to MF-sized epochs). */
export const DEFAULT_DSL_OPTIONS: Readonly<Required<DslOptions>> = Object.freeze({
  density: 0.5,
  updateInterval: 1000,
  pruneRateStart: 0.5,
  pruneRateEnd: 0.005,
  schedule: 'cosine',
  growth: 'accumulated',
  seed: 0,
});

/** Merges `options` over the defaults (only `undefined` falls back) and validates every field. */
export function resolveDslOptions(options: DslOptions, where: string): Required<DslOptions> {
  const o: Required<DslOptions> = resolveOptions(DEFAULT_DSL_OPTIONS, options);
  if (typeof o.density !== 'number' || !(o.density > 0 && o.density <= 1)) {
    throw new InvalidArgumentError(
      `${where}: density (${o.density}) must be in (0, 1]; use densityForBudget to derive it`,
    );
  }
  if (!Number.isInteger(o.updateInterval) || o.updateInterval < 1) {
    throw new InvalidArgumentError(
      `${where}: updateInterval (${o.updateInterval}) must be a positive integer of steps`,
    );
  }
  for (const key of ['pruneRateStart', 'pruneRateEnd'] as const) {
    const v = o[key];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new InvalidArgumentError(`${where}: ${key} (${v}) must be a fraction in [0, 1]`);
    }
  }
  if (o.schedule !== 'cosine' && o.schedule !== 'constant') {
    throw new InvalidArgumentError(`${where}: schedule ('${String(o.schedule)}') must be 'cosine' or 'constant'`);
  }
  if (o.growth !== 'batch' && o.growth !== 'accumulated') {
    throw new InvalidArgumentError(`${where}: growth ('${String(o.growth)}') must be 'batch' or 'accumulated'`);
  }
  if (!Number.isInteger(o.seed)) {
    throw new InvalidArgumentError(`${where}: seed (${o.seed}) must be an integer`);
  }
  return o;
}

/**
 * The prune rate r_t at `step` of a `totalSteps` run: cosine annealing from `pruneRateStart` to
 * `pruneRateEnd` (t is clamped to [0, T]), or `pruneRateStart` throughout for the constant schedule.
 */
export function pruneRateAt(
  step: number,
  totalSteps: number,
  options: Pick<Required<DslOptions>, 'pruneRateStart' | 'pruneRateEnd' | 'schedule'>,
): number {
  const r0 = options.pruneRateStart;
  if (options.schedule === 'constant') return r0;
  const rMin = options.pruneRateEnd;
  const t = Math.min(Math.max(step, 0), totalSteps);
  return rMin + ((r0 - rMin) * (1 + Math.cos((Math.PI * t) / totalSteps))) / 2;
}
