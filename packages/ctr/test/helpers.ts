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
