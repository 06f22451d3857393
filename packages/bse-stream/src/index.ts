export {
  bearerChecker,
  isLoopbackHost,
  isOpenRoute,
  OPEN_ROUTES,
  readTlsFiles,
  readTokenFile,
  type TlsFiles,
} from './auth.js';
export {
  CHANGELOG_OFFSETS_KEY,
  CHANGELOG_TOPIC_CONFIG,
  type ChangelogEntry,
  ChangelogWriter,
  type ChangelogWriterOptions,
  changelogTopics,
  type RestoreResult,
  restoreFromChangelog,
} from './changelog.js';
export {
  type BehaviourEvent,
  type CodecOptions,
  DEAD_LETTER_REASONS,
  DEFAULT_CODEC_OPTIONS,
  type DeadLetterReason,
  type DeadLetterRecord,
  type DecodeFailure,
  deadLetterRecord,
  decodeDeadLetter,
  decodeEvent,
  encodeDeadLetter,
  encodeEvent,
  isDecodeFailure,
  type MessageSource,
  resolveCodecOptions,
  validateEvent,
} from './codec.js';
export {
  DEFAULT_EVENT_GENERATOR_OPTIONS,
  EventGenerator,
  type EventGeneratorOptions,
} from './generator.js';
export {
  type BseStateJson,
  buildHttpApp,
  decodeSums,
  HTTP_DEFAULTS,
  type HttpDeps,
  type HttpOptions,
  type StatePrecision,
  stateToJson,
} from './http.js';
export { LatencyRing, type MetricsSnapshot, parsePrometheus, RateMeter, renderPrometheus } from './metrics.js';
export {
  COMPRESSED_MODEL_FILE_EXTENSION,
  COMPRESSED_MODEL_KIND,
  type CompressedModelVersion,
  checkVersionName,
  compressedModelPath,
  type DemoModelOptions,
  loadCompressedModelVersion,
  MODEL_FILE_EXTENSION,
  ModelRegistry,
  modelPath,
  saveCompressedModelToDir,
  saveModelToDir,
  writeDemoModel,
} from './models.js';
export { bseDistance, encodeUserState, type RecomputedUser, recomputeStates, sameWindow } from './recompute.js';
export { Reencoder, type ReencoderOptions } from './reencoder.js';
export {
  backoffDelayMs,
  DEFAULT_RETRY_OPTIONS,
  FAST_RETRY_OPTIONS,
  isRetriable,
  RetriesExhaustedError,
  type RetryOptions,
  resolveRetryOptions,
  withRetry,
} from './retry.js';
export {
  DEFAULT_RUNNER_OPTIONS,
  EncoderRunner,
  type PartitionProblem,
  type PartitionView,
  type RunnerOptions,
} from './runner.js';
export {
  type BseService,
  type BseServiceOptions,
  type ProduceOptions,
  produceEvents,
  type ReplayOptions,
  type ReplayResult,
  replayTopic,
  startBseService,
} from './service.js';
export {
  type CachedUser,
  cachedUserBytes,
  type StateCacheStats,
  UserStateCache,
} from './state-cache.js';
export {
  type ApplyModels,
  type ApplyResult,
  CorruptWindowError,
  DEFAULT_STATE_STORE_OPTIONS,
  type PartitionMark,
  recordFingerprint,
  STATE_DB_FILE,
  StateStore,
  type StateStoreOptions,
  type StoreCounter,
  type StoredState,
  type StoreRecord,
} from './store.js';
export {
  type BatchControl,
  type ConsumerHandlers,
  type ConsumerOptions,
  DEFAULT_CONSUMER_OPTIONS,
  type InboundBatch,
  type InboundMessage,
  type KafkaSecurity,
  KafkaTransport,
  type OutboundMessage,
  type OutboundProducer,
  type PartitionOffsets,
  type RunningConsumer,
  type TransactionalProducer,
  type TransportLogLevel,
  type TransportOptions,
} from './transport.js';
export {
  createWindow,
  decodeWindow,
  type Evicted,
  encodeWindow,
  InsertOutcome,
  insertBehaviour,
  type UserWindow,
  wellFormed,
} from './window.js';
