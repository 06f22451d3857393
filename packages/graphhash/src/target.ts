/**
 * Budget targeting: find the Louvain resolution whose user and item cluster counts come closest
 * to per-side row limits without exceeding either (the reference fixes γ per dataset instead).
 */
import { BudgetError, type Interactions, InvalidArgumentError } from '@compactrec/core';
import {
  type ClusterOptions,
  type ClusterSearchStep,
  type GraphClustering,
  resolveClusterOptions,
  runLouvain,
} from './cluster.js';
import { buildInteractionGraph, checkInteractions, type InteractionGraph } from './graph.js';

/**
 * Louvain runs already made on one interactions object with one set of cluster options, by
 * resolution, and the graph they ran on. A search given this store reuses its runs (no Louvain
 * run twice at one resolution) and adds the runs it makes, so several searches — e.g. one per
 * side — share their runs.
 */
export interface LouvainRunStore {
  graph: InteractionGraph | null;
  readonly runs: Map<number, GraphClustering>;
}

/** Row limits per side: the clustering must give at most this many clusters on each side. */
export interface ClusterLimits {
  readonly maxUserClusters: number;
  readonly maxItemClusters: number;
}

/** Options of {@link clusterToBudget}; every field is optional (`resolution` is the first guess). */
export interface TargetOptions extends ClusterOptions {
  /** Stop once the binding side fills at least 1 − tolerance of its limit. @default 0.02 */
  tolerance?: number;
  /** Most Louvain runs. @default 12 */
  maxIterations?: number;
  /** Smallest resolution tried before giving up with a BudgetError. @default 1e-4 */
  minResolution?: number;
  /** Largest resolution tried. @default 1e7 */
  maxResolution?: number;
  /** Called after each Louvain run (progress lines). @default undefined */
  onStep?: (step: ClusterSearchStep) => void;
  /**
   * Which side's limit the search fills: `'both'` keeps both counts under their limits (the
   * binding side fills its own), `'user'`/`'item'` fills that side's limit and ignores the other
   * (per-side targeting: each side takes its clusters from its own resolution). @default 'both'
   */
  target?: 'both' | 'user' | 'item';
  /** Runs to reuse and extend (must come from the same interactions and cluster options). @default a fresh store */
  store?: LouvainRunStore;
}

/** Defaults of {@link TargetOptions} beyond the cluster options (`resolution` 1 as the first guess). */
export const DEFAULT_TARGET_OPTIONS: Readonly<
  Required<Pick<TargetOptions, 'tolerance' | 'maxIterations' | 'minResolution' | 'maxResolution' | 'resolution'>>
> = Object.freeze({ tolerance: 0.02, maxIterations: 12, minResolution: 1e-4, maxResolution: 1e7, resolution: 1 });

/** Rows of a float32 table of `dim` values per row that fit in `budgetBytes` (the per-side limit). */
export function rowsForBudget(budgetBytes: number, dim: number): number {
  if (!(budgetBytes > 0) || !Number.isFinite(budgetBytes)) {
    throw new InvalidArgumentError(`graphhash/rowsForBudget: budgetBytes (${budgetBytes}) must be positive and finite`);
  }
  if (!Number.isInteger(dim) || dim < 1) {
    throw new InvalidArgumentError(`graphhash/rowsForBudget: dim (${dim}) must be a positive integer`);
  }
  // The epsilon absorbs float error of budgets given as fractions (0.25 × n × dim × 4).
  return Math.floor(budgetBytes / (dim * 4) + 1e-9);
}

/**
 * Searches the resolution so that the user and item cluster counts land as close as possible
 * under `limits`. The graph is built once. Cluster counts grow roughly like a power of γ, so the
 * search works on log γ: secant steps on log(fill) vs log γ (fill = the binding side's
 * clusters / limit), bisection when a step leaves the bracket. Louvain counts are not strictly
 * monotone in γ, so the best feasible run seen is returned, not the last.
 * @throws BudgetError when even `minResolution` gives more clusters than a limit
 */
