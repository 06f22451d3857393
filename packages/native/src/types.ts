/** How K rows compose an embedding; numeric codes shared with the C++ kernels. */
export const COMBINE_CODE = { sum: 0, mult: 1, concat: 2 } as const;

/** DSL's sparsity hook on a tower (see `SparseHook` in @compactrec/core). */
export interface TowerSparse {
  /** `[rows × rowDim]`, 1 = active weight; inactive weights are zeroed after every step. */
  mask: Uint8Array;
  /** `[rows × rowDim]` growth scores, |gradient| accumulated per weight. */
  scores: Float32Array;
}

/**
 * A tower whose rows hold only their active entries (DSL's sparse form; `SparseRowsView` in
 * @compactrec/core). Sum composition without learnable weights only; the tower's `table`, `m` and
 * `v` are then empty and unused.
 */
export interface TowerCsr {
  /** `[rows + 1]` start of each row's entries. */
  rowStart: Int32Array;
  /** Flat position r·rowDim + column of each entry, sorted. */
  pos: Int32Array;
  /** Values and Adam moments of the entries. */
  values: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** `[rows × rowDim]` growth scores of every weight. */
  scores: Float32Array;
}

/** A tower's low-precision hook after each row step (see `QuantHook` in @compactrec/core). */
export interface TowerQuant {
  /**
   * {@link QUANT_MODE_CODE}: 1 fake quantization (forward/backward read `forward`, the optimizer
   * updates the table), 2 ALPT (learned per-row `steps`, stochastic rounding onto the grid).
   */
  mode: number;
  /** 4 or 8 (row-wise integer codes), or 16 (fp16, fake quantization only). */
  bits: number;
  /** Fake quantization: dequantized rows `[rows × rowDim]`. */
  forward: Float32Array | null;
  /** ALPT: per-row step sizes `[rows]` and their Adam moments. */
  steps: Float32Array | null;
  stepM: Float32Array | null;
  stepV: Float32Array | null;
  /** ALPT: learning rate of the steps' own Adam. */
  stepLr: number;
  /** ALPT: seed of the stochastic rounding. */
  seed: number;
}

/**
 * One side (users or items) of a two-tower model: its ID → rows codes, the table, the lazy Adam
 * state and the storage's hooks. Arrays are updated in place by the BPR kernel.
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
  /** DSL masking, or null. */
  sparse: TowerSparse | null;
  /** Low-precision hook, or null (plain float32). */
  quant: TowerQuant | null;
  /** Sparse rows instead of the dense table (DSL's sparse form), or null / absent. */
  csr?: TowerCsr | null;
}

/** Numeric codes of {@link TowerQuant.mode}, shared with the C++ kernels. */
export const QUANT_MODE_CODE = { none: 0, ste: 1, alpt: 2 } as const;

/** The training interactions the kernel samples from (prepared once per dataset). */
export interface BprTrainData {
  numItems: number;
  /** Training items per user (CSR), each row sorted ascending (negative sampling checks membership). */
  trainOffsets: Uint32Array;
  trainItems: Int32Array;
  /** Training pairs (user, item). */
  pairUsers: Int32Array;
  pairItems: Int32Array;
}

/** Which triples one call visits: batches over `perm[start..end)`, and the random stream. */
export interface BprBatches {
  /** Order to visit the pairs (shuffled in place when `shuffle`). */
  perm: Int32Array;
  start: number;
  end: number;
  shuffle: boolean;
  batchSize: number;
  /** xoshiro128** state, advanced in place. */
  rngState: Uint32Array;
}

/** How a triple's positive and negative are drawn. */
export interface BprSampling {
  /**
   * User-uniform sampling: users with training items; each triple draws one of them, then one of
   * its items (LightGCN/NGCF samplers). Without it, the pairs are visited in `perm` order.
   */
  sampleUsers?: Int32Array;
  /** Negatives drawn per triple; above 1 the one the model scores highest is used (DNS). @default 1 */
  negativeCandidates?: number;
}

/** The towers' optimizer (lazy Adam, one step per batch) and the loss's L2 term. */
export interface BprOptimizer {
  lr: number;
  /** Learning rate of learnable per-ID weights. */
  weightLr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 coefficient on the batch's composed embeddings (LightGCN's `decay`). */
  reg: number;
  /** `[adamStep]`, advanced in place. */
  state: Float64Array;
}

/** DSL's growth scoring within one call (towers with a `sparse` hook). */
export interface BprGrowthScoring {
  /** Accumulate growth scores only in the last N batches of this call (−1 = all). */
  scoreLastBatches: number;
}

/** LightGCN's gradients beyond a node's own rows: 1-hop scatter and the 2–4-hop estimators. */
export interface LightGcnHops {
  /** Normalized adjacency over users then items (CSR). */
  graphOffsets: Uint32Array;
  graphIndices: Int32Array;
  graphValues: Float32Array;
  /** Weight of the 1-hop term ÂG (1/(L+1)); 0 turns the hop gradients off. */
  alpha1: number;
  /** Weights of the 2-, 3- and 4-hop terms Â^h G (1/(L+1) for h ≤ L, else 0). @default 0 */
  alpha2?: number;
  alpha3?: number;
  alpha4?: number;
  /** Neighbours per node for those gradients, sampled when the degree is larger (0 = all). @default 0 */
  maxNeighbors?: number;
  /** Uniform random walks per node for each term beyond the first hop. @default 0 */
  twoHopSamples?: number;
  /**
   * Sum each node's final-embedding gradient over the batch before sending it to its neighbours
   * (one scatter per distinct node instead of one per occurrence; with maxNeighbors 0 the 1-hop
   * term is then exact at Σ deg over the batch's distinct nodes). @default false
   */
  aggregateNeighbors?: boolean;
  /**
   * Exact hop terms (needs aggregateNeighbors): ÂG by a scatter from the batch's distinct nodes,
   * then Â^h G = Â·(Â^{h−1} G) by a gather over every node, for every h with a non-zero weight;
   * maxNeighbors and twoHopSamples are then unused. @default false
   */
  exactHops?: boolean;
}

/** LightGCN mode of the kernel (native only). */
export interface LightGcnTraining {
  /**
   * Stale final embeddings `[(numUsers + numItems) × dim]` and the layer-0 embeddings they were
   * computed from; a node's score uses `history + alpha0·(live ego − snapshot)`.
   */
  history: Float32Array;
  snapshot: Float32Array;
  /** Weight of a node's own layer-0 embedding in its final embedding (1/(L+1)). */
  alpha0: number;
  /** Gradients to graph neighbours; without it only a node's own rows get its gradient. */
  hops?: LightGcnHops;
  /**
   * Threads (1 or 2) of the Adam steps and, with aggregateNeighbors, of the neighbour scatter
   * (one thread per side). Deterministic for a given count. @default 1
   */
  threads?: number;
}

/**
 * Arguments of one call of the BPR kernel, one group per concept: the model (`dim`, the two
 * towers with their storage hooks), the data, the batches of this call, sampling, the optimizer,
 * DSL's growth scoring and LightGCN mode. The JavaScript and native kernels take the same object.
 */
export interface BprTrainArgs {
  dim: number;
  user: TowerArrays;
  item: TowerArrays;
  data: BprTrainData;
  batches: BprBatches;
  /** @default uniform negatives, pairs in `perm` order */
  sampling?: BprSampling;
  optimizer: BprOptimizer;
  /** @default every batch scores growth */
  growth?: BprGrowthScoring;
  /** LightGCN mode (native kernels only); MF without it. */
  lightgcn?: LightGcnTraining;
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
