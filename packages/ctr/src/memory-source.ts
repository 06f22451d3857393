import { type CtrDataset, deriveSeed, InvalidArgumentError, Rng } from '@compactrec/core';
import { checkInt } from './internal/check.js';
import type { CtrBatch, CtrBatchesOptions, CtrSchema, CtrSource, FieldCounts } from './schema.js';

/** The schema of an in-memory {@link CtrDataset} (no dense features). */
export function datasetSchema(dataset: CtrDataset): CtrSchema {
  return {
    name: dataset.name,
    fieldNames: dataset.fieldNames,
    cardinalities: dataset.cardinalities,
    numDense: 0,
  };
}

/**
 * A subset of an in-memory {@link CtrDataset} (the samples listed in `indices`) as a
 * {@link CtrSource}. With a shuffle seed every pass visits the samples in a seeded order;
 * batches reuse two buffers.
 */
export class MemoryCtrSource implements CtrSource {
  readonly schema: CtrSchema;
  readonly dataset: CtrDataset;
  /** Sample indices of this split, in dataset order. */
  readonly indices: Int32Array;

  constructor(dataset: CtrDataset, indices?: Int32Array) {
    this.dataset = dataset;
    this.schema = datasetSchema(dataset);
    if (indices) {
      for (let i = 0; i < indices.length; i++) {
        const s = indices[i]!;
        if (!(s >= 0 && s < dataset.numSamples)) {
          throw new InvalidArgumentError(
            `ctr/MemoryCtrSource: indices[${i}] (${s}) is outside [0, ${dataset.numSamples}) of '${dataset.name}'`,
          );
        }
      }
    }
    this.indices = indices ?? Int32Array.from({ length: dataset.numSamples }, (_, i) => i);
  }

  get numSamples(): number {
    return this.indices.length;
  }

  async *batches(options: CtrBatchesOptions): AsyncGenerator<CtrBatch> {
    checkInt('ctr/MemoryCtrSource.batches', 'batchSize', options.batchSize, 1);
    const order = this.indices.slice();
    if (options.shuffleSeed !== undefined) new Rng(options.shuffleSeed).shuffle(order);
    const F = this.dataset.numFields;
    const B = Math.min(options.batchSize, Math.max(order.length, 1));
    const ids = new Int32Array(B * F);
    const labels = new Float32Array(B);
    const src = this.dataset.ids;
    const y = this.dataset.labels;
    for (let start = 0; start < order.length; start += B) {
      const n = Math.min(B, order.length - start);
      for (let j = 0; j < n; j++) {
        const s = order[start + j]!;
        ids.set(src.subarray(s * F, s * F + F), j * F);
        labels[j] = y[s]!;
      }
      yield {
        size: n,
        ids: n === B ? ids : ids.subarray(0, n * F),
        labels: n === B ? labels : labels.subarray(0, n),
        dense: null,
      };
    }
  }

  /** Per-field ID counts over this split (what frequency-based mappers fit on). */
  counts(): FieldCounts {
    const { numFields: F, cardinalities, ids } = this.dataset;
    const out = Array.from({ length: F }, (_, f) => new Uint32Array(cardinalities[f]!));
    for (let i = 0; i < this.indices.length; i++) {
      const base = this.indices[i]! * F;
      for (let f = 0; f < F; f++) out[f]![ids[base + f]!]!++;
    }
    return out;
  }
}

/** Train/validation/test sample indices of a seeded split. */
export interface CtrSplit {
  readonly train: Int32Array;
  readonly valid: Int32Array;
  readonly test: Int32Array;
}

/**
 * A seeded split of `numSamples` samples: shuffle 0..n−1 with `Rng(deriveSeed(seed, 'ctr-split'))`,
 * the first ⌊n·testFraction⌋ are test, of the rest the first ⌊rest·validFraction⌋ are validation,
 * the others train. Each part is returned sorted (dataset order). Same seed, same split.
 */
export function splitIndices(numSamples: number, testFraction: number, validFraction: number, seed: number): CtrSplit {
  const where = 'ctr/splitIndices';
  checkInt(where, 'numSamples', numSamples, 1);
  for (const [name, v] of [
    ['testFraction', testFraction],
    ['validFraction', validFraction],
  ] as const) {
    if (!(v >= 0 && v < 1)) throw new InvalidArgumentError(`${where}: ${name} (${v}) must be in [0, 1)`);
  }
  const order = Int32Array.from({ length: numSamples }, (_, i) => i);
  new Rng(deriveSeed(seed, 'ctr-split')).shuffle(order);
  const nTest = Math.floor(numSamples * testFraction);
  const nValid = Math.floor((numSamples - nTest) * validFraction);
  const test = order.slice(0, nTest).sort();
  const valid = order.slice(nTest, nTest + nValid).sort();
  const train = order.slice(nTest + nValid).sort();
  return { train, valid, test };
}
