/**
 * Sequence models in model directories. A sequence model directory is an ordinary CTR model
 * directory (config.json, dense.ckpt, tables.ckpt, mappers.ckpt: the user-id field and the MLP) plus:
 *
 * - `sequence-items.ckpt`: the item embedding through the embedding contract (a `feature-embeddings`
 *   checkpoint holding `items`: mapper + storage in served form, so a compressed item table — e.g.
 *   `double-frequency+int8` — is saved and served compressed);
 * - `sequence.ckpt`: the rest of the sequence block — behaviour feedback / age tables, attention MLPs;
 * - config.json `sequence`: the block's resolved options, the data's sequence info and `bseVersion`;
 * - SDIM only: `bse/<bseVersion>.sdim`, the model version the streaming BSE encoder builds user states
 *   with (the item embedding's rows of ids 0 .. numItems as float32, row 0 = padding, and the SDIM
 *   block's SimHash projections).
 *   `compactrec bse serve --model-dir <dir>/bse` builds exactly the states this model reads.
 *
 * `bseVersion` is a content hash of the saved weights, so two different models never share a version
 * and a server can tell a BSE state of another model apart.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type CheckpointArray, readCheckpoint, UsageError, writeCheckpoint } from '@compactrec/core';
import {
  encodeFeatureEmbeddings,
  type FeatureEmbedding,
  loadFeatureEmbeddings,
  saveFeatureEmbeddings,
} from '@compactrec/embedding';
import { loadSdimModelVersion, type SdimModelVersion, saveSdimModelVersion } from '@compactrec/sdim';
import type { Tf } from '@compactrec/tf-backend';
import type { CtrModel } from '../model.js';
import {
  type CtrModelConfig,
  type LoadCtrModelOptions,
  loadCtrModel,
  readCtrModelConfig,
  type SaveCtrModelExtras,
  saveCtrModel,
} from '../model-dir.js';
import type { FieldVocabulary } from '../vocabulary.js';
import { SequenceInterestBlock, type SequenceInterestBlockOptions } from './block.js';
import { isSequenceModelKind, type SequenceModelKind } from './kinds.js';

/** Files a sequence model adds to a model directory. */
export const SEQUENCE_MODEL_FILES = Object.freeze({
  block: 'sequence.ckpt',
  items: 'sequence-items.ckpt',
  bseDir: 'bse',
});

/** The `sequence` section of a sequence model's config.json. */
export interface SequenceModelSection {
  readonly kind: SequenceModelKind;
  /** The block's resolved options (what `new SequenceInterestBlock` needs besides its item embedding). */
  readonly block: Omit<SequenceInterestBlockOptions, 'initialTable' | 'items' | 'itemCounts'>;
  /** Items (ids 1 .. numItems) and L. */
  readonly numItems: number;
  readonly maxLength: number;
  /** Version of the BSE model (SDIM) or of the weights (other kinds): `<kind>-<12 hex of a SHA-256>`. */
  readonly bseVersion: string;
  /** SDIM: the model version file relative to the directory (`bse/<bseVersion>.sdim`); null otherwise. */
  readonly bseFile: string | null;
}

/** A sequence model as {@link saveSequenceCtrModel} takes it (what `createSequenceCtrModel` returns). */
export interface SaveableSequenceModel {
  readonly model: CtrModel;
  readonly block: SequenceInterestBlock;
  readonly kind: SequenceModelKind;
}

/** A loaded sequence model directory. */
export interface LoadedSequenceCtrModel {
  readonly model: CtrModel;
  readonly block: SequenceInterestBlock;
  readonly kind: SequenceModelKind;
  readonly config: CtrModelConfig;
  readonly section: SequenceModelSection;
  /** SDIM: the BSE model version (item table + projections) its user states must be built with. */
  readonly bseModel: SdimModelVersion | null;
  readonly vocabulary: FieldVocabulary | null;
}

