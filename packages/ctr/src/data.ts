import { InvalidArgumentError } from '@compactrec/core';
import type { BehaviourFeedback } from '@compactrec/sdim';
import { buildCriteoVocabulary, CriteoCtrSource, type CriteoNumeric, DEFAULT_CRITEO_OPTIONS } from './criteo.js';
import { loadCsvCtr } from './csv.js';
import { loadLibfmCtr } from './frappe.js';
import { MemoryCtrSource } from './memory-source.js';
import type { CtrSchema, CtrSource, FieldCounts } from './schema.js';
import type { BehaviourAge } from './sequence/block.js';
import {
  isSequenceFormat,
  openSequenceCtrData,
  type SequenceCtrDataFormat,
  type SequenceDataInfo,
} from './sequence/data.js';
import { SyntheticCtr, type SyntheticCtrOptions } from './synthetic.js';
import type { FieldVocabulary } from './vocabulary.js';

/**
 * Data formats `openCtrData` reads (`ml100k` and `seq-synthetic` carry behaviour histories for
 * sequence models; `csv` is a header CSV such as Avazu's, with a column mapping).
 */
export type CtrDataFormat = 'frappe' | 'criteo' | 'synthetic' | SequenceCtrDataFormat | 'csv';

/** Every {@link CtrDataFormat}. */
export const CTR_DATA_FORMATS: readonly CtrDataFormat[] = Object.freeze([
  'frappe',
  'criteo',
  'synthetic',
  'ml100k',
  'seq-synthetic',
  'csv',
]);

/** Options of {@link openCtrData}; every field is optional. */
export interface OpenCtrDataOptions {
  /** Seed of the split (and of the synthetic rows). @default 0 */
  seed?: number;
  /** Criteo: minimum training count of a value to get its own ID. @default 10 */
  minCount?: number;
  /** Criteo: how I1..I13 enter. @default 'bucketize' */
  numeric?: CriteoNumeric;
  /** Read at most this many rows per file (libFM, Criteo). @default Infinity */
  maxRows?: number;
  /** A trained model's vocabulary (frappe/criteo) so rows encode as at training time. @default undefined */
  vocabulary?: FieldVocabulary;
  /** A model directory's `data` record: re-opens the data with the options it was trained with. @default undefined */
  saved?: Readonly<Record<string, unknown>>;
  /** ml100k: history length L (seq-synthetic: the spec's `maxLength` wins). @default 256 */
  maxLength?: number;
  /** ml100k / seq-synthetic: each user's last fraction of train samples is validation. @default 0.1 */
  validFraction?: number;
  /** ml100k: what each history behaviour carries besides its item. @default 'rating' (see `ML100K_SEQUENCE_PROTOCOL`) */
  behaviourFeedback?: BehaviourFeedback;
  /** ml100k / seq-synthetic: whether each behaviour carries its age bucket. @default ml100k 'log2', seq-synthetic 'none' */
  behaviourAge?: BehaviourAge;
  /** csv: the label column. @default the first of label, click, clicked, y, target in the header */
  labelColumn?: string;
  /** csv: columns to leave out. @default ['id'] when the header has one */
  dropColumns?: readonly string[];
}

/** A dataset ready for training/evaluation. */
export interface CtrData {
  readonly schema: CtrSchema;
  readonly train: CtrSource;
  readonly valid: CtrSource;
  readonly test: CtrSource;
  /**
   * Every row of the file(s), unsplit (frappe, criteo): what scoring a file the model was not
   * trained on uses. Undefined for generated and sequence data.
   */
  readonly all?: CtrSource;
  /** Training counts per field (for frequency-based methods); computed on first call. */
  counts(): FieldCounts;
  /** The raw value → ID mapping to save with a model (null for synthetic data). */
  readonly vocabulary: FieldVocabulary | null;
  /** What to store as a model directory's `data` record to re-open the data the same way. */
  readonly descriptor: Readonly<Record<string, unknown>>;
  /** Sequence formats only: item count and history width for a sequence model's block. */
  readonly sequence?: SequenceDataInfo;
}

/**
 * Parses a synthetic data spec: `key=value` pairs separated by commas (`fields=26,cardinality=1e6,
 * trainRows=2e6,zipf=1.1`); `''`, `synthetic` or `generated` mean the defaults. Keys are the
 * {@link SyntheticCtrOptions} names (`rows` is an alias of `trainRows`).
 */
