import {
  deriveSeed,
  fullTableBytes,
  type Interactions,
  InvalidArgumentError,
  type MapperFitData,
  type QuantizeMode,
  type StorageOptimizerOptions,
} from '@compactrec/core';
import {
  createFeatureEmbedding,
  type EmbeddingMethod,
  FeatureEmbedding,
  FLOAT32_STORAGE,
  resolveMethod,
} from '@compactrec/embedding';
import { GRAPHHASH_METHODS } from '@compactrec/graphhash';
import type { CtrSchema, CtrSource, FieldCounts } from './schema.js';

/** Sharing methods that read GraphHash's `extra` settings (`GraphHashExtra`, e.g. `otherBudgetBytes`). */
const GRAPHHASH_SPECS: ReadonlySet<unknown> = new Set(Object.values(GRAPHHASH_METHODS));

/** The bipartite graph a graph method (graphhash, lsh) fits one field on, and the field's side of it. */
export interface FieldGraph {
  readonly interactions: Interactions;
  readonly side: 'user' | 'item';
}

/** How every field of a schema gets its embedding (method name + fit data + budget, see `@compactrec/embedding`). */
export interface FieldEmbeddingPlan {
  /** Method name applied to every compressed field: `SHARING`, `STORAGE` or `SHARING+STORAGE` (e.g. `double-frequency+int8`). */
  readonly method: string;
  /** Fraction of each field's full float32 table bytes its table may take (per table). */
  readonly budget: number;
  readonly dim: number;
  readonly seed: number;
  /**
   * Fields with at most this many IDs keep a full float32 table, above the budget: the one exception to
   * "every table at most budget × its full bytes" (0 = none). Callers must surface it (the CLI's
   * `--keep-full-below`, the benchmark record's `keepFullBelow` / `fullFields`).
   */
  readonly keepFullBelow: number;
  /** Settings of the sharing method (its mapper's `extra`, e.g. `{ combine: 'sum' }` for qr). */
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
  /** Settings of the storage kind (e.g. `{ dslUpdates: 30 }`); unknown keys are ignored. */
  readonly storageExtra?: Readonly<Record<string, number | string | boolean>>;
  /** Training counts per field (frequency methods). */
  readonly counts?: FieldCounts;
  /** Per field, the graph a graph method fits on (see {@link fieldGraphs}); null = none. */
  readonly graphs?: readonly (FieldGraph | null)[];
  /** Low-precision kinds: quantize `after` training or `during` it. */
  readonly quantize: QuantizeMode;
  /** Optimizer steps of the whole run (DSL's schedule); 0 if unknown. */
  readonly totalSteps: number;
  /** Std of a composed embedding at init. */
  readonly initStd: number;
  /** Lazy-Adam settings of every table. */
  readonly optimizer: StorageOptimizerOptions;
}

/**
 * Whether field `f` is compressed by the plan's method: not when the method is the uncompressed
 * reference, nor when the field has at most `keepFullBelow` IDs (compressing 7 weekdays into one
 * row only destroys the field).
 */
export function isCompressedField(
  schema: CtrSchema,
  plan: Pick<FieldEmbeddingPlan, 'method' | 'keepFullBelow'>,
  f: number,
): boolean {
  return !resolveMethod(plan.method).uncompressed && schema.cardinalities[f]! > plan.keepFullBelow;
}

/**
 * The fit data of field `f` for `method`: its ID count, plus counts and/or a graph when the
 * method's sharing part requires them (an error names the field and what is missing).
 */
function fitData(schema: CtrSchema, plan: FieldEmbeddingPlan, m: EmbeddingMethod, f: number): MapperFitData {
  const numIds = schema.cardinalities[f]!;
  const where = `ctr/createFieldEmbeddings(${m.name})`;
  const requires = m.sharing.requires;
  const counts = plan.counts?.[f];
  if (requires.includes('counts') && !counts) {
    throw new InvalidArgumentError(
      `${where}: field '${schema.fieldNames[f]}' needs training counts; pass counts (data.counts())`,
    );
  }
  const graph = plan.graphs?.[f] ?? null;
  if (requires.includes('interactions') && !graph) {
    throw new InvalidArgumentError(
      `${where}: field '${schema.fieldNames[f]}' needs a bipartite graph; build graphs with fieldGraphs(schema, train, plan)`,
    );
  }
  return {
    numIds,
    ...(counts ? { counts } : {}),
    ...(graph ? { interactions: graph.interactions, side: graph.side } : {}),
  };
}

/**
 * One d-dim {@link FeatureEmbedding} per field, through the embedding contract. Budgets are per
 * table: field f's table may take ⌊budget × cardinality_f × dim × 4⌋ bytes and the method picks
 * its own knob to fit (a composition that cannot fit throws `BudgetError`). Fields kept full (see
 * {@link isCompressedField}) get a float32 full table.
 */
