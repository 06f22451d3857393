/**
 * Ways the streaming encoder could lose or corrupt state (issue #17), each reproduced against a real
 * broker with an in-process encoder: a lone-surrogate eventId retried after a restart, a re-created
 * topic, a changed stored offset, corrupted user states and windows, a switch to a model with fewer
 * items, a store that cannot be written, far-future timestamps, and two payloads for one (ts, eventId).
 * After each, `bse replay` of the topic must agree with the live store on every user
 * (expectReplayAgrees); where the service stops a partition, after the documented recovery.
 */
import {
  type BseService,
  type BseServiceOptions,
  type BseStateJson,
  EventGenerator,
  encodeEvent,
  encodeUserState,
  KafkaTransport,
  parsePrometheus,
  replayTopic,
  STATE_DB_FILE,
  saveModelToDir,
  startBseService,
} from '@compactrec/bse-stream';
import { createSdimModelVersion, deserializeBse, type SdimModelVersion } from '@compactrec/sdim';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  expectReplayAgrees,
  FAST,
  makeModelDir,
  produce,
  produceRaw,
  readEvents,
  tempDir,
  verifyAgainstRecompute,
  waitCaughtUp,
  waitFor,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');

interface Health {
  ok: boolean;
  activeVersion?: string;
  pendingVersion?: string;
  storeWritable?: boolean;
  repairedStates?: number;
  rebuiltUsers?: number;
  problems?: { partition?: number; kind: string; message: string }[];
}

