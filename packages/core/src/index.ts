export {
  CHECKPOINT_FORMAT_VERSION,
  CHECKPOINT_MAGIC,
  type Checkpoint,
  type CheckpointArray,
  type CheckpointDtype,
  decodeCheckpoint,
  encodeCheckpoint,
  type ReadCheckpointOptions,
  readCheckpoint,
  readCheckpointSync,
  writeCheckpoint,
  writeCheckpointSync,
} from './checkpoint.js';
export {
  type CtrDataset,
  degrees,
  type Interactions,
  type RetrievalDataset,
  type Sequences,
  transposeInteractions,
} from './data.js';
export {
  BudgetError,
  CompactRecError,
  DataFormatError,
  InvalidArgumentError,
  NotFoundError,
  UsageError,
} from './errors.js';
export { hashInt, mulModPrime, UNIVERSAL_PRIME, UniversalHash } from './hash.js';
export {
  type Combine,
  checkFitRequest,
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
export {
  auc,
  DEFAULT_RANKING_METRICS_OPTIONS,
  logloss,
  type RankingMetrics,
  type RankingMetricsOptions,
  rankingMetrics,
} from './metrics.js';
export {
  createSparseOptimizer,
  DEFAULT_SPARSE_OPTIMIZER_OPTIONS,
  type OptimizerKind,
  type SparseOptimizer,
  type SparseOptimizerOptions,
} from './optim.js';
export { resolveOptions } from './options.js';
export {
  alptGradScale,
  alptInitialStep,
  alptRange,
  alptRoundRow,
  alptStepGradient,
  codeBytesPerRow,
  dequantizeRow,
  f16ToF32,
  f32ToF16,
  fakeQuantRow,
  quantizeRow,
  roundingNoise,
} from './quant.js';
export {
  bucketizeCriteoInt,
  CRITEO_MISSING_CAT,
  CRITEO_MISSING_INT_BUCKET,
  CRITEO_NUM_CATS,
  CRITEO_NUM_FIELDS,
  CRITEO_NUM_INTS,
  type CriteoData,
  criteoBatches,
  DEFAULT_READ_CRITEO_OPTIONS,
  type ReadCriteoOptions,
  readCriteo,
} from './readers/criteo.js';
export { CSV_LABEL_NAMES, type HeaderCsvData, type ReadHeaderCsvOptions, readHeaderCsv } from './readers/csv.js';
export {
  DEFAULT_READ_INTERACTIONS_OPTIONS,
  type ReadInteractionsOptions,
  readInteractionsFile,
  readLightGcnDataset,
  readPairsFile,
  readSequencesFile,
} from './readers/interactions.js';
export {
  DEFAULT_READ_LIBFM_OPTIONS,
  type LibfmData,
  libfmToCtr,
  type ReadLibfmOptions,
  readLibfm,
} from './readers/libfm.js';
export { type RecboleInteractions, readRecboleInter } from './readers/recbole.js';
export {
  DEFAULT_SEQUENTIAL_LOO_OPTIONS,
  readSequentialLooDataset,
  type SequentialLooDataset,
  type SequentialLooOptions,
} from './readers/sequential.js';
export { deriveSeed, fmix32, hashString, Rng } from './rng.js';
export {
  adamStepConstants,
  denseRowStep,
  JS_ROW_KERNELS,
  PendingRowGrads,
  type RowKernels,
  type RowKernelView,
  type RowStepFn,
  type RowStepParams,
  type RowStepSettings,
  rowStepParams,
  sparseRowStep,
} from './row-step.js';
export {
  type DenseTrainingView,
  type EmbeddingStorage,
  FLOAT32_BYTES,
  type QuantHook,
  type QuantizeMode,
  type RowValueCodec,
  type SparseHook,
  type SparseRowsView,
  type StorageCreateOptions,
  type StorageOptimizerOptions,
  type StorageSnapshot,
  type StorageSpec,
} from './storage.js';
export {
  DEFAULT_SYNTHETIC_RETRIEVAL_OPTIONS,
  generateRetrievalDataset,
  type SyntheticRetrievalOptions,
} from './synthetic.js';
export { EmbeddingTable, SparseGradAccumulator } from './table.js';
