import { denseStorageKind } from './dense.js';

/** float32 rows (the uncompressed table); the native kernels train it in place. */
export const FLOAT32_STORAGE = denseStorageKind({
  name: 'float32',
  summary: 'float32 rows (4 bytes a value)',
  format: 'float32',
  bits: 32,
});
