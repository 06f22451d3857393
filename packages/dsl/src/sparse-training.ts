/**
 * DSL trained in its sparse form: values and Adam moments only for the active weights (sorted flat
 * positions + per-row starts), plus what prune/grow needs — growth scores for every weight (the
 * signal for growing an inactive one) and an active bitmap. Same prune/grow rule as `DslTable`
 * (prune ⌈r_t·nnz⌉ smallest |w|, grow as many largest scores among the inactive, regrown at 0 with
 * fresh moments), same schedule. Trained through the generic lookup/backward/step path.
 */
import { deriveSeed, InvalidArgumentError, Rng, type SparseRowsView } from '@compactrec/core';
import { BITMAP_BLOCK_ROWS, type CompactFormat } from './compact.js';
import { bitsOf, locateRank, RADIX_BINS } from './internal/select.js';
import { type DslOptions, pruneRateAt, resolveDslOptions } from './options.js';

export class SparseDslTraining {
  readonly rows: number;
  readonly dim: number;
  readonly totalSteps: number;
  readonly options: Readonly<Required<DslOptions>>;
  /** Active weights (fixed). */
  readonly nnz: number;
  /** Sorted flat positions `r·dim + c` of the active weights. */
  pos: Int32Array;
  /** Values and Adam moments of the active weights, aligned with `pos`. */
  val: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** `[rows + 1]` start of each row in `pos`. */
  readonly rowStart: Int32Array;
  /** `[rows × dim]` growth scores Σ|g| since the last update. */
  readonly scores: Float32Array;
  /** `[⌈rows·dim/8⌉]` 1 bit per weight: active. */
  readonly activeBits: Uint8Array;
  updates = 0;
  /** Radix-selection histogram of the updates. */
  private readonly hist = new Uint32Array(RADIX_BINS);

