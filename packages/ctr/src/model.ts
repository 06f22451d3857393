import {
  deriveSeed,
  fullTableBytes,
  type IdMapper,
  InvalidArgumentError,
  type OptimizerKind,
  type QuantizeMode,
  Rng,
  resolveOptions,
} from '@compactrec/core';
import { type FeatureEmbedding, resolveMethod } from '@compactrec/embedding';
import type { Tf } from '@compactrec/tf-backend';
import type * as tfjs from '@tensorflow/tfjs';
import type { CtrInputBlock } from './block.js';
import { checkInt, checkNumber } from './internal/check.js';
import { captureStorage, restoreStorage } from './internal/embedding-state.js';
import {
  createFieldEmbeddings,
  createFirstOrderEmbeddings,
  type FieldEmbeddingPlan,
  type FieldGraph,
  isCompressedField,
} from './mappers.js';
import { buildCtrNet, CTR_MODEL_KINDS, type CtrModelKind, type CtrNet, type DcnStructure } from './nets.js';
import type { CtrBatch, CtrSchema, FieldCounts } from './schema.js';
import { DenseAdam, NativeTower, type TowerEngine } from './tower.js';

/**
 * Which training step a model uses: `fast` (native backend, tower networks without dropout: the
 * tape-free {@link NativeTower} step with typed-array Adam) or `generic` (the tfjs gradient tape and
 * `tf.train.adam`, every backend and network). `auto` picks `fast` where it applies; the
 * environment variable `COMPACTREC_CTR_STEP=generic` forces the generic step (for comparisons).
 */
export type CtrStepPath = 'fast' | 'generic';

/** State of the fast step, built at the first training step that can use it. */
interface FastStep {
  readonly tower: NativeTower;
  readonly adam: DenseAdam;
  x: Float32Array;
  gx: Float32Array;
  z: Float32Array;
  dz: Float32Array;
  readonly sum: Float32Array;
}

/** Options of {@link createCtrModel}; every field is optional. */
export interface CtrModelOptions {
  /** Architecture. @default 'deepfm' */
  model?: CtrModelKind;
  /** Embedding dimension d of every field. @default 16 */
  dim?: number;
  /** Hidden layer widths of the MLP (the top MLP for dlrm). @default [400, 400] */
  mlp?: readonly number[];
  /** Dropout after each hidden MLP layer while training. @default 0 */
  dropout?: number;
  /** DCN-V2 cross layers. @default 3 */
  crossLayers?: number;
  /** DCN-V2 structure. @default 'parallel' */
  dcnStructure?: DcnStructure;
  /** DLRM bottom MLP hidden widths (a final layer to `dim` is added). @default [64] */
  bottomMlp?: readonly number[];
  /** Adam learning rate of the dense weights. @default 0.001 */
  lr?: number;
  /** Learning rate of the embedding rows; unset = `lr`. @default undefined */
  embeddingLr?: number;
  /**
   * Sparse optimizer of the embedding rows: lazy Adam as in TorchRec (the embedding storages own
   * their optimizer state; `adam` is the only kind they train with). @default 'adam'
   */
  sparseOptimizer?: OptimizerKind;
  /** L2 on the touched embedding rows (lazy, coupled). @default 0 */
  embeddingL2?: number;
  /**
   * Compression method of every field: a name `@compactrec/embedding`'s `resolveMethod` accepts —
   * `SHARING`, `STORAGE` or `SHARING+STORAGE` (e.g. `double-frequency+int8`, `dsl`). @default 'full'
   */
  method?: string;
  /** Low-precision storage kinds: quantize `after` training (float master) or `during` it (fake quant / ALPT). @default 'after' */
  quantize?: QuantizeMode;
  /** Optimizer steps of the whole run, for kinds with a schedule (DSL); 0 = unknown. @default 0 */
  totalSteps?: number;
  /** Per-table byte budget as a fraction of each field's full table (ignored by `full`). @default 0.25 */
  budget?: number;
  /** Fields with at most this many IDs keep a full table. @default 100 */
  keepFullBelow?: number;
  /** Settings of the sharing method, e.g. `{ combine: 'sum' }` for qr. @default {} */
  extra?: Readonly<Record<string, number | string | boolean>>;
  /** Settings of the storage kind, e.g. `{ dslUpdates: 30 }` (unknown keys are ignored). @default {} */
  storageExtra?: Readonly<Record<string, number | string | boolean>>;
  /** Std of a composed embedding at init. @default 0.01 */
  initStd?: number;
  /** Seed of every random choice (mappers, init, dropout). @default 0 */
  seed?: number;
}

