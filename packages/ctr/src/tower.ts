import { InvalidArgumentError } from '@compactrec/core';
import { type CtrGraphAddon, type CtrTowerAdamStep, type CtrTowerHandle, loadCtrGraph } from '@compactrec/native';
import { nativeLibraryPath, type Tf } from '@compactrec/tf-backend';
import type * as tfjs from '@tensorflow/tfjs';

/**
 * Adam on typed arrays with exactly the update of tfjs's `tf.train.adam` (moments m, v; bias
 * corrections with float32 running powers β^t; `w ← w − lr · m̂ / (√v̂ + ε)`), one slot per
 * parameter array. Used by the native fast path, where one loop per array replaces tfjs's ~15
 * tensor ops per variable.
 */
export class DenseAdam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  /**
   * The C++ loop of @compactrec/native's tower-graph addon (same arithmetic, compiled), or null for the
   * JavaScript loop. Chosen at construction: `kernel: 'js'` forces JavaScript.
   */
  private readonly kernel: CtrGraphAddon | null;
  /** β₁^t and β₂^t of the NEXT step, kept in float32 as tfjs keeps them. */
  private accBeta1: number;
  private accBeta2: number;

  constructor(
    sizes: readonly number[],
    lr: number,
    beta1 = 0.9,
    beta2 = 0.999,
    epsilon = 1e-8,
    kernel: 'native' | 'js' = 'native',
  ) {
    this.kernel = kernel === 'native' ? loadCtrGraph().addon : null;
    this.lr = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
    this.accBeta1 = Math.fround(beta1);
    this.accBeta2 = Math.fround(beta2);
  }

  /** Bytes of the moments. */
  get stateBytes(): number {
    let n = 0;
    for (const m of this.m) n += 2 * m.byteLength;
    return n;
  }

  /**
   * This step's constants of the update: `step = lr / (1 − β₁^t)`, `invSqrtC2 = 1 / √(1 − β₂^t)` (so
   * `lr · (m / c1) / (√(v / c2) + ε)` needs one division per element instead of three), ε, β₁, β₂.
   */
  stepConstants(): Omit<CtrTowerAdamStep, 'm' | 'v'> {
    return {
      step: this.lr / (1 - this.accBeta1),
      invSqrtC2: 1 / Math.sqrt(1 - this.accBeta2),
      eps: this.epsilon,
      beta1: this.beta1,
      beta2: this.beta2,
    };
  }

  /** The moments of parameter `slot` (for a native loop applying {@link update}'s arithmetic in place). */
  moments(slot: number): { m: Float32Array; v: Float32Array } {
    const m = this.m[slot];
    if (!m) throw new InvalidArgumentError(`ctr/DenseAdam.moments: no slot ${slot} (${this.m.length} slots)`);
    return { m, v: this.v[slot]! };
  }

  /** Updates `values` (parameter `slot`) in place with its gradient `grad`. */
  update(slot: number, values: Float32Array, grad: Float32Array): void {
    const m = this.m[slot]!;
    const v = this.v[slot]!;
    if (values.length !== m.length || grad.length < m.length) {
      throw new InvalidArgumentError(
        `ctr/DenseAdam.update: slot ${slot} holds ${m.length} values, got ${values.length} values and ${grad.length} gradients`,
      );
    }
    const { step, invSqrtC2, eps, beta1: b1, beta2: b2 } = this.stepConstants();
    if (this.kernel) {
      // The same loop in C++ (bit-identical results), when the addon is built.
      this.kernel.adamUpdate(values, grad, m, v, step, invSqrtC2, eps, b1, b2);
      return;
    }
    const g1 = 1 - b1;
    const g2 = 1 - b2;
    for (let i = 0; i < m.length; i++) {
      const g = grad[i]!;
      const mi = b1 * m[i]! + g1 * g;
      const vi = b2 * v[i]! + g2 * g * g;
      m[i] = mi;
      v[i] = vi;
      values[i] = values[i]! - (step * mi) / (Math.sqrt(vi) * invSqrtC2 + eps);
    }
  }

  /** Ends a step: advances β^t (call once after every slot of the step was updated). */
  advance(): void {
    this.accBeta1 = Math.fround(this.accBeta1 * this.beta1);
    this.accBeta2 = Math.fround(this.accBeta2 * this.beta2);
  }
}

