/** How K rows compose an embedding; numeric codes shared with the C++ kernels. */
export const COMBINE_CODE = { sum: 0, mult: 1, concat: 2 } as const;

/**
 * One side (users or items) of a two-tower model: its ID → rows codes, the table, and the lazy
 * Adam state. Arrays are updated in place by {@link BprTrainArgs}-driven kernels.
 */
export interface TowerArrays {
  /** `[numIds × K]` rows per ID; −1 = no row (sum only). */
  codes: Int32Array;
  K: number;
  /** 0 sum, 1 mult, 2 concat (see {@link COMBINE_CODE}). */
  combine: number;
  /** `[numIds × K]` per-ID weights for sum, or null. */
  weights: Float32Array | null;
  learnWeights: boolean;
  /** `[rows × rowDim]` table values. */
  table: Float32Array;
  /** Adam moments of the table (same length). */
  m: Float32Array;
  v: Float32Array;
  /** Adam moments of learnable weights (same length as weights), when learnWeights. */
  weightM: Float32Array | null;
  weightV: Float32Array | null;
  /** DSL: 1 = active weight; inactive weights are zeroed after every step. */
  mask: Uint8Array | null;
  /** DSL: growth scores, |gradient| accumulated per weight. */
  scores: Float32Array | null;
  /**
   * Low-precision hook after each row step (see `QuantHook` in @compactrec/core): 0 none, 1 fake
   * quantization (forward/backward read `forward`, the optimizer updates `table`), 2 ALPT (learned
   * per-row `steps`, stochastic rounding onto the grid). @default 0
   */
  quantMode?: number;
  /** 4, 8 or 16 (fp16, fake quantization only). */
  quantBits?: number;
  /** Fake quantization: dequantized rows `[rows × rowDim]`. */
  forward?: Float32Array | null;
  /** ALPT: per-row step sizes `[rows]` and their Adam moments. */
  steps?: Float32Array | null;
  stepM?: Float32Array | null;
  stepV?: Float32Array | null;
  /** ALPT: learning rate of the steps' own Adam (`QuantHook.stepLr`). */
  stepLr?: number;
  /** ALPT: seed of the stochastic rounding. */
  quantSeed?: number;
}

/** Numeric codes of {@link TowerArrays.quantMode}, shared with the C++ kernels. */
export const QUANT_MODE_CODE = { none: 0, ste: 1, alpt: 2 } as const;

/** Arguments of one call of the BPR kernel: batches over `perm[start..end)`. */
export interface BprTrainArgs {
  dim: number;
  user: TowerArrays;
  item: TowerArrays;
  numItems: number;
  /** Training items per user (CSR), each row sorted ascending (negative sampling checks membership). */
  trainOffsets: Uint32Array;
  trainItems: Int32Array;
  /**
   * User-uniform sampling: users with training items; each triple draws one of them, then one of
   * its items (LightGCN/NGCF samplers). Without it, the pairs are visited in `perm` order.
   */
  sampleUsers?: Int32Array;
  /** Training pairs and the order to visit them (shuffled in place when `shuffle`). */
  pairUsers: Int32Array;
  pairItems: Int32Array;
  perm: Int32Array;
  start: number;
  end: number;
  shuffle: boolean;
  batchSize: number;
  lr: number;
  /** Learning rate of learnable per-ID weights. */
  weightLr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 coefficient on the batch's composed embeddings (LightGCN's `decay`). */
  reg: number;
  /** Negatives drawn per triple; above 1 the one the model scores highest is used (DNS). @default 1 */
  negativeCandidates?: number;
  /** DSL: accumulate growth scores only in the last N batches of this call (−1 = all). */
  scoreLastBatches: number;
  /**
   * LightGCN mode: stale final embeddings `[(numUsers + numItems) × dim]` and the layer-0
   * embeddings they were computed from; a node's score uses `history + alpha0·(live ego − snapshot)`.
   */
  history?: Float32Array;
  snapshot?: Float32Array;
  /** Weight of a node's own layer-0 embedding in its final embedding (1/(L+1)). */
  alpha0?: number;
  /** Normalized adjacency over users then items; with alpha1 ≠ 0 gradients also reach 1-hop neighbours. */
  graphOffsets?: Uint32Array;
  graphIndices?: Int32Array;
  graphValues?: Float32Array;
  alpha1?: number;
  /** Neighbours per node for those gradients, sampled when the degree is larger (0 = all). */
  maxNeighbors?: number;
  /** Weight of the 2-hop term Â²G (1/(L+1) for L ≥ 2), estimated from `twoHopSamples` sampled walks per node. */
  alpha2?: number;
  /** Weights of the 3- and 4-hop terms Â³G, Â⁴G (1/(L+1) for L ≥ 3, 4), estimated the same way. */
  alpha3?: number;
  alpha4?: number;
  /** Uniform random walks per node for each term beyond the first hop. */
  twoHopSamples?: number;
  /**
   * Sum each node's final-embedding gradient over the batch before sending it to its neighbours
   * (one scatter per distinct node instead of one per occurrence; with maxNeighbors 0 the 1-hop
   * term is then exact at Σ deg over the batch's distinct nodes): 1 = on, 0 = off. @default 0
   */
  aggregateNeighbors?: number;
  /**
   * Exact hop terms (needs the graph, alpha1 and aggregateNeighbors): ÂG by a scatter from the
   * batch's distinct nodes, then Â^h G = Â·(Â^{h−1} G) by a gather over every node, for every h with
   * a non-zero weight; maxNeighbors and twoHopSamples are then unused. 1 = on, 0 = off. @default 0
   */
  exactHops?: number;
  /**
   * LightGCN mode: threads (1 or 2) of the Adam steps and, with aggregateNeighbors, of the
   * neighbour scatter (one thread per side). Deterministic for a given count. @default 1
   */
  threads?: number;
  /** xoshiro128** state, advanced in place. */
  rngState: Uint32Array;
  /** `[adamStep]`, advanced in place. */
  state: Float64Array;
}

export interface BprTrainResult {
  /** Sum over triples of softplus(−x) + reg/2·‖e‖². */
  lossSum: number;
  triples: number;
}

export interface RankTopKArgs {
  dim: number;
  k: number;
  userEmb: Float32Array;
  itemEmb: Float32Array;
  /** Items to exclude per user (training items), CSR over all users. */
  maskOffsets?: Uint32Array;
  maskItems?: Int32Array;
  /** Subset of users to rank (default all), in output order. */
  users?: Int32Array;
  /** Output `[users × k]`, best first, −1 padded. */
  out: Int32Array;
  /** Threads (native only; default all cores). */
  threads?: number;
}

export interface ComposeArgs {
  dim: number;
  codes: Int32Array;
  K: number;
  combine: number;
  weights: Float32Array | null;
  table: Float32Array;
  /** `[numIds × dim]` output. */
  out: Float32Array;
}

export interface SpmmArgs {
  dim: number;
  offsets: Uint32Array;
  indices: Int32Array;
  values: Float32Array;
  x: Float32Array;
  y: Float32Array;
  threads?: number;
}

/**
 * The kernels, implemented natively and in JavaScript. The JavaScript versions implement the same
 * MF training (same random stream; float rounding may differ in the last bits), composition,
 * ranking and SpMM; LightGCN training (`bprTrain` with `history`) is native-only.
 */
export interface Kernels {
  readonly kind: 'native' | 'js';
  bprTrain(args: BprTrainArgs): BprTrainResult;
  composeEmbeddings(args: ComposeArgs): void;
  rankTopK(args: RankTopKArgs): void;
  spmm(args: SpmmArgs): void;
}
