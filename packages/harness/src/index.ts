export { type CtrBenchOptions, DEFAULT_CTR_BENCH_OPTIONS, runCtrBench } from './ctr.js';
export { type RunEnvironment, runEnvironment } from './environment.js';
export {
  METHOD_SYNTAX,
  methodHelp,
  methodNames,
  methodSpec,
  resolveMethod,
  SHARING_METHODS,
  STORAGE_KINDS,
} from './methods.js';
export {
  type BestTracker,
  bestTracker,
  DEFAULT_PROTOCOL,
  gridPoints,
  type HyperParams,
  meanStd,
  parseBudgets,
  parseSeeds,
  parseTuneGrid,
  type TuneGrid,
} from './protocol.js';
export {
  type BarChartOptions,
  barChartSvg,
  formatBytes,
  type RecordSink,
  type ResultRecord,
  type ResultValue,
  resultsSink,
  toCsv,
  toMarkdown,
  writeResults,
} from './report.js';
export {
  DEFAULT_RETRIEVAL_BENCH_OPTIONS,
  fitMapper,
  loadRetrievalData,
  RETRIEVAL_RECIPES,
  type RetrievalBenchOptions,
  type RetrievalRecipe,
  runRetrievalBench,
} from './retrieval.js';
export { holdoutValidation, unionInteractions, type ValidatedRetrievalData, validationSplit } from './split.js';
export {
  appendJournal,
  datasetIdentity,
  hashOf,
  JOURNAL_FILE,
  readJournal,
  runSweep,
  type SweepCell,
  type SweepGroup,
  type SweepOptions,
  type SweepResult,
  stableStringify,
  summarizeGroup,
  summarizeJournal,
} from './sweep.js';
