export {
  type ClusterOptions,
  type ClusterSearch,
  type ClusterSearchStep,
  clusterInteractions,
  DEFAULT_CLUSTER_OPTIONS,
  type GraphClustering,
} from './cluster.js';
export type { ModularityKind } from './graph.js';
export {
  createGraphHashMapper,
  DEFAULT_GRAPHHASH_MAPPER_OPTIONS,
  GraphHashMapper,
  type GraphHashMapperOptions,
  type GraphHashMethod,
  restoreGraphHashMapper,
  type Side,
  type UnseenAssignment,
} from './mapper.js';
export { GRAPHHASH_METHODS, type GraphHashExtra, useClustering } from './methods.js';
export { interactionModularity } from './modularity.js';
export { CLUSTERING_CHECKPOINT_KIND, loadClustering, saveClustering } from './persist.js';
export { type GraphHashTargeting, louvainRuns, type SideClusteringRequest, sideClustering } from './shared.js';
export {
  type ClusterLimits,
  clusterToBudget,
  DEFAULT_TARGET_OPTIONS,
  type LouvainRunStore,
  rowsForBudget,
  type TargetOptions,
} from './target.js';
export { assignUnseen } from './unseen.js';
