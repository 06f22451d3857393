import { deriveSeed, EmbeddingTable, InvalidArgumentError, Rng } from '@compactrec/core';
import { CompactSparseTable, chooseCompactFormat, compactTableBytes } from './compact.js';
import { bitsOf, locateRank, RADIX_BINS } from './internal/select.js';
import { type DslOptions, pruneRateAt, resolveDslOptions } from './options.js';

/** What one prune/grow update did (returned by {@link DslTable.maybeUpdate}). */
export interface DslUpdateStats {
  /** Optimizer step the update ran after. */
  step: number;
  /** r_t used. */
  pruneRate: number;
  /** Active weights pruned (⌈r_t · nnz⌉). */
  pruned: number;
  /** Inactive weights grown (always equal to `pruned`). */
  grown: number;
  /** Grown weights that had just been pruned in the same update (the mask did not change there). */
  regrownPruned: number;
  /** Grown weights whose growth score was 0 (chosen uniformly among the ties: no gradient signal). */
  grownZeroScore: number;
  /** Active weights after the update (equals {@link DslTable.activeCount}). */
  activeCount: number;
  /** Largest |w| that was pruned. */
  pruneThreshold: number;
  /** Smallest growth score that was grown. */
  growThreshold: number;
}

/**
 * An embedding table trained under a fixed number of active weights (Dynamic Sparse Learning,
 * Wang et al. WSDM'24): a random mask of exactly `round(density · rows · dim)` weights; every ΔT
 * optimizer steps the ⌈r_t · nnz⌉ smallest-magnitude active weights are pruned and as many inactive
 * weights with the largest growth score are grown at 0 (their optimizer moments reset), r_t annealed
 * from 0.5 to 0.005. The count of active weights never changes.
 *
 * Trainer-agnostic: the trainer owns the forward/backward and the optimizer and calls, per step s
 * (1-based: s is the count of optimizer steps including this one) and per table:
 * `observeGradients(rows, grads, n, s)` before the optimizer step (skippable when
 * `wantsScoresForStep(s)` is false), `applyMask(rows, n)` after it, then `maybeUpdate(s, opt.stateArrays())`.
 *
 * During training the values are held dense (inactive weights are exactly 0) so the optimizer and
 * kernels index them as usual; `toCompact()` gives the truly sparse inference table.
 */
export class DslTable {
  /** Number of rows. */
  readonly rows: number;
  /** Values per row. */
  readonly dim: number;
  /** T of the prune-rate schedule. */
  readonly totalSteps: number;
  /** Resolved options. */
  readonly options: Readonly<Required<DslOptions>>;
  /** Dense `[rows × dim]` values during training; inactive weights are exactly 0. */
  readonly table: EmbeddingTable;
  /** `[rows × dim]`, 1 = active, 0 = inactive. */
  readonly mask: Uint8Array;
  /**
   * `[rows × dim]` growth scores: Σ|g| of the observed batches since the last update (`'accumulated'`)
   * or |g| of the update step's batch (`'batch'`); cleared by every update.
   */
  readonly scores: Float32Array;
  /** Number of active weights, fixed for the life of the table. */
  readonly activeCount: number;
  /** Prune/grow updates run so far. */
  updates = 0;

  private readonly wBits: Uint32Array;
  private readonly sBits: Uint32Array;
  private readonly hist = new Uint32Array(RADIX_BINS);
  private readonly loc = new Float64Array(2);
  private readonly f32 = new Float32Array(1);
  private readonly u32 = bitsOf(this.f32);
  private readonly tieRng: Rng;
  private lastUpdateStep = 0;

