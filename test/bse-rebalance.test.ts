/**
 * Horizontal scale and hand-over: two encoder instances in one consumer group (sharing one state
 * folder) split the 4 partitions; one is stopped mid-stream and the other takes its partitions over
 * from the stored offsets. The final state equals the from-scratch recomputation.
 */

import { EventGenerator } from '@compactrec/bse-stream';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  EncoderChild,
  expectReplayAgrees,
  FAST,
  makeModelDir,
  produce,
  progress,
  readEvents,
  tempDir,
  verifyAgainstRecompute,
  waitCaughtUp,
  waitFor,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const L = 16;

async function owned(c: EncoderChild): Promise<number[]> {
  const h = (await (await c.http('/healthz')).json()) as { ownedPartitions: number[] };
  return h.ownedPartitions;
}

describe('bse-stream rebalance (two instances, one stopped mid-stream)', () => {
  const models = tempDir('reb-models');
  const state = tempDir('reb-state');
  const children: EncoderChild[] = [];
  afterAll(async () => {
    for (const c of children) await c.kill().catch(() => {});
    models.cleanup();
    state.cleanup();
  });

  it('splits the partitions, hands them over cleanly, and ends equal to the recomputation', async () => {
    const model = await makeModelDir(models.dir);
    const topic = await createTopic(brokers, 'rebalance');
    const gen = new EventGenerator({
      seed: 21,
      numUsers: 2000,
      duplicateRate: 0.02,
      lateRate: 0.05,
      maxLatenessMs: 2000,
    });
    const options = {
      brokers: [brokers],
      topic,
      modelDir: models.dir,
      stateDir: state.dir,
      windowLength: L,
      maxEventsPerTransaction: 200,
      ...FAST,
    };
    const a = new EncoderChild({ ...options, instanceId: 'a' });
    children.push(a);
    await a.ready;
    const b = new EncoderChild({ ...options, instanceId: 'b' });
    children.push(b);
    await b.ready;
    await waitFor(
      'both instances to own partitions',
      async () => (await owned(a)).length > 0 && (await owned(b)).length > 0,
      60_000,
      200,
    );
    const [pa, pb] = [await owned(a), await owned(b)];
    expect([...pa, ...pb].sort()).toEqual([0, 1, 2, 3]);

    const producing = produce(brokers, topic, gen.take(50_000), 250);
    await waitFor('some progress', async () => (await progress(brokers, topic, state.dir, L)).done > 5000, 60_000, 50);
    expect(await a.stop()).toBe(0); // clean leave: commits, then its partitions move to b
    const mid = await progress(brokers, topic, state.dir, L);
    expect(mid.done).toBeLessThan(50_000);
    await waitFor('b to own all partitions', async () => (await owned(b)).length === 4, 60_000, 100);
    await producing;
    await produce(brokers, topic, gen.take(10_000));
    await waitCaughtUp(brokers, topic, state.dir, L);
    expect(await b.stop()).toBe(0);

    const log = await readEvents(brokers, topic);
    expect(log.length).toBe(60_000);
    verifyAgainstRecompute(state.dir, log, model, L);
    await expectReplayAgrees({ brokers, topic, modelDir: models.dir, stateDir: state.dir, windowLength: L });
  });
});
