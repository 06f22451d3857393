import { InvalidArgumentError, Rng } from '@compactrec/core';
import type { SequenceSamples } from '@compactrec/sdim';
import { checkInt } from '../internal/check.js';
import type { CtrBatch, CtrBatchesOptions, CtrSchema, CtrSource, FieldCounts } from '../schema.js';
import { SEQUENCE_EXTRAS } from './block.js';

/**
 * The schema of sequence samples: one categorical field, `user_id` (the "other features" that go
 * through the normal field embeddings); the candidate and the history travel in `batch.extras`.
 */
export function sequenceSchema(name: string, samples: SequenceSamples): CtrSchema {
  return { name, fieldNames: ['user_id'], cardinalities: Int32Array.of(samples.numUsers), numDense: 0 };
}

/**
 * A subset of {@link SequenceSamples} (the samples listed in `indices`) as a {@link CtrSource}:
 * `ids` holds the user id, `batch.extras` the candidate item, the padded history row and its
 * length, and the history's feedback row when the samples have one (see `SEQUENCE_EXTRAS`). Seeded
 * shuffles per pass; batches reuse their buffers.
 */
export class SequenceCtrSource implements CtrSource {
  readonly schema: CtrSchema;
  readonly samples: SequenceSamples;
  /** Sample indices of this split, in sample order. */
  readonly indices: Int32Array;

  constructor(schema: CtrSchema, samples: SequenceSamples, indices?: Int32Array) {
    this.schema = schema;
    this.samples = samples;
    if (indices) {
      for (let i = 0; i < indices.length; i++) {
        const s = indices[i]!;
        if (!(s >= 0 && s < samples.numSamples)) {
          throw new InvalidArgumentError(
            `ctr/SequenceCtrSource: indices[${i}] (${s}) is outside [0, ${samples.numSamples}) of '${schema.name}'`,
          );
        }
      }
    }
    this.indices = indices ?? Int32Array.from({ length: samples.numSamples }, (_, i) => i);
  }

  get numSamples(): number {
    return this.indices.length;
  }

  async *batches(options: CtrBatchesOptions): AsyncGenerator<CtrBatch> {
    checkInt('ctr/SequenceCtrSource.batches', 'batchSize', options.batchSize, 1);
    const order = this.indices.slice();
    if (options.shuffleSeed !== undefined) new Rng(options.shuffleSeed).shuffle(order);
    const s = this.samples;
    const L = s.maxLength;
    const B = Math.min(options.batchSize, Math.max(order.length, 1));
    const ids = new Int32Array(B);
    const labels = new Float32Array(B);
    const candidates = new Int32Array(B);
    const histories = new Int32Array(B * L);
    const lengths = new Int32Array(B);
    const fb = s.feedback;
    const feedback = fb !== undefined ? new Int32Array(B * L) : null;
    for (let start = 0; start < order.length; start += B) {
      const n = Math.min(B, order.length - start);
      for (let j = 0; j < n; j++) {
        const i = order[start + j]!;
        ids[j] = s.userIds[i]!;
        labels[j] = s.labels[i]!;
        candidates[j] = s.candidates[i]!;
        lengths[j] = s.lengths[i]!;
        histories.set(s.histories.subarray(i * L, i * L + L), j * L);
        if (feedback !== null) feedback.set(fb!.subarray(i * L, i * L + L), j * L);
      }
      const full = n === B;
      yield {
        size: n,
        ids: full ? ids : ids.subarray(0, n),
        labels: full ? labels : labels.subarray(0, n),
        dense: null,
        extras: {
          [SEQUENCE_EXTRAS.candidates]: full ? candidates : candidates.subarray(0, n),
          [SEQUENCE_EXTRAS.histories]: full ? histories : histories.subarray(0, n * L),
          [SEQUENCE_EXTRAS.lengths]: full ? lengths : lengths.subarray(0, n),
          ...(feedback !== null ? { [SEQUENCE_EXTRAS.feedback]: full ? feedback : feedback.subarray(0, n * L) } : {}),
        },
      };
    }
  }

  /** User-id counts over this split (what frequency-based mappers fit on). */
  counts(): FieldCounts {
    const c = new Uint32Array(this.samples.numUsers);
    for (let i = 0; i < this.indices.length; i++) c[this.samples.userIds[this.indices[i]!]!]!++;
    return [c];
  }
}

/**
 * Splits samples stored user by user in time order (as `mlSequenceSamples` and
 * `syntheticLongSequences` produce them) so that each user's last ⌈fraction · n⌉ samples form the
 * second part — a per-user time split, as the test split was made, so validation never precedes
 * training samples of the same user.
 */
export function splitUserTail(samples: SequenceSamples, fraction: number): { head: Int32Array; tail: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new InvalidArgumentError(`ctr/splitUserTail: fraction (${fraction}) must be in [0, 1)`);
  }
  const n = samples.numSamples;
  const u = samples.userIds;
  const isTail = new Uint8Array(n);
  let nTail = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && u[end] === u[start]) end++;
    const k = Math.min(end - start, Math.ceil(fraction * (end - start) - 1e-9));
    for (let i = end - k; i < end; i++) isTail[i] = 1;
    nTail += k;
    start = end;
  }
  const head = new Int32Array(n - nTail);
  const tail = new Int32Array(nTail);
  let h = 0;
  let t = 0;
  for (let i = 0; i < n; i++) {
    if (isTail[i]) tail[t++] = i;
    else head[h++] = i;
  }
  return { head, tail };
}