export function clusterToBudget(x: Interactions, limits: ClusterLimits, options: TargetOptions = {}): GraphClustering {
  const where = 'graphhash/clusterToBudget';
  const t0 = performance.now();
  const o = resolveClusterOptions(
    { ...options, resolution: options.resolution ?? DEFAULT_TARGET_OPTIONS.resolution },
    where,
  );
  const tolerance = options.tolerance ?? DEFAULT_TARGET_OPTIONS.tolerance;
  const maxIterations = options.maxIterations ?? DEFAULT_TARGET_OPTIONS.maxIterations;
  const minResolution = options.minResolution ?? DEFAULT_TARGET_OPTIONS.minResolution;
  const maxResolution = options.maxResolution ?? DEFAULT_TARGET_OPTIONS.maxResolution;
  const { maxUserClusters: capU, maxItemClusters: capI } = limits;
  if (!Number.isInteger(capU) || capU < 1 || !Number.isInteger(capI) || capI < 1) {
    throw new InvalidArgumentError(
      `${where}: maxUserClusters (${capU}) and maxItemClusters (${capI}) must be positive integers; raise the budget`,
    );
  }
  if (!(tolerance >= 0 && tolerance < 1))
    throw new InvalidArgumentError(`${where}: tolerance (${tolerance}) must be in [0, 1)`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new InvalidArgumentError(`${where}: maxIterations (${maxIterations}) must be a positive integer`);
  }
  if (!(minResolution > 0 && minResolution <= o.resolution && o.resolution <= maxResolution)) {
    throw new InvalidArgumentError(
      `${where}: need 0 < minResolution (${minResolution}) ≤ resolution (${o.resolution}) ≤ maxResolution (${maxResolution})`,
    );
  }
  checkInteractions(x, where);
  const target = options.target ?? 'both';
  if (target !== 'both' && target !== 'user' && target !== 'item') {
    throw new InvalidArgumentError(`${where}: target ('${String(target)}') must be 'both', 'user' or 'item'`);
  }
  const store: LouvainRunStore = options.store ?? { graph: null, runs: new Map() };
  const graph = (): InteractionGraph => {
    if (store.graph === null) store.graph = buildInteractionGraph(x, o.modularity);
    return store.graph;
  };
  // The share of its limit the searched side fills; ≤ 1 means the run fits.
  const fillOf = (c: GraphClustering): number =>
    target === 'user'
      ? c.numUserClusters / capU
      : target === 'item'
        ? c.numItemClusters / capI
        : Math.max(c.numUserClusters / capU, c.numItemClusters / capI);
  const steps: ClusterSearchStep[] = [];
  let best: GraphClustering | null = null;
  let bestFill = -1;
  // Bracket in log γ: lo = largest feasible run, hi = smallest infeasible run.
  let lo: { logR: number; logFill: number } | null = null;
  let hi: { logR: number; logFill: number } | null = null;
  const goal = 1 - tolerance / 2; // aim inside the accepted band [1 − tolerance, 1]
  let logR = Math.log(o.resolution);
  let prev: { logR: number; logFill: number } | null = null;
  // Earlier runs in the store place the bracket before any new run (the start is the cached run
  // nearest the goal, the previous point the best one on the other side of it).
  let done = false;
  let reused = 0;
  if (store.runs.size > 0) {
    let near: { logR: number; logFill: number } | null = null;
    for (const [r, c] of [...store.runs].sort((a, b) => a[0] - b[0])) {
      const fill = fillOf(c);
      const point = { logR: Math.log(r), logFill: Math.log(Math.max(fill, 1e-12)) };
      if (fill <= 1) {
        if (fill > bestFill) {
          best = c;
          bestFill = fill;
        }
        if (lo === null || point.logR > lo.logR) lo = point;
      } else if (hi === null || point.logR < hi.logR) hi = point;
      if (near === null || Math.abs(point.logFill - Math.log(goal)) < Math.abs(near.logFill - Math.log(goal)))
        near = point;
      reused++;
    }
    done = bestFill >= 1 - tolerance;
    if (!done && near !== null) {
      prev = near === lo ? hi : lo;
      logR = nextLogResolution(lo, hi, prev, near, goal, Math.log(minResolution), Math.log(maxResolution));
      prev = near;
    }
  }
  for (let it = 0; it < maxIterations && !done; it++) {
    const resolution = Math.exp(logR);
    let c = store.runs.get(resolution);
    if (c === undefined) {
      c = runLouvain(x, graph(), o, resolution, null);
      store.runs.set(resolution, c);
    }
    const fill = fillOf(c);
    const feasible = fill <= 1;
    const step: ClusterSearchStep = {
      resolution,
      userClusters: c.numUserClusters,
      itemClusters: c.numItemClusters,
      modularity: c.modularity,
      seconds: c.louvainSeconds,
      feasible,
    };
    steps.push(step);
    options.onStep?.(step);
    const point = { logR, logFill: Math.log(Math.max(fill, 1e-12)) };
    if (feasible) {
      if (fill > bestFill) {
        best = c;
        bestFill = fill;
      }
      if (lo === null || logR > lo.logR) lo = point;
      if (fill >= 1 - tolerance) break;
    } else if (hi === null || logR < hi.logR) {
      hi = point;
    }
    if (!feasible && logR <= Math.log(minResolution) + 1e-12) break;
    if (feasible && logR >= Math.log(maxResolution) - 1e-12) break;
    if (lo !== null && hi !== null && hi.logR - lo.logR < 1e-3) break;
    logR = nextLogResolution(lo, hi, prev, point, goal, Math.log(minResolution), Math.log(maxResolution));
    prev = point;
  }
  if (best === null) {
    const last = steps[steps.length - 1] ?? {
      resolution: Math.exp(logR),
      userClusters: Number.NaN,
      itemClusters: Number.NaN,
    };
    throw new BudgetError(
      `${where}: even resolution ${last.resolution.toPrecision(3)} gives ${last.userClusters} user / ${last.itemClusters} item clusters, above the limits ${capU} / ${capI}; raise the budget`,
      { context: { maxUserClusters: capU, maxItemClusters: capI, steps } },
    );
  }
  // The chosen run's arrays are the store's own: every side that picks this resolution shares them.
  return {
    ...best,
    graphSeconds: store.graph?.seconds ?? best.graphSeconds,
    graphCpuSeconds: store.graph?.cpuSeconds ?? best.graphCpuSeconds,
    search: {
      maxUserClusters: capU,
      maxItemClusters: capI,
      target,
      reusedRuns: reused,
      iterations: steps.length,
      seconds: (performance.now() - t0) / 1000,
      steps,
    },
  };
}