/** Defaults of {@link CtrModelOptions} (DeepFM with d 16, MLP 400-400, Adam 1e-3, as the PyTorch references). */
export const DEFAULT_CTR_MODEL_OPTIONS = Object.freeze({
  model: 'deepfm' as CtrModelKind,
  dim: 16,
  mlp: Object.freeze([400, 400]) as readonly number[],
  dropout: 0,
  crossLayers: 3,
  dcnStructure: 'parallel' as DcnStructure,
  bottomMlp: Object.freeze([64]) as readonly number[],
  lr: 0.001,
  sparseOptimizer: 'adam' as OptimizerKind,
  embeddingL2: 0,
  method: 'full',
  quantize: 'after' as QuantizeMode,
  totalSteps: 0,
  budget: 0.25,
  keepFullBelow: 100,
  extra: Object.freeze({}) as Readonly<Record<string, number | string | boolean>>,
  storageExtra: Object.freeze({}) as Readonly<Record<string, number | string | boolean>>,
  initStd: 0.01,
  seed: 0,
});

/** Resolved options of a model (what config.json stores). */
export type ResolvedCtrModelOptions = Readonly<
  Required<Omit<CtrModelOptions, 'embeddingLr'>> & { embeddingLr: number }
>;

/** Bytes of a model, split as the benchmark reports them. */
export interface CtrMemory {
  /** Table rows over every field. */
  readonly rows: number;
  /**
   * Bytes of the budgeted tables as allocated (served form): the d-dim field tables, or the
   * first-order tables of a network without d-dim ones — what a budget limits.
   */
  readonly embeddingBytes: number;
  /** Bytes of the first-order (1-dim, float32) tables besides the budgeted ones (0 when they are the budgeted ones). */
  readonly firstOrderBytes: number;
  /** Bytes the budgeted tables take uncompressed (float32, one row per ID). */
  readonly fullEmbeddingBytes: number;
  /** Σ over fields of ⌊budget × full bytes⌋ (full bytes for fields kept full). */
  readonly budgetBytes: number;
  /** Bytes of the mappers' lookup structures (frequency maps, per-ID weights). */
  readonly mappingBytes: number;
  /** Bytes of optimizer state: sparse (rows, weights) and dense Adam moments. */
  readonly optimizerBytes: number;
  /**
   * Bytes held only while training: the tables' float masters, fake-quant rows and DSL masks (0 when serving),
   * plus the fast step's copies of the tower weights (see {@link NativeTower.heldBytes}).
   */
  readonly trainingBytes: number;
  /** Scalars in the dense network. */
  readonly denseParams: number;
}

/**
 * Parts a model is assembled from: either a plan (fresh model: the tables the network reads are
 * built from it) or the embeddings themselves (loaded model).
 */
export interface CtrModelParts {
  /** How to build fresh field embeddings (see `createFieldEmbeddings`). */
  readonly plan?: FieldEmbeddingPlan;
  /** d-dim field embeddings (loading; empty when the network reads none). */
  readonly fields?: readonly FeatureEmbedding[];
  /** 1-dim first-order embeddings (loading; empty when the network reads none). */
  readonly firstOrder?: readonly FeatureEmbedding[];
  /** Dense parameter values in the network's order, when loading. */
  readonly params?: readonly Float32Array[];
  /** Extra input blocks. */
  readonly blocks?: readonly CtrInputBlock[];
}

/** A copy of every trainable value (tables, learnable weights, dense parameters), for keep-best. */
export interface CtrModelState {
  /** Per field, the training arrays of its storage (values, step sizes, masks...), null if it has none to copy. */
  readonly tables: readonly (Float32Array[] | null)[];
  readonly firstOrder: readonly (Float32Array[] | null)[];
  readonly weights: readonly (Float32Array | null)[];
  readonly params: readonly Float32Array[];
  /** Per input block, what its `captureState` returned (null for blocks without state). */
  readonly blocks?: readonly unknown[];
}

let modelCounter = 0;

export function resolveCtrModelOptions(options: CtrModelOptions = {}): ResolvedCtrModelOptions {
  const where = 'ctr/createCtrModel';
  const o = resolveOptions(DEFAULT_CTR_MODEL_OPTIONS, options);
  if (!CTR_MODEL_KINDS.includes(o.model)) {
    throw new InvalidArgumentError(
      `${where}: model '${String(o.model)}' is unknown; use one of ${CTR_MODEL_KINDS.join(', ')}`,
    );
  }
  checkInt(where, 'dim', o.dim, 1, 4096);
  checkNumber(where, 'lr', o.lr, 0, 10, true);
  const embeddingLr = options.embeddingLr ?? o.lr;
  checkNumber(where, 'embeddingLr', embeddingLr, 0, 10, true);
  checkNumber(where, 'budget', o.budget, 0, 1, true);
  checkNumber(where, 'embeddingL2', o.embeddingL2, 0, 1e6);
  checkNumber(where, 'initStd', o.initStd, 0, 10, true);
  checkInt(where, 'keepFullBelow', o.keepFullBelow, 0);
  checkInt(where, 'totalSteps', o.totalSteps, 0);
  resolveMethod(o.method); // unknown names fail here, listing every known one
  if (o.quantize !== 'after' && o.quantize !== 'during') {
    throw new InvalidArgumentError(`${where}: quantize ('${String(o.quantize)}') must be 'after' or 'during'`);
  }
  if (o.sparseOptimizer !== 'adam') {
    throw new InvalidArgumentError(
      `${where}: sparseOptimizer '${String(o.sparseOptimizer)}' is not available; the embedding storages train their rows with lazy Adam ('adam')`,
    );
  }
  return Object.freeze({
    ...o,
    mlp: Object.freeze([...o.mlp]),
    bottomMlp: Object.freeze([...o.bottomMlp]),
    extra: Object.freeze({ ...o.extra }),
    storageExtra: Object.freeze({ ...o.storageExtra }),
    embeddingLr,
  }) as ResolvedCtrModelOptions;
}

