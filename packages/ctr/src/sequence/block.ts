import {
  createSparseOptimizer,
  deriveSeed,
  EmbeddingTable,
  fullTableBytes,
  InvalidArgumentError,
  type OptimizerKind,
  type QuantizeMode,
  Rng,
  SparseGradAccumulator,
  type SparseOptimizer,
  UsageError,
} from '@compactrec/core';
import { createFeatureEmbedding, type FeatureEmbedding, resolveMethod } from '@compactrec/embedding';
import {
  type AttentionNormalization,
  DenseAdam,
  DinAttention,
  encodeBse,
  readInterest,
  SdimLayer,
  type SdimPooling,
  SimHasher,
} from '@compactrec/sdim';
import type { CtrInputBlock } from '../block.js';
import { checkInt, checkNumber } from '../internal/check.js';
import { captureStorage, restoreStorage } from '../internal/embedding-state.js';
import type { CtrBatch } from '../schema.js';
import { SEQUENCE_MODEL_KINDS, type SequenceModelKind } from './kinds.js';
import { SharedDinScorer } from './shared-attention.js';

/**
 * Names of the `batch.extras` arrays a sequence source provides and {@link SequenceInterestBlock}
 * reads: `candidates` `[B]` (1-based item ids), `histories` `[B × maxLength]` (1-based item ids,
 * oldest first, 0 = padding after `lengths[b]`), `lengths` `[B]`, and, when the behaviours carry
 * feedback, `feedback` `[B × maxLength]` (feedback ids 1 .. numFeedback aligned with `histories`).
 * Serving only: `longInterest` `[B × dim]` (Float32Array), the long-term interest already read from the
 * user's precomputed state (SDIM: sdim's `readInterest` over a BSE state); the block then skips its
 * long-term module and reads `histories` for the short-term module alone (evaluation forwards only).
 * Serving one user: `userHistory` `[len]` (Int32Array, item ids oldest first, len ≤ maxLength) replaces
 * `histories`/`lengths`: every row has that history, so the block computes behaviour-side work once and
 * scores the candidates against it (`SharedDinScorer`); `userFeedback` `[len]` goes with it when the
 * behaviours carry feedback. Equal to the per-row path with each row = the user's history.
 */
export const SEQUENCE_EXTRAS = Object.freeze({
  candidates: 'candidates',
  histories: 'histories',
  lengths: 'lengths',
  feedback: 'feedback',
  longInterest: 'longInterest',
  userHistory: 'userHistory',
  userFeedback: 'userFeedback',
} as const);

/** How a behaviour's position in the history enters its value vector (see `SequenceInterestBlockOptions.behaviourAge`). */
export type BehaviourAge = 'none' | 'log2';

/** Options of {@link SequenceInterestBlock}; `kind`, `numItems` and `maxLength` are required. */
export interface SequenceInterestBlockOptions {
  /** Which long-term module (see {@link SequenceModelKind}). */
  kind: SequenceModelKind;
  /** Items; ids run 1 .. numItems (row 0 of the table is padding). */
  numItems: number;
  /** L, the width of the `histories` rows. */
  maxLength: number;
  /** Item embedding dimension. @default 16 */
  dim?: number;
  /** The short-term module attends over the last this many behaviours. @default 16 */
  shortLength?: number;
  /** SDIM: m, SimHash functions. @default 48 */
  numHashes?: number;
  /** SDIM: τ, bits per signature. @default 3 */
  bitsPerSignature?: number;
  /**
   * SDIM: a bucket's interest is its ℓ2-normalised sum (the paper's `'l2'`), its mean (`'mean'`) or its
   * sum (see `SdimPooling`). The mean keeps the embeddings' scale, like the other modules' outputs, and
   * validated better on ml100k (seed 0: 0.8028 vs 0.7988 with ℓ2); ℓ2 validated better on seq-synthetic
   * (0.8407 vs 0.8153), so the default stays the paper's. @default 'l2'
   */
  sdimPooling?: SdimPooling;
  /** DIN attention MLP width (short and long). @default 36 */
  attentionHidden?: number;
  /** DIN pooling weights (short and long): DIN's raw scores or a softmax over the valid positions. @default 'none' */
  attentionNormalization?: AttentionNormalization;
  /** Learning rate of the item rows and the attention weights. @default 0.001 */
  lr?: number;
  /** Row optimizer of the item table (lazy). @default 'adam' */
  sparseOptimizer?: OptimizerKind;
  /** Std of the item embeddings at init. @default 0.01 */
  initStd?: number;
  /**
   * Behaviour feedback ids run 1 .. numFeedback (`batch.extras.feedback`); 0 = behaviours carry none.
   * With feedback, a behaviour's value vector = item embedding + a learned feedback embedding: every
   * module pools values, while SDIM's hashes and DIN's attention keys stay the item embedding (the
   * candidate has no feedback). @default 0
   */
  numFeedback?: number;
  /**
   * Behaviour age as a side feature: `'log2'` adds a learned embedding of ⌊log2(age + 1)⌋ to each
   * behaviour's value vector, where age = how many behaviours came after it in the history (0 = the
   * most recent); `'none'` leaves positions unused. Like feedback it enters the pooled values only, never
   * SDIM's hashes or DIN's keys. @default 'none'
   */
  behaviourAge?: BehaviourAge;
  /**
   * Training-time (inverted) dropout rate on the long-term interest vector, a regulariser of the long
   * module (no effect on din-short). @default 0
   */
  interestDropout?: number;
  /**
   * Scale of the gradient the long-term module passes back to the item (and feedback) rows: 1 = plain
   * backprop, < 1 = a smaller learning rate for the long path (the candidate and the short-term
   * module train the shared rows at full rate); 0 = the long path only reads them. @default 1
   */
  longGradientScale?: number;
  /** Evaluation forwards run in chunks of this many samples (bounds the `[chunk × L × dim]` buffers). @default 512 */
  evalChunk?: number;
  /** Seed of the table init, the hash projections and the attention init. @default 0 */
  seed?: number;
  /**
   * Initial item table `[(numItems + 1) × dim]` (e.g. seq-synthetic's planted embeddings), copied;
   * row 0 is zeroed. Unset = N(0, initStd²). Only with an uncompressed `itemMethod`. @default undefined
   */
  initialTable?: Float32Array;
  /**
   * Embedding method of the item table (a name `@compactrec/embedding`'s `resolveMethod` accepts,
   * e.g. `double-frequency+int8`); the table is built through the embedding contract. @default 'full'
   */
  itemMethod?: string;
  /** Fraction of the full float32 item table's bytes the item table may take (ignored by `full`). @default 1 */
  itemBudget?: number;
  /** Training frequency of each item id (length numItems + 1), for frequency methods. @default undefined */
  itemCounts?: Uint32Array;
  /** Low-precision item tables: quantize `after` training or `during` it. @default 'after' */
  quantize?: QuantizeMode;
  /** Optimizer steps of the whole run (DSL's schedule); 0 = unknown. @default 0 */
  totalSteps?: number;
  /** Settings of the item table's sharing method (its mapper's `extra`). @default undefined */
  itemExtra?: Readonly<Record<string, number | string | boolean>>;
  /** Settings of the item table's storage kind (e.g. `{ dslTraining: 'sparse' }`). @default undefined */
  itemStorageExtra?: Readonly<Record<string, number | string | boolean>>;
  /**
   * An item embedding built already (e.g. restored from a model directory, in served form) used as
   * the item table instead of building one from `itemMethod`; it must have `dim` values per row and
   * map ids 0 .. numItems. @default undefined
   */
  items?: FeatureEmbedding;
}

