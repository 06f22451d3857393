import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bseDistance,
  EventGenerator,
  ModelRegistry,
  recomputeStates,
  StateStore,
  sameWindow,
  saveCompressedModelToDir,
} from '@compactrec/bse-stream';
import { NotFoundError } from '@compactrec/core';
import { createFeatureEmbedding } from '@compactrec/embedding';
import { deserializeBse, SimHasher } from '@compactrec/sdim';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The streaming BSE service builds state from a compressed item table: a model version written with a
// composed method (double-frequency+int8: frequent items own rows, rare ones share, rows stored int8).

const NUM_ITEMS = 50;
const DIM = 8;

function compressedItems() {
  const counts = new Uint32Array(NUM_ITEMS);
  for (let i = 0; i < NUM_ITEMS; i++) counts[i] = Math.max(1, 200 - 4 * i); // a Zipf-ish head
  const items = createFeatureEmbedding(
    'double-frequency+int8',
    { numIds: NUM_ITEMS, counts },
    { dim: DIM, budgetBytes: Math.floor(0.4 * NUM_ITEMS * DIM * 4), seed: 3, initStd: 0.5 },
  );
  items.finishTraining();
  return items;
}

describe('compressed model versions (item table through the embedding contract)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bse-compressed-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a double-frequency+int8 model version, and incremental state equals a recomputation from it', async () => {
    const items = compressedItems();
    expect(items.embeddingBytes).toBeLessThanOrEqual(Math.floor(0.4 * NUM_ITEMS * DIM * 4));
    const hasher = new SimHasher({ dim: DIM, numHashes: 12, bitsPerSignature: 3, seed: 9 });
    await saveCompressedModelToDir(dir, { version: 'c1', items, hasher });
    const registry = new ModelRegistry(dir);
    expect(await registry.available()).toEqual(['c1']);
    const model = await registry.ensure('c1');
    // The state is built from the compressed table's rows: exactly what its lookup serves.
    const ids = Int32Array.from({ length: NUM_ITEMS }, (_, i) => i);
    const rows = new Float32Array(NUM_ITEMS * DIM);
    items.lookup(ids, rows);
    expect(model.itemEmbeddings).toEqual(rows);
    // The table is compressed, not a float32 copy: fewer rows than items, int8 storage.
    expect(items.mapper.rows).toBeLessThan(NUM_ITEMS);
    expect(items.storage.kind).toBe('int8');
    const store = StateStore.open(dir, { windowLength: 8 });
    store.requestVersion('c1');
    const events = new EventGenerator({
      seed: 5,
      numUsers: 15,
      numItems: NUM_ITEMS,
      duplicateRate: 0.1,
      lateRate: 0.2,
    }).take(1500);
    for (let i = 0; i < events.length; i += 300) {
      const batch = events.slice(i, i + 300).map((event, k) => ({ offset: i + k, event }));
      expect(store.apply('t', 0, batch, { active: model }).ok).toBe(true);
    }
    const ref = recomputeStates(events, model, 8);
    expect(store.userIds().sort()).toEqual([...ref.keys()].sort());
    for (const [userId, want] of ref) {
      const got = store.getState(userId)!;
      expect(got.version).toBe('c1');
      expect(sameWindow(store.getWindow(userId)!, want.window)).toBe(true);
      expect(bseDistance(deserializeBse(got.bytes), want.state)).toBeLessThan(1e-9);
    }
    store.close();
  });

  it('a missing version names both files it looked for', async () => {
    const registry = new ModelRegistry(dir);
    await expect(registry.ensure('nope')).rejects.toThrow(NotFoundError);
    await expect(registry.ensure('nope')).rejects.toThrow(/nope\.sdim \(nor .*nope\.csdim\)/);
  });
});