export function parseSyntheticSpec(spec: string): SyntheticCtrOptions {
  const where = 'ctr/parseSyntheticSpec';
  const out: Record<string, number> = {};
  if (spec === '' || spec === 'synthetic' || spec === 'generated') return out;
  const known = [
    'fields',
    'cardinality',
    'trainRows',
    'validRows',
    'testRows',
    'zipf',
    'rank',
    'firstOrderStd',
    'pairStd',
    'bias',
    'seed',
  ];
  for (const part of spec.split(',')) {
    const [k, v, ...rest] = part.split('=').map((s) => s.trim());
    const key = k === 'rows' ? 'trainRows' : k!;
    const n = Number(v);
    if (rest.length > 0 || v === undefined || v === '' || !Number.isFinite(n) || !known.includes(key)) {
      throw new InvalidArgumentError(
        `${where}: '${part}' is not key=number with a key among rows, ${known.join(', ')} (spec '${spec}')`,
      );
    }
    out[key] = n;
  }
  return out;
}

/**
 * Opens `path` in `format`: `frappe` (a libFM file or directory; in-memory, seeded 80/20 split with
 * 10 % of train for validation), `criteo` (raw TSV; one counting pass builds the vocabulary, rows
 * stream with a row-hash 80/10/10 split), `synthetic` (`path` is a spec, see {@link parseSyntheticSpec}),
 * `ml100k` / `seq-synthetic` (behaviour histories in `batch.extras`, see `openSequenceCtrData`).
 */
