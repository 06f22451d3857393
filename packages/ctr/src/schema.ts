/**
 * What a CTR model sees of its data: the field layout (schema), one mini-batch, and a source of
 * mini-batches that may stream from disk or a generator, so data bigger than memory trains.
 */

/** The layout every batch of a dataset follows. */
export interface CtrSchema {
  /** Dataset name for reports. */
  readonly name: string;
  /** One name per categorical field. */
  readonly fieldNames: readonly string[];
  /** IDs per field (IDs of field f are 0 .. cardinalities[f] − 1); the size of each full table. */
  readonly cardinalities: Int32Array;
  /** Dense (numeric) features per sample (0 when every feature is categorical). */
  readonly numDense: number;
}

/**
 * One mini-batch. `ids[s * F + f]` is sample s's ID in field f (F = fields). Arrays may be views
 * into buffers the source reuses: consume a batch before asking for the next one.
 */
export interface CtrBatch {
  /** Samples in this batch. */
  readonly size: number;
  /** `[size × F]` row-major field IDs. */
  readonly ids: Int32Array;
  /** 0/1 labels, length size. */
  readonly labels: Float32Array;
  /** `[size × numDense]` dense features, or null when the schema has none. */
  readonly dense: Float32Array | null;
  /**
   * Per-sample side data for input blocks (e.g. a behaviour history as CSR `historyOffsets` /
   * `historyItems`), by name; sources without any leave it out.
   */
  readonly extras?: Readonly<Record<string, Int32Array | Uint32Array | Float32Array>>;
}

/** Options of {@link CtrSource.batches}. */
export interface CtrBatchesOptions {
  /** Samples per batch (the last one may be smaller). */
  readonly batchSize: number;
  /** Shuffle seed; sources that can shuffle use it (in-memory ones do, streaming ones read in order). */
  readonly shuffleSeed?: number;
}

/** A replayable source of mini-batches of one split (train, validation or test). */
export interface CtrSource {
  readonly schema: CtrSchema;
  /** Samples per pass, when known (in-memory and generated sources know it). */
  readonly numSamples: number | undefined;
  /** One pass over the split. */
  batches(options: CtrBatchesOptions): AsyncIterable<CtrBatch>;
}

/** Training-part frequency of every ID, per field (what frequency-based mappers fit on). */
export type FieldCounts = readonly Uint32Array[];
