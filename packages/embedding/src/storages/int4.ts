import { denseStorageKind } from './dense.js';

/** Row-wise int4 codes, two per byte, with a float32 scale and bias per row. */
export const INT4_STORAGE = denseStorageKind({
  name: 'int4',
  summary: 'row-wise int4 codes packed two a byte + float32 scale and bias per row (d/2 + 8 bytes a row)',
  format: 'rowwise',
  bits: 4,
});