/** Defaults of {@link SequenceInterestBlockOptions}. */
export const DEFAULT_SEQUENCE_INTEREST_BLOCK_OPTIONS = Object.freeze({
  dim: 16,
  shortLength: 16,
  numHashes: 48,
  bitsPerSignature: 3,
  sdimPooling: 'l2' as SdimPooling,
  attentionHidden: 36,
  attentionNormalization: 'none' as AttentionNormalization,
  lr: 0.001,
  sparseOptimizer: 'adam' as OptimizerKind,
  initStd: 0.01,
  numFeedback: 0,
  behaviourAge: 'none' as BehaviourAge,
  interestDropout: 0,
  longGradientScale: 1,
  evalChunk: 512,
  seed: 0,
  itemMethod: 'full',
  itemBudget: 1,
  quantize: 'after' as QuantizeMode,
  totalSteps: 0,
});

type Resolved = Required<
  Omit<SequenceInterestBlockOptions, 'initialTable' | 'itemCounts' | 'itemExtra' | 'itemStorageExtra' | 'items'>
>;

/** What {@link SequenceInterestBlock.captureState} copies. */
interface BlockState {
  readonly items: Float32Array[] | null;
  readonly itemWeights: Float32Array | null;
  readonly feedback: Float32Array | null;
  readonly age: Float32Array | null;
  readonly dense: readonly Float32Array[];
}

/**
 * The sequence part of a CTR model as a {@link CtrInputBlock}: one item embedding table shared by
 * the candidate and the behaviours, and the interest modules over the batch's history. Its
 * features are `[candidate (dim), long-term interest (dim, absent for din-short), short-term
 * interest (dim)]`; the model's MLP sees them next to the other fields' embeddings.
 *
 * Backward takes ∂loss/∂features, runs the layers' backward (SDIM: behaviours only — its hashes
 * select buckets and pass no gradient to the candidate; DIN: keys, query and its MLP; avgpool:
 * 1/len per behaviour) and sums every gradient that lands on an item id — as candidate, long-term
 * or short-term behaviour — into one sparse row gradient per item, applied by a lazy row optimizer;
 * the attention MLPs get a dense Adam. Padding positions are never read and never get a gradient.
 * With behaviour feedback (`numFeedback` > 0) the pooled value of a behaviour is item + feedback
 * embedding; its gradient reaches both rows (the feedback table has its own lazy row optimizer).
 */
export class SequenceInterestBlock implements CtrInputBlock {
  readonly name: string;
  readonly width: number;
  readonly kind: SequenceModelKind;
  readonly dim: number;
  readonly maxLength: number;
  readonly shortLength: number;
  readonly numItems: number;
  /**
   * The item table: ids 0 .. numItems (0 is padding, never read nor updated), built through the
   * embedding contract with `itemMethod`; its storage owns the lazy row optimizer.
   */
  readonly items: FeatureEmbedding;
  readonly options: Readonly<Resolved>;
  /** `[(numFeedback + 1) × dim]` feedback embeddings (row 0 unused), or null without feedback. */
  readonly feedbackTable: EmbeddingTable | null;
  private readonly acc: SparseGradAccumulator;
  /** Per item id, its slot in {@link rowsT} during a forward (−1 otherwise). */
  private readonly slotOf: Int32Array;
  private uniq = new Int32Array(0);
  private rowsT = new Float32Array(0);
  private stepRows = new Float32Array(0);
  private readonly fbOptimizer: SparseOptimizer | null;
  private readonly fbAcc: SparseGradAccumulator | null;
  /** `[ageBuckets × dim]` behaviour-age embeddings, or null (see `behaviourAge`). */
  readonly ageTable: EmbeddingTable | null;
  private readonly ageOptimizer: SparseOptimizer | null;
  private readonly ageAcc: SparseGradAccumulator | null;
  /** `[maxLength]` age → age bucket. */
  private readonly ageBucket: Int32Array;
  private readonly hasValues: boolean;
  private readonly dropRng: Rng;
  private dropped = false;
  private readonly sdim: SdimLayer | null;
  private readonly dinLong: DinAttention | null;
  private readonly dinShort: DinAttention;
  private readonly dense: DenseAdam;
  private readonly denseParams: Float32Array[];
  private readonly denseGrads: Float32Array[];
  private readonly hasLong: boolean;
  // Batch buffers (grown on demand, reused).
  private cap = 0;
  private cand = new Float32Array(0);
  private beh = new Float32Array(0);
  private shortBeh = new Float32Array(0);
  private shortLens = new Int32Array(0);
  private longOut = new Float32Array(0);
  private shortOut = new Float32Array(0);
  private gCand = new Float32Array(0);
  private gq = new Float32Array(0);
  private gLong = new Float32Array(0);
  private gShort = new Float32Array(0);
  private gBeh = new Float32Array(0);
  private gShortBeh = new Float32Array(0);
  private val = new Float32Array(0);
  private shortVal = new Float32Array(0);
  private gVal = new Float32Array(0);
  private gShortVal = new Float32Array(0);
  private dropMask = new Float32Array(0);
  private trainedRows = -1;
  /** Serving buffers of {@link runShared}. */
  private readonly shared = {
    scorer: new SharedDinScorer(),
    cand: new Float32Array(0),
    longOut: new Float32Array(0),
    shortOut: new Float32Array(0),
    keys: new Float32Array(0),
    vals: new Float32Array(0),
    shortVals: new Float32Array(0),
  };

