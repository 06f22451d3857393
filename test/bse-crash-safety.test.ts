/**
 * Crash safety of the streaming BSE encoder against a real broker: 100k events over 4 partitions,
 * the encoder (a child process) is SIGKILLed at random moments while it consumes, at least 3 times,
 * and restarted each time. The final state of every user must equal a from-scratch recomputation
 * over the whole event log read back from the topic: nothing lost, nothing counted twice.
 */

import { EventGenerator } from '@compactrec/bse-stream';
import { Rng } from '@compactrec/core';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  EncoderChild,
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
const L = 20;
const TOTAL = 100_000;

describe('bse-stream crash safety (SIGKILL while consuming)', () => {
  const models = tempDir('crash-models');
  const state = tempDir('crash-state');
  const children: EncoderChild[] = [];
  afterAll(async () => {
    for (const c of children) await c.kill().catch(() => {});
    models.cleanup();
    state.cleanup();
  });

  it('ends with exactly the recomputed state after ≥ 3 random SIGKILLs', async () => {
    const model = await makeModelDir(models.dir);
    const topic = await createTopic(brokers, 'crash');
    const gen = new EventGenerator({
      seed: 11,
      numUsers: 3000,
      numItems: 1000,
      duplicateRate: 0.02,
      lateRate: 0.05,
      maxLatenessMs: 5000,
    });
    // Part of the log exists before the encoder starts; the rest arrives while it runs and crashes.
    await produce(brokers, topic, gen.take(40_000));
    const rest = produce(brokers, topic, gen.take(TOTAL - 40_000), 500);

    const options = {
      brokers: [brokers],
      topic,
      modelDir: models.dir,
      stateDir: state.dir,
      windowLength: L,
      maxEventsPerTransaction: 500,
      ...FAST,
    };
    const rng = new Rng(2026);
    const killedAt: number[] = [];
    for (let k = 0; k < 4; k++) {
      const child = new EncoderChild(options);
      children.push(child);
      await child.ready;
      const before = (await progress(brokers, topic, state.dir, L)).done;
      // Wait until this run has made some progress, then kill at a random moment shortly after.
      await waitFor(
        'progress before the kill',
        async () => (await progress(brokers, topic, state.dir, L)).done > before + 500,
        60_000,
        20,
      );
      await new Promise((r) => setTimeout(r, rng.nextInt(400)));
      await child.kill();
      const p = await progress(brokers, topic, state.dir, L);
      killedAt.push(p.done);
    }
    // Every kill happened mid-stream.
    for (const at of killedAt) expect(at).toBeLessThan(TOTAL);
    expect(killedAt.length).toBeGreaterThanOrEqual(3);

    await rest;
    const last = new EncoderChild(options);
    children.push(last);
    await last.ready;
    await waitCaughtUp(brokers, topic, state.dir, L);
    const metrics = await (await last.http('/metrics')).text();
    expect(metrics).toMatch(/bse_consumer_lag\{topic="[^"]+",partition="3"\} 0/);
    expect(await last.stop()).toBe(0);

    const log = await readEvents(brokers, topic);
    expect(log.length).toBe(TOTAL);
    const users = verifyAgainstRecompute(state.dir, log, model, L);
    expect(users).toBeGreaterThan(1000);
  });
});