/**
 * A CTR model over compressed embeddings, in the TorchRec/HugeCTR layout: per field a
 * {@link FeatureEmbedding} (mapper + storage + the storage's lazy optimizer) kept outside tfjs, and a
 * dense network in tfjs. A training step composes the batch's field embeddings into one
 * `[B × F × d]` buffer, computes the loss and the gradients w.r.t. the dense weights AND that
 * buffer (and the first-order and block inputs) in one tfjs call, applies the dense gradients with
 * tfjs Adam and scatters the input gradients back to the rows (through sum / mult / concat and
 * per-ID weights) with a sparse optimizer. Every tensor of a step is disposed.
 */
export class CtrModel {
  readonly tf: Tf;
  readonly schema: CtrSchema;
  readonly options: ResolvedCtrModelOptions;
  readonly net: CtrNet;
  readonly mappers: readonly IdMapper[];
  /** d-dim field embeddings (empty when the network does not read them). */
  readonly fields: readonly FeatureEmbedding[];
  /** 1-dim first-order embeddings (empty when unused). */
  readonly firstOrder: readonly FeatureEmbedding[];
  readonly blocks: readonly CtrInputBlock[];
  readonly variables: readonly tfjs.Variable[];
  /** Dense input width: schema dense features + block widths. */
  readonly denseWidth: number;
  /** Training steps taken. */
  steps = 0;
  /**
   * When set, wall milliseconds per phase of each training step are added here (`gather`, `scatter`
   * = field backward + sparse optimizer, `loss` = typed-array loss/FM work of the fast step, `tf …`
   * = tensor work; the fast step adds its tower's phases, see `NativeTower.profile`). For profiling.
   */
  profile: Map<string, number> | null = null;
  private readonly optimizer: tfjs.Optimizer;
  /** Decided at the first training step: the fast step's state, or null for the generic step. */
  private fast: FastStep | null | undefined;
  private embBuf: Float32Array = new Float32Array(0);
  private firstBuf = new Float32Array(0);
  private denseBuf = new Float32Array(0);
  private blockBuf = new Float32Array(0);
  private gradBuf = new Float32Array(0);
  private firstGradBuf = new Float32Array(0);
  private colBuf = new Int32Array(0);
  /** Per-field views of `colBuf` for the current batch size. */
  private cols: Int32Array[] = [];
  private disposed = false;

