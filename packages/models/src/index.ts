export { evaluateFullRanking, type RetrievalMetrics } from './eval.js';
export { createPropagation, type NormalizedAdjacency, normalizedAdjacency, type Propagation } from './lightgcn.js';
export {
  type BprData,
  DEFAULT_MF_BPR_OPTIONS,
  lrScale,
  type MfBprOptions,
  type MfBprResult,
  type MfEpochAction,
  type MfEpochReport,
  prepareBprData,
  trainMfBpr,
} from './mf.js';
export { DEFAULT_TOWER_OPTIONS, Tower, type TowerOptions } from './tower.js';