  constructor(options: SequenceInterestBlockOptions) {
    const where = 'ctr/SequenceInterestBlock';
    const o = { ...DEFAULT_SEQUENCE_INTEREST_BLOCK_OPTIONS } as Resolved;
    // Arrays and built objects stay out of `this.options` (it is saved to config.json).
    const {
      initialTable,
      items: givenItems,
      itemCounts: _itemCounts,
      ...rest
    } = options ?? ({} as SequenceInterestBlockOptions);
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
    if (!SEQUENCE_MODEL_KINDS.includes(o.kind)) {
      throw new InvalidArgumentError(
        `${where}: kind '${String(o.kind)}' is unknown; use one of ${SEQUENCE_MODEL_KINDS.join(', ')}`,
      );
    }
    checkInt(where, 'numItems', o.numItems, 1);
    checkInt(where, 'maxLength', o.maxLength, 1);
    checkInt(where, 'dim', o.dim, 1, 4096);
    checkInt(where, 'shortLength', o.shortLength, 1);
    checkInt(where, 'attentionHidden', o.attentionHidden, 1);
    checkInt(where, 'evalChunk', o.evalChunk, 1);
    checkInt(where, 'numFeedback', o.numFeedback, 0);
    checkNumber(where, 'interestDropout', o.interestDropout, 0, 0.95);
    checkNumber(where, 'longGradientScale', o.longGradientScale, 0, 1);
    checkNumber(where, 'lr', o.lr, 0, 10, true);
    checkNumber(where, 'initStd', o.initStd, 0, 10, true);
    checkNumber(where, 'itemBudget', o.itemBudget, 0, 1, true);
    checkInt(where, 'totalSteps', o.totalSteps, 0);
    this.options = Object.freeze(o);
    this.kind = o.kind;
    this.name = `sequence/${o.kind}`;
    this.dim = o.dim;
    this.maxLength = o.maxLength;
    this.shortLength = Math.min(o.shortLength, o.maxLength);
    this.numItems = o.numItems;
    this.hasLong = o.kind !== 'din-short';
    this.width = (this.hasLong ? 3 : 2) * o.dim;
    if (o.sparseOptimizer !== 'adam') {
      throw new InvalidArgumentError(
        `${where}: sparseOptimizer '${String(o.sparseOptimizer)}' is not available for the item table; its storage trains with lazy Adam ('adam')`,
      );
    }
    const itemMethod = resolveMethod(o.itemMethod);
    const numIds = o.numItems + 1;
    const { itemCounts, itemExtra, itemStorageExtra } = options;
    if (itemCounts !== undefined && itemCounts.length !== numIds) {
      throw new InvalidArgumentError(
        `${where}: itemCounts has ${itemCounts.length} entries; need numItems + 1 = ${numIds}`,
      );
    }
    if (itemMethod.sharing.requires.includes('interactions')) {
      throw new InvalidArgumentError(
        `${where}: itemMethod '${o.itemMethod}' needs a user–item graph, which the item table is not fitted on; use a counts-based or hashing method`,
      );
    }
    if (itemMethod.sharing.requires.includes('counts') && itemCounts === undefined && givenItems === undefined) {
      throw new InvalidArgumentError(
        `${where}: itemMethod '${o.itemMethod}' needs itemCounts (see sequenceItemCounts)`,
      );
    }
    if (givenItems !== undefined) {
      if (givenItems.dim !== o.dim || givenItems.mapper.numIds < numIds) {
        throw new InvalidArgumentError(
          `${where}: the given item embedding has dim ${givenItems.dim} and ${givenItems.mapper.numIds} ids; the block needs dim ${o.dim} and numItems + 1 = ${numIds} ids`,
        );
      }
      this.items = givenItems;
    } else {
      this.items = createFeatureEmbedding(
        itemMethod,
        { numIds, ...(itemCounts ? { counts: itemCounts } : {}) },
        {
          dim: o.dim,
          budgetBytes: Math.floor(o.itemBudget * fullTableBytes(numIds, o.dim)),
          seed: deriveSeed(o.seed, 'items'),
          initStd: o.initStd,
          totalSteps: o.totalSteps,
          quantize: o.quantize,
          optimizer: { lr: o.lr },
          ...(itemExtra ? { extra: itemExtra } : {}),
          ...(itemStorageExtra ? { storageExtra: itemStorageExtra } : {}),
        },
      );
    }
    if (initialTable !== undefined) {
      if (!(initialTable instanceof Float32Array) || initialTable.length !== (o.numItems + 1) * o.dim) {
        throw new InvalidArgumentError(
          `${where}: initialTable has ${initialTable?.length} values; need (numItems + 1) × dim = ${(o.numItems + 1) * o.dim} (is the data's embedding dim the model's dim?)`,
        );
      }
      const view = this.items.storage.trainingView();
      if (!itemMethod.uncompressed || view === null) {
        throw new InvalidArgumentError(
          `${where}: initialTable needs an uncompressed item table (itemMethod 'full'), not '${o.itemMethod}'`,
        );
      }
      view.values.set(initialTable);
    }
    const padding = this.items.storage.trainingView();
    if (itemMethod.uncompressed && padding !== null) padding.values.fill(0, 0, o.dim);
    this.slotOf = new Int32Array(numIds).fill(-1);
    this.acc = new SparseGradAccumulator(o.numItems + 1, o.dim, o.numItems + 1);
    if (o.numFeedback > 0) {
      const F = o.numFeedback + 1;
      this.feedbackTable = EmbeddingTable.normal(F, o.dim, o.initStd, new Rng(deriveSeed(o.seed, 'feedback')));
      this.feedbackTable.data.fill(0, 0, o.dim);
      this.fbOptimizer = createSparseOptimizer(this.feedbackTable, { kind: o.sparseOptimizer, lr: o.lr });
      this.fbAcc = new SparseGradAccumulator(F, o.dim, F);
    } else {
      this.feedbackTable = null;
      this.fbOptimizer = null;
      this.fbAcc = null;
    }
    if (o.behaviourAge !== 'none' && o.behaviourAge !== 'log2') {
      throw new InvalidArgumentError(`${where}: behaviourAge ('${String(o.behaviourAge)}') must be 'none' or 'log2'`);
    }
    this.ageBucket = new Int32Array(o.maxLength);
    for (let a = 0; a < o.maxLength; a++) this.ageBucket[a] = Math.floor(Math.log2(a + 1));
    if (o.behaviourAge === 'log2') {
      const A = this.ageBucket[o.maxLength - 1]! + 1;
      this.ageTable = EmbeddingTable.normal(A, o.dim, o.initStd, new Rng(deriveSeed(o.seed, 'behaviour-age')));
      this.ageOptimizer = createSparseOptimizer(this.ageTable, { kind: o.sparseOptimizer, lr: o.lr });
      this.ageAcc = new SparseGradAccumulator(A, o.dim, A);
    } else {
      this.ageTable = null;
      this.ageOptimizer = null;
      this.ageAcc = null;
    }
    this.hasValues = this.feedbackTable !== null || this.ageTable !== null;
    this.dropRng = new Rng(deriveSeed(o.seed, 'interest-dropout'));
    this.sdim =
      o.kind === 'sdim'
        ? new SdimLayer(
            new SimHasher({
              dim: o.dim,
              numHashes: o.numHashes,
              bitsPerSignature: o.bitsPerSignature,
              seed: deriveSeed(o.seed, 'simhash') & 0x7fffffff,
            }),
            o.sdimPooling,
          )
        : null;
    const din = (label: string): DinAttention =>
      new DinAttention({
        dim: o.dim,
        hiddenUnits: o.attentionHidden,
        normalization: o.attentionNormalization,
        seed: deriveSeed(o.seed, label) & 0x7fffffff,
      });
    this.dinLong = o.kind === 'din' ? din('din-long') : null;
    this.dinShort = din('din-short');
    this.denseParams = [...(this.dinLong ? this.dinLong.params() : []), ...this.dinShort.params()];
    this.denseGrads = [...(this.dinLong ? this.dinLong.grads() : []), ...this.dinShort.grads()];
    this.dense = new DenseAdam(this.denseParams, { lr: o.lr });
  }

