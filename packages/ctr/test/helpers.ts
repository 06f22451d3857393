import { initTf, type Tf } from '@compactrec/tf-backend';
import type { CtrBatch, CtrSource } from '../src/index.js';

/** The tfjs namespace on the plain-JS cpu backend (deterministic, no native set-up needed). */
export async function cpuTf(): Promise<Tf> {
  const { tf } = await initTf({ prefer: 'cpu', quiet: true });
  return tf;
}

/** The first batch of a source, copied (sources reuse their buffers). */
export async function firstBatch(source: CtrSource, batchSize: number): Promise<CtrBatch> {
  for await (const b of source.batches({ batchSize })) {
    return { size: b.size, ids: b.ids.slice(), labels: b.labels.slice(), dense: b.dense ? b.dense.slice() : null };
  }
  throw new Error('empty source');
}

/** Mean binary cross-entropy of logits, in float64. */
export function meanBce(labels: Float32Array, logits: Float32Array): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const z = logits[i]!;
    // max(z, 0) − z·y + log(1 + e^−|z|), the stable form tfjs uses
    s += Math.max(z, 0) - z * labels[i]! + Math.log1p(Math.exp(-Math.abs(z)));
  }
  return s / labels.length;
}

/** The float32 values an uncompressed (training) embedding stores — what finite-difference tests perturb. */
export function tableValues(e: { storage: { trainingView(): { values: Float32Array } | null } }): Float32Array {
  const v = e.storage.trainingView();
  if (v === null) throw new Error('the embedding has no training view (serving form or computed rows)');
  return v.values;
}

/** The item table values of a sequence block with an uncompressed item table. */
export function itemValues(block: {
  items: { storage: { trainingView(): { values: Float32Array } | null } };
}): Float32Array {
  return tableValues(block.items);
}
