/**
 * The streaming BSE service on a compressed item table: the model folder holds only a `<version>.csdim`
 * file (item table written with the composed method double-frequency+int8 through the embedding contract).
 * One encoder consumes a real broker's topic; the store must equal a from-scratch recomputation with the
 * rows the compressed table serves, and the HTTP API serves those states.
 */
import {
  compressedModelPath,
  EventGenerator,
  loadCompressedModelVersion,
  saveCompressedModelToDir,
} from '@compactrec/bse-stream';
import { createFeatureEmbedding } from '@compactrec/embedding';
import { SimHasher } from '@compactrec/sdim';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  EncoderChild,
  FAST,
  produce,
  readEvents,
  tempDir,
  verifyAgainstRecompute,
  waitCaughtUp,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const L = 16;
const NUM_ITEMS = 1000;
const DIM = 16;

describe('bse-stream on a compressed item table (double-frequency+int8)', () => {
  const models = tempDir('csdim-models');
  const state = tempDir('csdim-state');
  const children: EncoderChild[] = [];
  afterAll(async () => {
    for (const c of children) await c.kill().catch(() => {});
    models.cleanup();
    state.cleanup();
  });

  it('builds and serves states from the compressed table, equal to a recomputation with its rows', async () => {
    const counts = new Uint32Array(NUM_ITEMS);
    for (let i = 0; i < NUM_ITEMS; i++) counts[i] = Math.floor(10_000 / (i + 1)) + 1; // Zipf head
    const items = createFeatureEmbedding(
      'double-frequency+int8',
      { numIds: NUM_ITEMS, counts },
      { dim: DIM, budgetBytes: Math.floor(0.3 * NUM_ITEMS * DIM * 4), seed: 4, initStd: 0.5 },
    );
    const hasher = new SimHasher({ dim: DIM, numHashes: 24, bitsPerSignature: 3, seed: 5 });
    await saveCompressedModelToDir(models.dir, { version: 'c1', items, hasher });
    const { model } = await loadCompressedModelVersion(compressedModelPath(models.dir, 'c1'));
    expect(items.mapper.rows).toBeLessThan(NUM_ITEMS); // rows are shared: not a float32 copy
    const topic = await createTopic(brokers, 'csdim');
    await produce(
      brokers,
      topic,
      new EventGenerator({ seed: 41, numUsers: 300, numItems: NUM_ITEMS, duplicateRate: 0.02, lateRate: 0.05 }).take(
        6000,
      ),
    );
    const child = new EncoderChild({
      brokers: [brokers],
      topic,
      modelDir: models.dir,
      stateDir: state.dir,
      windowLength: L,
      modelVersion: 'c1',
      ...FAST,
    });
    children.push(child);
    await child.ready;
    await waitCaughtUp(brokers, topic, state.dir, L, 120_000);
    const log = await readEvents(brokers, topic);
    const users = verifyAgainstRecompute(state.dir, log, model, L);
    expect(users).toBe(300);
    const r = await child.http(`/v1/users/${encodeURIComponent(log[0]!.userId)}/bse`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { version: string }).version).toBe('c1');
    expect(await child.stop()).toBe(0);
  });
});