  /** Bytes of the item table (as allocated, served form once training finished) and of the feedback and age tables, if any. */
  get tableBytes(): number {
    return (
      this.items.embeddingBytes +
      (this.feedbackTable ? this.feedbackTable.bytes : 0) +
      (this.ageTable ? this.ageTable.bytes : 0)
    );
  }

  /** Bytes of the item table alone, as allocated (see `FeatureEmbedding.embeddingBytes`). */
  get itemTableBytes(): number {
    return this.items.embeddingBytes;
  }

  /** Bytes the item table may take: ⌊itemBudget × full⌋, or the full bytes for an uncompressed method. */
  get itemTableBudgetBytes(): number {
    const full = this.itemTableFullBytes;
    return resolveMethod(this.options.itemMethod).uncompressed ? full : Math.floor(this.options.itemBudget * full);
  }

  /** Bytes of a float32 item table with one row per id (numItems + 1 rows). */
  get itemTableFullBytes(): number {
    return fullTableBytes(this.numItems + 1, this.dim);
  }

  /** Bytes of the item table's mapper (frequency maps, per-id weights). */
  get mappingBytes(): number {
    return this.items.mappingBytes;
  }

  /** Bytes the item table holds only while training (float master, fake-quant rows, DSL masks). */
  get trainingBytes(): number {
    return this.items.trainingBytes;
  }

  /** Turns the item table into its serving form (quantizes, frees optimizer state); idempotent. */
  finishTraining(): void {
    this.items.finishTraining();
  }

  /** Scalars in the attention MLPs. */
  get attentionParams(): number {
    let n = 0;
    for (const p of this.denseParams) n += p.length;
    return n;
  }

  /** Bytes of optimizer state (item rows and attention weights). */
  get optimizerBytes(): number {
    return (
      this.items.optimizerBytes +
      this.dense.stateBytes +
      (this.fbOptimizer ? this.fbOptimizer.stateBytes : 0) +
      (this.ageOptimizer ? this.ageOptimizer.stateBytes : 0)
    );
  }

  private ensure(n: number): void {
    if (n <= this.cap) return;
    const { dim: d, maxLength: L, shortLength: S } = this;
    this.cap = n;
    this.cand = new Float32Array(n * d);
    this.beh = this.hasLong ? new Float32Array(n * L * d) : new Float32Array(0);
    this.shortBeh = new Float32Array(n * S * d);
    this.shortLens = new Int32Array(n);
    this.longOut = new Float32Array(n * d);
    this.shortOut = new Float32Array(n * d);
    this.gCand = new Float32Array(n * d);
    this.gq = new Float32Array(n * d);
    this.gLong = new Float32Array(n * d);
    this.gShort = new Float32Array(n * d);
    this.gBeh = this.hasLong ? new Float32Array(n * L * d) : new Float32Array(0);
    this.gShortBeh = new Float32Array(n * S * d);
    const fb = this.hasValues;
    this.val = fb && this.hasLong ? new Float32Array(n * L * d) : new Float32Array(0);
    this.gVal = fb && this.hasLong ? new Float32Array(n * L * d) : new Float32Array(0);
    this.shortVal = fb ? new Float32Array(n * S * d) : new Float32Array(0);
    this.gShortVal = fb ? new Float32Array(n * S * d) : new Float32Array(0);
    this.dropMask = this.hasLong ? new Float32Array(n * d) : new Float32Array(0);
  }

