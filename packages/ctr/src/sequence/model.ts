import { InvalidArgumentError } from '@compactrec/core';
import { resolveMethod } from '@compactrec/embedding';
import type { Tf } from '@compactrec/tf-backend';
import { type CtrModel, type CtrModelOptions, createCtrModel, DEFAULT_CTR_MODEL_OPTIONS } from '../model.js';
import type { CtrSchema, CtrSource, FieldCounts } from '../schema.js';
import { SEQUENCE_EXTRAS, SequenceInterestBlock, type SequenceInterestBlockOptions } from './block.js';
import type { SequenceDataInfo } from './data.js';
import { SEQUENCE_MODEL_KINDS, type SequenceModelKind } from './kinds.js';

/**
 * Options of {@link createSequenceCtrModel}: the CTR model options (the network is always `dnn`:
 * an MLP over the concatenated features) with a sequence `model`, plus the sequence block's
 * settings. `dim`, `lr`/`embeddingLr`, `sparseOptimizer`, `initStd` and `seed` apply to the item
 * table and attention as well, so every sequence model trains with the same settings.
 */
export interface SequenceCtrModelOptions
  extends Omit<CtrModelOptions, 'model'>,
    Omit<
      SequenceInterestBlockOptions,
      | 'kind'
      | 'numItems'
      | 'maxLength'
      | 'dim'
      | 'lr'
      | 'sparseOptimizer'
      | 'initStd'
      | 'seed'
      | 'initialTable'
      | 'numFeedback'
      | 'itemMethod'
      | 'itemBudget'
      | 'itemCounts'
      | 'itemExtra'
      | 'itemStorageExtra'
      | 'quantize'
      | 'totalSteps'
    > {
  /** The sequence model. @default 'sdim' */
  model?: SequenceModelKind;
  /**
   * Item table init: random N(0, initStd²), or the data's planted embeddings (seq-synthetic only;
   * its `dim` must equal the model's) — the same start for every model. @default 'random'
   */
  initItems?: 'random' | 'planted';
}

/** A sequence CTR model and its sequence block (for byte counts and tests). */
export interface SequenceCtrModel {
  readonly model: CtrModel;
  readonly block: SequenceInterestBlock;
  readonly kind: SequenceModelKind;
}

/**
 * Builds a sequence CTR model: MLP over [user-id embedding (and any other fields), candidate,
 * long-term interest, short-term interest], the last three from a {@link SequenceInterestBlock}
 * whose item table is shared by candidate and behaviours (and, when the data's behaviours carry
 * feedback or age, feedback / age tables added to the pooled values; `data.sequence` sets both).
 * `data` is what `openCtrData` returns for
 * a sequence format (its `sequence` says the item count and L). `method`, `budget`, `quantize`,
 * `totalSteps` and `extra` apply to the item table as well as to the fields (frequency methods need
 * `inputs.itemCounts`, see {@link sequenceItemCounts}).
 */
export function createSequenceCtrModel(
  tf: Tf,
  data: { readonly schema: CtrSchema; readonly sequence?: SequenceDataInfo | undefined },
  options: SequenceCtrModelOptions = {},
  inputs: { readonly counts?: FieldCounts; readonly itemCounts?: Uint32Array } = {},
): SequenceCtrModel {
  const where = 'ctr/createSequenceCtrModel';
  const kind = options.model ?? 'sdim';
  if (!SEQUENCE_MODEL_KINDS.includes(kind)) {
    throw new InvalidArgumentError(
      `${where}: model '${String(kind)}' is not a sequence model; use one of ${SEQUENCE_MODEL_KINDS.join(', ')}`,
    );
  }
  if (!data.sequence) {
    throw new InvalidArgumentError(
      `${where}: the data '${data.schema.name}' has no behaviour histories; open it with a sequence format (ml100k, seq-synthetic)`,
    );
  }
  const {
    model: _model,
    shortLength,
    numHashes,
    bitsPerSignature,
    sdimPooling,
    attentionHidden,
    attentionNormalization,
    evalChunk,
    interestDropout,
    longGradientScale,
    behaviourAge,
    initItems,
    ...ctr
  } = options;
  let initialTable: Float32Array | undefined;
  if (initItems === 'planted') {
    initialTable = data.sequence.plantedItemEmbeddings;
    if (!initialTable) {
      throw new InvalidArgumentError(
        `${where}: initItems 'planted' needs seq-synthetic data (it has planted embeddings)`,
      );
    }
  } else if (initItems !== undefined && initItems !== 'random') {
    throw new InvalidArgumentError(`${where}: initItems ('${String(initItems)}') must be 'random' or 'planted'`);
  }
  const lr = ctr.embeddingLr ?? ctr.lr;
  const itemMethod = ctr.method ?? 'full';
  const block = new SequenceInterestBlock({
    kind,
    numItems: data.sequence.numItems,
    maxLength: data.sequence.maxLength,
    numFeedback: data.sequence.numFeedback ?? 0,
    ...(initialTable ? { initialTable } : {}),
    ...(inputs.itemCounts ? { itemCounts: inputs.itemCounts } : {}),
    ...(ctr.extra ? { itemExtra: ctr.extra } : {}),
    ...(ctr.storageExtra ? { itemStorageExtra: ctr.storageExtra } : {}),
    itemMethod,
    itemBudget: resolveMethod(itemMethod).uncompressed ? 1 : (ctr.budget ?? DEFAULT_CTR_MODEL_OPTIONS.budget),
    ...defined({
      quantize: ctr.quantize,
      totalSteps: ctr.totalSteps,
      shortLength,
      numHashes,
      bitsPerSignature,
      sdimPooling,
      attentionHidden,
      attentionNormalization,
      evalChunk,
      interestDropout,
      longGradientScale,
      behaviourAge: behaviourAge ?? data.sequence.behaviourAge,
      dim: ctr.dim,
      lr,
      sparseOptimizer: ctr.sparseOptimizer,
      initStd: ctr.initStd,
      seed: ctr.seed,
    }),
  });
  const model = createCtrModel(
    tf,
    data.schema,
    { ...ctr, model: 'dnn' },
    { blocks: [block], ...(inputs.counts ? { counts: inputs.counts } : {}) },
  );
  return { model, block, kind };
}

function defined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * Training frequency of each item id (length numItems + 1; id 0, padding, counts 0): how often it
 * is a candidate in the split — what frequency methods fit the item table on.
 */
export async function sequenceItemCounts(train: CtrSource, numItems: number): Promise<Uint32Array> {
  const counts = new Uint32Array(numItems + 1);
  for await (const b of train.batches({ batchSize: 4096 })) {
    const c = b.extras?.[SEQUENCE_EXTRAS.candidates];
    if (!(c instanceof Int32Array)) {
      throw new InvalidArgumentError(
        'ctr/sequenceItemCounts: batches carry no candidates; open the data with a sequence format (ml100k, seq-synthetic)',
      );
    }
    for (let s = 0; s < b.size; s++) {
      const id = c[s]!;
      if (id >= 1 && id <= numItems) counts[id]!++;
    }
  }
  return counts;
}