  constructor(rows: number, dim: number, totalSteps: number, options: DslOptions, initStd: number) {
    const where = 'dsl/SparseDslTraining';
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new InvalidArgumentError(`${where}: rows (${rows}) and dim (${dim}) must be positive integers`);
    }
    this.options = Object.freeze(resolveDslOptions(options, where));
    this.rows = rows;
    this.dim = dim;
    this.totalSteps = Math.max(1, totalSteps);
    const n = rows * dim;
    this.nnz = Math.max(1, Math.round(this.options.density * n));
    this.pos = new Int32Array(this.nnz);
    this.val = new Float32Array(this.nnz);
    this.m = new Float32Array(this.nnz);
    this.v = new Float32Array(this.nnz);
    this.rowStart = new Int32Array(rows + 1);
    this.scores = new Float32Array(n);
    this.activeBits = new Uint8Array(Math.ceil(n / 8));
    // Selection sampling: exactly nnz positions, uniform over all subsets (as DslTable).
    const rng = new Rng(deriveSeed(this.options.seed, 'dsl/mask'));
    const vrng = new Rng(this.options.seed);
    let need = this.nnz;
    let k = 0;
    for (let i = 0; i < n && need > 0; i++) {
      if (rng.next() * (n - i) < need) {
        this.pos[k] = i;
        this.val[k] = vrng.normal() * initStd;
        this.activeBits[i >>> 3]! |= 1 << (i & 7);
        k++;
        need--;
      }
    }
    this.indexRows();
  }

  /** Bytes held for training: active values + moments + positions + row starts + scores + bitmap + histogram. */
  get bytes(): number {
    return (
      this.pos.byteLength +
      this.val.byteLength +
      this.m.byteLength +
      this.v.byteLength +
      this.rowStart.byteLength +
      this.scores.byteLength +
      this.activeBits.byteLength +
      this.hist.byteLength
    );
  }

  private indexRows(): void {
    const d = this.dim;
    const rs = this.rowStart;
    rs.fill(0);
    for (let e = 0; e < this.nnz; e++) rs[((this.pos[e]! / d) | 0) + 1]!++;
    for (let r = 0; r < this.rows; r++) rs[r + 1]! += rs[r]!;
  }

  /** Row r as dense values into out[o ..). */
  readRow(r: number, out: Float32Array, o: number): void {
    const d = this.dim;
    out.fill(0, o, o + d);
    const base = r * d;
    for (let e = this.rowStart[r]!; e < this.rowStart[r + 1]!; e++) out[o + this.pos[e]! - base] = this.val[e]!;
  }

  /** Whether step `t`'s gradients feed the growth scores. */
  wantsScores(t: number): boolean {
    return this.options.growth === 'accumulated' || t % this.options.updateInterval === 0;
  }

  /**
   * The active weights as the kernels' sparse-rows view (core's `sparseRowStep` and its C++ twin
   * step them). The arrays are replaced by every prune/grow update.
   */
  rowsView(): SparseRowsView {
    return {
      rowStart: this.rowStart,
      pos: this.pos,
      values: this.val,
      m: this.m,
      v: this.v,
      scores: this.scores,
      updateInterval: this.options.updateInterval,
      growth: this.options.growth,
    };
  }

  /** Runs prune/grow when `t` is an update step. */
  maybeUpdate(t: number): void {
    if (t > 0 && t % this.options.updateInterval === 0) this.update(t);
  }

  private update(t: number): void {
    this.updates++;
    const nnz = this.nnz;
    const n = this.rows * this.dim;
    const rate = pruneRateAt(t, this.totalSteps, this.options);
    const k = nnz === n ? 0 : Math.min(nnz, Math.max(0, Math.ceil(rate * nnz - 1e-9)));
    if (k === 0) {
      this.scores.fill(0);
      return;
    }
    // Prune: the k smallest |w| (ties: lower position first). The k-th smallest |w| comes from a
    // numeric typed-array sort (no comparator callback); entries are in position order.
    const W = this.val;
    const absW = new Float32Array(nnz);
    for (let e = 0; e < nnz; e++) absW[e] = Math.abs(W[e]!);
    const sortedAbs = absW.slice().sort();
    const pTau = sortedAbs[k - 1]!;
    let pTies = k;
    for (let j = 0; j < k && sortedAbs[j]! < pTau; j++) pTies--;
    const pruned = new Uint8Array(nnz);
    for (let e = 0; e < nnz; e++) {
      const a = absW[e]!;
      if (a < pTau) pruned[e] = 1;
      else if (a === pTau && pTies > 0) {
        pruned[e] = 1;
        pTies--;
      }
    }
    // Grow: the k largest scores among weights inactive before the update (the just-pruned ones
    // compete too, as in the reference); ties by position.
    // The k-th largest score among the candidates by radix selection (two 16-bit histogram passes over
    // key = 0x7fffffff − score bits, whose k-th smallest is the k-th largest score; no sort, no copy).
    const bits = this.activeBits;
    const S = this.scores;
    const SB = bitsOf(S);
    const H = this.hist;
    const loc = new Float64Array(2);
    const P0 = this.pos;
    const key = (i: number): number => 0x7fffffff - (SB[i]! & 0x7fffffff);
    H.fill(0);
    for (let i = 0; i < n; i++) if (((bits[i >>> 3]! >>> (i & 7)) & 1) === 0) H[key(i) >>> 16]!++;
    for (let e = 0; e < nnz; e++) if (pruned[e] === 1) H[key(P0[e]!) >>> 16]!++;
    locateRank(H, k, loc);
    const hi = loc[0]!;
    const before = loc[1]!;
    H.fill(0);
    for (let i = 0; i < n; i++) {
      if (((bits[i >>> 3]! >>> (i & 7)) & 1) === 0) {
        const kk = key(i);
        if (kk >>> 16 === hi) H[kk & 0xffff]!++;
      }
    }
    for (let e = 0; e < nnz; e++) {
      if (pruned[e] === 1) {
        const kk = key(P0[e]!);
        if (kk >>> 16 === hi) H[kk & 0xffff]!++;
      }
    }
    locateRank(H, k - before, loc);
    const tauBits = new Uint32Array([0x7fffffff - (hi * 65536 + loc[0]!)]);
    const tau = new Float32Array(tauBits.buffer)[0]!;
    // Candidates scoring above tau all grow; the rest of the k are ties at tau, in position order.
    const above = before + loc[1]!;
    let tiesLeft = k - above;
    // New active set in position order: kept ∪ grown.
    const pos = new Int32Array(nnz);
    const val = new Float32Array(nnz);
    const m = new Float32Array(nnz);
    const v = new Float32Array(nnz);
    let e = 0;
    let out = 0;
    for (let i = 0; i < n; i++) {
      const wasActive = ((bits[i >>> 3]! >>> (i & 7)) & 1) === 1;
      let keep = false;
      if (wasActive) {
        // pos is sorted: e walks it in step with i.
        if (pruned[e] === 0) {
          pos[out] = i;
          val[out] = this.val[e]!;
          m[out] = this.m[e]!;
          v[out] = this.v[e]!;
          out++;
          keep = true;
        }
      }
      if (!keep) {
        const s = S[i]!;
        let grow = s > tau;
        if (!grow && s === tau && tiesLeft > 0) {
          grow = true;
          tiesLeft--;
        }
        if (grow) {
          pos[out] = i;
          out++; // regrown at 0 with fresh moments (arrays are zero)
          keep = true;
        }
      }
      if (keep) bits[i >>> 3]! |= 1 << (i & 7);
      else bits[i >>> 3]! &= ~(1 << (i & 7));
      if (wasActive) e++;
    }
    if (out !== nnz) {
      throw new InvalidArgumentError(
        `dsl/SparseDslTraining.update: kept ${out} weights, expected ${nnz} (internal error)`,
      );
    }
    this.pos = pos;
    this.val = val;
    this.m = m;
    this.v = v;
    this.indexRows();
    S.fill(0);
  }

  /** The active weights as compact-table arrays in `format` (values in row-major position order). */
  toCompactArrays(format: CompactFormat): { offsets: Uint32Array; index: Uint8Array | Uint16Array } {
    const d = this.dim;
    if (format === 'csr16') {
      const cols = new Uint16Array(this.nnz);
      for (let e = 0; e < this.nnz; e++) cols[e] = this.pos[e]! % d;
      return { offsets: Uint32Array.from(this.rowStart), index: cols };
    }
    const bpr = Math.ceil(d / 8);
    const bm = new Uint8Array(this.rows * bpr);
    for (let e = 0; e < this.nnz; e++) {
      const p = this.pos[e]!;
      const r = (p / d) | 0;
      const col = p - r * d;
      bm[r * bpr + (col >>> 3)]! |= 1 << (col & 7);
    }
    const blocks = Math.ceil(this.rows / BITMAP_BLOCK_ROWS);
    const offsets = new Uint32Array(blocks + 1);
    for (let b = 0; b < blocks; b++) offsets[b] = this.rowStart[b * BITMAP_BLOCK_ROWS]!;
    offsets[blocks] = this.nnz;
    return { offsets, index: bm };
  }
}
