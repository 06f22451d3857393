import { InvalidArgumentError } from '@compactrec/core';

/** Shared validation of a `[B × L × dim]` sequence batch (layers validate at the boundary, trust inside). */
export function checkBatch(
  fn: string,
  dim: number,
  behaviours: Float32Array,
  lengths: Int32Array,
  queries: Float32Array,
  batchSize: number,
  maxLength: number,
): void {
  if (!Number.isInteger(batchSize) || batchSize < 0 || !Number.isInteger(maxLength) || maxLength < 0) {
    throw new InvalidArgumentError(
      `sdim/${fn}: batchSize (${batchSize}) and maxLength (${maxLength}) must be non-negative integers`,
    );
  }
  if (!(behaviours instanceof Float32Array) || behaviours.length < batchSize * maxLength * dim) {
    throw new InvalidArgumentError(
      `sdim/${fn}: behaviours must be a Float32Array of batchSize × maxLength × dim = ${batchSize * maxLength * dim} values`,
    );
  }
  if (!(queries instanceof Float32Array) || queries.length < batchSize * dim) {
    throw new InvalidArgumentError(
      `sdim/${fn}: candidates must be a Float32Array of batchSize × dim = ${batchSize * dim} values`,
    );
  }
  if (!(lengths instanceof Int32Array) || lengths.length < batchSize) {
    throw new InvalidArgumentError(
      `sdim/${fn}: lengths must be an Int32Array of at least batchSize (${batchSize}) values`,
    );
  }
  for (let b = 0; b < batchSize; b++) {
    const len = lengths[b]!;
    if (len < 0 || len > maxLength) {
      throw new InvalidArgumentError(`sdim/${fn}: lengths[${b}] (${len}) must be in [0, maxLength = ${maxLength}]`);
    }
  }
}
