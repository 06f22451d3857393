import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** An opaque handle of one tower graph (a TensorFlow session) of the `compactrec_ctr_graph` addon. */
export type CtrTowerHandle = { readonly __ctrTower: unique symbol };

/** Options of {@link CtrGraphAddon.createTower}. */
export interface CtrTowerGraphOptions {
  /** Path of the libtensorflow shared library tfjs-node loaded (the addon resolves TensorFlow's C API in it). */
  lib: string;
  /** Input width, then each dense layer's width; the last is 1 (the logit). ReLU after every layer but the last. */
  sizes: readonly number[];
  /** Session intra-op threads (one kernel split over threads); 0 = TensorFlow's default (the cores). */
  intraOpThreads: number;
  /** Session inter-op threads (independent kernels at once); 0 = TensorFlow's default. */
  interOpThreads: number;
}

/** The Adam step {@link CtrGraphAddon.towerBackward} applies: per weight array its moments, and this step's constants. */
export interface CtrTowerAdamStep {
  /** First moments, one array per weight array (w0, b0, w1, b1, …). */
  readonly m: readonly Float32Array[];
  /** Second moments, same layout. */
  readonly v: readonly Float32Array[];
  /** `lr / (1 − β₁^t)`. */
  readonly step: number;
  /** `1 / √(1 − β₂^t)`. */
  readonly invSqrtC2: number;
  readonly eps: number;
  readonly beta1: number;
  readonly beta2: number;
}

/**
 * The MLP tower of a CTR model as one TensorFlow graph (csrc/ctr_graph.cc): forward and backward run
 * as session calls, so TensorFlow's graph optimizer fuses MatMul + BiasAdd + ReLU and its executor runs
 * independent gradient kernels at once — what tfjs's one-op-at-a-time eager execution cannot do. The
 * weights are passed in at every forward (`params`: w0, b0, w1, b1, … as row-major Float32Arrays), so the
 * caller keeps the parameters. Arrays from {@link CtrGraphAddon.alignedFloats} are read by TensorFlow in
 * place; other arrays are copied. All calls are synchronous.
 */
export interface CtrGraphAddon {
  createTower(options: CtrTowerGraphOptions): CtrTowerHandle;
  /**
   * Logits of `x` (`[n × sizes[0]]`) into `out[0..n)`; `training` keeps the activations for one backward,
   * which reads `x` and `params` again: leave them unchanged until then.
   */
  towerForward(
    tower: CtrTowerHandle,
    x: Float32Array,
    n: number,
    params: readonly Float32Array[],
    out: Float32Array,
    training: boolean,
  ): void;
  /**
   * Back-propagates ∂loss/∂logits `dz` through the last training forward and drops its activations:
   * `grads` (same layout as `params`) receives ∂loss/∂params, `inputGrad` ∂loss/∂x (`[n × sizes[0]]`), each
   * when given; with `adam`, one Adam step is applied to the forward's `params` in place, straight from
   * TensorFlow's gradient tensors (the element-wise update of
   * {@link CtrGraphAddon.adamUpdate}, bit-identical). Returns the milliseconds the Adam step took (0 without).
   */
  towerBackward(
    tower: CtrTowerHandle,
    dz: Float32Array,
    grads: readonly Float32Array[] | null,
    inputGrad: Float32Array | null,
    adam?: CtrTowerAdamStep,
  ): number;
  /** Drops a pending forward's activations. */
  towerRelease(tower: CtrTowerHandle): void;
  /** Ends the session (further calls throw); also done when the handle is garbage-collected. */
  towerClose(tower: CtrTowerHandle): void;
  /**
   * One Adam step in place, element by element: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
   * `values ← values − step·m / (√v·invSqrtC2 + eps)` (m and v unrounded in the last line), in double
   * precision with the operations in this order — bit-identical to the same loop in JavaScript.
   */
  adamUpdate(
    values: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    step: number,
    invSqrtC2: number,
    eps: number,
    beta1: number,
    beta2: number,
  ): void;
  /**
   * A zeroed Float32Array of `length` over 64-byte-aligned native memory (TensorFlow's alignment), so a
   * tower reads it without a copy; freed when the array is garbage-collected.
   */
  alignedFloats(length: number): Float32Array;
}

/** Where node-gyp builds the tower-graph addon (binding.gyp target `compactrec_ctr_graph`). */
export const CTR_GRAPH_ADDON_PATH = fileURLToPath(
  new URL('../build/Release/compactrec_ctr_graph.node', import.meta.url),
);

let cached: { addon: CtrGraphAddon | null; reason: string } | undefined;

/**
 * The tower-graph addon, or null with the reason (not built, failed to load). It loads TensorFlow only
 * when a tower is created, from the library path given then.
 */
export function loadCtrGraph(): { addon: CtrGraphAddon | null; reason: string } {
  if (cached) return cached;
  if (!existsSync(CTR_GRAPH_ADDON_PATH)) {
    cached = { addon: null, reason: `the tower-graph addon is not built (${CTR_GRAPH_ADDON_PATH})` };
  } else {
    try {
      const addon = createRequire(import.meta.url)(CTR_GRAPH_ADDON_PATH) as CtrGraphAddon;
      cached = { addon, reason: `loaded ${CTR_GRAPH_ADDON_PATH}` };
    } catch (err) {
      cached = { addon: null, reason: `the tower-graph addon failed to load: ${(err as Error).message}` };
    }
  }
  return cached;
}