export function createFieldEmbeddings(schema: CtrSchema, plan: FieldEmbeddingPlan): FeatureEmbedding[] {
  const m = resolveMethod(plan.method);
  const full = resolveMethod('full');
  const out: FeatureEmbedding[] = [];
  for (let f = 0; f < schema.fieldNames.length; f++) {
    const compressed = isCompressedField(schema, plan, f);
    const method = compressed ? m : full;
    const numIds = schema.cardinalities[f]!;
    const fit = fitData(schema, plan, method, f);
    let extra = compressed ? plan.extra : undefined;
    if (fit.interactions && fit.side && GRAPHHASH_SPECS.has(method.sharing) && extra?.otherBudgetBytes === undefined) {
      // Only this field's side of the clustering is used: target its own budget alone (the other
      // side's limit = its full table, which never binds). GraphHash reads it from `extra`.
      const other = fit.side === 'user' ? fit.interactions.numItems : fit.interactions.numUsers;
      extra = { ...extra, otherBudgetBytes: fullTableBytes(other, plan.dim) };
    }
    out.push(
      createFeatureEmbedding(method, fit, {
        dim: plan.dim,
        budgetBytes: Math.floor(plan.budget * fullTableBytes(numIds, plan.dim)),
        seed: deriveSeed(plan.seed, `field/${f}`),
        initStd: plan.initStd,
        totalSteps: plan.totalSteps,
        quantize: plan.quantize,
        optimizer: plan.optimizer,
        ...(extra ? { extra } : {}),
        ...(plan.storageExtra && compressed ? { storageExtra: plan.storageExtra } : {}),
      }),
    );
  }
  return out;
}

/**
 * The 1-dim first-order embedding of each field: the SAME mapper (rows) as its d-dim table, over
 * float32 rows — a low-precision row of one value would cost more than float32 (scale and bias),
 * so first-order weights stay float32 and are reported apart from the budgeted d-dim tables.
 */
export function createFirstOrderEmbeddings(
  fields: readonly FeatureEmbedding[],
  plan: Pick<FieldEmbeddingPlan, 'seed' | 'initStd' | 'optimizer'>,
): FeatureEmbedding[] {
  return fields.map((e, f) => {
    const mapper = e.mapper;
    // One value cannot be split into K concat parts: the first-order term sums its K scalars.
    const combine = e.combine === 'concat' ? ('sum' as const) : e.combine;
    const K = mapper.codesPerId;
    const std = combine === 'mult' ? plan.initStd ** (1 / K) : plan.initStd / Math.sqrt(mapper.weights ? 1 : K);
    const storage = FLOAT32_STORAGE.create({
      rows: mapper.rows,
      rowDim: 1,
      budgetBytes: fullTableBytes(mapper.rows, 1),
      seed: deriveSeed(plan.seed, `first/${f}`),
      initStd: std,
      totalSteps: 0,
      optimizer: plan.optimizer,
    });
    return new FeatureEmbedding(mapper.method, mapper, storage, 1, combine);
  });
}

/**
 * The graphs graph methods fit CTR fields on (a documented rule, since CTR rows are not a user–item
 * graph): the largest compressed field is the anchor (the `item` side); every other compressed
 * field is the `user` side of its bipartite co-occurrence graph with the anchor, and the anchor
 * itself is the `item` side of its graph with the second-largest compressed field. Edges are the
 * distinct (field value, anchor value) pairs of the positive training samples (all samples when
 * there is no positive one). Returns null per field kept full; all nulls when fewer than two
 * fields are compressed (then a graph method has nothing to cluster and fails with a clear error).
 * `createFieldEmbeddings` targets each field's clustering at that field's own budget only (the
 * other side's rows are not used), unless `extra.otherBudgetBytes` says otherwise.
 */
export async function fieldGraphs(
  schema: CtrSchema,
  train: CtrSource,
  plan: Pick<FieldEmbeddingPlan, 'method' | 'keepFullBelow'>,
): Promise<(FieldGraph | null)[]> {
  const F = schema.fieldNames.length;
  const compressed = [...Array(F).keys()].filter((f) => isCompressedField(schema, plan, f));
  const out: (FieldGraph | null)[] = new Array(F).fill(null);
  if (compressed.length < 2) return out;
  compressed.sort((a, b) => schema.cardinalities[b]! - schema.cardinalities[a]! || a - b);
  const anchor = compressed[0]!;
  const second = compressed[1]!;
  // Distinct (other value, anchor value) pairs per compressed field, from positives (else every sample).
  const pairs = compressed.map(() => ({ pos: new Set<number>(), all: new Set<number>() }));
  const cardA = schema.cardinalities[anchor]!;
  for await (const b of train.batches({ batchSize: 4096 })) {
    for (let s = 0; s < b.size; s++) {
      const row = s * F;
      const positive = b.labels[s]! > 0.5;
      compressed.forEach((f, i) => {
        const u = f === anchor ? b.ids[row + second]! : b.ids[row + f]!;
        const key = u * cardA + b.ids[row + anchor]!;
        if (positive) pairs[i]!.pos.add(key);
        pairs[i]!.all.add(key);
      });
    }
  }
  compressed.forEach((f, i) => {
    const userField = f === anchor ? second : f;
    const keys = pairs[i]!.pos.size > 0 ? pairs[i]!.pos : pairs[i]!.all;
    const x = toInteractions([...keys], schema.cardinalities[userField]!, cardA);
    out[f] = { interactions: x, side: f === anchor ? 'item' : 'user' };
  });
  // The anchor's graph is the second field's (one graph object; each side targets its own clustering).
  const g2 = out[second]!;
  out[anchor] = { interactions: g2.interactions, side: 'item' };
  return out;
}

function toInteractions(keys: number[], numUsers: number, numItems: number): Interactions {
  keys.sort((a, b) => a - b);
  const offsets = new Uint32Array(numUsers + 1);
  const items = new Int32Array(keys.length);
  keys.forEach((k, j) => {
    const u = Math.floor(k / numItems);
    offsets[u + 1]!++;
    items[j] = k - u * numItems;
  });
  for (let u = 0; u < numUsers; u++) offsets[u + 1]! += offsets[u]!;
  return { numUsers, numItems, offsets, items };
}
