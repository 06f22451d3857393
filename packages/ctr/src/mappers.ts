import { deriveSeed, fullTableBytes, type IdMapper, type MapperSpec } from '@compactrec/core';
import { FULL_SPEC, getMapperSpec, ID_HASHING_METHODS } from '@compactrec/id-hashing';
import type { CtrSchema, FieldCounts } from './schema.js';

/** How every field of a schema gets its mapper. */
export interface FieldMapperPlan {
  /** Registry name applied to every compressed field. */
  readonly method: string;
  /** Fraction of each field's full table bytes its table may take (per table). */
  readonly budget: number;
  readonly dim: number;
  readonly seed: number;
  /**
   * Fields with at most this many IDs keep a full table, above the budget: the one exception to
   * "every table at most budget × its full bytes" (0 = none). Callers must surface it (the CLI's
   * `--keep-full-below`, the benchmark record's `keepFullBelow` / `fullFields`).
   */
  readonly keepFullBelow: number;
  /** Method-specific settings (e.g. `{ combine: 'sum' }` for qr). */
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
  /** Training counts per field (frequency methods). */
  readonly counts?: FieldCounts;
  /** The registry to look methods up in. @default ID_HASHING_METHODS */
  readonly registry?: Readonly<Record<string, MapperSpec>>;
}

/**
 * Fits one mapper per field. Budgets are per table: field f's table may take
 * ⌊budget × cardinality_f × dim × 4⌋ bytes, and the method picks its own knob to fit. Fields with
 * at most `keepFullBelow` IDs keep a full table (a few KB; compressing 7 weekdays into 1 row only
 * destroys the field), and `method: 'full'` ignores the budget.
 */
export function fitFieldMappers(schema: CtrSchema, plan: FieldMapperPlan): IdMapper[] {
  const registry = plan.registry ?? ID_HASHING_METHODS;
  const spec = getMapperSpec(plan.method, registry);
  const out: IdMapper[] = [];
  for (let f = 0; f < schema.fieldNames.length; f++) {
    const numIds = schema.cardinalities[f]!;
    const full = plan.method === 'full' || numIds <= plan.keepFullBelow;
    const s = full ? FULL_SPEC : spec;
    const budgetBytes = full
      ? fullTableBytes(numIds, plan.dim)
      : Math.floor(plan.budget * fullTableBytes(numIds, plan.dim));
    const counts = plan.counts?.[f];
    out.push(
      s.create(counts ? { numIds, counts } : { numIds }, {
        dim: plan.dim,
        budgetBytes,
        seed: deriveSeed(plan.seed, `mapper/${f}`),
        ...(plan.extra && !full ? { extra: plan.extra } : {}),
      }),
    );
  }
  return out;
}
