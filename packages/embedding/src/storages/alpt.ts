import { denseStorageKind } from './dense.js';

/**
 * ALPT (adaptive low-precision training, Li et al. AAAI'23): values live on the grid step · q with
 * a learned per-row step, rounded stochastically after every update.
 */
export const ALPT8_STORAGE = denseStorageKind({
  name: 'alpt8',
  summary: 'learned-step int8 (ALPT): values kept on the grid during training, stochastic rounding (d + 4 bytes a row)',
  format: 'alpt',
  bits: 8,
});

/** ALPT with 4-bit codes packed two a byte. */
export const ALPT4_STORAGE = denseStorageKind({
  name: 'alpt4',
  summary: 'learned-step int4 (ALPT), codes packed two a byte (d/2 + 4 bytes a row)',
  format: 'alpt',
  bits: 4,
});
