import { InvalidArgumentError } from './errors.js';
import type { Rng } from './rng.js';

/**
 * An embedding table: `rows × dim` float32 values in one row-major `Float32Array`.
 *
 * `bytes` is exactly what the values occupy; optimizer state is owned and reported by the optimizer.
 */
export class EmbeddingTable {
  /** Number of rows. */
  readonly rows: number;
  /** Values per row. */
  readonly dim: number;
  /** Row-major values, `data[r * dim + c]`. */
  readonly data: Float32Array;

  constructor(rows: number, dim: number, data?: Float32Array) {
    if (!Number.isInteger(rows) || rows < 1) {
      throw new InvalidArgumentError(`core/EmbeddingTable: rows (${rows}) must be a positive integer`);
    }
    if (!Number.isInteger(dim) || dim < 1) {
      throw new InvalidArgumentError(`core/EmbeddingTable: dim (${dim}) must be a positive integer`);
    }
    if (data && data.length !== rows * dim) {
      throw new InvalidArgumentError(
        `core/EmbeddingTable: data has ${data.length} values but rows × dim = ${rows} × ${dim} = ${rows * dim}`,
      );
    }
    this.rows = rows;
    this.dim = dim;
    this.data = data ?? new Float32Array(rows * dim);
  }

  /** A table with i.i.d. N(0, std²) values. */
  static normal(rows: number, dim: number, std: number, rng: Rng): EmbeddingTable {
    const t = new EmbeddingTable(rows, dim);
    rng.fillNormal(t.data, std);
    return t;
  }

  /** Bytes actually allocated for the values. */
  get bytes(): number {
    return this.data.byteLength;
  }

  /** A view (no copy) of row r. */
  row(r: number): Float32Array {
    return this.data.subarray(r * this.dim, (r + 1) * this.dim);
  }

  /** Copies rows `rowIds[0..n)` into `out` (`[n × dim]`, row-major). */
  gather(rowIds: ArrayLike<number>, out: Float32Array, n = rowIds.length): void {
    const d = this.dim;
    const src = this.data;
    for (let j = 0; j < n; j++) {
      const r = rowIds[j]!;
      if (r < 0 || r >= this.rows) {
        throw new InvalidArgumentError(`core/EmbeddingTable.gather: row ${r} is outside [0, ${this.rows})`);
      }
      out.set(src.subarray(r * d, r * d + d), j * d);
    }
  }
}

/**
 * Collects per-row gradients of one mini-batch with de-duplication, in O(batch) time and no
 * allocation per step: a slot map of `rows` int32 (−1 = untouched), the list of touched rows, and a
 * `[capacity × dim]` gradient buffer. `reset()` clears only the touched slots.
 */
export class SparseGradAccumulator {
  readonly dim: number;
  /** Touched rows in first-touch order; valid up to `count`. */
  readonly touched: Int32Array;
  /** Gradients of touched rows, `[count × dim]`, aligned with `touched`. */
  readonly grads: Float32Array;
  /** Number of touched rows. */
  count = 0;
  private readonly slot: Int32Array;

  /**
   * @param rows rows of the table the gradients belong to
   * @param dim values per row
   * @param capacity the most distinct rows one batch can touch
   */
  constructor(rows: number, dim: number, capacity: number) {
    this.dim = dim;
    this.slot = new Int32Array(rows).fill(-1);
    this.touched = new Int32Array(capacity);
    this.grads = new Float32Array(capacity * dim);
  }

  /** Offset into `grads` of row r's gradient, creating a zeroed slot on first touch. */
  slotOf(r: number): number {
    let s = this.slot[r]!;
    if (s < 0) {
      if (this.count >= this.touched.length) {
        throw new InvalidArgumentError(
          `core/SparseGradAccumulator: more than ${this.touched.length} distinct rows in one batch; raise capacity`,
        );
      }
      s = this.count++;
      this.slot[r] = s;
      this.touched[s] = r;
      this.grads.fill(0, s * this.dim, (s + 1) * this.dim);
    }
    return s * this.dim;
  }

  /** Adds `scale * g[gOff .. gOff+dim)` to row r's gradient. */
  add(r: number, g: ArrayLike<number>, gOff: number, scale: number): void {
    const o = this.slotOf(r);
    const d = this.dim;
    const G = this.grads;
    for (let c = 0; c < d; c++) G[o + c]! += scale * g[gOff + c]!;
  }

  /** Forgets the batch (O(touched rows)). */
  reset(): void {
    for (let s = 0; s < this.count; s++) this.slot[this.touched[s]!] = -1;
    this.count = 0;
  }
}