  private extras(
    batch: CtrBatch,
    where: string,
  ): { cands: Int32Array; hists: Int32Array; lens: Int32Array; fbs: Int32Array | null; longIn: Float32Array | null } {
    const e = batch.extras;
    const cands = e?.[SEQUENCE_EXTRAS.candidates];
    const hists = e?.[SEQUENCE_EXTRAS.histories];
    const lens = e?.[SEQUENCE_EXTRAS.lengths];
    const n = batch.size;
    if (
      !(cands instanceof Int32Array) ||
      !(hists instanceof Int32Array) ||
      !(lens instanceof Int32Array) ||
      cands.length < n ||
      lens.length < n ||
      hists.length < n * this.maxLength
    ) {
      throw new InvalidArgumentError(
        `${where}: batch.extras needs Int32Array candidates [${n}], histories [${n} × ${this.maxLength}] and lengths [${n}]; open the data with a sequence format (ml100k, seq-synthetic)`,
      );
    }
    let fbs: Int32Array | null = null;
    if (this.feedbackTable !== null) {
      const f = e?.[SEQUENCE_EXTRAS.feedback];
      if (!(f instanceof Int32Array) || f.length < n * this.maxLength) {
        throw new InvalidArgumentError(
          `${where}: the block has numFeedback ${this.options.numFeedback}, so batch.extras needs an Int32Array feedback [${n} × ${this.maxLength}]; open the data with behaviour feedback (or build the model with numFeedback 0)`,
        );
      }
      fbs = f;
    }
    const li = e?.[SEQUENCE_EXTRAS.longInterest];
    let longIn: Float32Array | null = null;
    if (li !== undefined) {
      if (!(li instanceof Float32Array) || li.length < n * this.dim || !this.hasLong) {
        throw new InvalidArgumentError(
          `${where}: batch.extras.longInterest must be a Float32Array [${n} × ${this.dim}] of a model with a long-term module (got ${li instanceof Float32Array ? li.length : typeof li} values, kind ${this.kind})`,
        );
      }
      longIn = li;
    }
    return { cands, hists, lens, fbs, longIn };
  }

  /** SDIM's SimHash (the one its BSE states must be built with), or null for the other kinds. */
  get hasher(): SimHasher | null {
    return this.sdim ? this.sdim.hasher : null;
  }

  /** Writes `[candidate, long-term, short-term]` features of the batch (see the class doc). */
  forward(batch: CtrBatch, out: Float32Array, training: boolean): void {
    const where = `ctr/SequenceInterestBlock(${this.kind}).forward`;
    if (batch.extras?.[SEQUENCE_EXTRAS.userHistory] !== undefined) {
      if (training)
        throw new InvalidArgumentError(`${where}: batch.extras.userHistory is for serving; training needs histories`);
      this.trainedRows = -1;
      this.runShared(batch, out, where);
      return;
    }
    const { cands, hists, lens, fbs, longIn } = this.extras(batch, where);
    const n = batch.size;
    const W = this.width;
    if (out.length < n * W) {
      throw new InvalidArgumentError(`${where}: out has ${out.length} values; need ${n} × ${W}`);
    }
    if (training) {
      if (longIn !== null) {
        throw new InvalidArgumentError(`${where}: batch.extras.longInterest is for serving; training needs histories`);
      }
      this.run(cands, hists, lens, fbs, n, out, where, true, null);
      this.trainedRows = n;
      return;
    }
    this.trainedRows = -1;
    const L = this.maxLength;
    const C = this.options.evalChunk;
    for (let s = 0; s < n; s += C) {
      const c = Math.min(C, n - s);
      this.run(
        cands.subarray(s, s + c),
        hists.subarray(s * L, (s + c) * L),
        lens.subarray(s, s + c),
        fbs ? fbs.subarray(s * L, (s + c) * L) : null,
        c,
        out.subarray(s * W, (s + c) * W),
        where,
        false,
        longIn ? longIn.subarray(s * this.dim, (s + c) * this.dim) : null,
      );
    }
  }

  private run(
    cands: Int32Array,
    hists: Int32Array,
    lens: Int32Array,
    fbs: Int32Array | null,
    n: number,
    out: Float32Array,
    where: string,
    training: boolean,
    longIn: Float32Array | null,
  ): void {
    this.ensure(n);
    const { dim: d, maxLength: L, shortLength: S, numItems, width: W } = this;
    const FT = this.feedbackTable ? this.feedbackTable.data : null;
    const AT = this.ageTable ? this.ageTable.data : null;
    const numFeedback = this.options.numFeedback;
    const { cand, beh, shortBeh, shortLens, longOut, shortOut, val, shortVal } = this;
    for (let b = 0; b < n; b++) {
      const id = cands[b]!;
      if (!(id >= 1 && id <= numItems)) {
        throw new InvalidArgumentError(`${where}: candidate item id ${id} (row ${b}) is outside [1, ${numItems}]`);
      }
      const len = lens[b]!;
      if (!(len >= 0 && len <= L)) {
        throw new InvalidArgumentError(`${where}: lengths[${b}] (${len}) must be in [0, ${L}]`);
      }
      const row = b * L;
      for (let j = 0; j < len; j++) {
        const h = hists[row + j]!;
        if (!(h >= 1 && h <= numItems)) {
          throw new InvalidArgumentError(
            `${where}: history item id ${h} (row ${b}, position ${j} < length ${len}) is outside [1, ${numItems}]`,
          );
        }
        if (fbs !== null) {
          const f = fbs[row + j]!;
          if (!(f >= 1 && f <= numFeedback)) {
            throw new InvalidArgumentError(
              `${where}: feedback id ${f} (row ${b}, position ${j} < length ${len}) is outside [1, ${numFeedback}]`,
            );
          }
        }
      }
    }
    // The batch's distinct items, looked up once through the item embedding into rowsT (slot order).
    const T = this.gatherItems(cands, hists, lens, n);
    const slot = this.slotOf;
    for (let b = 0; b < n; b++) {
      const len = lens[b]!;
      const row = b * L;
      const cs = slot[cands[b]!]! * d;
      cand.set(T.subarray(cs, cs + d), b * d);
      if (this.hasLong && longIn === null) {
        const o = row * d;
        for (let j = 0; j < len; j++) {
          const src = slot[hists[row + j]!]! * d;
          for (let k = 0; k < d; k++) beh[o + j * d + k] = T[src + k]!;
        }
        beh.fill(0, o + len * d, o + L * d);
        if (this.hasValues) this.values(T, FT, AT, hists, fbs, row, len, L, val, o);
      }
      const sl = Math.min(len, S);
      shortLens[b] = sl;
      const from = row + len - sl;
      const so = b * S * d;
      for (let j = 0; j < sl; j++) {
        const src = slot[hists[from + j]!]! * d;
        for (let k = 0; k < d; k++) shortBeh[so + j * d + k] = T[src + k]!;
      }
      shortBeh.fill(0, so + sl * d, so + S * d);
      if (this.hasValues) this.values(T, FT, AT, hists, fbs, from, sl, S, shortVal, so);
    }
    for (let u = 0; u < this.uniqCount; u++) slot[this.uniq[u]!] = -1;
    const fb = this.hasValues;
    const pooled = fb ? val : beh;
    if (longIn !== null) longOut.set(longIn.subarray(0, n * d));
    else if (this.sdim) this.sdim.forward(beh, lens, cand, n, L, longOut, fb ? val : undefined);
    else if (this.dinLong) this.dinLong.forward(beh, lens, cand, n, L, longOut, fb ? val : undefined);
    else if (this.kind === 'avgpool') {
      for (let b = 0; b < n; b++) {
        const len = lens[b]!;
        const o = b * d;
        longOut.fill(0, o, o + d);
        if (len === 0) continue;
        const inv = 1 / len;
        for (let j = 0; j < len; j++) {
          const x = (b * L + j) * d;
          for (let k = 0; k < d; k++) longOut[o + k]! += pooled[x + k]!;
        }
        for (let k = 0; k < d; k++) longOut[o + k]! *= inv;
      }
    }
    const p = this.options.interestDropout;
    this.dropped = training && this.hasLong && p > 0;
    if (this.dropped) {
      const { dropMask, dropRng } = this;
      const keep = 1 / (1 - p);
      for (let i = 0; i < n * d; i++) {
        const m = dropRng.next() < p ? 0 : keep;
        dropMask[i] = m;
        longOut[i]! *= m;
      }
    }
    this.dinShort.forward(shortBeh, shortLens, cand, n, S, shortOut, fb ? shortVal : undefined);
    for (let b = 0; b < n; b++) {
      const o = b * W;
      out.set(cand.subarray(b * d, b * d + d), o);
      let col = o + d;
      if (this.hasLong) {
        out.set(longOut.subarray(b * d, b * d + d), col);
        col += d;
      }
      out.set(shortOut.subarray(b * d, b * d + d), col);
    }
  }