export async function openCtrData(
  format: CtrDataFormat,
  path: string,
  options: OpenCtrDataOptions = {},
): Promise<CtrData> {
  const saved = options.saved ?? {};
  const num = (k: string): number | undefined => (typeof saved[k] === 'number' ? (saved[k] as number) : undefined);
  const seed = options.seed ?? num('seed') ?? 0;
  const maxRows = options.maxRows ?? num('maxRows') ?? Number.POSITIVE_INFINITY;
  if (isSequenceFormat(format)) {
    const maxLength = options.maxLength ?? num('maxLength');
    const validFraction = options.validFraction ?? num('validFraction');
    const str = (k: string): string | undefined => (typeof saved[k] === 'string' ? (saved[k] as string) : undefined);
    const behaviourFeedback = options.behaviourFeedback ?? (str('behaviourFeedback') as BehaviourFeedback | undefined);
    const behaviourAge = options.behaviourAge ?? (str('behaviourAge') as BehaviourAge | undefined);
    const d = await openSequenceCtrData(format, path, {
      ...(maxLength !== undefined ? { maxLength } : {}),
      ...(validFraction !== undefined ? { validFraction } : {}),
      ...(behaviourFeedback !== undefined ? { behaviourFeedback } : {}),
      ...(behaviourAge !== undefined ? { behaviourAge } : {}),
    });
    return { ...d, counts: () => d.train.counts(), vocabulary: null };
  }
  switch (format) {
    case 'frappe': {
      const d = await loadLibfmCtr(path, {
        seed,
        maxRows,
        ...(options.vocabulary ? { vocabulary: options.vocabulary } : {}),
      });
      return {
        schema: d.train.schema,
        train: d.train,
        valid: d.valid,
        test: d.test,
        all: new MemoryCtrSource(d.dataset),
        counts: () => d.train.counts(),
        vocabulary: d.vocabulary,
        descriptor: {
          format,
          path,
          seed,
          ...(Number.isFinite(maxRows) ? { maxRows } : {}),
          testFraction: 0.2,
          validFraction: 0.1,
        },
      };
    }
    case 'criteo': {
      const minCount = options.minCount ?? num('minCount') ?? DEFAULT_CRITEO_OPTIONS.minCount;
      const numeric = options.numeric ?? (saved.numeric as CriteoNumeric | undefined) ?? DEFAULT_CRITEO_OPTIONS.numeric;
      const v = await buildCriteoVocabulary(path, { seed, minCount, numeric, maxRows });
      const enc = options.vocabulary ? { ...v, vocabulary: options.vocabulary } : v;
      if (options.vocabulary && options.vocabulary.numFields !== v.schema.fieldNames.length) {
        throw new InvalidArgumentError(
          `ctr/openCtrData: the model's vocabulary has ${options.vocabulary.numFields} fields but '${path}' read as criteo (${numeric}) has ${v.schema.fieldNames.length}`,
        );
      }
      const schema = options.vocabulary ? { ...v.schema, cardinalities: options.vocabulary.cardinalities } : v.schema;
      const e = { ...enc, schema };
      return {
        schema,
        train: new CriteoCtrSource(path, e, 'train', v.rows.train),
        valid: new CriteoCtrSource(path, e, 'valid', v.rows.valid),
        test: new CriteoCtrSource(path, e, 'test', v.rows.test),
        all: new CriteoCtrSource(path, e, 'all', v.rows.train + v.rows.valid + v.rows.test),
        counts: () => v.counts,
        vocabulary: enc.vocabulary,
        descriptor: { format, path, seed, minCount, numeric, ...(Number.isFinite(maxRows) ? { maxRows } : {}) },
      };
    }
    case 'csv': {
      const label = options.labelColumn ?? (typeof saved.label === 'string' ? saved.label : undefined);
      const drop =
        options.dropColumns ?? (Array.isArray(saved.drop) ? (saved.drop as unknown[]).map(String) : undefined);
      const d = await loadCsvCtr(path, {
        seed,
        maxRows,
        ...(label !== undefined ? { label } : {}),
        ...(drop !== undefined ? { drop } : {}),
        ...(options.vocabulary ? { vocabulary: options.vocabulary } : {}),
      });
      return {
        schema: d.train.schema,
        train: d.train,
        valid: d.valid,
        test: d.test,
        all: d.all,
        counts: () => d.train.counts(),
        vocabulary: d.vocabulary,
        descriptor: {
          format,
          path,
          seed,
          label: d.label,
          drop: [...d.dropped],
          ...(Number.isFinite(maxRows) ? { maxRows } : {}),
          testFraction: 0.2,
          validFraction: 0.1,
        },
      };
    }
    case 'synthetic': {
      const spec = { ...parseSyntheticSpec(path), seed };
      const g = new SyntheticCtr(spec);
      return {
        schema: g.schema,
        train: g.train,
        valid: g.valid,
        test: g.test,
        counts: () => g.expectedCounts(),
        vocabulary: null,
        descriptor: { format, path, seed },
      };
    }
    default:
      throw new InvalidArgumentError(
        `ctr/openCtrData: format '${String(format)}' is unknown; use one of ${CTR_DATA_FORMATS.join(', ')}`,
      );
  }
}

/** Splits a training run needs: the train part, validation for early stopping, test for the report. */
const TRAINING_SPLITS = ['train', 'valid', 'test'] as const;

/**
 * Checks, before any training, that `data` splits into usable parts: every part of the seeded split
 * has samples, and (where the labels are in memory) validation and test hold both classes, which
 * AUC needs. Throws an InvalidArgumentError naming the file, the part sizes and what to do.
 */
export function checkCtrSplits(data: CtrData, path: string): void {
  const where = 'ctr/checkCtrSplits';
  const sizes = TRAINING_SPLITS.map((p) => `${data[p].numSamples ?? '?'} ${p}`).join(' / ');
  for (const part of TRAINING_SPLITS) {
    if (data[part].numSamples === 0) {
      throw new InvalidArgumentError(
        `${where}: '${path}' is too small to split for training: ${sizes} samples, so the ${part} part is empty (early stopping needs valid, the report needs test); use a larger file`,
      );
    }
  }
  for (const part of ['valid', 'test'] as const) {
    const src = data[part];
    if (!(src instanceof MemoryCtrSource)) continue;
    let pos = 0;
    for (let i = 0; i < src.indices.length; i++) if (src.dataset.labels[src.indices[i]!]! > 0.5) pos++;
    const neg = src.indices.length - pos;
    if (pos === 0 || neg === 0) {
      throw new InvalidArgumentError(
        `${where}: '${path}' is too small to split for training: ${sizes} samples, and the ${part} part has ${pos} positive and ${neg} negative labels (AUC needs both); use a larger file`,
      );
    }
  }
}
