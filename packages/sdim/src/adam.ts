import { InvalidArgumentError } from '@compactrec/core';

/** Options of {@link DenseAdam}; every field is optional. */
export interface DenseAdamOptions {
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** First-moment decay. @default 0.9 */
  beta1?: number;
  /** Second-moment decay. @default 0.999 */
  beta2?: number;
  /** Denominator epsilon. @default 1e-8 */
  eps?: number;
}

/** Defaults of {@link DenseAdamOptions}. */
export const DEFAULT_DENSE_ADAM_OPTIONS: Readonly<Required<DenseAdamOptions>> = Object.freeze({
  lr: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
});

/**
 * Plain Adam (bias-corrected) over a fixed list of small dense parameter arrays, e.g. the
 * attention MLP of {@link DinAttention} (`layer.params()` / `layer.grads()`). Sparse embedding rows
 * belong to core's sparse optimizers instead.
 */
export class DenseAdam {
  /** Learning rate; may be changed between steps. */
  lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly params: readonly Float32Array[];
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(params: readonly Float32Array[], options: DenseAdamOptions = {}) {
    const o = { ...DEFAULT_DENSE_ADAM_OPTIONS };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, number>)[k] = v;
    if (!(o.lr > 0) || !Number.isFinite(o.lr)) {
      throw new InvalidArgumentError(`sdim/DenseAdam: lr (${o.lr}) must be a positive finite number`);
    }
    if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps > 0)) {
      throw new InvalidArgumentError(
        `sdim/DenseAdam: beta1 (${o.beta1}) and beta2 (${o.beta2}) must be in [0, 1) and eps (${o.eps}) positive`,
      );
    }
    this.lr = o.lr;
    this.beta1 = o.beta1;
    this.beta2 = o.beta2;
    this.eps = o.eps;
    this.params = params;
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /** Bytes of the moment arrays. */
  get stateBytes(): number {
    let n = 0;
    for (const m of this.m) n += 2 * m.byteLength;
    return n;
  }

  /** One update; `grads[i]` must have the shape of `params[i]`. */
  step(grads: readonly Float32Array[]): void {
    if (grads.length !== this.params.length) {
      throw new InvalidArgumentError(
        `sdim/DenseAdam.step: got ${grads.length} gradient arrays for ${this.params.length} params`,
      );
    }
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 / (1 - b1 ** this.t);
    const c2 = 1 / (1 - b2 ** this.t);
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const g = grads[i]!;
      if (g.length !== p.length) {
        throw new InvalidArgumentError(
          `sdim/DenseAdam.step: grads[${i}] has ${g.length} values; params[${i}] has ${p.length}`,
        );
      }
      const m = this.m[i]!;
      const v = this.v[i]!;
      for (let k = 0; k < p.length; k++) {
        const gk = g[k]!;
        const mk = b1 * m[k]! + (1 - b1) * gk;
        const vk = b2 * v[k]! + (1 - b2) * gk * gk;
        m[k] = mk;
        v[k] = vk;
        p[k]! -= (this.lr * mk * c1) / (Math.sqrt(vk * c2) + eps);
      }
    }
  }
}
