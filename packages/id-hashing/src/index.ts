export { fitRows, maxRowsForBudget, SCALAR_BYTES } from './budget.js';
export { DOUBLE_SPEC, DoubleMapper } from './double.js';
export { DOUBLE_FREQUENCY_SPEC, DoubleFrequencyMapper } from './double-frequency.js';
export { DEFAULT_FREQUENCY_OPTIONS, FREQUENCY_SPEC, FrequencyMapper, type FrequencyOptions } from './frequency.js';
export { FULL_SPEC, FullMapper } from './full.js';
export {
  DEFAULT_HASH_EMBEDDING_OPTIONS,
  HASH_EMBEDDING_SPEC,
  HashEmbeddingMapper,
  type HashEmbeddingOptions,
} from './hash-embedding.js';
export { DEFAULT_LSH_OPTIONS, LSH_SPEC, LshMapper, type LshOptions, simHashBits } from './lsh.js';
export { MODULO_SPEC, ModuloMapper } from './modulo.js';
export { DEFAULT_QR_OPTIONS, QR_SPEC, QrMapper, type QrOptions, qrMinRows, qrRemainderSize } from './qr.js';
export { getMapperSpec, ID_HASHING_METHODS, restoreMapper } from './registry.js';
export { UNIVERSAL_SPEC, UniversalMapper } from './universal.js';
