/**
 * Test fixture: Gowalla's LightGCN train split (../shared/datasets, beside the repo) parsed into a
 * user → item CSR with a few lines of local code (the core readers are written concurrently).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Interactions } from '@compactrec/core';

/** Path of Gowalla's train.txt: one line `user item item …` per user, space-separated. */
export const GOWALLA_TRAIN = fileURLToPath(new URL('../../../../shared/datasets/gowalla/train.txt', import.meta.url));

/** Gowalla's published sizes. */
export const GOWALLA_USERS = 29_858;
export const GOWALLA_ITEMS = 40_981;

const cache = new Map<number, Interactions>();

/**
 * The first `maxUsers` users' train interactions. With all users, numItems is Gowalla's 40,981;
 * for a slice it is the largest item seen + 1.
 */
export function loadGowalla(maxUsers = GOWALLA_USERS): Interactions {
  const hit = cache.get(maxUsers);
  if (hit) return hit;
  const lines = readFileSync(GOWALLA_TRAIN, 'utf8').split('\n');
  const offsets = new Uint32Array(maxUsers + 1);
  const items: number[] = [];
  let maxItem = -1;
  for (let u = 0; u < maxUsers; u++) {
    const fields = lines[u]!.trim().split(' ');
    if (Number(fields[0]) !== u) throw new Error(`gowalla fixture: line ${u + 1} is user ${fields[0]}, expected ${u}`);
    for (let f = 1; f < fields.length; f++) {
      const it = Number(fields[f]);
      items.push(it);
      if (it > maxItem) maxItem = it;
    }
    offsets[u + 1] = items.length;
  }
  const x: Interactions = {
    numUsers: maxUsers,
    numItems: maxUsers === GOWALLA_USERS ? GOWALLA_ITEMS : maxItem + 1,
    offsets,
    items: Int32Array.from(items),
  };
  cache.set(maxUsers, x);
  return x;
}