/**
 * The next log γ to try: a secant step on log fill vs log γ through the two latest runs (slope 1
 * when unknown or implausible), at most ×1024 per step. Once both sides are known, a proposal
 * outside the bracket becomes its midpoint (bisection) and one too close to an end is moved in.
 */
function nextLogResolution(
  lo: { logR: number; logFill: number } | null,
  hi: { logR: number; logFill: number } | null,
  prev: { logR: number; logFill: number } | null,
  last: { logR: number; logFill: number },
  goal: number,
  logMin: number,
  logMax: number,
): number {
  let slope = 1;
  if (prev !== null && Math.abs(last.logR - prev.logR) > 1e-9) {
    slope = (last.logFill - prev.logFill) / (last.logR - prev.logR);
  }
  if (!(slope > 0.2 && slope < 5)) slope = 1;
  const maxStep = Math.log(1024);
  let delta = (Math.log(goal) - last.logFill) / slope;
  delta = Math.max(-maxStep, Math.min(maxStep, delta));
  let next = last.logR + delta;
  if (lo !== null && hi !== null) {
    const w = hi.logR - lo.logR;
    if (!(next > lo.logR && next < hi.logR)) next = lo.logR + w / 2;
    const margin = Math.min(0.1 * w, 0.01);
    next = Math.min(hi.logR - margin, Math.max(lo.logR + margin, next));
  } else if (Math.abs(delta) < 0.01) {
    // Only one side known and the step vanished: move a little in the needed direction.
    next = last.logR + (delta < 0 ? -0.01 : 0.01);
  }
  return Math.min(logMax, Math.max(logMin, next));
}