  constructor(tf: Tf, schema: CtrSchema, options: ResolvedCtrModelOptions, parts: CtrModelParts) {
    const where = 'ctr/CtrModel';
    const F = schema.fieldNames.length;
    if (F < 1) throw new InvalidArgumentError(`${where}: the schema '${schema.name}' has no field`);
    this.tf = tf;
    this.schema = schema;
    this.options = options;
    this.blocks = parts.blocks ?? [];
    let bw = 0;
    for (const b of this.blocks) {
      checkInt(where, `block '${b.name}' width`, b.width, 1);
      bw += b.width;
    }
    this.denseWidth = schema.numDense + bw;
    const o = options;
    this.net = buildCtrNet(
      {
        kind: o.model,
        numFields: F,
        dim: o.dim,
        denseWidth: this.denseWidth,
        mlp: o.mlp,
        dropout: o.dropout,
        crossLayers: o.crossLayers,
        dcnStructure: o.dcnStructure,
        bottomMlp: o.bottomMlp,
      },
      new Rng(deriveSeed(o.seed, 'dense')),
    );
    if (parts.plan) {
      const plan = parts.plan;
      if (this.net.usesEmbeddings) {
        this.fields = createFieldEmbeddings(schema, plan);
        this.firstOrder = this.net.usesFirstOrder ? createFirstOrderEmbeddings(this.fields, plan) : [];
      } else {
        // Only first-order weights: they are the budgeted tables.
        this.fields = [];
        this.firstOrder = createFieldEmbeddings(schema, { ...plan, dim: 1 });
      }
    } else {
      this.fields = parts.fields ?? [];
      this.firstOrder = parts.firstOrder ?? [];
    }
    const need = (got: readonly FeatureEmbedding[], used: boolean, width: number, what: string): void => {
      if (!used) return;
      if (got.length !== F)
        throw new InvalidArgumentError(`${where}: ${got.length} ${what} embeddings for ${F} fields`);
      got.forEach((e, f) => {
        if (e.dim !== width || e.numIds !== schema.cardinalities[f]) {
          throw new InvalidArgumentError(
            `${where}: ${what} embedding of field '${schema.fieldNames[f]}' is ${e.numIds} IDs × ${e.dim}, expected ${schema.cardinalities[f]} × ${width}`,
          );
        }
      });
    };
    need(this.fields, this.net.usesEmbeddings, o.dim, 'd-dim');
    need(this.firstOrder, this.net.usesFirstOrder, 1, 'first-order');
    this.mappers = (this.fields.length > 0 ? this.fields : this.firstOrder).map((e) => e.mapper);
    const specs = this.net.params.specs;
    if (parts.params && parts.params.length !== specs.length) {
      throw new InvalidArgumentError(`${where}: ${parts.params.length} dense parameter arrays for ${specs.length}`);
    }
    const id = ++modelCounter;
    this.variables = specs.map((s, i) => {
      const values = parts.params ? parts.params[i]! : s.init;
      if (values.length !== s.init.length) {
        throw new InvalidArgumentError(
          `${where}: parameter '${s.name}' has ${values.length} values, expected ${s.init.length}`,
        );
      }
      return tf.variable(tf.tensor(values, [...s.shape]), true, `ctr${id}/${o.model}/${s.name}`);
    });
    this.optimizer = tf.train.adam(o.lr, 0.9, 0.999, 1e-8);
  }

  /** Fields. */
  get numFields(): number {
    return this.schema.fieldNames.length;
  }

  private checkBatch(batch: CtrBatch, where: string): void {
    const F = this.numFields;
    if (batch.size < 1 || batch.ids.length < batch.size * F || batch.labels.length < batch.size) {
      throw new InvalidArgumentError(
        `${where}: batch of ${batch.size} samples needs ids ≥ size × ${F} and labels ≥ size`,
      );
    }
    if (this.schema.numDense > 0 && (batch.dense === null || batch.dense.length < batch.size * this.schema.numDense)) {
      throw new InvalidArgumentError(
        `${where}: the schema has ${this.schema.numDense} dense features but the batch has none`,
      );
    }
  }

  /**
   * Transposes the batch's IDs into one contiguous column per field (`colBuf` `[F × n]`), once per
   * batch: the lookups and the scatter read them through {@link column}.
   */
  private fillColumns(batch: CtrBatch): void {
    const n = batch.size;
    const F = this.numFields;
    if (this.colBuf.length < n * F) this.colBuf = new Int32Array(n * F);
    if (this.cols.length !== F || this.cols[0]!.length !== n || this.cols[0]!.buffer !== this.colBuf.buffer) {
      this.cols = Array.from({ length: F }, (_, f) => this.colBuf.subarray(f * n, (f + 1) * n));
    }
    const col = this.colBuf;
    const ids = batch.ids;
    for (let s = 0; s < n; s++) {
      const o = s * F;
      for (let f = 0; f < F; f++) col[f * n + s] = ids[o + f]!;
    }
  }

  /** Field f's IDs of the batch last given to {@link gatherInputs}, contiguous (valid until the next batch). */
  private column(batch: CtrBatch, f: number): Int32Array {
    const c = this.cols[f];
    if (c === undefined || c.length !== batch.size) throw new Error('ctr/CtrModel: column() before gatherInputs()');
    return c;
  }

  /** A buffer the fast step's tower reads without a copy (see {@link NativeTower.inputBuffer}), else a plain one. */
  private towerInput(length: number): Float32Array {
    return this.fast ? this.fast.tower.inputBuffer(length) : new Float32Array(length);
  }

  /** Fills the embedding, first-order and dense buffers of a batch. */
  private gatherInputs(batch: CtrBatch, training: boolean): void {
    const n = batch.size;
    const F = this.numFields;
    const d = this.options.dim;
    this.fillColumns(batch);
    if (this.fields.length > 0) {
      if (this.embBuf.length < n * F * d) this.embBuf = this.towerInput(n * F * d);
      for (let f = 0; f < F; f++) this.fields[f]!.lookup(this.column(batch, f), this.embBuf, n, f * d, F * d);
    }
    if (this.firstOrder.length > 0) {
      if (this.firstBuf.length < n * F) this.firstBuf = new Float32Array(n * F);
      for (let f = 0; f < F; f++) this.firstOrder[f]!.lookup(this.column(batch, f), this.firstBuf, n, f, F);
    }
    const W = this.denseWidth;
    if (W > 0) {
      if (this.denseBuf.length < n * W) this.denseBuf = new Float32Array(n * W);
      const D = this.schema.numDense;
      const dense = batch.dense;
      if (D > 0 && dense) {
        for (let s = 0; s < n; s++) for (let j = 0; j < D; j++) this.denseBuf[s * W + j] = dense[s * D + j]!;
      }
      let col = D;
      for (const b of this.blocks) {
        if (this.blockBuf.length < n * b.width) this.blockBuf = new Float32Array(n * b.width);
        b.forward(batch, this.blockBuf, training);
        for (let s = 0; s < n; s++)
          for (let j = 0; j < b.width; j++) this.denseBuf[s * W + col + j] = this.blockBuf[s * b.width + j]!;
        col += b.width;
      }
    }
  }

