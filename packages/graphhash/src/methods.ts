/**
 * The GraphHash registry entries ({@link MapperSpec}s) and the per-interactions clustering cache
 * that lets the user mapper and the item mapper share one Louvain run.
 */
import {
  BudgetError,
  checkFitRequest,
  type IdMapper,
  type Interactions,
  InvalidArgumentError,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSpec,
} from '@compactrec/core';
import { DEFAULT_CLUSTER_OPTIONS, type GraphClustering } from './cluster.js';
import type { ModularityKind } from './graph.js';
import {
  createGraphHashMapper,
  DEFAULT_GRAPHHASH_MAPPER_OPTIONS,
  type GraphHashMethod,
  restoreGraphHashMapper,
  type Side,
} from './mapper.js';
import { type GraphHashTargeting, sideClustering } from './shared.js';
import { DEFAULT_TARGET_OPTIONS, rowsForBudget } from './target.js';

/**
 * Settings a GraphHash method reads from `MapperCreateOptions.extra` (all optional; other keys
 * are ignored so one `extra` can serve several methods).
 */
export interface GraphHashExtra {
  /** Fixed Louvain resolution; skips budget targeting. @default undefined (target the budget) */
  resolution?: number;
  /** @default 'bipartite' */
  modularity?: ModularityKind;
  /** graphhash-frequency: share of the side's rows owned by its most frequent IDs. @default 0.5 */
  frequentFraction?: number;
  /**
   * The other side's budget in bytes (one clustering serves both sides, so targeting needs both).
   * @default the same fraction of the other side's full table as this side's budget
   */
  otherBudgetBytes?: number;
  /** Keep the data `assignUnseen` needs. @default true */
  unseenAssignment?: boolean;
  /** Targeting tolerance (see `clusterToBudget`). @default 0.02 */
  tolerance?: number;
  /** Targeting's most Louvain runs. @default 12 */
  maxIterations?: number;
  /**
   * Louvain's seed, shared by the user and the item side of a run (pass the run's seed; the
   * per-side mapper seed must not split one clustering into two). @default the mapper's seed
   */
  clusterSeed?: number;
  /** Resolution per side or one for both (see {@link GraphHashTargeting}). @default 'per-side' */
  targeting?: GraphHashTargeting;
}

const pinned = new WeakMap<Interactions, GraphClustering>();

/**
 * Makes the GraphHash specs use `clustering` for `interactions` (e.g. one loaded with
 * `loadClustering`) instead of clustering them; `null` unpins. The clustering must match the
 * interactions' sizes; a budget it exceeds is still a BudgetError at create time.
 */
export function useClustering(interactions: Interactions, clustering: GraphClustering | null): void {
  if (clustering === null) {
    pinned.delete(interactions);
    return;
  }
  if (clustering.numUsers !== interactions.numUsers || clustering.numItems !== interactions.numItems) {
    throw new InvalidArgumentError(
      `graphhash/useClustering: clustering is of ${clustering.numUsers} users × ${clustering.numItems} items; the interactions have ${interactions.numUsers} × ${interactions.numItems}`,
    );
  }
  pinned.set(interactions, clustering);
}

