import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, readRecboleInter } from '@compactrec/core';
import {
  BEHAVIOUR_FEEDBACKS,
  type BehaviourFeedback,
  mlSequenceSamples,
  type SyntheticSequenceOptions,
  syntheticLongSequences,
} from '@compactrec/sdim';
import type { CtrSchema } from '../schema.js';
import type { BehaviourAge } from './block.js';
import { SequenceCtrSource, sequenceSchema, splitUserTail } from './source.js';

/** Sequence data formats: MovieLens-100K rating histories and the planted long-sequence task. */
export type SequenceCtrDataFormat = 'ml100k' | 'seq-synthetic';

/** Every {@link SequenceCtrDataFormat}. */
export const SEQUENCE_CTR_DATA_FORMATS: readonly SequenceCtrDataFormat[] = Object.freeze(['ml100k', 'seq-synthetic']);

/** Whether `format` is a {@link SequenceCtrDataFormat}. */
export function isSequenceFormat(format: string): format is SequenceCtrDataFormat {
  return (SEQUENCE_CTR_DATA_FORMATS as readonly string[]).includes(format);
}

/** What a sequence model needs to know about its data besides the schema. */
export interface SequenceDataInfo {
  /** Items; ids 1 .. numItems in `candidates` and `histories` (0 = padding). */
  readonly numItems: number;
  /** L, the history row width. */
  readonly maxLength: number;
  /** seq-synthetic: the planted item embeddings `[(numItems + 1) × plantedDim]` (a model may start from them). */
  readonly plantedItemEmbeddings?: Float32Array;
  /** Behaviour feedback ids run 1 .. numFeedback in `batch.extras.feedback` (absent or 0: none). */
  readonly numFeedback?: number;
  /** Whether the protocol gives each behaviour its age as a side feature (the models' default; absent: 'none'). */
  readonly behaviourAge?: BehaviourAge;
}

/** Options of {@link openSequenceCtrData}; every field is optional. */
export interface OpenSequenceCtrDataOptions {
  /** ml100k: L, the most earlier items a history holds (seq-synthetic: the spec's `maxLength`, default 1024). @default 256 */
  maxLength?: number;
  /** Each user's last ⌈validFraction · n⌉ training samples (by time) are the validation split. @default 0.1 */
  validFraction?: number;
  /**
   * ml100k: what each history behaviour carries besides its item — `'none'`, its `'rating'` (1 .. 5) or
   * `'liked'` (rating ≥ 4). Sequence models then pool item + feedback embeddings (see
   * `SequenceInterestBlockOptions.numFeedback`). seq-synthetic has no feedback.
   * @default 'rating' (ml100k, see {@link ML100K_SEQUENCE_PROTOCOL})
   */
  behaviourFeedback?: BehaviourFeedback;
  /**
   * Whether each behaviour also carries its age (how many behaviours came after it) as a side feature:
   * `'log2'` = ⌊log2(age + 1)⌋ buckets (see `SequenceInterestBlockOptions.behaviourAge`), recorded in
   * `sequence.behaviourAge` as the sequence models' default.
   * @default 'log2' for ml100k (see {@link ML100K_SEQUENCE_PROTOCOL}), 'none' for seq-synthetic
   */
  behaviourAge?: BehaviourAge;
}

/**
 * The ml100k protocol's behaviour side features, chosen by validation AUC (seed 0, every sequence
 * model): each history behaviour carries the rating the user gave it and its age. The candidate has
 * neither (its rating is the label), so SDIM's hashes and DIN's keys stay item embeddings; only the
 * pooled values (item + rating + age embedding) see them — the same for all four models.
 */
export const ML100K_SEQUENCE_PROTOCOL = Object.freeze({
  behaviourFeedback: 'rating' as BehaviourFeedback,
  behaviourAge: 'log2' as BehaviourAge,
});

/** Defaults of {@link OpenSequenceCtrDataOptions}. */
export const DEFAULT_OPEN_SEQUENCE_CTR_DATA_OPTIONS = Object.freeze({
  maxLength: 256,
  validFraction: 0.1,
});

/** Train/valid/test sources of sequence samples. */
export interface SequenceCtrData {
  readonly schema: CtrSchema;
  readonly train: SequenceCtrSource;
  readonly valid: SequenceCtrSource;
  readonly test: SequenceCtrSource;
  readonly sequence: SequenceDataInfo;
  readonly descriptor: Readonly<Record<string, unknown>>;
}

const SPEC_KEYS: readonly (keyof SyntheticSequenceOptions)[] = [
  'numUsers',
  'numItems',
  'numClusters',
  'dim',
  'maxLength',
  'minLength',
  'minInterests',
  'maxInterests',
  'samplesPerUser',
  'historyNoise',
  'clusterSpread',
  'sharpness',
  'bias',
  'noise',
  'testFraction',
  'seed',
];
const SPEC_ALIASES: Readonly<Record<string, keyof SyntheticSequenceOptions>> = {
  users: 'numUsers',
  items: 'numItems',
  clusters: 'numClusters',
  length: 'maxLength',
  perUser: 'samplesPerUser',
};

/**
 * Parses a seq-synthetic spec: `key=value` pairs separated by commas, keys of
 * `SyntheticSequenceOptions` (aliases users, items, clusters, length, perUser); `''` or
 * `seq-synthetic` mean the defaults.
 */