  private inputTensors(n: number): { emb: tfjs.Tensor | null; first: tfjs.Tensor | null; dense: tfjs.Tensor | null } {
    const tf = this.tf;
    const F = this.numFields;
    const d = this.options.dim;
    const W = this.denseWidth;
    return {
      emb: this.fields.length > 0 ? tf.tensor3d(this.embBuf.subarray(0, n * F * d), [n, F, d]) : null,
      first: this.firstOrder.length > 0 ? tf.tensor2d(this.firstBuf.subarray(0, n * F), [n, F]) : null,
      dense: W > 0 ? tf.tensor2d(this.denseBuf.subarray(0, n * W), [n, W]) : null,
    };
  }

  private mark(key: string, t0: number): void {
    if (this.profile) this.profile.set(key, (this.profile.get(key) ?? 0) + performance.now() - t0);
  }

  /** The fast step's tower engine (see {@link TowerEngine}; decided with the step path), or null on the generic step. */
  get towerEngine(): TowerEngine | null {
    return this.fastStep()?.tower.engine ?? null;
  }

  /** The training step this model uses (decided at its first step; see {@link CtrStepPath}). */
  get stepPath(): CtrStepPath {
    return this.fastStep() ? 'fast' : 'generic';
  }

  private fastStep(): FastStep | null {
    if (this.fast !== undefined) return this.fast;
    const spec = this.net.tower;
    const ok =
      spec !== undefined &&
      process.env.COMPACTREC_CTR_STEP !== 'generic' &&
      !(this.options.dropout > 0) &&
      NativeTower.supported(this.tf);
    if (!ok) {
      this.fast = null;
      return null;
    }
    const adam = new DenseAdam(
      this.net.params.specs.map((p) => p.init.length),
      this.options.lr,
      0.9,
      0.999,
      1e-8,
    );
    const layers = spec.layers.map(([w, b], i) => ({
      w: this.variables[w]!,
      b: this.variables[b]!,
      relu: i + 1 < spec.layers.length,
      slots: [w, b] as const,
    }));
    const tower = new NativeTower(this.tf, layers, adam);
    this.fast = {
      tower,
      adam,
      x: new Float32Array(0),
      gx: new Float32Array(0),
      z: new Float32Array(0),
      dz: new Float32Array(0),
      sum: new Float32Array(this.options.dim),
    };
    return this.fast;
  }

