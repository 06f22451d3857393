/**
 * Import of a float table from a safetensors file (written by any tool: PyTorch, NumPy, CompactRec)
 * as a CompactRec feature embedding with one row per ID: frozen (serving form) or trainable.
 */
import { readFile } from 'node:fs/promises';
import { f16ToF32, InvalidArgumentError, NotFoundError, type StorageOptimizerOptions } from '@compactrec/core';
import { createFeatureEmbedding, type FeatureEmbedding } from '@compactrec/embedding';
import { decodeSafetensors, type Tensor } from './tensor.js';

/** Options of {@link importTable}; every field is optional. */
export interface ImportTableOptions {
  /** Name of the 2-D float tensor to import. @default the file's only 2-D float tensor */
  readonly tensor?: string;
  /** `true`: a float32 table the trainer updates (lazy Adam); `false`: frozen, serving form. @default false */
  readonly trainable?: boolean;
  /** Optimizer settings of a trainable table. */
  readonly optimizer?: StorageOptimizerOptions;
}

/** Defaults of {@link ImportTableOptions}. */
export const DEFAULT_IMPORT_TABLE_OPTIONS = Object.freeze({ trainable: false });

const FLOAT_DTYPES = new Set(['F32', 'F16', 'F64']);

/**
 * Reads a 2-D float tensor `[numIds, dim]` (F32, F16 or F64) from the safetensors file at `path`
 * and returns a `full` feature embedding whose row `id` is the tensor's row `id`. Frozen tables
 * reject gradients (`UsageError`); trainable ones train with the storage's lazy Adam.
 */
export async function importTable(path: string, options: ImportTableOptions = {}): Promise<FeatureEmbedding> {
  const { tensors } = decodeSafetensors(await readFile(path), path);
  const floats = Object.entries(tensors).filter(([, t]) => t.shape.length === 2 && FLOAT_DTYPES.has(t.dtype));
  let picked: [string, Tensor] | undefined;
  if (options.tensor !== undefined) {
    const t = tensors[options.tensor];
    if (t === undefined) {
      throw new NotFoundError(
        `interop/importTable: ${path} has no tensor '${options.tensor}'; it has ${Object.keys(tensors).join(', ')}`,
      );
    }
    picked = [options.tensor, t];
  } else if (floats.length === 1) {
    picked = floats[0];
  } else {
    throw new InvalidArgumentError(
      `interop/importTable: ${path} has ${floats.length} 2-D float tensors (${floats.map(([n]) => n).join(', ') || 'none'}); name one with the tensor option`,
    );
  }
  const [name, t] = picked!;
  if (t.shape.length !== 2 || !FLOAT_DTYPES.has(t.dtype) || t.shape[0]! < 1 || t.shape[1]! < 1) {
    throw new InvalidArgumentError(
      `interop/importTable: tensor '${name}' of ${path} is ${t.dtype} [${t.shape.join(', ')}]; a table is a non-empty 2-D F32, F16 or F64 tensor`,
    );
  }
  const [numIds, dim] = t.shape as [number, number];
  const e = createFeatureEmbedding(
    'full',
    { numIds },
    {
      dim,
      budgetBytes: numIds * dim * 4,
      seed: 0,
      ...(options.optimizer ? { optimizer: options.optimizer } : {}),
    },
  );
  const values = e.storage.trainingView()?.values;
  if (values === undefined || values.length !== numIds * dim) {
    throw new InvalidArgumentError(`interop/importTable: the float32 storage did not expose ${numIds} × ${dim} values`);
  }
  if (t.dtype === 'F16') {
    const h = t.data as Uint16Array;
    for (let i = 0; i < h.length; i++) values[i] = f16ToF32(h[i]!);
  } else values.set(t.data as Float32Array | Float64Array);
  if (!(options.trainable ?? DEFAULT_IMPORT_TABLE_OPTIONS.trainable)) e.finishTraining();
  return e;
}
