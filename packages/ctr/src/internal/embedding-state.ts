import { InvalidArgumentError } from '@compactrec/core';
import type { FeatureEmbedding } from '@compactrec/embedding';

/** Copies of the arrays a storage trains (values, fake-quant rows, step sizes, masks), or null if it has none (serving, computed rows). */
export function captureStorage(e: FeatureEmbedding): Float32Array[] | null {
  const v = e.storage.serving ? null : e.storage.trainingView();
  if (v === null) return null;
  const out = [v.values.slice()];
  if (v.quant?.forward) out.push(v.quant.forward.slice());
  if (v.quant?.steps) out.push(v.quant.steps.slice());
  if (v.sparse) out.push(Float32Array.from(v.sparse.mask));
  return out;
}

/** Puts back what {@link captureStorage} copied (optimizer moments stay as they are). */
export function restoreStorage(e: FeatureEmbedding, s: Float32Array[] | null): void {
  if (s === null) return;
  const v = e.storage.trainingView();
  if (v === null)
    throw new InvalidArgumentError(`ctr/CtrModel.restoreState: the ${e.storage.kind} table is not training`);
  let i = 0;
  v.values.set(s[i++]!);
  if (v.quant?.forward) v.quant.forward.set(s[i++]!);
  if (v.quant?.steps) v.quant.steps.set(s[i++]!);
  if (v.sparse) v.sparse.mask.set(s[i++]!);
}