/** The part of tfjs-node's kernel backend the tower calls: raw libtensorflow eager ops. */
interface NativeBackend {
  readonly binding: {
    readonly TF_ATTR_BOOL: number;
    readonly TF_ATTR_TYPE: number;
    readonly TF_FLOAT: number;
  };
  executeSingleOutput(name: string, attrs: readonly unknown[], inputs: readonly tfjs.Tensor[]): tfjs.Tensor;
}

/**
 * The matrix product op: `BatchMatMulV2` (2-D operands are one batch), the op tfjs-node's own matMul
 * kernel issues. Interleaved timings of the tower's shapes showed `MatMul` and `BatchMatMulV2`, and
 * adjoint flags against explicit transposes, within noise of each other, so the step uses the flags.
 */
const MATMUL = 'BatchMatMulV2';

function nativeBackend(tf: Tf): NativeBackend | null {
  if (tf.getBackend() !== 'tensorflow') return null;
  const be = tf.backend() as unknown as Partial<NativeBackend>;
  return typeof be.executeSingleOutput === 'function' && be.binding !== undefined ? (be as NativeBackend) : null;
}

/**
 * How a {@link NativeTower} runs its forward and backward on libtensorflow:
 * - `graph`: the tower as one TensorFlow graph in a session (the `compactrec_ctr_graph` addon of
 *   @compactrec/native on the library tfjs-node loaded): grappler fuses MatMul + BiasAdd + ReLU and the
 *   executor runs each layer's weight and input gradients at once; two session calls per step;
 * - `eager`: tfjs-node's eager ops one at a time (`executeSingleOutput`, ~25 calls per step).
 * Both compute the same function with the same kernels' arithmetic up to float32 round-off (checked by the
 * tests); Adam runs on typed arrays either way. `auto` takes `graph` when the addon is built.
 */
export type TowerEngine = 'graph' | 'eager';

/** Options of {@link NativeTower}. */
export interface NativeTowerOptions {
  /**
   * `auto` (default) = `graph` when the addon is available, else `eager`; the environment variable
   * `COMPACTREC_CTR_TOWER=graph|eager` overrides `auto`. A named engine that cannot run throws.
   */
  engine?: TowerEngine | 'auto';
}

/** Defaults of {@link NativeTowerOptions}. */
export const DEFAULT_NATIVE_TOWER_OPTIONS: Readonly<Required<NativeTowerOptions>> = Object.freeze({
  engine: 'auto',
});

/** The graph engine's state: the addon and its session. */
interface GraphEngine {
  readonly addon: CtrGraphAddon;
  readonly handle: CtrTowerHandle;
}