function readExtra(
  extra: MapperCreateOptions['extra'],
  where: string,
): Required<Omit<GraphHashExtra, 'resolution' | 'otherBudgetBytes' | 'clusterSeed'>> &
  Pick<GraphHashExtra, 'resolution' | 'otherBudgetBytes' | 'clusterSeed'> {
  const e = extra ?? {};
  const num = (k: string): number | undefined => {
    const v = e[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new InvalidArgumentError(`${where}: extra.${k} (${String(v)}) must be a finite number`);
    return v;
  };
  const modularity = e.modularity ?? DEFAULT_CLUSTER_OPTIONS.modularity;
  if (modularity !== 'bipartite' && modularity !== 'unipartite') {
    throw new InvalidArgumentError(
      `${where}: extra.modularity '${String(modularity)}' must be 'bipartite' or 'unipartite'`,
    );
  }
  const unseen = e.unseenAssignment ?? DEFAULT_GRAPHHASH_MAPPER_OPTIONS.unseenAssignment;
  if (typeof unseen !== 'boolean') throw new InvalidArgumentError(`${where}: extra.unseenAssignment must be a boolean`);
  const targeting = e.targeting ?? 'per-side';
  if (targeting !== 'per-side' && targeting !== 'joint') {
    throw new InvalidArgumentError(`${where}: extra.targeting '${String(targeting)}' must be 'per-side' or 'joint'`);
  }
  const out: ReturnType<typeof readExtra> = {
    modularity,
    targeting,
    frequentFraction: num('frequentFraction') ?? DEFAULT_GRAPHHASH_MAPPER_OPTIONS.frequentFraction,
    unseenAssignment: unseen,
    tolerance: num('tolerance') ?? DEFAULT_TARGET_OPTIONS.tolerance,
    maxIterations: num('maxIterations') ?? DEFAULT_TARGET_OPTIONS.maxIterations,
  };
  const resolution = num('resolution');
  if (resolution !== undefined) out.resolution = resolution;
  const clusterSeed = num('clusterSeed');
  if (clusterSeed !== undefined) {
    if (!Number.isInteger(clusterSeed))
      throw new InvalidArgumentError(`${where}: extra.clusterSeed (${clusterSeed}) must be an integer`);
    out.clusterSeed = clusterSeed;
  }
  const other = num('otherBudgetBytes');
  if (other !== undefined) out.otherBudgetBytes = other;
  if (!(out.frequentFraction >= 0 && out.frequentFraction < 1)) {
    throw new InvalidArgumentError(`${where}: extra.frequentFraction (${out.frequentFraction}) must be in [0, 1)`);
  }
  return out;
}

/**
 * The pinned clustering of `x`, or this side's clustering from the runs shared by both sides
 * (see `sideClustering`: Louvain's seed is the run's, never the side's).
 */
function obtainClustering(
  x: Interactions,
  settings: ReturnType<typeof readExtra>,
  side: Side,
  seed: number,
  ownLimit: number,
  otherLimit: number,
): GraphClustering {
  return (
    pinned.get(x) ??
    sideClustering(x, {
      side,
      ownLimit,
      otherLimit,
      modularity: settings.modularity,
      seed: settings.clusterSeed ?? seed,
      resolution: settings.resolution,
      targeting: settings.targeting,
      tolerance: settings.tolerance,
      maxIterations: settings.maxIterations,
    })
  );
}

function makeSpec(name: GraphHashMethod, summary: string): MapperSpec {
  const spec: MapperSpec = {
    name,
    summary,
    requires: ['interactions'],
    create(data: MapperFitData, options: MapperCreateOptions): IdMapper {
      checkFitRequest(spec, data, options);
      const where = `graphhash/${name}`;
      const side: Side | undefined = data.side;
      if (side !== 'user' && side !== 'item') {
        throw new InvalidArgumentError(`${where}: needs side ('user' or 'item') in the fit data; got ${String(side)}`);
      }
      const x = data.interactions!;
      const numOwn = side === 'user' ? x.numUsers : x.numItems;
      const numOther = side === 'user' ? x.numItems : x.numUsers;
      if (data.numIds !== numOwn) {
        throw new InvalidArgumentError(
          `${where}: numIds (${data.numIds}) differs from the interactions' ${side} count (${numOwn})`,
        );
      }
      if (!Number.isInteger(options.seed))
        throw new InvalidArgumentError(`${where}: seed (${options.seed}) must be an integer`);
      const settings = readExtra(options.extra, where);
      const ownRows = rowsForBudget(options.budgetBytes, options.dim);
      const otherBudget = settings.otherBudgetBytes ?? (options.budgetBytes * numOther) / numOwn;
      const otherRows = rowsForBudget(otherBudget, options.dim);
      // Cluster limits per side: all rows, or the rows left after the frequent IDs' own rows.
      const limitFor = (rows: number, numIds: number): number =>
        name === 'graphhash-frequency' ? rows - Math.min(numIds, Math.floor(settings.frequentFraction * rows)) : rows;
      const ownLimit = limitFor(ownRows, numOwn);
      const otherLimit = limitFor(otherRows, numOther);
      if (ownLimit < 1 || otherLimit < 1) {
        throw new BudgetError(
          `${where}: budgetBytes (${options.budgetBytes}) leaves ${ownLimit} ${side} / ${otherLimit} other-side cluster rows at dim ${options.dim}; raise the budget`,
          { context: { budgetBytes: options.budgetBytes, dim: options.dim } },
        );
      }
      const clustering = obtainClustering(x, settings, side, options.seed, ownLimit, otherLimit);
      const counts = data.counts;
      // A fixed resolution or a pinned clustering may exceed the budget: a BudgetError from here.
      return createGraphHashMapper(clustering, side, {
        method: name,
        rows: ownRows,
        seed: options.seed,
        frequentFraction: settings.frequentFraction,
        unseenAssignment: settings.unseenAssignment,
        ...(counts !== undefined && counts.length === numOwn ? { counts } : {}),
      });
    },
    restore: restoreGraphHashMapper,
  };
  return Object.freeze(spec);
}

/**
 * The GraphHash methods by registry name, to merge with id-hashing's registry. Each needs
 * `interactions` and `side` in the fit data; `extra` takes {@link GraphHashExtra} settings.
 */
export const GRAPHHASH_METHODS: Readonly<Record<string, MapperSpec>> = Object.freeze({
  graphhash: makeSpec('graphhash', 'Row = Louvain cluster of the user-item graph (bipartite modularity)'),
  'double-graphhash': makeSpec(
    'double-graphhash',
    'Two codes, [universal hash, cluster], summed in one table of m rows',
  ),
  'graphhash-frequency': makeSpec(
    'graphhash-frequency',
    'Most frequent IDs own a row; the others share their cluster row',
  ),
});