  /**
   * The fast step (see {@link NativeTower}): the tower's forward and backward on libtensorflow,
   * the loss, the DeepFM bias / first-order / FM terms and their gradients on typed arrays, Adam on
   * typed arrays, then the same sparse scatter and block updates as the generic step. Same math
   * as the generic step (checked against it on the cpu backend by the tests).
   */
  private trainStepFast(batch: CtrBatch, fast: FastStep): number {
    const n = batch.size;
    const F = this.numFields;
    const d = this.options.dim;
    const W = this.denseWidth;
    const E = F * d;
    const inW = E + W;
    const spec = this.net.tower!;
    fast.tower.profile = this.profile;
    let tp = performance.now();
    this.gatherInputs(batch, true);
    this.mark('gather', tp);
    tp = performance.now();
    if (fast.z.length < n) {
      fast.z = new Float32Array(n);
      fast.dz = new Float32Array(n);
    }
    if (fast.gx.length < n * inW) fast.gx = new Float32Array(n * inW);
    let x: Float32Array = this.embBuf;
    if (W > 0) {
      if (fast.x.length < n * inW) fast.x = fast.tower.inputBuffer(n * inW);
      x = fast.x;
      for (let s = 0; s < n; s++) {
        x.set(this.embBuf.subarray(s * E, (s + 1) * E), s * inW);
        x.set(this.denseBuf.subarray(s * W, (s + 1) * W), s * inW + E);
      }
    }
    this.mark('loss', tp);
    const z = fast.tower.forward(x, n, fast.z, true);
    tp = performance.now();
    const emb = this.embBuf;
    const first = this.firstBuf;
    const sum = fast.sum;
    let biasVar: tfjs.Variable | null = null;
    let biasValue: Float32Array | null = null;
    if (spec.bias !== null) {
      biasVar = this.variables[spec.bias]!;
      biasValue = biasVar.dataSync() as Float32Array;
    }
    const b0 = biasValue ? biasValue[0]! : 0;
    for (let s = 0; s < n; s++) {
      let zs = z[s]! + b0;
      if (spec.firstOrder) for (let f = 0; f < F; f++) zs += first[s * F + f]!;
      if (spec.fm) {
        // ½ Σ_c [(Σ_f e)² − Σ_f e²]
        sum.fill(0);
        let sq = 0;
        for (let f = 0; f < F; f++) {
          const o = (s * F + f) * d;
          for (let c = 0; c < d; c++) {
            const e = emb[o + c]!;
            sum[c]! += e;
            sq += e * e;
          }
        }
        let ss = 0;
        for (let c = 0; c < d; c++) ss += sum[c]! * sum[c]!;
        zs += 0.5 * (ss - sq);
      }
      z[s] = zs;
    }
    // Mean sigmoid cross-entropy (tfjs's stable form) and its gradient (σ(z) − y) / n.
    const y = batch.labels;
    const dz = fast.dz;
    let lossSum = 0;
    for (let s = 0; s < n; s++) {
      const zs = z[s]!;
      const ys = y[s]!;
      lossSum += Math.max(zs, 0) - zs * ys + Math.log1p(Math.exp(-Math.abs(zs)));
      dz[s] = (1 / (1 + Math.exp(-zs)) - ys) / n;
    }
    const gx = fast.gx;
    this.mark('loss', tp);
    fast.tower.backward(dz, gx);
    tp = performance.now();
    if (biasVar && biasValue) {
      let g = 0;
      for (let s = 0; s < n; s++) g += dz[s]!;
      fast.adam.update(spec.bias!, biasValue, Float32Array.of(g));
      const next = this.tf.tensor(biasValue, biasVar.shape);
      biasVar.assign(next);
      next.dispose();
    }
    fast.adam.advance();
    this.mark('adam', tp);
    tp = performance.now();
    // ∂loss/∂embeddings: the tower's input gradient (+ the FM term's g·(Σ_f e − e_f)).
    let gEmb = gx;
    if (W > 0) {
      if (this.gradBuf.length < n * E) this.gradBuf = new Float32Array(n * E);
      gEmb = this.gradBuf;
      for (let s = 0; s < n; s++) gEmb.set(gx.subarray(s * inW, s * inW + E), s * E);
    }
    if (spec.fm) {
      for (let s = 0; s < n; s++) {
        sum.fill(0);
        for (let f = 0; f < F; f++) {
          const o = (s * F + f) * d;
          for (let c = 0; c < d; c++) sum[c]! += emb[o + c]!;
        }
        const g = dz[s]!;
        for (let f = 0; f < F; f++) {
          const o = (s * F + f) * d;
          for (let c = 0; c < d; c++) gEmb[o + c]! += g * (sum[c]! - emb[o + c]!);
        }
      }
    }
    this.mark('loss', tp);
    tp = performance.now();
    for (let f = 0; f < F; f++) {
      const e = this.fields[f]!;
      e.backward(this.column(batch, f), gEmb, f * d, E);
      e.step();
    }
    if (spec.firstOrder) {
      if (this.firstGradBuf.length < n * F) this.firstGradBuf = new Float32Array(n * F);
      const gFirst = this.firstGradBuf;
      for (let s = 0; s < n; s++) gFirst.fill(dz[s]!, s * F, (s + 1) * F);
      for (let f = 0; f < F; f++) {
        const e = this.firstOrder[f]!;
        e.backward(this.column(batch, f), gFirst, f, F);
        e.step();
      }
    }
    if (this.blocks.length > 0) {
      let col = this.schema.numDense;
      for (const b of this.blocks) {
        if (this.blockBuf.length < n * b.width) this.blockBuf = new Float32Array(n * b.width);
        for (let s = 0; s < n; s++)
          for (let j = 0; j < b.width; j++) this.blockBuf[s * b.width + j] = gx[s * inW + E + col + j]!;
        b.backward(batch, this.blockBuf.subarray(0, n * b.width));
        col += b.width;
      }
    }
    this.mark('scatter', tp);
    this.steps++;
    return lossSum / n;
  }

