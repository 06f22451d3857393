/**
 * Sequence models in model directories. A sequence model directory is an ordinary CTR model
 * directory (config.json, dense.ckpt, tables.ckpt, mappers.ckpt: the user-id field and the MLP) plus:
 *
 * - `sequence.ckpt`: the sequence block — item table, behaviour feedback / age tables, attention MLPs;
 * - config.json `sequence`: the block's resolved options, the data's sequence info and `bseVersion`;
 * - SDIM only: `bse/<bseVersion>.sdim`, the model version the streaming BSE encoder builds user states
 *   with (item table rows 0 .. numItems, row 0 = padding, and the SDIM block's SimHash projections).
 *   `compactrec bse serve --model-dir <dir>/bse` builds exactly the states this model reads.
 *
 * `bseVersion` is a content hash of the saved weights, so two different models never share a version
 * and a server can tell a BSE state of another model apart.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type CheckpointArray, readCheckpoint, UsageError, writeCheckpoint } from '@compactrec/core';
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
  bseDir: 'bse',
});

/** The `sequence` section of a sequence model's config.json. */
export interface SequenceModelSection {
  readonly kind: SequenceModelKind;
  /** The block's resolved options (what `new SequenceInterestBlock` needs, without an initial table). */
  readonly block: Omit<SequenceInterestBlockOptions, 'initialTable'>;
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

interface BlockStateArrays {
  readonly table: Float32Array;
  readonly feedback: Float32Array | null;
  readonly age: Float32Array | null;
  readonly dense: readonly Float32Array[];
}

function contentVersion(kind: string, s: BlockStateArrays, params: readonly Float32Array[]): string {
  const h = createHash('sha256');
  const add = (a: Float32Array | null): void => {
    if (a) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  };
  add(s.table);
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
  const state = block.captureState() as BlockStateArrays;
  const bseVersion = contentVersion(kind, state, model.paramValues());
  const arrays: Record<string, CheckpointArray> = { table: state.table };
  if (state.feedback) arrays.feedback = state.feedback;
  if (state.age) arrays.age = state.age;
  state.dense.forEach((a, i) => {
    arrays[`dense/${i}`] = a;
  });
  const files: string[] = [];
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
      itemEmbeddings: state.table,
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
  const block = new SequenceInterestBlock({ ...section.block, kind: section.kind });
  const f32 = (name: string, need: boolean): Float32Array | null => {
    const a = ck.arrays[name];
    if (a === undefined && !need) return null;
    if (!(a instanceof Float32Array)) {
      throw new UsageError(`${where}: '${dir}/${SEQUENCE_MODEL_FILES.block}' lacks ${name}; re-train the model`);
    }
    return a.slice();
  };
  const current = block.captureState() as BlockStateArrays;
  const state: BlockStateArrays = {
    table: f32('table', true)!,
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
  if (state.table.length !== current.table.length) {
    throw new UsageError(
      `${where}: '${dir}/${SEQUENCE_MODEL_FILES.block}' item table has ${state.table.length} values; the config needs ${current.table.length}`,
    );
  }
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
      equalArrays(bseModel.itemEmbeddings, block.table.data);
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

function equalArrays(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}