  /** Serving forward of one user's candidates against one shared history (see `SEQUENCE_EXTRAS.userHistory`). */
  private runShared(batch: CtrBatch, out: Float32Array, where: string): void {
    const e = batch.extras!;
    const n = batch.size;
    const { dim: d, maxLength: L, shortLength: S, numItems, width: W } = this;
    const cands = e[SEQUENCE_EXTRAS.candidates];
    const hist = e[SEQUENCE_EXTRAS.userHistory];
    const fbIn = e[SEQUENCE_EXTRAS.userFeedback];
    const li = e[SEQUENCE_EXTRAS.longInterest];
    if (!(cands instanceof Int32Array) || cands.length < n || !(hist instanceof Int32Array) || hist.length > L) {
      throw new InvalidArgumentError(
        `${where}: serving needs Int32Array candidates [${n}] and userHistory [≤ ${L}] in batch.extras`,
      );
    }
    const len = hist.length;
    let fbs: Int32Array | null = null;
    if (this.feedbackTable !== null) {
      if (!(fbIn instanceof Int32Array) || fbIn.length !== len) {
        throw new InvalidArgumentError(
          `${where}: the block has numFeedback ${this.options.numFeedback}, so serving needs userFeedback [${len}] beside userHistory`,
        );
      }
      fbs = fbIn;
    }
    let longIn: Float32Array | null = null;
    if (li !== undefined) {
      if (!(li instanceof Float32Array) || li.length < n * d || !this.hasLong) {
        throw new InvalidArgumentError(`${where}: batch.extras.longInterest must be a Float32Array [${n} × ${d}]`);
      }
      longIn = li;
    }
    if (out.length < n * W) throw new InvalidArgumentError(`${where}: out has ${out.length} values; need ${n} × ${W}`);
    const nf = this.options.numFeedback;
    for (let j = 0; j < len; j++) {
      const h = hist[j]!;
      if (!(h >= 1 && h <= numItems)) {
        throw new InvalidArgumentError(`${where}: userHistory[${j}] (${h}) is outside [1, ${numItems}]`);
      }
      if (fbs !== null && !(fbs[j]! >= 1 && fbs[j]! <= nf)) {
        throw new InvalidArgumentError(`${where}: userFeedback[${j}] (${fbs[j]}) is outside [1, ${nf}]`);
      }
    }
    const sh = this.shared;
    if (sh.cand.length < n * d) {
      sh.cand = new Float32Array(n * d);
      sh.longOut = new Float32Array(n * d);
      sh.shortOut = new Float32Array(n * d);
    }
    if (sh.keys.length < L * d) {
      sh.keys = new Float32Array(L * d);
      sh.vals = new Float32Array(L * d);
      sh.shortVals = new Float32Array(S * d);
    }
    for (let b = 0; b < n; b++) {
      const id = cands[b]!;
      if (!(id >= 1 && id <= numItems)) {
        throw new InvalidArgumentError(`${where}: candidate item id ${id} (row ${b}) is outside [1, ${numItems}]`);
      }
    }
    // The request's distinct items (candidates and history), looked up once through the item embedding.
    const T = this.gatherShared(cands, hist, n);
    const slot = this.slotOf;
    try {
      this.runSharedRows(T, slot, cands, hist, fbs, longIn, n, out);
    } finally {
      for (let u = 0; u < this.uniqCount; u++) slot[this.uniq[u]!] = -1;
    }
  }

  /** {@link runShared} after the lookup: `T` holds the request's rows in `slot` order. */
  private runSharedRows(
    T: Float32Array,
    slot: Int32Array,
    cands: Int32Array,
    hist: Int32Array,
    fbs: Int32Array | null,
    longIn: Float32Array | null,
    n: number,
    out: Float32Array,
  ): void {
    const { dim: d, shortLength: S, width: W } = this;
    const len = hist.length;
    const sh = this.shared;
    const { cand, longOut, shortOut, keys, vals, shortVals } = sh;
    for (let b = 0; b < n; b++) {
      const cs = slot[cands[b]!]! * d;
      cand.set(T.subarray(cs, cs + d), b * d);
    }
    for (let j = 0; j < len; j++) {
      const hs = slot[hist[j]!]! * d;
      keys.set(T.subarray(hs, hs + d), j * d);
    }
    const FT = this.feedbackTable ? this.feedbackTable.data : null;
    const AT = this.ageTable ? this.ageTable.data : null;
    const fb = this.hasValues;
    if (this.hasLong) {
      if (fb) this.values(T, FT, AT, hist, fbs, 0, len, len, vals, 0);
      const pooled = fb ? vals : keys;
      if (longIn !== null) longOut.set(longIn.subarray(0, n * d));
      else if (this.sdim) {
        const state = encodeBse(this.sdim.hasher, keys, len, 'serving', fb ? vals : keys);
        readInterest(state, this.sdim.hasher, cand, n, longOut, this.options.sdimPooling);
      } else if (this.dinLong) sh.scorer.forward(this.dinLong, keys, fb ? vals : null, len, cand, n, longOut);
      else {
        // avgpool: the same mean for every candidate.
        longOut.fill(0, 0, d);
        for (let j = 0; j < len; j++) for (let k = 0; k < d; k++) longOut[k]! += pooled[j * d + k]!;
        if (len > 0) for (let k = 0; k < d; k++) longOut[k]! *= 1 / len;
        for (let b = 1; b < n; b++) longOut.copyWithin(b * d, 0, d);
      }
    }
    const sl = Math.min(len, S);
    const from = len - sl;
    if (fb) this.values(T, FT, AT, hist, fbs, from, sl, sl, shortVals, 0);
    sh.scorer.forward(this.dinShort, keys.subarray(from * d, len * d), fb ? shortVals : null, sl, cand, n, shortOut);
    for (let b = 0; b < n; b++) {
      const o = b * W;
      out.set(cand.subarray(b * d, b * d + d), o);
      let col = o + d;
      if (this.hasLong) {
        out.set(longOut.subarray(b * d, b * d + d), col);
        col += d;
      }
      out.set(shortOut.subarray(b * d, b * d + d), col);
    }
  }