/** Picks the engine; null graph state means eager. */
function chooseEngine(
  layers: readonly TowerLayer[],
  wanted: TowerEngine | 'auto',
): { engine: TowerEngine; reason: string; graph: GraphEngine | null } {
  let want = wanted;
  if (want === 'auto') {
    const env = process.env.COMPACTREC_CTR_TOWER;
    if (env === 'graph' || env === 'eager') want = env;
    else if (env !== undefined && env !== '' && env !== 'auto') {
      throw new InvalidArgumentError(`ctr/NativeTower: COMPACTREC_CTR_TOWER '${env}' is not graph, eager or auto`);
    }
  }
  if (want === 'eager') return { engine: 'eager', reason: 'eager requested', graph: null };
  const { addon, reason } = loadCtrGraph();
  const lib = nativeLibraryPath();
  const missing = !addon ? reason : lib === null ? 'tfjs-node was not loaded by @compactrec/tf-backend' : null;
  if (missing !== null) {
    if (want === 'graph')
      throw new InvalidArgumentError(`ctr/NativeTower: the graph engine is unavailable: ${missing}`);
    return { engine: 'eager', reason: `graph engine unavailable: ${missing}`, graph: null };
  }
  const sizes = [layers[0]!.w.shape[0]!, ...layers.map((l) => l.w.shape[1]!)];
  const threads = (name: string) => {
    const n = Number(process.env[name]);
    return Number.isInteger(n) && n > 0 ? n : 0;
  };
  let handle: CtrTowerHandle;
  try {
    handle = addon!.createTower({
      lib: lib!,
      sizes,
      intraOpThreads: threads('TF_NUM_INTRAOP_THREADS'),
      interOpThreads: threads('TF_NUM_INTEROP_THREADS'),
    });
  } catch (err) {
    const why = `the tower graph could not be built: ${(err as Error).message}`;
    if (want === 'graph') throw new InvalidArgumentError(`ctr/NativeTower: ${why}`);
    return { engine: 'eager', reason: `graph engine unavailable: ${why}`, graph: null };
  }
  return { engine: 'graph', reason: `graph session on ${lib}`, graph: { addon: addon!, handle } };
}

/** One dense layer `y = act(x · w + b)` of a tower, over the model's tfjs variables. */
export interface TowerLayer {
  readonly w: tfjs.Variable;
  readonly b: tfjs.Variable;
  readonly relu: boolean;
  /** The {@link DenseAdam} slots of `w` and `b`. */
  readonly slots: readonly [number, number];
}

/**
 * An MLP tower (dense layers, ReLU between them, a width-1 logit layer last) trained on the native
 * backend without the tfjs tape: the forward is MatMul → BiasAdd → Relu per layer, the backward uses
 * libtensorflow's own gradient kernels (ReluGrad, BiasAddGrad, MatMul with transposes), run either as
 * one TensorFlow graph in a session or as eager ops (see {@link TowerEngine}), and Adam runs on typed
 * arrays ({@link DenseAdam}). The loss stays with the caller: {@link forward} returns the logits, the
 * caller hands ∂loss/∂logits to {@link backward}. The variables stay the source of truth (assigned every
 * step; re-read whenever something else assigned them), so checkpoints, predict and restoreState see the
 * same values as with the generic path.
 */
export class NativeTower {
  readonly layers: readonly TowerLayer[];
  readonly inputWidth: number;
  /** The engine in use and why (see {@link TowerEngine}). */
  readonly engine: TowerEngine;
  readonly engineReason: string;
  private readonly tf: Tf;
  private readonly be: NativeBackend;
  private readonly adam: DenseAdam;
  private readonly graph: GraphEngine | null;
  private readonly tAttr: unknown;
  private readonly noT: unknown[];
  private readonly ta: unknown[];
  private readonly tb: unknown[];
  /**
   * When set, wall milliseconds per phase of a step are added here: `tf <Op>` per libtensorflow eager op
   * (inputs uploaded on first use count in the op that uses them) or `tf graph forward` / `tf graph
   * backward` (session calls, copies in and out included), `readback` (dataSync), `adam` (the typed-array
   * update) and `assign` (new weight tensors). For profiling; null by default.
   */
  profile: Map<string, number> | null = null;
  /**
   * The values last assigned to each variable (layer-major, w then b) and the data id they were
   * assigned under: while a variable still holds that id, its values are read from here instead of
   * back from libtensorflow (the tensor took the array without copying and uploads it at its first use).
   */
  private readonly master: ({ id: unknown; values: Float32Array } | undefined)[] = [];
  /** Tensors of the pending eager step: input, then each layer's output. */
  private acts: tfjs.Tensor[] = [];
  /** The graph engine's pending step: the weight arrays its forward used. */
  private graphParams: Float32Array[] | null = null;
  /** The graph engine's Adam moments per weight array (w0, b0, w1, b1, …). */
  private readonly graphMoments: { m: Float32Array[]; v: Float32Array[] } = { m: [], v: [] };
  private n = 0;

