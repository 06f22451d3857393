import { InvalidArgumentError } from '@compactrec/core';
import { DEFAULT_TRAIN_CTR_OPTIONS } from '@compactrec/ctr';

/**
 * The evaluation protocol's defaults, shared by both harnesses and shown by `--help`:
 * - `validFraction` 0.1: a seeded 10 % of each user's training items is held out for validation
 *   (retrieval; a leave-one-out set uses its second-to-last item instead, CTR its valid split).
 * - `evalEvery` 10, `patience` 50 (epochs): GraphHash's reference protocol (validate every 10
 *   epochs, stop after 50 epochs without a better validation metric). Training stops at the
 *   recipe's epochs at the latest (MF 150), so patience only ends runs that peaked early (high lr).
 * - `select` recall@20: the validation metric a checkpoint and a tuning cell are chosen by.
 * - `ctrPatience` = `DEFAULT_TRAIN_CTR_OPTIONS.patience` (4): CTR validates after every epoch (an
 *   epoch of Criteo is long) and stops after that many epochs without a better validation AUC; the
 *   best epoch is restored. The value is `trainCtr`'s own default, chosen on validation AUC
 *   (benchmarks/src/ctr-patience.ts).
 */
export const DEFAULT_PROTOCOL = Object.freeze({
  validFraction: 0.1,
  evalEvery: 10,
  patience: 50,
  select: 'recall@20' as const,
  ctrPatience: DEFAULT_TRAIN_CTR_OPTIONS.patience,
});

/** Tracks the best validation value over a run and says when patience has run out. */
export interface BestTracker<S> {
  /**
   * Records the validation `value` measured after `epoch`; when it beats every earlier value
   * (strictly), `capture()` is called and its result kept as the best checkpoint's state.
   * Returns whether the value improved and whether training should stop now
   * (`epoch − bestEpoch ≥ patience`).
   */
  observe(epoch: number, value: number, capture: () => S): { improved: boolean; stop: boolean };
  /** The best epoch so far (0 before any observation), its value and captured state. */
  readonly best: { readonly epoch: number; readonly value: number; readonly state: S | undefined };
  /** Every observation, in order: [epoch, value]. */
  readonly curve: readonly (readonly [number, number])[];
}

/** A {@link BestTracker} with `patience` epochs (Infinity = never stop early). */
export function bestTracker<S>(patience: number): BestTracker<S> {
  if (!(patience >= 1)) throw new InvalidArgumentError(`harness/bestTracker: patience (${patience}) must be ≥ 1`);
  let best = { epoch: 0, value: Number.NEGATIVE_INFINITY, state: undefined as S | undefined };
  const curve: [number, number][] = [];
  return {
    observe(epoch, value, capture) {
      curve.push([epoch, value]);
      const improved = value > best.value;
      if (improved) best = { epoch, value, state: capture() };
      return { improved, stop: epoch - best.epoch >= patience };
    },
    get best() {
      return best;
    },
    curve,
  };
}

/** One point of a tuning grid: the learning rate and the weight decay (L2) a cell trains with. */
export interface HyperParams {
  readonly lr: number;
  /** Weight decay (L2); null where the trainer has none to tune (CTR). */
  readonly wd: number | null;
}

/** A tuning grid as given by `--tune lr=…[,wd=…]` (missing keys keep the run's value). */
export interface TuneGrid {
  readonly lr?: readonly number[];
  readonly wd?: readonly number[];
}

const TUNE_KEYS = ['lr', 'wd'] as const;
const TUNE_EXAMPLE = 'lr=1e-3,3e-3,1e-2[,wd=1e-4,1e-5]';

/**
 * Parses `lr=1e-3,3e-3,1e-2,wd=1e-4,1e-5`: a key starts a list, bare values extend it. lr values
 * must be positive, wd values non-negative; each key at most once, values once each.
 */