  /**
   * @param rows rows of the table
   * @param dim values per row
   * @param totalSteps optimizer steps of the whole run (T of the cosine schedule)
   * @param options see {@link DslOptions}; give each table of a model its own `seed`
   */
  constructor(rows: number, dim: number, totalSteps: number, options: DslOptions = {}) {
    const where = 'dsl/DslTable';
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new InvalidArgumentError(`${where}: rows (${rows}) and dim (${dim}) must be positive integers`);
    }
    if (!Number.isInteger(totalSteps) || totalSteps < 1) {
      throw new InvalidArgumentError(`${where}: totalSteps (${totalSteps}) must be a positive integer`);
    }
    this.options = Object.freeze(resolveDslOptions(options, where));
    this.rows = rows;
    this.dim = dim;
    this.totalSteps = totalSteps;
    const n = rows * dim;
    this.table = new EmbeddingTable(rows, dim);
    this.mask = new Uint8Array(n);
    this.scores = new Float32Array(n);
    this.wBits = bitsOf(this.table.data);
    this.sBits = bitsOf(this.scores);
    this.activeCount = Math.max(1, Math.round(this.options.density * n));
    this.tieRng = new Rng(deriveSeed(this.options.seed, 'dsl/ties'));
    // Selection sampling (Knuth's algorithm S): exactly activeCount positions, uniform over all subsets.
    const rng = new Rng(deriveSeed(this.options.seed, 'dsl/mask'));
    let need = this.activeCount;
    for (let i = 0; i < n && need > 0; i++) {
      if (rng.next() * (n - i) < need) {
        this.mask[i] = 1;
        need--;
      }
    }
  }

  /** Draws N(0, std²) values for the active weights; inactive weights are set to 0. */
  initValues(std: number, rng: Rng): void {
    if (typeof std !== 'number' || !(std >= 0) || !Number.isFinite(std)) {
      throw new InvalidArgumentError(`dsl/DslTable.initValues: std (${std}) must be a finite non-negative number`);
    }
    const W = this.table.data;
    const M = this.mask;
    for (let i = 0; i < W.length; i++) W[i] = M[i] === 1 ? rng.normal() * std : 0;
  }

  /** Whether `step` (1-based optimizer step count) ends with a prune/grow update. */
  isUpdateStep(step: number): boolean {
    return step > 0 && step % this.options.updateInterval === 0;
  }

  /**
   * Whether {@link observeGradients} uses the gradients of step `step`: always with `'accumulated'`
   * growth, only on update steps with `'batch'` growth. Trainers (e.g. native kernels) may skip
   * handing gradients over when false; calling `observeGradients` anyway is a cheap no-op.
   */
  wantsScoresForStep(step: number): boolean {
    return this.options.growth === 'accumulated' || this.isUpdateStep(step);
  }

  /**
   * Trainer hook, before the optimizer step of `step`: adds |g| of the batch's rows into `scores`
   * when {@link wantsScoresForStep}. `grads` is `[n × dim]` aligned with `rows[0..n)` (the gradient
   * of the dense row, inactive positions included: that is the growth signal). O(n · dim).
   */
  observeGradients(rows: Int32Array, grads: Float32Array, n: number, step: number): void {
    if (!this.wantsScoresForStep(step)) return;
    const d = this.dim;
    if (n > rows.length || grads.length < n * d) {
      throw new InvalidArgumentError(
        `dsl/DslTable.observeGradients: n (${n}) exceeds rows (${rows.length}) or grads (${grads.length}) / dim (${d})`,
      );
    }
    const S = this.scores;
    for (let j = 0; j < n; j++) {
      const r = rows[j]!;
      if (!(r >= 0 && r < this.rows)) {
        throw new InvalidArgumentError(`dsl/DslTable.observeGradients: row ${r} is outside [0, ${this.rows})`);
      }
      const o = r * d;
      const g = j * d;
      for (let c = 0; c < d; c++) S[o + c]! += Math.abs(grads[g + c]!);
    }
  }

  /** Trainer hook, after the optimizer step: zeroes the inactive weights of the updated rows. O(n · dim). */
  applyMask(rows: Int32Array, n: number): void {
    if (n > rows.length) {
      throw new InvalidArgumentError(`dsl/DslTable.applyMask: n (${n}) exceeds rows.length (${rows.length})`);
    }
    const d = this.dim;
    const WB = this.wBits;
    const M = this.mask;
    for (let j = 0; j < n; j++) {
      const r = rows[j]!;
      if (!(r >= 0 && r < this.rows)) {
        throw new InvalidArgumentError(`dsl/DslTable.applyMask: row ${r} is outside [0, ${this.rows})`);
      }
      const o = r * d;
      // Branch-free: AND the float bits with 0 (inactive) or all ones (active); yields +0 exactly.
      for (let c = o; c < o + d; c++) WB[c]! &= -M[c]!;
    }
  }

  /** Zeroes every inactive weight, O(table): for values set outside {@link initValues} (e.g. a native initializer). */
  applyMaskToAll(): void {
    const WB = this.wBits;
    const M = this.mask;
    for (let i = 0; i < WB.length; i++) WB[i]! &= -M[i]!;
  }

  /** r_t at `step` (see {@link pruneRateAt}). */
  pruneRate(step: number): number {
    return pruneRateAt(step, this.totalSteps, this.options);
  }

  /** Weights an update at `step` prunes (and grows): ⌈r_t · nnz⌉, 0 when the table is dense. */
  pruneCount(step: number): number {
    const nnz = this.activeCount;
    if (nnz === this.mask.length) return 0;
    // The 1e-9 guard keeps float noise in r_t (e.g. 0.5000000000000001) from adding a weight.
    return Math.min(nnz, Math.max(0, Math.ceil(this.pruneRate(step) * nnz - 1e-9)));
  }

  /**
   * Trainer hook, after each optimizer step (and after {@link applyMask}): on every ΔT-th step runs
   * {@link update}, otherwise returns null in O(1). Calling it twice for the same step updates once.
   * @param optimizerState `SparseOptimizer.stateArrays()`; every array of `rows × dim` entries
   *   (Adam's `m`/`v`, Adagrad's accumulator) is zeroed at the regrown weights.
   */
  maybeUpdate(step: number, optimizerState?: Record<string, Float32Array | Float64Array>): DslUpdateStats | null {
    if (!this.isUpdateStep(step) || step === this.lastUpdateStep) return null;
    return this.update(step, optimizerState);
  }

  /**
   * Runs one prune/grow update now with r_t = `pruneRate(step)`: prunes the ⌈r_t · nnz⌉ active weights
   * of smallest |w| and grows as many weights of largest score among the inactive ones (those just
   * pruned included, as in the reference code); ties are broken uniformly at random (seeded). Grown
   * weights are set to 0 with their optimizer moments; scores are cleared.
   *
   * Cost: five linear passes over the table plus a few 64 Ki-bin histogram scans (radix selection,
   * no sort, no allocation); amortized over ΔT steps.
   */
  update(step: number, optimizerState?: Record<string, Float32Array | Float64Array>): DslUpdateStats {
    const N = this.mask.length;
    const M = this.mask;
    const W = this.table.data;
    const WB = this.wBits;
    const SB = this.sBits;
    const H = this.hist;
    const loc = this.loc;
    const rng = this.tieRng;
    const rate = this.pruneRate(step);
    const k = this.pruneCount(step);
    this.lastUpdateStep = step;
    this.updates++;
    const stats: DslUpdateStats = {
      step,
      pruneRate: rate,
      pruned: k,
      grown: k,
      regrownPruned: 0,
      grownZeroScore: 0,
      activeCount: this.activeCount,
      pruneThreshold: 0,
      growThreshold: 0,
    };
    if (k === 0) {
      this.scores.fill(0);
      return stats;
    }
    const moments: (Float32Array | Float64Array)[] = [];
    if (optimizerState) for (const a of Object.values(optimizerState)) if (a.length === N) moments.push(a);

    // The passes are branch-free on the mask (a random 0/1 pattern mispredicts half the time):
    // histogram counts add the 0/1 mask value, and zeroing ANDs the float bits with a 0/−1 mask.
    // Prune: k-th smallest |w| among active weights (key = |w|'s bits).
    H.fill(0);
    for (let i = 0; i < N; i++) H[(WB[i]! & 0x7fffffff) >>> 16]! += M[i]!;
    locateRank(H, k, loc);
    const pHi = loc[0]!;
    let pBefore = loc[1]!;
    H.fill(0);
    for (let i = 0; i < N; i++) {
      const key = WB[i]! & 0x7fffffff;
      if (key >>> 16 === pHi && M[i] === 1) H[key & 0xffff]!++;
    }
    locateRank(H, k - pBefore, loc);
    pBefore += loc[1]!;
    const pTau = pHi * 65536 + loc[0]!;
    let pTiesLeft = H[loc[0]!]!;
    let pTiesNeed = k - pBefore;

    // Apply the prune (mark 2 = just pruned) and histogram the growth keys of all candidates (mask ≠ 1).
    // Growth wants the k largest scores: key = 0x7fffffff − |score bits| turns that into the k smallest.
    H.fill(0);
    for (let i = 0; i < N; i++) {
      const m0 = M[i]!;
      const key = WB[i]! & 0x7fffffff;
      let pr = (key < pTau ? 1 : 0) & m0;
      if (key === pTau && m0 === 1) {
        if (pTiesNeed > 0 && (pTiesNeed === pTiesLeft || rng.next() * pTiesLeft < pTiesNeed)) {
          pr = 1;
          pTiesNeed--;
        }
        pTiesLeft--;
      }
      const m = m0 + pr;
      M[i] = m;
      WB[i]! &= pr - 1;
      H[(0x7fffffff - (SB[i]! & 0x7fffffff)) >>> 16]! += (m & 1) ^ 1;
    }
    locateRank(H, k, loc);
    const gHi = loc[0]!;
    let gBefore = loc[1]!;
    H.fill(0);
    for (let i = 0; i < N; i++) {
      const key = 0x7fffffff - (SB[i]! & 0x7fffffff);
      if (key >>> 16 === gHi && M[i] !== 1) H[key & 0xffff]!++;
    }
    locateRank(H, k - gBefore, loc);
    gBefore += loc[1]!;
    const gTau = gHi * 65536 + loc[0]!;
    let gTiesLeft = H[loc[0]!]!;
    let gTiesNeed = k - gBefore;

    // Apply the growth: grown weights start at 0 with fresh optimizer moments; unselected candidates become 0.
    let regrownPruned = 0;
    let zeroScore = 0;
    const nm = moments.length;
    for (let i = 0; i < N; i++) {
      const m = M[i]!;
      const key = 0x7fffffff - (SB[i]! & 0x7fffffff);
      const cand = (m & 1) ^ 1;
      let grow = (key < gTau ? 1 : 0) & cand;
      if (key === gTau && cand === 1) {
        if (gTiesNeed > 0 && (gTiesNeed === gTiesLeft || rng.next() * gTiesLeft < gTiesNeed)) {
          grow = 1;
          gTiesNeed--;
        }
        gTiesLeft--;
      }
      M[i] = (m & 1) | grow;
      if (grow === 1) {
        if (m === 2) regrownPruned++;
        if (key === 0x7fffffff) zeroScore++;
        W[i] = 0;
        for (let s = 0; s < nm; s++) moments[s]![i] = 0;
      }
    }
    this.scores.fill(0);

    stats.regrownPruned = regrownPruned;
    stats.grownZeroScore = zeroScore;
    stats.pruneThreshold = this.floatOf(pTau);
    stats.growThreshold = this.floatOf(0x7fffffff - gTau);
    return stats;
  }

  /** Memory held during training: dense values + mask + scores + the selection histogram. */
  trainingBytes(): number {
    return this.table.bytes + this.mask.byteLength + this.scores.byteLength + this.hist.byteLength;
  }

  /** Bytes the table will take in compact form ({@link toCompact}), without building it. */
  compactBytes(): number {
    const f = chooseCompactFormat(this.rows, this.dim, this.activeCount);
    return compactTableBytes(f, this.rows, this.dim, this.activeCount);
  }

  /** The active weights in the smaller compact format, for inference and checkpoints. */
  toCompact(): CompactSparseTable {
    return CompactSparseTable.fromDense(this.table.data, this.mask, this.rows, this.dim);
  }

  private floatOf(bits: number): number {
    this.u32[0] = bits;
    return this.f32[0]!;
  }
}
