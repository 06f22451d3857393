export {
  createFeatureEmbedding,
  DEFAULT_FEATURE_EMBEDDING_OPTIONS,
  FeatureEmbedding,
  type FeatureEmbeddingOptions,
} from './feature-embedding.js';
export {
  decodeFeatureEmbeddings,
  EMBEDDING_CHECKPOINT_KIND,
  EMBEDDING_FORMAT_VERSION,
  encodeFeatureEmbeddings,
  type FeatureEmbeddingSnapshot,
  loadFeatureEmbeddings,
  restoreFeatureEmbedding,
  saveFeatureEmbeddings,
  snapshotFeatureEmbedding,
} from './persist.js';
export {
  type EmbeddingMethod,
  METHOD_SYNTAX,
  methodHelp,
  methodNames,
  resolveMethod,
  SHARING_METHODS,
  STORAGE_KINDS,
} from './registry.js';
export { ALPT4_STORAGE, ALPT8_STORAGE } from './storages/alpt.js';
export {
  DEFAULT_ALPT_STORAGE_EXTRA,
  DEFAULT_STORAGE_OPTIMIZER,
  type DenseFormat,
  type DenseKindConfig,
  DenseStorage,
  denseStorageKind,
} from './storages/dense.js';
export { FLOAT32_STORAGE } from './storages/float32.js';
export { FP16_STORAGE } from './storages/fp16.js';
export { INT4_STORAGE } from './storages/int4.js';
export { INT8_STORAGE } from './storages/int8.js';