describe('bse-stream state integrity (issue #17)', () => {
  const cleanups: (() => void)[] = [];
  const running: BseService[] = [];
  afterAll(async () => {
    for (const s of running) await s.stop().catch(() => {});
    for (const c of cleanups) c();
  });
  const dir = (label: string): string => {
    const d = tempDir(label);
    cleanups.push(d.cleanup);
    return d.dir;
  };
  const start = async (o: Partial<BseServiceOptions> & Pick<BseServiceOptions, 'topic' | 'modelDir' | 'stateDir'>) => {
    // Each topic its own consumer group: kafkajs assigns a group's partitions across all members,
    // even members subscribed to other topics.
    const s = await startBseService({
      brokers: [brokers],
      windowLength: 8,
      groupId: `g-${o.topic}`,
      ...FAST,
      log: () => {},
      ...o,
    });
    running.push(s);
    return s;
  };
  const health = async (s: BseService): Promise<{ status: number; body: Health }> => {
    const r = await fetch(`${s.url}/healthz`);
    return { status: r.status, body: (await r.json()) as Health };
  };
  const dlqCount = async (topic: string): Promise<number> => {
    const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    try {
      const rows = await t.topicOffsets(`${topic}.dlq`);
      return rows.reduce((n, r) => n + r.high - r.low, 0);
    } finally {
      await t.close();
    }
  };
  const withDb = <T>(stateDir: string, fn: (db: Database.Database) => T): T => {
    const db = new Database(`${stateDir}/${STATE_DB_FILE}`);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };

  it('case 2: a lone-surrogate eventId retried after a restart is applied once (live = replay)', async () => {
    const modelDir = dir('sur-models');
    const stateDir = dir('sur-state');
    await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'surrogate', 1);
    // The JSON text escapes a lone high surrogate; its UTF-8 storage can only hold U+FFFD.
    const value = '{"eventId":"\\ud800","userId":"u1","itemId":1,"ts":1000}';
    await produceRaw(brokers, topic, [{ key: 'u1', value }]);
    let s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    await s.stop();
    // The producer retries the same bytes; the restarted service has no cache of the first copy.
    await produceRaw(brokers, topic, [{ key: 'u1', value }]);
    s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    expect(s.store.getWindow('u1')!.length).toBe(1);
    expect(s.store.counters().get('duplicates')).toBe(1);
    await s.stop();
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 });
  });

  it('case 3: a re-created topic is detected and its partition stopped, not silently skipped', async () => {
    const modelDir = dir('rec-models');
    const stateDir = dir('rec-state');
    await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'recreate', 1);
    await produce(brokers, topic, new EventGenerator({ seed: 1, numUsers: 20, eventPrefix: 'old' }).take(100));
    let s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    await s.stop();

    const kafka = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [topic] });
      await waitFor('the topic deletion', async () => !(await admin.listTopics()).includes(topic), 60_000, 200);
      await waitFor(
        'the topic re-creation',
        async () => {
          try {
            await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
          } catch {
            // still being deleted on the broker
          }
          const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
          return (meta?.topics[0]?.partitions ?? []).some((p) => p.leader >= 0);
        },
        60_000,
        500,
      );
    } finally {
      await admin.disconnect();
    }
    await produce(brokers, topic, new EventGenerator({ seed: 2, numUsers: 20, eventPrefix: 'new' }).take(150));

    s = await start({ topic, modelDir, stateDir });
    await waitFor('health to report the re-created topic', async () => (await health(s)).status === 503, 30_000, 200);
    const h = (await health(s)).body;
    expect(h.ok).toBe(false);
    expect(h.problems![0]).toMatchObject({ partition: 0, kind: 'log-mismatch' });
    expect(h.problems![0]!.message).toMatch(/re-created/);
    // Nothing of the new topic was applied on top of the old topic's state.
    expect(s.store.nextOffsets(topic).get(0)).toBe(100);
    expect(s.store.counters().get('applied')).toBe(100);
    const m = parsePrometheus(await s.metricsText());
    expect(m.get(`bse_partition_stopped{topic="${topic}",partition="0",kind="log-mismatch"}`)).toBe(1);
    await s.stop();
    // The stopped store holds the old topic's state: replay of the new topic disagrees, and says so.
    await expect(expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 })).rejects.toThrow(
      /bse replay ≠ live service/,
    );

    // The documented recovery: replay the new topic into a new state folder and serve from it.
    const rebuilt = dir('rec-rebuilt');
    await replayTopic({
      brokers: [brokers],
      topic,
      modelDir,
      stateDir: rebuilt,
      windowLength: 8,
      ...FAST,
      log: () => {},
    });
    s = await start({ topic, modelDir, stateDir: rebuilt });
    expect((await health(s)).status).toBe(200);
    await s.stop();
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir: rebuilt, windowLength: 8 });
  });

  it('case 4a: a changed stored offset stops the partition instead of skipping events', async () => {
    const modelDir = dir('off-models');
    const stateDir = dir('off-state');
    await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'offset', 1);
    const gen = new EventGenerator({ seed: 3, numUsers: 30 });
    await produce(brokers, topic, gen.take(300));
    let s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    await s.stop();
    await produce(brokers, topic, gen.take(100));
    withDb(stateDir, (db) => db.prepare('UPDATE offsets SET next_offset = next_offset + 43').run());

    s = await start({ topic, modelDir, stateDir });
    await waitFor('health to report the changed offset', async () => (await health(s)).status === 503, 30_000, 200);
    expect((await health(s)).body.problems![0]).toMatchObject({ partition: 0, kind: 'log-mismatch' });
    expect(s.store.nextOffsets(topic).get(0)).toBe(343); // not consumed past the tampered offset
    expect(await dlqCount(topic)).toBe(0);
    await s.stop();

    const rebuilt = dir('off-rebuilt');
    await replayTopic({
      brokers: [brokers],
      topic,
      modelDir,
      stateDir: rebuilt,
      windowLength: 8,
      ...FAST,
      log: () => {},
    });
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir: rebuilt, windowLength: 8 });
  });

  it('case 4b: corrupted user states are rebuilt from the window; reads answer, good events apply', async () => {
    const modelDir = dir('st-models');
    const stateDir = dir('st-state');
    const model = await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'state-flip', 1);
    const gen = new EventGenerator({ seed: 4, numUsers: 20 });
    await produce(brokers, topic, gen.take(400));
    let s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    await s.stop();
    // One byte of three users' states flipped (the sums area, after the header and counts).
    const victims = ['u0', 'u1', 'u2'];
    withDb(stateDir, (db) => {
      for (const u of victims) {
        const row = db.prepare('SELECT state FROM states WHERE user_id = ?').get(u) as { state: Buffer };
        const b = Buffer.from(row.state);
        b[b.length - 20]! ^= 0x40;
        db.prepare('UPDATE states SET state = ? WHERE user_id = ?').run(b, u);
      }
    });

    s = await start({ topic, modelDir, stateDir });
    const get = await fetch(`${s.url}/v1/users/u0/bse`);
    expect(get.status).toBe(200);
    expect(((await get.json()) as BseStateJson).userId).toBe('u0');
    const batch = await fetch(`${s.url}/v1/bse:batchGet`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: ['u1'] }),
    });
    expect(batch.status).toBe(200);
    // u2's state is met first by ingest: its new good events must be applied, not dead-lettered.
    await produce(brokers, topic, [
      { eventId: 'late-1', userId: 'u2', itemId: 5, ts: 1_767_300_000_000 },
      { eventId: 'late-2', userId: 'u2', itemId: 6, ts: 1_767_300_000_001 },
    ]);
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    expect(s.store.getWindow('u2')!.eventIds.slice(-2)).toEqual(['late-1', 'late-2']);
    expect(await dlqCount(topic)).toBe(0);
    const h = await health(s);
    expect(h.status).toBe(200);
    expect(h.body.repairedStates).toBe(3);
    await s.stop();
    verifyAgainstRecompute(stateDir, await readEvents(brokers, topic), model, 8);
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 });
  });

  /** Sets up a topic whose user u3 has a corrupted window and a new good event waiting. */
  const corruptWindow = async (label: string, truncateTo?: number) => {
    const modelDir = dir(`${label}-models`);
    const stateDir = dir(`${label}-state`);
    const model = await makeModelDir(modelDir);
    const topic = await createTopic(brokers, label, 1);
    const gen = new EventGenerator({ seed: 5, numUsers: 20 });
    await produce(brokers, topic, gen.take(300));
    const s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    await s.stop();
    if (truncateTo !== undefined) {
      // Retention deleted the log's first records: the window can no longer be rebuilt exactly.
      const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs needs it loaded for deleteTopicRecords
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(truncateTo) }] });
      await admin.disconnect();
    }
    // One bit of the item of the second entry in u3's window (the first one is evicted by the next event).
    withDb(stateDir, (db) => {
      const row = db.prepare('SELECT win FROM users WHERE user_id = ?').get('u3') as { win: Buffer };
      const b = Buffer.from(row.win);
      const second = 4 + 14 + b.readUInt16LE(4 + 12);
      b[second + 8]! ^= 0x01;
      db.prepare('UPDATE users SET win = ? WHERE user_id = ?').run(b, 'u3');
    });
    await produce(brokers, topic, [{ eventId: 'good-1', userId: 'u3', itemId: 9, ts: 1_767_300_000_000 }]);
    return { modelDir, stateDir, model, topic };
  };

  it('case 4c: a corrupted window is rebuilt from the log; its good event is applied, not dead-lettered', async () => {
    const { modelDir, stateDir, model, topic } = await corruptWindow('win-flip');
    const s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    expect(s.store.getWindow('u3')!.eventIds).toContain('good-1');
    expect(await dlqCount(topic)).toBe(0);
    // u3's window is the true one again (the corrupted item would otherwise stay in it).
    verifyAgainstRecompute(stateDir, await readEvents(brokers, topic), model, 8);
    const h = await health(s);
    expect(h.status).toBe(200);
    expect(h.body.rebuiltUsers).toBe(1);
    expect(parsePrometheus(await s.metricsText()).get('bse_users_rebuilt_total')).toBe(1);
    await s.stop();
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 });
  });

  it('case 4c, truncated log: a window that cannot be rebuilt stops its partition; nothing is dead-lettered', async () => {
    const { modelDir, stateDir, topic } = await corruptWindow('win-trunc', 10);
    const before = withDb(stateDir, (db) => db.prepare('SELECT next_offset FROM offsets').pluck().get() as number);
    let s = await start({ topic, modelDir, stateDir });
    await waitFor('health to report the corrupted window', async () => (await health(s)).status === 503, 30_000, 200);
    const p = (await health(s)).body.problems![0]!;
    expect(p).toMatchObject({ partition: 0, kind: 'corrupt-window' });
    expect(p.message).toMatch(/'u3'/);
    expect(await dlqCount(topic)).toBe(0);
    expect(s.store.nextOffsets(topic).get(0)).toBe(before);
    await s.stop();

    // The documented recovery: replay (what the log still holds) into a new state folder.
    const rebuilt = dir('win-trunc-rebuilt');
    await replayTopic({
      brokers: [brokers],
      topic,
      modelDir,
      stateDir: rebuilt,
      windowLength: 8,
      ...FAST,
      log: () => {},
    });
    s = await start({ topic, modelDir, stateDir: rebuilt });
    expect(s.store.getWindow('u3')!.eventIds).toContain('good-1');
    expect((await health(s)).status).toBe(200);
    await s.stop();
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir: rebuilt, windowLength: 8 });
  });

  it('case 5: a switch to a model with fewer items encodes each window by the unknown-item rule', async () => {
    const modelDir = dir('few-models');
    const stateDir = dir('few-state');
    await makeModelDir(modelDir, 'v1', 1); // 1000 items
    const v2: SdimModelVersion = createSdimModelVersion({
      version: 'v2',
      numItems: 500,
      dim: 16,
      seed: 2,
      hash: { numHashes: 24, bitsPerSignature: 3 },
    });
    await saveModelToDir(modelDir, v2);
    const topic = await createTopic(brokers, 'fewer', 1);
    // ua holds item 900 (unknown to v2); the other users only items v2 knows.
    const events = [
      { eventId: 'a1', userId: 'ua', itemId: 900, ts: 1000 },
      { eventId: 'a2', userId: 'ua', itemId: 10, ts: 1001 },
      ...new EventGenerator({ seed: 6, numUsers: 30, numItems: 500 }).take(300),
    ];
    await produce(brokers, topic, events);
    const s = await start({ topic, modelDir, stateDir, modelVersion: 'v1' });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    const res = await fetch(`${s.url}/v1/admin/model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v2' }),
    });
    expect(res.status).toBe(202);
    await waitFor('the switch to v2', () => s.store.versions().active === 'v2', 60_000, 100);
    // A live event with an item v2 does not know follows the same rule: kept in the window, not in the state.
    await produce(brokers, topic, [{ eventId: 'a3', userId: 'ua', itemId: 950, ts: 1002 }]);
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    const w = s.store.getWindow('ua')!;
    expect(Array.from(w.items.subarray(0, w.length))).toEqual([900, 10, 950]);
    const served = deserializeBse(s.store.getState('ua')!.bytes);
    const want = encodeUserState(v2, w);
    expect(served.length).toBe(1);
    expect(Array.from(served.counts)).toEqual(Array.from(want.counts));
    expect(Array.from(served.sums)).toEqual(Array.from(want.sums));
    expect(await dlqCount(topic)).toBe(0);
    await s.stop();
    verifyAgainstRecompute(stateDir, await readEvents(brokers, topic), v2, 8);
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 });
  });

  it('full disk: health and metrics report a consumer that cannot store; it recovers without loss', async () => {
    const modelDir = dir('full-models');
    const stateDir = dir('full-state');
    const model = await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'full', 2);
    await produce(brokers, topic, new EventGenerator({ seed: 7, numUsers: 3000 }).take(12_000));
    // A 256 KiB quota on the database file: SQLITE_FULL, exactly what a full disk gives.
    let s = await start({ topic, modelDir, stateDir, store: { maxDbBytes: 256 * 1024 } });
    await waitFor('health to report the unwritable store', async () => (await health(s)).status === 503, 60_000, 200);
    const h = (await health(s)).body;
    expect(h.storeWritable).toBe(false);
    expect(h.problems![0]).toMatchObject({ kind: 'store-unwritable' });
    expect(h.problems![0]!.message).toMatch(/full/);
    const m = parsePrometheus(await s.metricsText());
    expect(m.get('bse_store_writable')).toBe(0);
    expect(m.get('bse_store_write_failures_total')).toBeGreaterThan(0);
    await s.stop();
    // Space is back: it resumes from its stored offsets and ends exact.
    s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 120_000);
    expect((await health(s)).status).toBe(200);
    await s.stop();
    verifyAgainstRecompute(stateDir, await readEvents(brokers, topic), model, 8);
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 });
  });

  it('future timestamps beyond the skew bound are dead-lettered and do not freeze the window', async () => {
    const modelDir = dir('fut-models');
    const stateDir = dir('fut-state');
    const model = await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'future', 1);
    const now = Date.now();
    const events = [
      ...[0, 1, 2].map((i) => ({ eventId: `far${i}`, userId: 'uf', itemId: i, ts: 1e13 + i })),
      ...[0, 1, 2].map((i) => ({ eventId: `real${i}`, userId: 'uf', itemId: 10 + i, ts: now - 1000 + i })),
      // Within the bound (10 minutes ahead of the record timestamp, bound 1 hour): accepted.
      { eventId: 'soon', userId: 'uf', itemId: 20, ts: now + 600_000 },
    ];
    await produce(brokers, topic, events);
    const codec = { maxFutureSkewMs: 3_600_000 };
    const s = await start({ topic, modelDir, stateDir, windowLength: 3, codec });
    await waitCaughtUp(brokers, topic, stateDir, 3, 60_000);
    expect(s.store.getWindow('uf')!.eventIds).toEqual(['real1', 'real2', 'soon']);
    const m = parsePrometheus(await s.metricsText());
    expect(m.get('bse_dead_letters_total{reason="future-ts"}')).toBe(3);
    await s.stop();
    verifyAgainstRecompute(stateDir, await readEvents(brokers, topic, codec), model, 3);
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 3, codec });
  });

  it('one (ts, eventId) with two payloads on two partitions: the smaller item wins in any arrival order', async () => {
    const modelDir = dir('pay-models');
    const stateDir = dir('pay-state');
    await makeModelDir(modelDir);
    const topic = await createTopic(brokers, 'payloads', 2);
    const ev = (userId: string, itemId: number, partition: number) => ({
      key: userId,
      value: encodeEvent({ eventId: `dup-${userId}`, userId, itemId, ts: 5000 }),
      partition,
    });
    // ua sees item 7 first, ub sees item 3 first; each then gets the other payload on the other partition.
    await produceRaw(brokers, topic, [ev('ua', 7, 0), ev('ub', 3, 0)]);
    const s = await start({ topic, modelDir, stateDir });
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    await produceRaw(brokers, topic, [ev('ua', 3, 1), ev('ub', 7, 1)]);
    await waitCaughtUp(brokers, topic, stateDir, 8, 60_000);
    for (const u of ['ua', 'ub']) {
      const w = s.store.getWindow(u)!;
      expect(Array.from(w.items.subarray(0, w.length))).toEqual([3]);
    }
    await s.stop();
    await expectReplayAgrees({ brokers, topic, modelDir, stateDir, windowLength: 8 });
  });
});
