import {
  checkFitRequest,
  InvalidArgumentError,
  type MapperCreateOptions,
  type MapperFitData,
  type MapperSpec,
} from '@compactrec/core';

/** O(1) check of a `mapInto` call: `n` fits `ids` and `out` holds n × K codes. Returns n. */
export function checkMapInto(
  method: string,
  ids: ArrayLike<number>,
  out: Int32Array,
  n: number | undefined,
  k: number,
): number {
  const count = n ?? ids.length;
  if (!Number.isInteger(count) || count < 0 || count > ids.length) {
    throw new InvalidArgumentError(
      `id-hashing/${method}.mapInto: n (${count}) must be an integer in [0, ${ids.length}]`,
    );
  }
  if (out.length < count * k) {
    throw new InvalidArgumentError(
      `id-hashing/${method}.mapInto: out has ${out.length} slots but ${count} IDs × ${k} codes need ${count * k}`,
    );
  }
  return count;
}

/**
 * The boundary check of every `create`: core's {@link checkFitRequest} (numIds, dim, budget,
 * required fit data) plus the seed, which must be an integer (`deriveSeed` would silently turn
 * NaN or 1.5 into another seed).
 */
export function checkFit(spec: MapperSpec, data: MapperFitData, options: MapperCreateOptions): void {
  checkFitRequest(spec, data, options);
  if (!Number.isSafeInteger(options.seed)) {
    throw new InvalidArgumentError(`id-hashing/${spec.name}: seed (${options.seed}) must be an integer`);
  }
}
