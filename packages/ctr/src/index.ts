export type { CtrInputBlock } from './block.js';
export {
  buildCriteoVocabulary,
  CriteoCtrSource,
  type CriteoEncoding,
  type CriteoNumeric,
  type CriteoOptions,
  type CriteoSplit,
  type CriteoVocabularyResult,
  criteoRowSplit,
  DEFAULT_CRITEO_OPTIONS,
} from './criteo.js';
export {
  CTR_DATA_FORMATS,
  type CtrData,
  type CtrDataFormat,
  checkCtrSplits,
  type OpenCtrDataOptions,
  openCtrData,
  parseSyntheticSpec,
} from './data.js';
export {
  DEFAULT_LOAD_LIBFM_CTR_OPTIONS,
  FRAPPE_FIELDS,
  type LibfmCtrData,
  type LoadLibfmCtrOptions,
  libfmFiles,
  loadLibfmCtr,
} from './frappe.js';
export {
  createFieldEmbeddings,
  createFirstOrderEmbeddings,
  type FieldEmbeddingPlan,
  type FieldGraph,
  fieldGraphs,
  isCompressedField,
} from './mappers.js';
export { type CtrSplit, datasetSchema, MemoryCtrSource, splitIndices } from './memory-source.js';
export {
  type CreateCtrModelInputs,
  type CtrMemory,
  CtrModel,
  type CtrModelOptions,
  type CtrModelParts,
  type CtrModelState,
  type CtrStepPath,
  createCtrModel,
  DEFAULT_CTR_MODEL_OPTIONS,
  fieldEmbeddingPlan,
  type ResolvedCtrModelOptions,
  resolveCtrModelOptions,
} from './model.js';
export {
  CTR_MODEL_DIR_FORMAT,
  CTR_MODEL_DIR_VERSION,
  CTR_MODEL_FILES,
  type CtrModelConfig,
  type LoadCtrModelOptions,
  type LoadedCtrModel,
  loadCtrModel,
  readCtrModelConfig,
  type SaveCtrModelExtras,
  saveCtrModel,
} from './model-dir.js';
export {
  buildCtrNet,
  CTR_MODEL_KINDS,
  type CtrModelKind,
  type CtrNet,
  type CtrNetConfig,
  type CtrNetInputs,
  type CtrTowerSpec,
  type DcnStructure,
  fmTerm,
} from './nets.js';
export { ParamSet, type ParamSpec } from './params.js';
export type { CtrBatch, CtrBatchesOptions, CtrSchema, CtrSource, FieldCounts } from './schema.js';
export {
  type BehaviourAge,
  DEFAULT_SEQUENCE_INTEREST_BLOCK_OPTIONS,
  SEQUENCE_EXTRAS,
  SequenceInterestBlock,
  type SequenceInterestBlockOptions,
} from './sequence/block.js';
export {
  DEFAULT_OPEN_SEQUENCE_CTR_DATA_OPTIONS,
  isSequenceFormat,
  ML100K_SEQUENCE_PROTOCOL,
  type OpenSequenceCtrDataOptions,
  openSequenceCtrData,
  parseSequenceSpec,
  SEQUENCE_CTR_DATA_FORMATS,
  type SequenceCtrData,
  type SequenceCtrDataFormat,
  type SequenceDataInfo,
} from './sequence/data.js';
export { isSequenceModelKind, SEQUENCE_MODEL_KINDS, type SequenceModelKind } from './sequence/kinds.js';
export {
  createSequenceCtrModel,
  type SequenceCtrModel,
  type SequenceCtrModelOptions,
  sequenceItemCounts,
} from './sequence/model.js';
export {
  type LoadedSequenceCtrModel,
  loadSequenceCtrModel,
  type SaveableSequenceModel,
  SEQUENCE_MODEL_FILES,
  type SequenceModelSection,
  saveSequenceCtrModel,
  sequenceItemRows,
} from './sequence/model-dir.js';
export { SequenceCtrSource, sequenceSchema, splitUserTail } from './sequence/source.js';
export { DEFAULT_SYNTHETIC_CTR_OPTIONS, SyntheticCtr, type SyntheticCtrOptions } from './synthetic.js';
export {
  DEFAULT_NATIVE_TOWER_OPTIONS,
  DenseAdam,
  NativeTower,
  type NativeTowerOptions,
  type TowerEngine,
  type TowerLayer,
} from './tower.js';
export {
  type CtrEpochReport,
  type CtrEvaluation,
  type CtrTrainResult,
  DEFAULT_EVALUATE_CTR_OPTIONS,
  DEFAULT_TRAIN_CTR_OPTIONS,
  type EvaluateCtrOptions,
  evaluateCtr,
  type TrainCtrOptions,
  trainCtr,
} from './train.js';
export { FieldVocabulary } from './vocabulary.js';