/** What `SequenceInterestBlock.captureState` returns besides the item storage (null once served). */
interface BlockStateArrays {
  readonly feedback: Float32Array | null;
  readonly age: Float32Array | null;
  readonly dense: readonly Float32Array[];
}

/** Name of the item embedding inside `sequence-items.ckpt`. */
const ITEMS = 'items';

/** The float32 rows the item embedding serves for ids 0 .. numItems (`[(numItems + 1) × dim]`). */
export function sequenceItemRows(block: SequenceInterestBlock): Float32Array {
  const n = block.numItems + 1;
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  const out = new Float32Array(n * block.dim);
  block.items.lookup(ids, out, n);
  return out;
}

function contentVersion(kind: string, items: Uint8Array, s: BlockStateArrays, params: readonly Float32Array[]): string {
  const h = createHash('sha256');
  const add = (a: Float32Array | null): void => {
    if (a) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  };
  h.update(items);
  add(s.feedback);
  add(s.age);
  for (const a of s.dense) add(a);
  for (const a of params) add(a);
  return `${kind}-${h.digest('hex').slice(0, 12)}`;
}

/**
 * Writes a sequence model directory (see the module doc): the CTR model files, `sequence.ckpt`, and for
 * SDIM `bse/<bseVersion>.sdim`; config.json last, so a directory with a config is complete. Returns the
 * files written and the BSE version.
 */
export async function saveSequenceCtrModel(
  seq: SaveableSequenceModel,
  dir: string,
  extras: Omit<SaveCtrModelExtras, 'sequence'> = {},
): Promise<{ files: string[]; bseVersion: string }> {
  const { model, block, kind } = seq;
  await mkdir(dir, { recursive: true });
  // The item table goes through the embedding contract in its served form (finishTraining first).
  block.finishTraining();
  const state = block.captureState() as BlockStateArrays;
  const bseVersion = contentVersion(
    kind,
    encodeFeatureEmbeddings({ [ITEMS]: block.items }),
    state,
    model.paramValues(),
  );
  const arrays: Record<string, CheckpointArray> = {};
  if (state.feedback) arrays.feedback = state.feedback;
  if (state.age) arrays.age = state.age;
  state.dense.forEach((a, i) => {
    arrays[`dense/${i}`] = a;
  });
  const files: string[] = [];
  const itemsPath = join(dir, SEQUENCE_MODEL_FILES.items);
  await saveFeatureEmbeddings(itemsPath, { [ITEMS]: block.items });
  files.push(itemsPath);
  const blockPath = join(dir, SEQUENCE_MODEL_FILES.block);
  await writeCheckpoint(blockPath, 'ctr-sequence', { kind, dense: state.dense.length }, arrays);
  files.push(blockPath);
  let bseFile: string | null = null;
  const hasher = block.hasher;
  if (hasher) {
    bseFile = `${SEQUENCE_MODEL_FILES.bseDir}/${bseVersion}.sdim`;
    await mkdir(join(dir, SEQUENCE_MODEL_FILES.bseDir), { recursive: true });
    await saveSdimModelVersion(join(dir, bseFile), {
      version: bseVersion,
      hasher,
      itemEmbeddings: sequenceItemRows(block),
      numItems: block.numItems + 1,
      dim: block.dim,
    });
    files.push(join(dir, bseFile));
  }
  const section: SequenceModelSection = {
    kind,
    block: { ...block.options },
    numItems: block.numItems,
    maxLength: block.maxLength,
    bseVersion,
    bseFile,
  };
  files.push(
    ...(await saveCtrModel(model, dir, { ...extras, sequence: section as unknown as Record<string, unknown> })),
  );
  return { files, bseVersion };
}

/**
 * Loads a directory written by {@link saveSequenceCtrModel}; predictions equal the saved model's.
 * A directory without a sequence section, or with a damaged / mismatching `sequence.ckpt` or BSE
 * file, is a UsageError naming the file.
 */