export function parseTuneGrid(spec: string, what = '--tune'): TuneGrid {
  const out: Record<string, number[]> = {};
  let key: string | undefined;
  const bad = (msg: string): never => {
    throw new InvalidArgumentError(`${what} '${spec}': ${msg} (expected e.g. ${TUNE_EXAMPLE})`);
  };
  const tokens = spec.split(',').map((t) => t.trim());
  if (spec.trim() === '') bad('is empty');
  for (const t of tokens) {
    if (t === '') bad('has an empty value');
    let v = t;
    const eq = t.indexOf('=');
    if (eq >= 0) {
      key = t.slice(0, eq).trim();
      v = t.slice(eq + 1).trim();
      if (!(TUNE_KEYS as readonly string[]).includes(key))
        bad(`'${key}' is not a tunable setting; use ${TUNE_KEYS.join(' or ')}`);
      if (out[key]) bad(`'${key}' is given twice`);
      out[key] = [];
    }
    if (key === undefined) bad(`'${t}' comes before any key; start with lr= or wd=`);
    const x = Number(v);
    if (v === '' || !Number.isFinite(x)) bad(`'${v}' (${key}) is not a number`);
    if (key === 'lr' && !(x > 0)) bad(`lr ${v} must be positive`);
    if (key === 'wd' && !(x >= 0)) bad(`wd ${v} must be ≥ 0`);
    if (out[key!]!.includes(x)) bad(`${key} ${v} is listed twice`);
    out[key!]!.push(x);
  }
  return out;
}

/** The grid's points (cartesian product, lr major), filling a missing key from `base`. */
export function gridPoints(grid: TuneGrid | undefined, base: HyperParams): HyperParams[] {
  const lrs = grid?.lr ?? [base.lr];
  const wds = grid?.wd ?? [base.wd];
  const out: HyperParams[] = [];
  for (const lr of lrs) for (const wd of wds) out.push({ lr, wd });
  return out;
}

/** Mean and sample standard deviation (n − 1; 0 for one value). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, std: 0 };
  const ss = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/**
 * Parses a comma list of budgets (`0.5,0.25,0.1`), each in (0, 1], each once; the error names the
 * list and the bad item.
 */
export function parseBudgets(spec: string | readonly (string | number)[], what = '--budget'): number[] {
  const items = typeof spec === 'string' ? spec.split(',').map((s) => s.trim()) : spec.map((s) => String(s).trim());
  const text = items.join(',');
  if (items.length === 0 || items.some((s) => s === '')) {
    throw new InvalidArgumentError(`${what} '${text}': give budgets separated by commas, e.g. 0.5,0.25,0.1`);
  }
  const out: number[] = [];
  for (const s of items) {
    const v = Number(s);
    if (!Number.isFinite(v)) throw new InvalidArgumentError(`${what} '${text}': '${s}' is not a number`);
    if (!(v > 0 && v <= 1)) {
      throw new InvalidArgumentError(
        `${what} '${text}': ${s} is outside (0, 1]; a budget is the fraction of each full table's bytes`,
      );
    }
    if (out.includes(v)) throw new InvalidArgumentError(`${what} '${text}': ${s} is listed twice`);
    out.push(v);
  }
  return out;
}

/** Parses a comma list of integer seeds (`0,1,2`), each once. */
export function parseSeeds(spec: string | readonly (string | number)[], what = '--seeds'): number[] {
  const items = typeof spec === 'string' ? spec.split(',').map((s) => s.trim()) : spec.map((s) => String(s).trim());
  const text = items.join(',');
  const out: number[] = [];
  for (const s of items) {
    const v = Number(s);
    if (s === '' || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError(`${what} '${text}' has '${s}', which is not a non-negative integer`);
    }
    if (out.includes(v)) throw new InvalidArgumentError(`${what} '${text}': seed ${s} is listed twice`);
    out.push(v);
  }
  if (out.length === 0) throw new InvalidArgumentError(`${what}: give at least one seed, e.g. 0,1,2`);
  return out;
}

/** A budget or a list of them (a sweep) as a checked list: each in (0, 1], at least one. */
export function budgetList(budget: number | readonly number[], where: string): number[] {
  const budgets = typeof budget === 'number' ? [budget] : [...budget];
  if (budgets.length === 0) throw new InvalidArgumentError(`${where}: budget is an empty list; give at least one`);
  for (const b of budgets) {
    if (!(b > 0 && b <= 1)) {
      throw new InvalidArgumentError(
        `${where}: budget (${b}${budgets.length > 1 ? ` in ${budgets.join(',')}` : ''}) must be in (0, 1]`,
      );
    }
  }
  return budgets;
}
