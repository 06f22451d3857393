import type { CtrBatch } from './schema.js';

/**
 * An extra input block of a CTR model, computed outside the tensor library on typed arrays — the
 * plug-in point for a sequence module (SDIM / DIN attention over a behaviour history). Each batch
 * the model asks the block for `width` features per sample, appends them to the dense input of
 * its network (after the schema's dense features), gets the loss gradient w.r.t. them from the
 * same tfjs gradient call as the dense weights and the field embeddings, and hands it back; the
 * block back-propagates into its own parameters and updates them (its own optimizer).
 */
export interface CtrInputBlock {
  /** Name in reports and errors. */
  readonly name: string;
  /** Features per sample the block adds. */
  readonly width: number;
  /**
   * Writes the block's features of the batch to `out` (`[batch.size × width]`, row-major).
   * `training` is false for evaluation/serving (no state to keep for a backward).
   */
  forward(batch: CtrBatch, out: Float32Array, training: boolean): void;
  /** Receives ∂loss/∂features of the last training forward (`[batch.size × width]`) and updates the block. */
  backward(batch: CtrBatch, grad: Float32Array): void;
  /**
   * Copies the block's trainable values (optional), so early stopping can restore the best epoch
   * of the whole model — a block that owns an embedding table must implement it with {@link restoreState}.
   */
  captureState?(): unknown;
  /** Restores values returned by {@link captureState} (optimizer moments stay as they are). */
  restoreState?(state: unknown): void;
}
