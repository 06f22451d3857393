import { type Interactions, InvalidArgumentError, type RetrievalDataset, Rng, resolveOptions } from '@compactrec/core';
import { getKernels } from '@compactrec/native';
import { EpochBook } from './epoch-book.js';
import { evaluateFullRanking, type RetrievalMetrics } from './eval.js';
import { trainGenericBpr } from './generic-bpr.js';
import { createPropagation } from './lightgcn.js';
import type { Tower } from './tower.js';

/** Progress of {@link trainMfBpr}, reported after every epoch. */
export interface MfEpochReport {
  readonly epoch: number;
  readonly epochs: number;
  /** Mean BPR loss (+ L2 term) of the epoch. */
  readonly loss: number;
  readonly triplesPerSecond: number;
  /** Present on evaluation epochs. */
  readonly metrics?: RetrievalMetrics;
  /**
   * Present on evaluation epochs: the user and item embeddings the evaluation ranked with (LightGCN:
   * the propagated ones). Buffers may be reused by the next evaluation; copy what you keep. A caller
   * keeps them to score another split with the checkpoint of its best validation epoch.
   */
  readonly embeddings?: { readonly user: Float32Array; readonly item: Float32Array };
}

/** What `onEpoch` may return: `'stop'` ends training after this epoch (early stopping). */
export type MfEpochAction = 'stop' | undefined;