export function parseSequenceSpec(spec: string): SyntheticSequenceOptions {
  const out: Record<string, number> = {};
  if (spec === '' || spec === 'seq-synthetic' || spec === 'synthetic') return out;
  for (const part of spec.split(',')) {
    const [k, v, ...rest] = part.split('=').map((s) => s.trim());
    const key = SPEC_ALIASES[k!] ?? k!;
    const n = Number(v);
    if (
      rest.length > 0 ||
      v === undefined ||
      v === '' ||
      !Number.isFinite(n) ||
      !(SPEC_KEYS as string[]).includes(key)
    ) {
      throw new InvalidArgumentError(
        `ctr/parseSequenceSpec: '${part}' is not key=number with a key among ${[...Object.keys(SPEC_ALIASES), ...SPEC_KEYS].join(', ')} (spec '${spec}')`,
      );
    }
    out[key] = n;
  }
  return out;
}

/**
 * Opens sequence CTR data. `ml100k`: `path` is `ml-100k.inter` (or its directory), read with
 * `readRecboleInter` and turned into samples by `mlSequenceSamples` (each rating after a user's
 * 10th is a sample, label rating ≥ 4, history = the earlier items up to L, each user's last 10 %
 * test; by default each history behaviour carries its rating and age, see {@link ML100K_SEQUENCE_PROTOCOL}).
 * `seq-synthetic`: `path` is a spec for `syntheticLongSequences` (see
 * {@link parseSequenceSpec}); the data seed is the spec's `seed` (default 0), so runs with
 * different model seeds see the same data. Validation: each user's last `validFraction` of train.
 */
export async function openSequenceCtrData(
  format: SequenceCtrDataFormat,
  path: string,
  options: OpenSequenceCtrDataOptions = {},
): Promise<SequenceCtrData> {
  const where = 'ctr/openSequenceCtrData';
  const validFraction = options.validFraction ?? DEFAULT_OPEN_SEQUENCE_CTR_DATA_OPTIONS.validFraction;
  if (!(validFraction > 0 && validFraction < 1)) {
    throw new InvalidArgumentError(`${where}: validFraction (${validFraction}) must be in (0, 1)`);
  }
  let name: string;
  let split: ReturnType<typeof mlSequenceSamples>;
  let planted: Float32Array | undefined;
  let descriptor: Record<string, unknown>;
  let behaviourAge: BehaviourAge;
  if (format === 'ml100k') {
    const maxLength = options.maxLength ?? DEFAULT_OPEN_SEQUENCE_CTR_DATA_OPTIONS.maxLength;
    let file = path;
    const st = await stat(path).catch(() => null);
    if (st?.isDirectory()) file = join(path, 'ml-100k.inter');
    const behaviourFeedback = options.behaviourFeedback ?? ML100K_SEQUENCE_PROTOCOL.behaviourFeedback;
    behaviourAge = options.behaviourAge ?? ML100K_SEQUENCE_PROTOCOL.behaviourAge;
    if (!BEHAVIOUR_FEEDBACKS.includes(behaviourFeedback)) {
      throw new InvalidArgumentError(
        `${where}: behaviourFeedback ('${String(behaviourFeedback)}') must be one of ${BEHAVIOUR_FEEDBACKS.join(', ')}`,
      );
    }
    const inter = await readRecboleInter(file);
    split = mlSequenceSamples(inter, { maxLength, behaviourFeedback });
    name = `ml-100k-seq${maxLength}${behaviourFeedback === 'none' ? '' : `-${behaviourFeedback}`}${behaviourAge === 'none' ? '' : '-age'}`;
    descriptor = { format, path, maxLength, validFraction, behaviourFeedback, behaviourAge };
  } else if (format === 'seq-synthetic') {
    const spec = parseSequenceSpec(path);
    if (options.maxLength !== undefined && spec.maxLength === undefined) spec.maxLength = options.maxLength;
    const syn = syntheticLongSequences(spec);
    split = syn;
    planted = syn.itemEmbeddings;
    behaviourAge = options.behaviourAge ?? 'none';
    name = `seq-synthetic${split.train.maxLength}${behaviourAge === 'none' ? '' : '-age'}`;
    descriptor = { format, path, ...spec, validFraction, behaviourAge };
  } else {
    throw new InvalidArgumentError(
      `${where}: format '${String(format)}' is unknown; use one of ${SEQUENCE_CTR_DATA_FORMATS.join(', ')}`,
    );
  }
  if (behaviourAge !== 'none' && behaviourAge !== 'log2') {
    throw new InvalidArgumentError(`${where}: behaviourAge ('${String(behaviourAge)}') must be 'none' or 'log2'`);
  }
  const { train, test } = split;
  const schema = sequenceSchema(name, train);
  const { head, tail } = splitUserTail(train, validFraction);
  return {
    schema,
    train: new SequenceCtrSource(schema, train, head),
    valid: new SequenceCtrSource(schema, train, tail),
    test: new SequenceCtrSource(schema, test),
    sequence: {
      numItems: train.numItems,
      maxLength: train.maxLength,
      ...(planted ? { plantedItemEmbeddings: planted } : {}),
      ...(train.numFeedback ? { numFeedback: train.numFeedback } : {}),
      ...(behaviourAge !== 'none' ? { behaviourAge } : {}),
    },
    descriptor,
  };
}