  /**
   * @param adam  the optimizer holding each layer's moments at the layer's `slots`.
   * @throws InvalidArgumentError when the backend is not native, the layers do not chain, or a named
   *   engine cannot run.
   */
  constructor(tf: Tf, layers: readonly TowerLayer[], adam: DenseAdam, options: NativeTowerOptions = {}) {
    const be = nativeBackend(tf);
    if (!be) {
      throw new InvalidArgumentError(
        `ctr/NativeTower: needs the native tensorflow backend (active: ${tf.getBackend()}); use the generic step`,
      );
    }
    if (layers.length === 0) throw new InvalidArgumentError('ctr/NativeTower: no layer');
    let width = layers[0]!.w.shape[0]!;
    for (const [i, l] of layers.entries()) {
      if (l.w.shape.length !== 2 || l.w.shape[0] !== width || l.b.shape[0] !== l.w.shape[1]) {
        throw new InvalidArgumentError(`ctr/NativeTower: layer ${i} [${l.w.shape}] + [${l.b.shape}] does not chain`);
      }
      if (l.relu !== i + 1 < layers.length) {
        throw new InvalidArgumentError(`ctr/NativeTower: ReLU must follow every layer but the last (layer ${i})`);
      }
      width = l.w.shape[1]!;
    }
    if (width !== 1) throw new InvalidArgumentError(`ctr/NativeTower: the last layer has width ${width}, not 1`);
    const engine = options.engine ?? DEFAULT_NATIVE_TOWER_OPTIONS.engine;
    if (!['auto', 'graph', 'eager'].includes(engine)) {
      throw new InvalidArgumentError(`ctr/NativeTower: engine '${engine}' is not auto, graph or eager`);
    }
    this.tf = tf;
    this.be = be;
    this.layers = layers;
    this.inputWidth = layers[0]!.w.shape[0]!;
    this.adam = adam;
    const chosen = chooseEngine(layers, engine);
    this.engine = chosen.engine;
    this.engineReason = chosen.reason;
    this.graph = chosen.graph;
    for (const l of layers) {
      for (const slot of l.slots) {
        const { m, v } = adam.moments(slot);
        this.graphMoments.m.push(m);
        this.graphMoments.v.push(v);
      }
    }
    const b = be.binding;
    this.tAttr = { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
    const flag = (name: string, value: boolean) => ({ name, type: b.TF_ATTR_BOOL, value });
    this.noT = [this.tAttr, flag('adj_x', false), flag('adj_y', false)];
    this.ta = [this.tAttr, flag('adj_x', true), flag('adj_y', false)];
    this.tb = [this.tAttr, flag('adj_x', false), flag('adj_y', true)];
  }

  /** Bytes of the weight copies this tower trains on (one float32 per weight, once the first step ran). */
  get heldBytes(): number {
    let n = 0;
    for (const m of this.master) if (m) n += m.values.byteLength;
    return n;
  }

  /**
   * Frees the weight copies (the variables keep the values; a later step copies them again). For a model
   * that is done training.
   */
  releaseCopies(): void {
    this.release();
    this.master.length = 0;
  }

  /** Whether the active backend of `tf` can run a tower. */
  static supported(tf: Tf): boolean {
    return nativeBackend(tf) !== null;
  }

  private op(name: string, attrs: readonly unknown[], inputs: readonly tfjs.Tensor[]): tfjs.Tensor {
    if (!this.profile) return this.be.executeSingleOutput(name, attrs, inputs);
    const t0 = performance.now();
    const out = this.be.executeSingleOutput(name, attrs, inputs);
    this.mark(`tf ${name}`, t0);
    return out;
  }

  private mark(key: string, t0: number): void {
    if (this.profile) this.profile.set(key, (this.profile.get(key) ?? 0) + performance.now() - t0);
  }

  private run(x: tfjs.Tensor, keep: boolean): tfjs.Tensor {
    const t = [this.tAttr];
    let h = x;
    for (const l of this.layers) {
      const mm = this.op(MATMUL, this.noT, [h, l.w]);
      const z = this.op('BiasAdd', t, [mm, l.b]);
      mm.dispose();
      let y = z;
      if (l.relu) {
        y = this.op('Relu', t, [z]);
        z.dispose();
      }
      if (keep) this.acts.push(y);
      else if (h !== x) h.dispose();
      h = y;
    }
    return h;
  }

  /**
   * A zeroed Float32Array of `length` to build the tower's input in: with the graph engine it lies in
   * 64-byte-aligned native memory, which {@link forward} hands to TensorFlow without a copy (any other
   * array is copied); with the eager engine, a plain array.
   */
  inputBuffer(length: number): Float32Array {
    return this.graph ? this.graph.addon.alignedFloats(length) : new Float32Array(length);
  }

  /** The current values of parameter `k` (0 = w, 1 = b) of layer `l`, as an array this tower owns. */
  private current(l: number, k: number): Float32Array {
    const v = k === 0 ? this.layers[l]!.w : this.layers[l]!.b;
    const known = this.master[2 * l + k];
    if (known && known.id === v.dataId) return known.values;
    // A copy when the variable changed elsewhere (restoreState, loading): the array becomes ours (aligned for
    // the graph engine, which then reads the weights without a copy).
    const values = this.inputBuffer(v.size);
    values.set(v.dataSync() as Float32Array);
    this.master[2 * l + k] = { id: v.dataId, values };
    return values;
  }

  /**
   * Logits `[n]` of `x` (`[n × inputWidth]`, row-major) into `out`; with `training`, keeps the
   * activations for one {@link backward}, which reads `x` again: leave it unchanged until then. An `x`
   * from {@link inputBuffer} is read without a copy.
   */
  forward(x: Float32Array, n: number, out: Float32Array, training: boolean): Float32Array {
    if (x.length < n * this.inputWidth || out.length < n) {
      throw new InvalidArgumentError(
        `ctr/NativeTower.forward: ${n} rows need ${n * this.inputWidth} inputs and ${n} outputs (got ${x.length}, ${out.length})`,
      );
    }
    this.release();
    if (this.graph) {
      let t0 = performance.now();
      const params: Float32Array[] = [];
      for (let l = 0; l < this.layers.length; l++) params.push(this.current(l, 0), this.current(l, 1));
      this.mark('readback', t0);
      t0 = performance.now();
      this.graph.addon.towerForward(this.graph.handle, x, n, params, out, training);
      this.mark('tf graph forward', t0);
      if (training) {
        this.graphParams = params;
        this.n = n;
      }
      return out;
    }
    const xt = this.tf.tensor2d(x.subarray(0, n * this.inputWidth), [n, this.inputWidth]);
    if (training) {
      this.acts.push(xt);
      this.n = n;
    }
    try {
      const z = this.run(xt, training);
      const t0 = performance.now();
      out.set((z.dataSync() as Float32Array).subarray(0, n));
      this.mark('readback', t0);
      if (!training) z.dispose();
    } catch (err) {
      this.release();
      throw err;
    } finally {
      if (!training) xt.dispose();
    }
    return out;
  }

  /**
   * Back-propagates ∂loss/∂logits `dz` (`[n]`) of the last training {@link forward}, applies one
   * Adam step to every layer's variables (the caller ends the step with {@link DenseAdam.advance}) and,
   * when `inputGrad` is given, writes ∂loss/∂x (`[n × inputWidth]`) into it.
   */
  backward(dz: Float32Array, inputGrad: Float32Array | null): void {
    if (this.graph) {
      this.backwardGraph(this.graph, dz, inputGrad);
      return;
    }
    const n = this.n;
    if (this.acts.length !== this.layers.length + 1) {
      throw new InvalidArgumentError('ctr/NativeTower.backward: no training forward to back-propagate');
    }
    const tf = this.tf;
    const t = [this.tAttr];
    const grads: tfjs.Tensor[] = [];
    let dh: tfjs.Tensor = tf.tensor2d(dz.subarray(0, n), [n, 1]);
    try {
      for (let l = this.layers.length - 1; l >= 0; l--) {
        const layer = this.layers[l]!;
        let dpre = dh;
        if (layer.relu) {
          dpre = this.op('ReluGrad', t, [dh, this.acts[l + 1]!]);
          dh.dispose();
        }
        grads[2 * l] = this.op(MATMUL, this.ta, [this.acts[l]!, dpre]);
        grads[2 * l + 1] = this.op('BiasAddGrad', t, [dpre]);
        if (l > 0 || inputGrad) {
          dh = this.op(MATMUL, this.tb, [dpre, layer.w]);
        }
        dpre.dispose();
        if (l === 0 && inputGrad) {
          const t0 = performance.now();
          inputGrad.set((dh.dataSync() as Float32Array).subarray(0, n * this.inputWidth));
          this.mark('readback', t0);
          dh.dispose();
        }
      }
      // Every gradient was taken against the step's weights; now update them.
      for (let l = 0; l < this.layers.length; l++) {
        for (let k = 0; k < 2; k++) {
          const t0 = performance.now();
          const values = this.current(l, k);
          const grad = grads[2 * l + k]!.dataSync() as Float32Array;
          this.mark('readback', t0);
          this.update(l, k, values, grad);
        }
      }
    } finally {
      for (const g of grads) g?.dispose();
      this.release();
    }
  }

  private backwardGraph(graph: GraphEngine, dz: Float32Array, inputGrad: Float32Array | null): void {
    const params = this.graphParams;
    if (params === null) {
      throw new InvalidArgumentError('ctr/NativeTower.backward: no training forward to back-propagate');
    }
    try {
      // The addon applies Adam to `params` straight from TensorFlow's gradients (the same arithmetic as
      // DenseAdam.update, bit-identical, split over threads); then the variables get the new values.
      const adam: CtrTowerAdamStep = { ...this.adam.stepConstants(), m: this.graphMoments.m, v: this.graphMoments.v };
      const t0 = performance.now();
      const adamMs = graph.addon.towerBackward(graph.handle, dz, null, inputGrad, adam);
      if (this.profile) {
        this.profile.set('adam', (this.profile.get('adam') ?? 0) + adamMs);
        this.profile.set(
          'tf graph backward',
          (this.profile.get('tf graph backward') ?? 0) + performance.now() - t0 - adamMs,
        );
      }
      for (let l = 0; l < this.layers.length; l++) {
        for (let k = 0; k < 2; k++) this.assign(l, k, params[2 * l + k]!);
      }
    } finally {
      this.release();
    }
  }

  /** One Adam step of parameter `k` of layer `l` in place on `values`, then assigned to its variable. */
  private update(l: number, k: number, values: Float32Array, grad: Float32Array): void {
    const t0 = performance.now();
    this.adam.update(this.layers[l]!.slots[k]!, values, grad);
    this.mark('adam', t0);
    this.assign(l, k, values);
  }

  /** Assigns `values` (this tower's array) to parameter `k` of layer `l`'s variable. */
  private assign(l: number, k: number, values: Float32Array): void {
    const v = k === 0 ? this.layers[l]!.w : this.layers[l]!.b;
    const t0 = performance.now();
    const next = this.tf.tensor(values, v.shape);
    v.assign(next);
    next.dispose();
    this.master[2 * l + k] = { id: v.dataId, values };
    this.mark('assign', t0);
  }

  /** Forgets a pending step's activations. */
  release(): void {
    for (const a of this.acts) a.dispose();
    this.acts = [];
    if (this.graph && this.graphParams !== null) this.graph.addon.towerRelease(this.graph.handle);
    this.graphParams = null;
    this.n = 0;
  }

  /** Releases the pending step and ends the graph engine's session (the tower cannot train after this). */
  close(): void {
    this.release();
    if (this.graph) this.graph.addon.towerClose(this.graph.handle);
  }
}