  /**
   * One training step on a batch: forward, gradients of the mean log loss w.r.t. the dense weights
   * and every input, dense Adam, sparse scatter + row updates, block updates. Returns the batch
   * loss. On the native backend, tower networks take the fast step ({@link CtrStepPath}); every
   * other case the generic step: the gradients in one tfjs call and `tf.train.adam`.
   */
  trainStep(batch: CtrBatch): number {
    this.checkUsable('trainStep');
    this.checkBatch(batch, 'ctr/CtrModel.trainStep');
    const fast = this.fastStep();
    if (fast) return this.trainStepFast(batch, fast);
    const tf = this.tf;
    const n = batch.size;
    const F = this.numFields;
    let tp = performance.now();
    this.gatherInputs(batch, true);
    this.mark('gather', tp);
    tp = performance.now();
    const blocksNeedGrad = this.blocks.length > 0;
    const seed = deriveSeed(this.options.seed, `step/${this.steps}`) & 0x3fffffff;
    const out = tf.tidy(() => {
      const x = this.inputTensors(n);
      const labels = tf.tensor1d(batch.labels.subarray(0, n));
      const inputs: tfjs.Tensor[] = [];
      if (x.emb) inputs.push(x.emb);
      if (x.first) inputs.push(x.first);
      if (x.dense && blocksNeedGrad) inputs.push(x.dense);
      const nIn = inputs.length;
      const lossFn = (...args: tfjs.Tensor[]): tfjs.Scalar => {
        let i = 0;
        const emb = x.emb ? args[i++]! : null;
        const first = x.first ? args[i++]! : null;
        const dense = x.dense && blocksNeedGrad ? args[i++]! : x.dense;
        const logits = this.net.forward(tf, { emb, first, dense }, args.slice(nIn), true, seed);
        return tf.losses.sigmoidCrossEntropy(labels, logits) as tfjs.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(lossFn)([...inputs, ...this.variables]);
      this.mark('tf forward+backward', tp);
      tp = performance.now();
      const named: Record<string, tfjs.Tensor> = {};
      this.variables.forEach((v, i) => {
        named[v.name] = grads[nIn + i]!;
      });
      this.optimizer.applyGradients(named);
      this.mark('tf adam', tp);
      tp = performance.now();
      return [value, ...grads.slice(0, nIn)];
    });
    const loss = out[0]!.dataSync()[0]!;
    let k = 1;
    const gEmb = this.fields.length > 0 ? (out[k++]!.dataSync() as Float32Array) : null;
    const gFirst = this.firstOrder.length > 0 ? (out[k++]!.dataSync() as Float32Array) : null;
    const gDense = blocksNeedGrad ? (out[k++]!.dataSync() as Float32Array) : null;
    for (const t of out) t.dispose();
    this.mark('readback', tp);
    tp = performance.now();
    const d = this.options.dim;
    if (gEmb) {
      for (let f = 0; f < F; f++) {
        const e = this.fields[f]!;
        e.backward(this.column(batch, f), gEmb, f * d, F * d);
        e.step();
      }
    }
    if (gFirst) {
      for (let f = 0; f < F; f++) {
        const e = this.firstOrder[f]!;
        e.backward(this.column(batch, f), gFirst, f, F);
        e.step();
      }
    }
    if (gDense) {
      const W = this.denseWidth;
      let col = this.schema.numDense;
      for (const b of this.blocks) {
        if (this.blockBuf.length < n * b.width) this.blockBuf = new Float32Array(n * b.width);
        for (let s = 0; s < n; s++)
          for (let j = 0; j < b.width; j++) this.blockBuf[s * b.width + j] = gDense[s * W + col + j]!;
        b.backward(batch, this.blockBuf.subarray(0, n * b.width));
        col += b.width;
      }
    }
    this.mark('scatter', tp);
    this.steps++;
    return loss;
  }

  /** Logits of a batch (no training state changes). */
  predictLogits(batch: CtrBatch, out = new Float32Array(batch.size)): Float32Array {
    this.checkUsable('predictLogits');
    this.checkBatch(batch, 'ctr/CtrModel.predictLogits');
    const tf = this.tf;
    const n = batch.size;
    this.gatherInputs(batch, false);
    const t = tf.tidy(() => this.net.forward(tf, this.inputTensors(n), this.variables, false, 0));
    out.set(t.dataSync() as Float32Array);
    t.dispose();
    return out;
  }

  /** Click probabilities σ(logit) of a batch. */
  predict(batch: CtrBatch, out = new Float32Array(batch.size)): Float32Array {
    this.predictLogits(batch, out);
    for (let i = 0; i < batch.size; i++) out[i] = 1 / (1 + Math.exp(-out[i]!));
    return out;
  }

  /** Dense parameter values in the network's order (copies). */
  paramValues(): Float32Array[] {
    return this.variables.map((v) => (v.dataSync() as Float32Array).slice());
  }

  /** Copies every trainable value (for keeping the best epoch). */
  captureState(): CtrModelState {
    const learnable = (m: IdMapper): Float32Array | null =>
      m.learnableWeights && m.weights ? m.weights.slice() : null;
    return {
      tables: this.fields.map(captureStorage),
      firstOrder: this.firstOrder.map(captureStorage),
      weights: this.mappers.map(learnable),
      params: this.paramValues(),
      blocks: this.blocks.map((b) => (b.captureState ? b.captureState() : null)),
    };
  }

  /** Restores values captured by {@link captureState} (optimizer moments are kept as they are). */
  restoreState(s: CtrModelState): void {
    this.checkUsable('restoreState');
    for (let f = 0; f < this.fields.length; f++) restoreStorage(this.fields[f]!, s.tables[f] ?? null);
    for (let f = 0; f < this.firstOrder.length; f++) restoreStorage(this.firstOrder[f]!, s.firstOrder[f] ?? null);
    this.mappers.forEach((m, f) => {
      const w = s.weights[f];
      if (w && m.weights) m.weights.set(w);
    });
    for (let i = 0; i < this.variables.length; i++) {
      const v = this.variables[i]!;
      const t = this.tf.tensor(s.params[i]!, v.shape);
      v.assign(t);
      t.dispose();
    }
    this.blocks.forEach((b, i) => {
      const bs = s.blocks?.[i];
      if (b.restoreState && bs !== undefined && bs !== null) b.restoreState(bs);
    });
  }

  /** Bytes by kind (see {@link CtrMemory}), from what the storages and mappers allocated. */
  memory(): CtrMemory {
    const budgeted = this.fields.length > 0 ? this.fields : this.firstOrder;
    const extraFirst = this.fields.length > 0 ? this.firstOrder : [];
    let rows = 0;
    let emb = 0;
    let full = 0;
    let budget = 0;
    let mapping = 0;
    let opt = 0;
    let training = 0;
    let first = 0;
    budgeted.forEach((e, f) => {
      const bytes = fullTableBytes(this.schema.cardinalities[f]!, e.dim);
      rows += e.mapper.rows;
      mapping += e.mappingBytes;
      emb += e.embeddingBytes;
      full += bytes;
      budget += isCompressedField(this.schema, this.options, f) ? Math.floor(this.options.budget * bytes) : bytes;
    });
    for (const e of [...this.fields, ...this.firstOrder]) {
      opt += e.optimizerBytes;
      training += e.trainingBytes;
    }
    for (const e of extraFirst) first += e.embeddingBytes;
    const denseParams = this.net.params.size;
    return {
      rows,
      embeddingBytes: emb,
      firstOrderBytes: first,
      fullEmbeddingBytes: full,
      budgetBytes: budget,
      mappingBytes: mapping,
      optimizerBytes: opt + 2 * 4 * denseParams,
      trainingBytes: training + (this.fast ? this.fast.tower.heldBytes : 0),
      denseParams,
    };
  }

  /** Turns every table into its serving form (quantizes float masters, frees optimizer and training copies); idempotent. */
  finishTraining(): void {
    for (const e of [...this.fields, ...this.firstOrder]) e.finishTraining();
    if (this.fast) this.fast.tower.releaseCopies();
  }

  private checkUsable(what: string): void {
    if (this.disposed) throw new InvalidArgumentError(`ctr/CtrModel.${what}: the model was disposed`);
  }

  /** Frees the tfjs variables and optimizer state. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.fast?.tower.close();
    for (const v of this.variables) v.dispose();
    this.optimizer.dispose();
  }
}

/** Inputs of {@link createCtrModel} besides the options. */
export interface CreateCtrModelInputs {
  /** Training counts per field; needed by frequency-based methods. */
  readonly counts?: FieldCounts;
  /** Per field, the graph a graph method fits on (see `fieldGraphs`); needed by graph methods. */
  readonly graphs?: readonly (FieldGraph | null)[];
  /** Extra input blocks (e.g. a sequence module). */
  readonly blocks?: readonly CtrInputBlock[];
}

/** The field-embedding plan of resolved model options (what {@link createCtrModel} builds tables from). */
export function fieldEmbeddingPlan(o: ResolvedCtrModelOptions, inputs: CreateCtrModelInputs = {}): FieldEmbeddingPlan {
  return {
    method: o.method,
    budget: o.budget,
    dim: o.dim,
    seed: o.seed,
    keepFullBelow: o.keepFullBelow,
    extra: o.extra,
    storageExtra: o.storageExtra,
    quantize: o.quantize,
    totalSteps: o.totalSteps,
    initStd: o.initStd,
    optimizer: { lr: o.embeddingLr, weightDecay: o.embeddingL2 },
    ...(inputs.counts ? { counts: inputs.counts } : {}),
    ...(inputs.graphs ? { graphs: inputs.graphs } : {}),
  };
}

/**
 * Builds a fresh CTR model for a schema: one field embedding per field with `options.method` at
 * the per-table budget (see `createFieldEmbeddings`), initialised with the dense network from the seed.
 */
export function createCtrModel(
  tf: Tf,
  schema: CtrSchema,
  options: CtrModelOptions = {},
  inputs: CreateCtrModelInputs = {},
): CtrModel {
  const o = resolveCtrModelOptions(options);
  return new CtrModel(tf, schema, o, {
    plan: fieldEmbeddingPlan(o, inputs),
    ...(inputs.blocks ? { blocks: inputs.blocks } : {}),
  });
}
