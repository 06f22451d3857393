import { InvalidArgumentError } from './errors.js';
import type { EmbeddingTable } from './table.js';

/**
 * A row-wise sparse optimizer: each step updates only the rows that got a gradient, so a step
 * costs O(rows in the batch × dim), never O(table).
 */
export interface SparseOptimizer {
  readonly kind: OptimizerKind;
  /** Bytes of optimizer state (moments, accumulators), reported apart from the table's bytes. */
  readonly stateBytes: number;
  /** Learning rate; may be changed between steps (schedules). */
  lr: number;
  /**
   * Applies gradients: `grads` is `[n × dim]` row-major, aligned with `rows[0..n)`; rows must be
   * distinct within one call (use {@link SparseGradAccumulator}).
   */
  step(rows: Int32Array, grads: Float32Array, n: number): void;
  /** Optimizer state arrays by name, for checkpoints. */
  stateArrays(): Record<string, Float32Array | Float64Array>;
}

export type OptimizerKind = 'sgd' | 'adagrad' | 'rowwise-adagrad' | 'adam';

/** Options of {@link createSparseOptimizer}; every field is optional. */
export interface SparseOptimizerOptions {
  /** Algorithm. @default 'adam' */
  kind?: OptimizerKind;
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** Adam β1. @default 0.9 */
  beta1?: number;
  /** Adam β2. @default 0.999 */
  beta2?: number;
  /** Denominator epsilon (Adam, Adagrad). @default 1e-8 */
  eps?: number;
  /** L2 coefficient added to the gradient of touched rows only (lazy; coupled, like `torch.optim.Adam`'s weight_decay). @default 0 */
  weightDecay?: number;
  /** Adagrad initial accumulator value. @default 0 */
  initialAccumulator?: number;
}

export const DEFAULT_SPARSE_OPTIMIZER_OPTIONS: Readonly<Required<SparseOptimizerOptions>> = Object.freeze({
  kind: 'adam',
  lr: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  initialAccumulator: 0,
});

/** Creates a sparse optimizer bound to `table`. */
export function createSparseOptimizer(table: EmbeddingTable, options: SparseOptimizerOptions = {}): SparseOptimizer {
  const o = { ...DEFAULT_SPARSE_OPTIMIZER_OPTIONS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) {
    throw new InvalidArgumentError(`core/createSparseOptimizer: lr (${o.lr}) must be a positive finite number`);
  }
  switch (o.kind) {
    case 'sgd':
      return new SparseSgd(table, o);
    case 'adagrad':
      return new SparseAdagrad(table, o, false);
    case 'rowwise-adagrad':
      return new SparseAdagrad(table, o, true);
    case 'adam':
      return new SparseAdam(table, o);
    default:
      throw new InvalidArgumentError(
        `core/createSparseOptimizer: unknown kind '${String(o.kind)}'; use sgd, adagrad, rowwise-adagrad or adam`,
      );
  }
}

class SparseSgd implements SparseOptimizer {
  readonly kind = 'sgd' as const;
  readonly stateBytes = 0;
  lr: number;
  private readonly wd: number;
  constructor(
    private readonly table: EmbeddingTable,
    o: Required<SparseOptimizerOptions>,
  ) {
    this.lr = o.lr;
    this.wd = o.weightDecay;
  }
  step(rows: Int32Array, grads: Float32Array, n: number): void {
    const d = this.table.dim;
    const W = this.table.data;
    const lr = this.lr;
    const wd = this.wd;
    for (let j = 0; j < n; j++) {
      const w = rows[j]! * d;
      const g = j * d;
      for (let c = 0; c < d; c++) W[w + c] = W[w + c]! - lr * (grads[g + c]! + wd * W[w + c]!);
    }
  }
  stateArrays(): Record<string, Float32Array> {
    return {};
  }
}

class SparseAdagrad implements SparseOptimizer {
  readonly kind: 'adagrad' | 'rowwise-adagrad';
  lr: number;
  private readonly acc: Float32Array;
  private readonly eps: number;
  private readonly wd: number;
  constructor(
    private readonly table: EmbeddingTable,
    o: Required<SparseOptimizerOptions>,
    private readonly rowwise: boolean,
  ) {
    this.kind = rowwise ? 'rowwise-adagrad' : 'adagrad';
    this.lr = o.lr;
    this.eps = o.eps;
    this.wd = o.weightDecay;
    this.acc = new Float32Array(rowwise ? table.rows : table.rows * table.dim).fill(o.initialAccumulator);
  }
  get stateBytes(): number {
    return this.acc.byteLength;
  }
  step(rows: Int32Array, grads: Float32Array, n: number): void {
    const d = this.table.dim;
    const W = this.table.data;
    const A = this.acc;
    const { lr, eps, wd } = this;
    for (let j = 0; j < n; j++) {
      const r = rows[j]!;
      const w = r * d;
      const g = j * d;
      if (this.rowwise) {
        let s = 0;
        for (let c = 0; c < d; c++) {
          const gc = grads[g + c]! + wd * W[w + c]!;
          s += gc * gc;
        }
        A[r] = A[r]! + s / d;
        const scale = lr / (Math.sqrt(A[r]!) + eps);
        for (let c = 0; c < d; c++) W[w + c] = W[w + c]! - scale * (grads[g + c]! + wd * W[w + c]!);
      } else {
        for (let c = 0; c < d; c++) {
          const gc = grads[g + c]! + wd * W[w + c]!;
          const a = A[w + c]! + gc * gc;
          A[w + c] = a;
          W[w + c] = W[w + c]! - (lr * gc) / (Math.sqrt(a) + eps);
        }
      }
    }
  }
  stateArrays(): Record<string, Float32Array> {
    return { accumulator: this.acc };
  }
}

/**
 * Lazy Adam (PyTorch `SparseAdam` semantics): moments of a row change only when the row gets a
 * gradient; bias correction uses the optimizer's global step count.
 */
class SparseAdam implements SparseOptimizer {
  readonly kind = 'adam' as const;
  lr: number;
  /** Global step count (bias correction). */
  t = 0;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly o: Required<SparseOptimizerOptions>;
  constructor(
    private readonly table: EmbeddingTable,
    o: Required<SparseOptimizerOptions>,
  ) {
    this.o = o;
    this.lr = o.lr;
    this.m = new Float32Array(table.rows * table.dim);
    this.v = new Float32Array(table.rows * table.dim);
  }
  get stateBytes(): number {
    return this.m.byteLength + this.v.byteLength;
  }
  step(rows: Int32Array, grads: Float32Array, n: number): void {
    const d = this.table.dim;
    const W = this.table.data;
    const { m: M, v: V } = this;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.o;
    this.t++;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    const stepSize = (this.lr * Math.sqrt(c2)) / c1;
    const epsHat = eps * Math.sqrt(c2);
    for (let j = 0; j < n; j++) {
      const w = rows[j]! * d;
      const g = j * d;
      for (let c = 0; c < d; c++) {
        const gc = grads[g + c]! + wd * W[w + c]!;
        const mc = b1 * M[w + c]! + (1 - b1) * gc;
        const vc = b2 * V[w + c]! + (1 - b2) * gc * gc;
        M[w + c] = mc;
        V[w + c] = vc;
        W[w + c] = W[w + c]! - (stepSize * mc) / (Math.sqrt(vc) + epsHat);
      }
    }
  }
  stateArrays(): Record<string, Float32Array | Float64Array> {
    return { m: this.m, v: this.v, t: Float64Array.of(this.t) };
  }
}
