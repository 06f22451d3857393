export {
  BudgetError,
  CompactRecError,
  DataFormatError,
  InvalidArgumentError,
  NotFoundError,
  UsageError,
} from './errors.js';
export { deriveSeed, fmix32, hashString, Rng } from './rng.js';
export { hashInt, mulModPrime, UNIVERSAL_PRIME, UniversalHash } from './hash.js';
export { EmbeddingTable, SparseGradAccumulator } from './table.js';
export {
  createSparseOptimizer,
  DEFAULT_SPARSE_OPTIMIZER_OPTIONS,
  type OptimizerKind,
  type SparseOptimizer,
  type SparseOptimizerOptions,
} from './optim.js';
export {
  type CtrDataset,
  degrees,
  type Interactions,
  type RetrievalDataset,
  type Sequences,
  transposeInteractions,
} from './data.js';
export {
  checkFitRequest,
  type Combine,
  embeddingBytes,
  fullTableBytes,
  type IdMapper,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSnapshot,
  type MapperSpec,
  materializeCodes,
  unknownId,
} from './mapper.js';
