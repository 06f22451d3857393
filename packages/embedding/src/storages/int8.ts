import { denseStorageKind } from './dense.js';

/** Row-wise int8 codes with a float32 scale and bias per row (FBGEMM/TorchRec INT8). */
export const INT8_STORAGE = denseStorageKind({
  name: 'int8',
  summary: 'row-wise int8 codes + float32 scale and bias per row (d + 8 bytes a row)',
  format: 'rowwise',
  bits: 8,
});
