import type { Rng } from '@compactrec/core';

/** One dense parameter: its name (unique within a model), shape and initial values. */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Float32Array;
}

/**
 * The ordered dense parameters of a network. A network's forward reads its parameters by the index
 * {@link ParamSet.add} returned, from the tensor list the caller passes — so the same forward runs on
 * variables (inference) and on traced inputs (gradients w.r.t. weights and inputs in one call).
 */
export class ParamSet {
  readonly specs: ParamSpec[] = [];

  /** Adds a parameter; returns its index in the forward's parameter list. */
  add(name: string, shape: readonly number[], init: Float32Array): number {
    this.specs.push({ name, shape, init });
    return this.specs.length - 1;
  }

  /**
   * A `[fanIn × fanOut]` weight and `[fanOut]` bias with PyTorch's `nn.Linear` init:
   * U(−1/√fanIn, 1/√fanIn) for both (biasZero: bias 0). Returns [weight index, bias index].
   */
  linear(name: string, fanIn: number, fanOut: number, rng: Rng, biasZero = false): [number, number] {
    const bound = 1 / Math.sqrt(fanIn);
    const w = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < w.length; i++) w[i] = (rng.next() * 2 - 1) * bound;
    const b = new Float32Array(fanOut);
    if (!biasZero) for (let i = 0; i < b.length; i++) b[i] = (rng.next() * 2 - 1) * bound;
    return [this.add(`${name}/w`, [fanIn, fanOut], w), this.add(`${name}/b`, [fanOut], b)];
  }

  /** Number of scalar parameters. */
  get size(): number {
    let n = 0;
    for (const s of this.specs) n += s.init.length;
    return n;
  }
}