  /**
   * Value vectors of `count` behaviours starting at `hists[from]` (the last ones of their history,
   * so the one at offset j has age count − 1 − j): item + feedback + age embedding, into `out[o ..]`;
   * the rest of the `width`-behaviour row is zeroed.
   */
  private values(
    T: Float32Array,
    FT: Float32Array | null,
    AT: Float32Array | null,
    hists: Int32Array,
    fbs: Int32Array | null,
    from: number,
    count: number,
    width: number,
    out: Float32Array,
    o: number,
  ): void {
    const d = this.dim;
    const ageBucket = this.ageBucket;
    const slot = this.slotOf;
    for (let j = 0; j < count; j++) {
      const src = slot[hists[from + j]!]! * d;
      const x = o + j * d;
      for (let k = 0; k < d; k++) out[x + k] = T[src + k]!;
      if (FT !== null && fbs !== null) {
        const f = fbs[from + j]! * d;
        for (let k = 0; k < d; k++) out[x + k]! += FT[f + k]!;
      }
      if (AT !== null) {
        const a = ageBucket[count - 1 - j]! * d;
        for (let k = 0; k < d; k++) out[x + k]! += AT[a + k]!;
      }
    }
    out.fill(0, o + count * d, o + width * d);
  }

  /** {@link gatherItems} for one shared history (serving): the candidates and the history's items. */
  private gatherShared(cands: Int32Array, hist: Int32Array, n: number): Float32Array {
    const slot = this.slotOf;
    const most = n + hist.length;
    if (this.uniq.length < most) this.uniq = new Int32Array(most);
    const uniq = this.uniq;
    let u = 0;
    for (let b = 0; b < n; b++) {
      const c = cands[b]!;
      if (slot[c]! < 0) {
        slot[c] = u;
        uniq[u++] = c;
      }
    }
    for (let j = 0; j < hist.length; j++) {
      const h = hist[j]!;
      if (slot[h]! < 0) {
        slot[h] = u;
        uniq[u++] = h;
      }
    }
    this.uniqCount = u;
    const d = this.dim;
    if (this.rowsT.length < u * d) this.rowsT = new Float32Array(Math.max(u, 64) * d);
    this.items.lookup(uniq, this.rowsT, u);
    return this.rowsT;
  }

  private uniqCount = 0;

  /**
   * Looks up the distinct items of a batch (candidates and the valid history positions) through the
   * item embedding into `rowsT` `[distinct × dim]`, recording each item's slot in `slotOf` (reset by
   * the caller). Work is O(batch), never O(table).
   */
  private gatherItems(cands: Int32Array, hists: Int32Array, lens: Int32Array, n: number): Float32Array {
    const L = this.maxLength;
    const slot = this.slotOf;
    const most = n * (L + 1);
    if (this.uniq.length < most) this.uniq = new Int32Array(most);
    const uniq = this.uniq;
    let u = 0;
    for (let b = 0; b < n; b++) {
      const c = cands[b]!;
      if (slot[c]! < 0) {
        slot[c] = u;
        uniq[u++] = c;
      }
      const row = b * L;
      const len = lens[b]!;
      for (let j = 0; j < len; j++) {
        const h = hists[row + j]!;
        if (slot[h]! < 0) {
          slot[h] = u;
          uniq[u++] = h;
        }
      }
    }
    this.uniqCount = u;
    const d = this.dim;
    if (this.rowsT.length < u * d) this.rowsT = new Float32Array(Math.max(u, 64) * d);
    this.items.lookup(uniq, this.rowsT, u);
    return this.rowsT;
  }

  /** {@link accumulate} then {@link step}: the `CtrInputBlock` backward. */
  backward(batch: CtrBatch, grad: Float32Array): void {
    this.accumulate(batch, grad);
    this.step();
  }

