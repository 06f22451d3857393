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
