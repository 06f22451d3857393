export { type CtrBenchOptions, DEFAULT_CTR_BENCH_OPTIONS, runCtrBench } from './harness/ctr.js';
export {
  METHOD_SYNTAX,
  methodHelp,
  methodNames,
  methodSpec,
  resolveMethod,
  SHARING_METHODS,
  STORAGE_KINDS,
} from './harness/methods.js';
export { barChartSvg, type ResultRecord, toCsv, toMarkdown, writeResults } from './harness/report.js';
export {
  DEFAULT_RETRIEVAL_BENCH_OPTIONS,
  fitMapper,
  loadRetrievalData,
  RETRIEVAL_RECIPES,
  type RetrievalBenchOptions,
  type RetrievalRecipe,
  runRetrievalBench,
} from './harness/retrieval.js';