  /**
   * Back-propagates ∂loss/∂features of the last training forward into per-item row gradients
   * (collected, not applied; see {@link pendingItemGradients}) and the attention MLPs' gradients.
   */
  accumulate(batch: CtrBatch, grad: Float32Array): void {
    const where = `ctr/SequenceInterestBlock(${this.kind}).backward`;
    const n = batch.size;
    if (this.trainedRows !== n) {
      throw new UsageError(`${where}: call forward(batch, out, true) on this batch (${n} samples) first`);
    }
    const { dim: d, maxLength: L, shortLength: S, width: W, acc } = this;
    if (grad.length < n * W) throw new InvalidArgumentError(`${where}: grad has ${grad.length} values; need ${n * W}`);
    const { cands, hists, lens, fbs } = this.extras(batch, where);
    const { gCand, gq, gLong, gShort, gBeh, gShortBeh, gVal, gShortVal, shortLens, fbAcc, ageAcc, ageBucket } = this;
    const fb = this.hasValues;
    for (let b = 0; b < n; b++) {
      const o = b * W;
      for (let k = 0; k < d; k++) gCand[b * d + k] = grad[o + k]!;
      let col = o + d;
      if (this.hasLong) {
        for (let k = 0; k < d; k++) gLong[b * d + k] = grad[col + k]!;
        col += d;
      }
      for (let k = 0; k < d; k++) gShort[b * d + k] = grad[col + k]!;
    }
    if (this.dropped) {
      const m = this.dropMask;
      for (let i = 0; i < n * d; i++) gLong[i]! *= m[i]!;
    }
    // Long-term gradients: keyGrad = the keys (item rows) get gBeh; gVal = the pooled values (with side features).
    let keyGrad = this.hasLong && !fb;
    if (this.sdim) this.sdim.backward(gLong, fb ? gVal : gBeh);
    else if (this.dinLong) {
      this.dinLong.backward(gLong, gBeh, gq, fb ? gVal : undefined);
      keyGrad = true;
      const ls = this.options.longGradientScale;
      for (let i = 0; i < n * d; i++) gCand[i]! += ls * gq[i]!;
    } else if (this.kind === 'avgpool') {
      const g = fb ? gVal : gBeh;
      for (let b = 0; b < n; b++) {
        const len = lens[b]!;
        const inv = len > 0 ? 1 / len : 0;
        for (let j = 0; j < len; j++) {
          const x = (b * L + j) * d;
          for (let k = 0; k < d; k++) g[x + k] = gLong[b * d + k]! * inv;
        }
      }
    }
    this.dinShort.backward(gShort, gShortBeh, gq, fb ? gShortVal : undefined);
    for (let i = 0; i < n * d; i++) gCand[i]! += gq[i]!;
    const ls = this.options.longGradientScale;
    for (let b = 0; b < n; b++) {
      acc.add(cands[b]!, gCand, b * d, 1);
      const len = lens[b]!;
      const row = b * L;
      if (keyGrad) for (let j = 0; j < len; j++) acc.add(hists[row + j]!, gBeh, (row + j) * d, ls);
      if (fb && this.hasLong) {
        for (let j = 0; j < len; j++) {
          acc.add(hists[row + j]!, gVal, (row + j) * d, ls);
          if (fbAcc !== null && fbs !== null) fbAcc.add(fbs[row + j]!, gVal, (row + j) * d, ls);
          if (ageAcc !== null) ageAcc.add(ageBucket[len - 1 - j]!, gVal, (row + j) * d, ls);
        }
      }
      const sl = shortLens[b]!;
      const from = row + len - sl;
      for (let j = 0; j < sl; j++) acc.add(hists[from + j]!, gShortBeh, (b * S + j) * d, 1);
      if (fb) {
        for (let j = 0; j < sl; j++) {
          acc.add(hists[from + j]!, gShortVal, (b * S + j) * d, 1);
          if (fbAcc !== null && fbs !== null) fbAcc.add(fbs[from + j]!, gShortVal, (b * S + j) * d, 1);
          if (ageAcc !== null) ageAcc.add(ageBucket[sl - 1 - j]!, gShortVal, (b * S + j) * d, 1);
        }
      }
    }
    this.trainedRows = -1;
  }

  /** The item-row gradients collected by {@link accumulate} and not yet applied (views, `[count × dim]`). */
  pendingItemGradients(): { rows: Int32Array; grads: Float32Array; count: number } {
    return { rows: this.acc.touched, grads: this.acc.grads, count: this.acc.count };
  }

  /** The feedback-row gradients collected by {@link accumulate} and not yet applied (empty without feedback). */
  pendingFeedbackGradients(): { rows: Int32Array; grads: Float32Array; count: number } {
    return pending(this.fbAcc);
  }

  /** The age-bucket gradients collected by {@link accumulate} and not yet applied (empty without `behaviourAge`). */
  pendingAgeGradients(): { rows: Int32Array; grads: Float32Array; count: number } {
    return pending(this.ageAcc);
  }

  /** Applies the pending item gradients (lazy row optimizer) and the attention gradients (Adam). */
  step(): void {
    const acc = this.acc;
    if (acc.count > 0) {
      // One lookup + backward of the touched items through the item embedding (its composition and
      // storage), then one lazy step of its rows.
      const n = acc.count;
      const d = this.dim;
      if (this.stepRows.length < n * d) this.stepRows = new Float32Array(n * d);
      const ids = acc.touched.subarray(0, n);
      this.items.lookup(ids, this.stepRows, n);
      this.items.backward(ids, acc.grads);
      this.items.step();
      acc.reset();
    }
    const fbAcc = this.fbAcc;
    if (fbAcc !== null && fbAcc.count > 0) {
      this.fbOptimizer!.step(fbAcc.touched, fbAcc.grads, fbAcc.count);
      fbAcc.reset();
    }
    const ageAcc = this.ageAcc;
    if (ageAcc !== null && ageAcc.count > 0) {
      this.ageOptimizer!.step(ageAcc.touched, ageAcc.grads, ageAcc.count);
      ageAcc.reset();
    }
    this.dense.step(this.denseGrads);
  }

  /** Copies the item table and the attention weights (for early stopping's restore-best). */
  captureState(): unknown {
    const W = this.items.mapper.learnableWeights ? this.items.mapper.weights : null;
    const s: BlockState = {
      items: captureStorage(this.items),
      itemWeights: W ? W.slice() : null,
      feedback: this.feedbackTable ? this.feedbackTable.data.slice() : null,
      age: this.ageTable ? this.ageTable.data.slice() : null,
      dense: this.denseParams.map((p) => p.slice()),
    };
    return s;
  }

  /** Restores what {@link captureState} returned. */
  restoreState(state: unknown): void {
    const s = state as BlockState;
    if (!s || !('items' in s) || !Array.isArray(s.dense) || s.dense.length !== this.denseParams.length) {
      throw new InvalidArgumentError(`ctr/SequenceInterestBlock.restoreState: not a state of this block`);
    }
    restoreStorage(this.items, s.items);
    const W = this.items.mapper.learnableWeights ? this.items.mapper.weights : null;
    if (W && s.itemWeights) W.set(s.itemWeights);
    if (this.feedbackTable && s.feedback) this.feedbackTable.data.set(s.feedback);
    if (this.ageTable && s.age) this.ageTable.data.set(s.age);
    for (let i = 0; i < this.denseParams.length; i++) this.denseParams[i]!.set(s.dense[i]!);
  }
}

function pending(acc: SparseGradAccumulator | null): { rows: Int32Array; grads: Float32Array; count: number } {
  return acc
    ? { rows: acc.touched, grads: acc.grads, count: acc.count }
    : { rows: new Int32Array(0), grads: new Float32Array(0), count: 0 };
}