/** Options of {@link trainMfBpr}; every field is optional. */
export interface MfBprOptions {
  /** Training epochs (one epoch = every training interaction once, shuffled). @default 150 */
  epochs?: number;
  /** Triples per mini-batch. @default 2048 */
  batchSize?: number;
  /** Adam learning rate of the tables. @default 0.001 */
  lr?: number;
  /** Adam learning rate of learnable per-ID weights (hash embeddings). @default lr */
  weightLr?: number;
  /**
   * Learning-rate schedule over the run: 'constant', or 'cosine' annealing from `lr` down to
   * `lr · lrFinal` (set at every kernel call from the fraction of the run done), which lets the
   * last epochs settle instead of ending on Adam's full-size steps. @default 'constant'
   */
  lrSchedule?: 'constant' | 'cosine';
  /** Cosine schedule: the final learning rate as a fraction of `lr`. @default 0.01 */
  lrFinal?: number;
  /** L2 coefficient on the batch's composed embeddings (LightGCN's `decay`). @default 0.0001 */
  reg?: number;
  /**
   * Negatives drawn per positive pair; above 1 the one the model currently scores highest for the
   * user is trained on (dynamic negative sampling, Zhang et al., SIGIR 2013). Uniform negatives are
   * mostly scored far below the positive after a few epochs and carry almost no gradient; harder
   * ones keep BPR learning. LightGCN scores the candidates by their (stale) final embeddings.
   * Measured with LightGCN on Gowalla, 12 epochs: 16 → Recall@20 0.1715, 32 → 0.1750, 64 → 0.1743,
   * 128 → 0.1673 (too many candidates pick unobserved positives); uniform needs ≈ 200 epochs for
   * 0.1711. 1 = uniform sampling (the LightGCN and MF references). @default 1
   */
  negativeCandidates?: number;
  /** Adam β1, β2, ε. @default 0.9, 0.999, 1e-8 */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Seed of shuffling and negative sampling. @default 0 */
  seed?: number;
  /** Evaluate every N epochs (0 = only after the last). @default 0 */
  evalEvery?: number;
  /** Cut-off of Recall/NDCG. @default 20 */
  k?: number;
  /**
   * How triples are drawn: 'user' draws a user uniformly then one of its items (the LightGCN/NGCF
   * samplers; every user weighs the same, as Recall@K averages over users); 'interaction' visits
   * every training pair once per epoch in shuffled order. Measured on Gowalla: 'interaction' is
   * better for MF; 'user' is better for LightGCN (Recall@20 0.1643 vs 0.1607 at 60 epochs).
   * @default 'user' for LightGCN, 'interaction' for MF
   */
  sampling?: 'user' | 'interaction';
  /** Backbone: plain MF, or LightGCN propagation over the training graph. @default 'mf' */
  model?: 'mf' | 'lightgcn';
  /** LightGCN: propagation layers, 1 to 4 (every hop's gradient term is estimated). @default 2 */
  layers?: number;
  /**
   * LightGCN: batches between refreshes of the propagated (final) embeddings. Between refreshes a
   * node's score uses its stale final embedding plus the live change of its own layer-0 embedding
   * (exact at a refresh). @default 40
   */
  refreshEvery?: number;
  /** LightGCN: also send each batch node's gradient to its 1-hop neighbours' rows (Â-weighted). @default true */
  neighborGradients?: boolean;
  /** LightGCN, exactHops false: cap on neighbours per node for those gradients (sampled, unbiased); 0 = all. @default 0 */
  maxNeighbors?: number;
  /**
   * LightGCN (L ≥ 2), exactHops false: sampled random walks per batch node carrying each term beyond the
   * first hop, Â²G … Â^L G (unbiased; 0 = leave those terms out). @default 8
   */
  twoHopSamples?: number;
  /**
   * LightGCN: sum each node's gradient over the batch before sending it to its neighbours (one
   * scatter per distinct node; popular items drawn many times scatter once). With maxNeighbors 0 the
   * 1-hop term is exact; on Gowalla this learns faster per epoch than 8 sampled neighbours per
   * triple (Recall@20 0.1607 vs 0.1577 at 60 epochs) at about the same speed on 2 threads. @default true
   */
  aggregateNeighbors?: boolean;
  /**
   * LightGCN: compute every hop's gradient term exactly, Â^h G for h = 1..L (one scatter from the
   * batch's distinct nodes for ÂG, then one sparse gather over the whole graph per further hop and
   * batch), instead of sampling neighbours and walks; maxNeighbors and twoHopSamples are then
   * unused. Needs aggregateNeighbors. @default true
   */
  exactHops?: boolean;
  /**
   * LightGCN: threads (1 or 2) of the Adam steps and the aggregated neighbour scatter; a run is
   * deterministic for a given count (the 2-thread scatter draws from per-side generators). @default 2
   */
  threads?: number;
  /**
   * Turn both towers into their served form (quantize a float master, drop optimizer state) before
   * the last evaluation, so the final metrics are those of the served tables. Evaluations before
   * the last one use what training computes with. @default true
   */
  finishTraining?: boolean;
  /**
   * Called after every epoch. Returning `'stop'` ends training after this epoch (early stopping);
   * the towers are then finished (finishTraining) without another evaluation, and `final` is the
   * last evaluation made.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks written for the old `=> void` signature stay valid
  onEpoch?: (report: MfEpochReport) => MfEpochAction | void;
}

export const DEFAULT_MF_BPR_OPTIONS = Object.freeze({
  sampling: undefined as 'user' | 'interaction' | undefined,
  model: 'mf' as 'mf' | 'lightgcn',
  layers: 2,
  refreshEvery: 40,
  neighborGradients: true,
  maxNeighbors: 0,
  twoHopSamples: 8,
  aggregateNeighbors: true,
  exactHops: true,
  threads: 2 as number,
  epochs: 150,
  batchSize: 2048,
  lr: 0.001,
  lrSchedule: 'constant' as 'constant' | 'cosine',
  lrFinal: 0.01,
  reg: 0.0001,
  negativeCandidates: 1,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  seed: 0,
  evalEvery: 0,
  k: 20,
  finishTraining: true,
});

/** Outcome of {@link trainMfBpr}. */
export interface MfBprResult {
  /** Metrics after the last epoch (after the last evaluation when `onEpoch` stopped training). */
  readonly final: RetrievalMetrics;
  /** Best evaluation seen (equals `final` when evalEvery is 0). */
  readonly best: RetrievalMetrics & { readonly epoch: number };
  /** Epochs trained (fewer than `options.epochs` when `onEpoch` stopped training). */
  readonly epochs: number;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  readonly triplesPerSecond: number;
  readonly losses: readonly number[];
}

/** Training pairs and per-user sorted item rows, prepared once per dataset (the BPR kernel's `data`). */
export interface BprData {
  readonly numItems: number;
  readonly trainOffsets: Uint32Array;
  /** Items of each user sorted ascending (membership tests by binary search). */
  readonly trainItems: Int32Array;
  readonly pairUsers: Int32Array;
  readonly pairItems: Int32Array;
}

/** Flattens the training CSR into (user, item) pairs and sorts each user's items. */
export function prepareBprData(train: Interactions): BprData {
  const n = train.items.length;
  const trainItems = new Int32Array(train.items);
  const pairUsers = new Int32Array(n);
  for (let u = 0; u < train.numUsers; u++) {
    const lo = train.offsets[u]!;
    const hi = train.offsets[u + 1]!;
    pairUsers.fill(u, lo, hi);
    trainItems.subarray(lo, hi).sort();
  }
  return { numItems: train.numItems, trainOffsets: train.offsets, trainItems, pairUsers, pairItems: trainItems };
}

/**
 * MF or LightGCN with BPR (one negative per positive: uniform, or the hardest of
 * `negativeCandidates` uniform draws) over two towers of any compression method, trained by the
 * native (or JS, MF only) kernel with lazy Adam, then evaluated by full ranking. Deterministic for a
 * seed, a kernel kind and a thread count.
 */
export function trainMfBpr(data: RetrievalDataset, user: Tower, item: Tower, options: MfBprOptions = {}): MfBprResult {
  const o = resolveOptions({ ...DEFAULT_MF_BPR_OPTIONS, weightLr: options.lr ?? DEFAULT_MF_BPR_OPTIONS.lr }, options);
  const where = 'models/trainMfBpr';
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new InvalidArgumentError(`${where}: epochs (${o.epochs}) must be a positive integer`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new InvalidArgumentError(`${where}: batchSize (${o.batchSize}) must be a positive integer`);
  if (!(o.lr > 0)) throw new InvalidArgumentError(`${where}: lr (${o.lr}) must be positive`);
  if (o.model === 'lightgcn' && !(Number.isInteger(o.layers) && o.layers >= 1 && o.layers <= 4)) {
    throw new InvalidArgumentError(`${where}: layers (${o.layers}) must be an integer from 1 to 4`);
  }
  if (!Number.isInteger(o.negativeCandidates) || o.negativeCandidates < 1 || o.negativeCandidates > 1024) {
    throw new InvalidArgumentError(
      `${where}: negativeCandidates (${o.negativeCandidates}) must be an integer from 1 to 1024`,
    );
  }
  if (o.threads !== 1 && o.threads !== 2) {
    throw new InvalidArgumentError(`${where}: threads (${o.threads}) must be 1 or 2`);
  }
  if (o.lrSchedule !== 'constant' && o.lrSchedule !== 'cosine') {
    throw new InvalidArgumentError(
      `${where}: lrSchedule '${String(o.lrSchedule)}' is unknown; use 'constant' or 'cosine'`,
    );
  }
  if (!(o.lrFinal >= 0 && o.lrFinal <= 1)) {
    throw new InvalidArgumentError(`${where}: lrFinal (${o.lrFinal}) must be in [0, 1]`);
  }
  if (user.dim !== item.dim) throw new InvalidArgumentError(`${where}: user dim ${user.dim} != item dim ${item.dim}`);
  if (user.numIds !== data.train.numUsers || item.numIds !== data.train.numItems) {
    throw new InvalidArgumentError(
      `${where}: towers cover ${user.numIds} users / ${item.numIds} items but the data has ${data.train.numUsers} / ${data.train.numItems}`,
    );
  }
  const dim = user.dim;
  const kernels = getKernels();
  const bpr = prepareBprData(data.train);
  const n = bpr.pairUsers.length;
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = new Rng(o.seed);
  const rngState = rng.state();
  const state = new Float64Array(1);
  if (!user.kernelTrainable || !item.kernelTrainable) {
    return trainGenericBpr(data, user, item, o);
  }
  // Sparse storages (DSL) prune/grow every `updateInterval` steps: kernel calls end on those steps.
  const uSparse = user.sparseSchedule();
  const iSparse = item.sparseSchedule();
  const sampling = o.sampling ?? (o.model === 'lightgcn' ? 'user' : 'interaction');
  if (sampling !== 'user' && sampling !== 'interaction') {
    throw new InvalidArgumentError(`${where}: sampling '${String(sampling)}' is unknown; use 'user' or 'interaction'`);
  }
  let sampleUsers: Int32Array | undefined;
  if (sampling === 'user') {
    const active: number[] = [];
    for (let u = 0; u < data.train.numUsers; u++)
      if (data.train.offsets[u + 1]! > data.train.offsets[u]!) active.push(u);
    sampleUsers = Int32Array.from(active);
  }
  const gcn = o.model === 'lightgcn' ? createPropagation(data.train, user, item, o.layers) : null;
  const interval = Math.min(uSparse?.updateInterval ?? Infinity, iSparse?.updateInterval ?? Infinity);
  const batchGrowth = uSparse?.growth === 'batch' || iSparse?.growth === 'batch';

  const book = new EpochBook(o, [user, item], n, () => {
    // MF evaluates what would be served now (a post-training quantization applied to a copy);
    // LightGCN propagates its working rows.
    const { userEmb, itemEmb } = gcn ? gcn.refresh() : { userEmb: user.composeServed(), itemEmb: item.composeServed() };
    return {
      metrics: evaluateFullRanking(userEmb, itemEmb, dim, data.train, data.test, o.k),
      embeddings: { user: userEmb, item: itemEmb },
    };
  });
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    let pos = 0;
    let first = true;
    while (pos < n) {
      // One kernel call per epoch, or up to the next sparsity update step.
      let end = n;
      if (Number.isFinite(interval)) {
        const stepsToUpdate = interval - (state[0]! % interval);
        end = Math.min(n, pos + stepsToUpdate * o.batchSize);
      }
      if (gcn) {
        end = Math.min(end, pos + o.refreshEvery * o.batchSize);
        gcn.refresh();
      }
      const scale = lrScale(o.lrSchedule, o.lrFinal, (epoch - 1 + pos / n) / o.epochs);
      const r = kernels.bprTrain({
        dim,
        user: user.arrays(),
        item: item.arrays(),
        data: bpr,
        batches: { perm, start: pos, end, shuffle: first, batchSize: o.batchSize, rngState },
        sampling: { negativeCandidates: o.negativeCandidates, ...(sampleUsers ? { sampleUsers } : {}) },
        optimizer: {
          lr: o.lr * scale,
          weightLr: o.weightLr * scale,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          reg: o.reg,
          state,
        },
        growth: { scoreLastBatches: batchGrowth ? 1 : -1 },
        ...(gcn
          ? {
              lightgcn: {
                history: gcn.final,
                snapshot: gcn.ego,
                alpha0: 1 / (o.layers + 1),
                threads: o.threads,
                ...(o.neighborGradients
                  ? {
                      hops: {
                        graphOffsets: gcn.adjacency.offsets,
                        graphIndices: gcn.adjacency.indices,
                        graphValues: gcn.adjacency.values,
                        alpha1: 1 / (o.layers + 1),
                        maxNeighbors: o.maxNeighbors,
                        aggregateNeighbors: o.aggregateNeighbors,
                        exactHops: o.exactHops && o.aggregateNeighbors,
                        twoHopSamples: o.twoHopSamples,
                        alpha2: o.layers >= 2 ? 1 / (o.layers + 1) : 0,
                        alpha3: o.layers >= 3 ? 1 / (o.layers + 1) : 0,
                        alpha4: o.layers >= 4 ? 1 / (o.layers + 1) : 0,
                      },
                    }
                  : {}),
              },
            }
          : {}),
      });
      first = false;
      lossSum += r.lossSum;
      pos = end;
      user.afterKernelSteps(state[0]!);
      item.afterKernelSteps(state[0]!);
    }
    if (book.endEpoch(epoch, lossSum, performance.now() - t0) === 'stop') break;
  }
  return book.result();
}

/** The learning-rate multiplier at `progress` ∈ [0, 1) of the run. */
export function lrScale(schedule: 'constant' | 'cosine', final: number, progress: number): number {
  if (schedule === 'constant') return 1;
  return final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, Math.max(0, progress))));
}
