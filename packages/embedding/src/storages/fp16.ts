import { denseStorageKind } from './dense.js';

/** IEEE half-precision rows (2 bytes a value). */
export const FP16_STORAGE = denseStorageKind({
  name: 'fp16',
  summary: 'fp16 rows (2 bytes a value); --quantize after (float master) or during (fake-quant, STE)',
  format: 'fp16',
  bits: 16,
});
