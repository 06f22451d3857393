import { fileURLToPath } from 'node:url';
import { type Interactions, readInteractionsFile } from '@compactrec/core';

/** The shared read-only datasets (../shared/datasets beside the checkout). */
export const DATASETS = fileURLToPath(new URL('../../../../shared/datasets/', import.meta.url));

/** CSR from per-user item lists (test fixtures). */
export function csr(rows: readonly (readonly number[])[], numItems: number): Interactions {
  const offsets = new Uint32Array(rows.length + 1);
  for (let u = 0; u < rows.length; u++) offsets[u + 1] = offsets[u]! + rows[u]!.length;
  return { numUsers: rows.length, numItems, offsets, items: Int32Array.from(rows.flat()) };
}

let gowallaTrain: Promise<Interactions> | undefined;

/**
 * The first `numUsers` users of Gowalla's training split, items renumbered densely in order of
 * first appearance (so every item of the slice has an interaction).
 */
export async function gowallaSlice(numUsers: number): Promise<Interactions> {
  gowallaTrain ??= readInteractionsFile(`${DATASETS}gowalla/train.txt`);
  const all = await gowallaTrain;
  const end = all.offsets[numUsers]!;
  const remap = new Int32Array(all.numItems).fill(-1);
  const items = new Int32Array(end);
  let next = 0;
  for (let j = 0; j < end; j++) {
    const i = all.items[j]!;
    if (remap[i]! < 0) remap[i] = next++;
    items[j] = remap[i]!;
  }
  return { numUsers, numItems: next, offsets: all.offsets.slice(0, numUsers + 1), items };
}
