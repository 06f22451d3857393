export { DEFAULT_DENSE_ADAM_OPTIONS, DenseAdam, type DenseAdamOptions } from './adam.js';
export {
  BSE_FORMAT_VERSION,
  type BseState,
  bseAdd,
  bseBytes,
  bseRemove,
  createBseState,
  deserializeBse,
  encodeBse,
  readInterest,
  serializeBse,
} from './bse.js';
export {
  type AttentionNormalization,
  DEFAULT_DIN_ATTENTION_OPTIONS,
  DinAttention,
  type DinAttentionOptions,
} from './din-attention.js';
export {
  createSdimModelVersion,
  loadSdimModelVersion,
  SDIM_MODEL_KIND,
  type SdimModelVersion,
  saveSdimModelVersion,
} from './model-version.js';
export {
  allocSamples,
  BEHAVIOUR_FEEDBACKS,
  type BehaviourFeedback,
  DEFAULT_ML_SEQUENCE_OPTIONS,
  gatherSequenceBatch,
  type MlSequenceOptions,
  mlSequenceSamples,
  type SequenceSamples,
  type SequenceSplit,
} from './samples.js';
export { SDIM_POOLINGS, SdimLayer, type SdimPooling } from './sdim-layer.js';
export { DEFAULT_SIMHASH_OPTIONS, SimHasher, type SimHashOptions } from './simhash.js';
export {
  DEFAULT_SYNTHETIC_SEQUENCE_OPTIONS,
  type SyntheticSequenceOptions,
  type SyntheticSequences,
  syntheticLongSequences,
} from './synthetic.js';
