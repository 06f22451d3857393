/**
 * Crash safety of the streaming BSE encoder against a real broker: 100k events over 4 partitions,
 * the encoder (a child process) is SIGKILLed at random moments while it consumes, at least 3 times,
 * and restarted each time. The final state of every user must equal a from-scratch recomputation
 * over the whole event log read back from the topic: nothing lost, nothing counted twice.
 */

import { EventGenerator, parsePrometheus, saveModelToDir } from '@compactrec/bse-stream';
import { Rng } from '@compactrec/core';
import { createSdimModelVersion } from '@compactrec/sdim';
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

  it('ends with exactly the recomputed state after 4 random SIGKILLs, each mid-stream and after new progress', async () => {
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
    const KILLS = 4;
    for (let k = 0; k < KILLS; k++) {
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
    expect(killedAt).toHaveLength(KILLS);
    // Each run committed new progress that survived its SIGKILL (the progress read after the kill grew).
    for (let k = 1; k < KILLS; k++)
      expect(killedAt[k]!, `kill ${k + 1} vs kill ${k}`).toBeGreaterThan(killedAt[k - 1]! + 500);

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
    await expectReplayAgrees({ brokers, topic, modelDir: models.dir, stateDir: state.dir, windowLength: L });
  });
});

describe('bse-stream crash safety with a model switch in flight (SIGKILL during re-encode)', () => {
  const models = tempDir('switch-models');
  const state = tempDir('switch-state');
  const children: EncoderChild[] = [];
  afterAll(async () => {
    for (const c of children) await c.kill().catch(() => {});
    models.cleanup();
    state.cleanup();
  });

  const remaining = async (c: EncoderChild): Promise<number> =>
    parsePrometheus(await (await c.http('/metrics')).text()).get('bse_reencode_remaining_users') ?? -1;
  const health = async (c: EncoderChild) =>
    (await (await c.http('/healthz')).json()) as { activeVersion?: string; pendingVersion?: string };

  it("case 1: the operator's switch survives kill -9 and restarts with and without --model-version", async () => {
    await makeModelDir(models.dir, 'v1', 1);
    const v2 = createSdimModelVersion({
      version: 'v2',
      numItems: 1000,
      dim: 16,
      seed: 2,
      hash: { numHashes: 24, bitsPerSignature: 3 },
    });
    await saveModelToDir(models.dir, v2);
    const topic = await createTopic(brokers, 'switch');
    const gen = new EventGenerator({ seed: 12, numUsers: 2000, duplicateRate: 0.02, lateRate: 0.05 });
    await produce(brokers, topic, gen.take(20_000));
    const base = {
      brokers: [brokers],
      topic,
      modelDir: models.dir,
      stateDir: state.dir,
      windowLength: L,
      maxEventsPerTransaction: 500,
      ...FAST,
    };
    // A throttled re-encode (5 users per transaction, 10 ms apart) so the kills land mid-switch.
    const slow = { reencode: { usersPerStep: 5, pauseMs: 10, pollMs: 100 } };
    const a = new EncoderChild({ ...base, ...slow, modelVersion: 'v1' });
    children.push(a);
    await a.ready;
    await waitCaughtUp(brokers, topic, state.dir, L);
    const res = await a.http('/v1/admin/model', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v2' }),
    });
    expect(res.status).toBe(202);
    let first = 0;
    await waitFor(
      'the switch to start',
      async () => {
        first = await remaining(a);
        return first > 0;
      },
      30_000,
      10,
    );
    await waitFor(
      're-encode under way',
      async () => {
        const r = await remaining(a);
        return r > 0 && r < first;
      },
      60_000,
      10,
    );
    await a.kill();

    // Restart with the same command (--model-version v1): the switch must go on, not be dropped.
    const more = produce(brokers, topic, gen.take(5000), 250);
    const b = new EncoderChild({ ...base, ...slow, modelVersion: 'v1' });
    children.push(b);
    await b.ready;
    const hb = await health(b);
    expect(hb.activeVersion).toBe('v1');
    expect(hb.pendingVersion).toBe('v2');
    const left = await remaining(b);
    expect(left).toBeGreaterThan(0);
    await waitFor('more re-encode progress', async () => (await remaining(b)) < left, 60_000, 20);
    expect(await remaining(b)).toBeGreaterThan(0);
    await b.kill();
    await more;

    // Restart without --model-version: the switch completes.
    const c = new EncoderChild(base);
    children.push(c);
    await c.ready;
    await waitFor('the switch to v2', async () => (await health(c)).activeVersion === 'v2', 120_000, 100);
    expect((await health(c)).pendingVersion).toBeUndefined();
    await waitCaughtUp(brokers, topic, state.dir, L);
    expect(await c.stop()).toBe(0);

    const log = await readEvents(brokers, topic);
    expect(log.length).toBe(25_000);
    expect(verifyAgainstRecompute(state.dir, log, v2, L)).toBeGreaterThan(1000);
    await expectReplayAgrees({ brokers, topic, modelDir: models.dir, stateDir: state.dir, windowLength: L });
  });
});