export async function loadSequenceCtrModel(
  tf: Tf,
  dir: string,
  options: Omit<LoadCtrModelOptions, 'blocks'> = {},
): Promise<LoadedSequenceCtrModel> {
  const where = 'ctr/loadSequenceCtrModel';
  const config = await readCtrModelConfig(dir);
  const section = config.sequence as SequenceModelSection | undefined;
  if (!section || !isSequenceModelKind(String(section.kind))) {
    throw new UsageError(
      `${where}: '${dir}' holds a ${config.options.model} model, not a sequence model; load it with loadCtrModel`,
    );
  }
  const ck = await readCheckpoint(join(dir, SEQUENCE_MODEL_FILES.block), { kind: 'ctr-sequence' });
  const items = await loadItems(dir, where);
  const block = new SequenceInterestBlock({ ...section.block, kind: section.kind, items });
  const f32 = (name: string, need: boolean): Float32Array | null => {
    const a = ck.arrays[name];
    if (a === undefined && !need) return null;
    if (!(a instanceof Float32Array)) {
      throw new UsageError(`${where}: '${dir}/${SEQUENCE_MODEL_FILES.block}' lacks ${name}; re-train the model`);
    }
    return a.slice();
  };
  const current = block.captureState() as BlockStateArrays;
  const state = {
    items: null,
    itemWeights: null,
    feedback: block.feedbackTable ? f32('feedback', true) : null,
    age: block.ageTable ? f32('age', true) : null,
    dense: current.dense.map((cur, i) => {
      const a = f32(`dense/${i}`, true)!;
      if (a.length !== cur.length) {
        throw new UsageError(
          `${where}: '${dir}/${SEQUENCE_MODEL_FILES.block}' dense/${i} has ${a.length} values; the block needs ${cur.length}; re-train the model`,
        );
      }
      return a;
    }),
  };
  block.restoreState(state);
  const loaded = await loadCtrModel(tf, dir, { ...options, blocks: [block] });
  let bseModel: SdimModelVersion | null = null;
  if (block.hasher) {
    if (!section.bseFile) throw new UsageError(`${where}: '${dir}' is an SDIM model without a BSE file; re-train it`);
    bseModel = await loadSdimModelVersion(join(dir, section.bseFile));
    const same =
      bseModel.version === section.bseVersion &&
      bseModel.dim === block.dim &&
      bseModel.numItems === block.numItems + 1 &&
      equalArrays(bseModel.hasher.projections, block.hasher.projections) &&
      equalArrays(bseModel.itemEmbeddings, sequenceItemRows(block));
    if (!same) {
      loaded.model.dispose();
      throw new UsageError(
        `${where}: '${dir}/${section.bseFile}' does not hold this model's item table and SimHash projections (version '${bseModel.version}', expected '${section.bseVersion}'); the directory is damaged — re-train it`,
      );
    }
  }
  return {
    model: loaded.model,
    block,
    kind: section.kind,
    config: loaded.config,
    section,
    bseModel,
    vocabulary: loaded.vocabulary,
  };
}

/** Reads `sequence-items.ckpt` (the item embedding in served form); a missing or damaged file is a UsageError naming it. */
async function loadItems(dir: string, where: string): Promise<FeatureEmbedding> {
  const path = join(dir, SEQUENCE_MODEL_FILES.items);
  let loaded: Record<string, FeatureEmbedding>;
  try {
    loaded = await loadFeatureEmbeddings(path);
  } catch (err) {
    throw new UsageError(
      `${where}: '${path}' (the item embedding) cannot be read: ${(err as Error).message}; the directory is damaged — re-train it`,
    );
  }
  const items = loaded[ITEMS];
  if (items === undefined) {
    throw new UsageError(`${where}: '${path}' lacks the item embedding '${ITEMS}'; re-train the model`);
  }
  return items;
}

function equalArrays(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}
