/**
 * Bad input, the HTTP API and the blue/green model switch, against a real broker with an in-process
 * encoder. Malformed messages of every kind go to the dead-letter topic with their reason and source
 * offset, are counted, and never block the good events around them.
 */

import {
  type BseService,
  type BseStateJson,
  decodeDeadLetter,
  decodeSums,
  EventGenerator,
  encodeEvent,
  KafkaTransport,
  parsePrometheus,
  saveModelToDir,
  startBseService,
} from '@compactrec/bse-stream';
import { createSdimModelVersion, deserializeBse, type SdimModelVersion } from '@compactrec/sdim';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  expectReplayAgrees,
  FAST,
  makeModelDir,
  produce,
  readEvents,
  tempDir,
  uniqueTopic,
  verifyAgainstRecompute,
  waitCaughtUp,
  waitFor,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const L = 12;

describe('bse-stream bad input, HTTP API and model switch', () => {
  const models = tempDir('api-models');
  const state = tempDir('api-state');
  const topic = uniqueTopic('api');
  let service: BseService;
  let model: SdimModelVersion;
  const bad: { value: string | null; reason: string }[] = [
    { value: 'this is not json', reason: 'not-json' },
    { value: '{"eventId":"b1","userId":"u1"', reason: 'not-json' },
    { value: '{"eventId":"b2","userId":"u1","ts":5}', reason: 'missing-field' },
    { value: '{"eventId":"b3","userId":"u1","itemId":"7","ts":5}', reason: 'wrong-type' },
    { value: '{"eventId":"b4","userId":42,"itemId":7,"ts":5}', reason: 'wrong-type' },
    { value: '{"eventId":"b5","userId":"u1","itemId":7,"ts":9000000000000000}', reason: 'future-ts' },
    { value: `{"eventId":"b6","userId":"u1","itemId":1,"ts":5,"pad":"${'x'.repeat(3000)}"}`, reason: 'oversize' },
    { value: '[1,2,3]', reason: 'not-object' },
    { value: null, reason: 'empty' },
  ];

  const replayCheck = () => ({ brokers, topic, modelDir: models.dir, stateDir: state.dir, windowLength: L });

  beforeAll(async () => {
    model = await makeModelDir(models.dir, 'v1', 1);
    service = await startBseService({
      brokers: [brokers],
      topic,
      modelDir: models.dir,
      stateDir: state.dir,
      windowLength: L,
      codec: { maxEventBytes: 2048 },
      ...FAST,
      log: () => {},
    });
  });
  afterAll(async () => {
    await service?.stop();
    models.cleanup();
    state.cleanup();
  });

  it('dead-letters every kind of malformed message with its reason and applies the good ones', async () => {
    const gen = new EventGenerator({ seed: 41, numUsers: 50 });
    const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    const p = await t.createProducer();
    // Good events before, between and after the bad ones, all on partition 0 so the order is known.
    const messages = [];
    for (const b of bad) {
      for (const e of gen.take(20)) messages.push({ key: e.userId, value: encodeEvent(e), partition: 0 });
      messages.push({ key: 'u1', value: b.value as string, partition: 0 });
    }
    for (const e of gen.take(20)) messages.push({ key: e.userId, value: encodeEvent(e), partition: 0 });
    await p.send(topic, messages);
    await p.close();
    await waitCaughtUp(brokers, topic, state.dir, L, 60_000);

    // The DLQ holds each bad message once, with reason and source offset.
    const dlq: ReturnType<typeof decodeDeadLetter>[] = [];
    await waitFor(
      'the dead letters',
      async () => {
        dlq.length = 0;
        await t.readTopic(`${topic}.dlq`, (_p, m) => dlq.push(decodeDeadLetter(m.value!)));
        return dlq.length >= bad.length;
      },
      30_000,
      500,
    );
    await t.close();
    expect(dlq.map((d) => d.reason)).toEqual(bad.map((b) => b.reason));
    bad.forEach((_b, i) => {
      expect(dlq[i]!.source).toEqual({ topic, partition: 0, offset: 20 * (i + 1) + i });
      expect(dlq[i]!.detail.length).toBeGreaterThan(0);
    });
    expect(dlq.find((d) => d.reason === 'oversize')!.truncated).toBe(true);

    const m = parsePrometheus(await service.metricsText());
    expect(m.get('bse_dead_letters_all_total')).toBe(bad.length);
    expect(m.get('bse_dead_letters_total{reason="not-json"}')).toBe(2);
    expect(m.get('bse_dead_letters_total{reason="future-ts"}')).toBe(1);
    expect(m.get('bse_events_applied_total')).toBe(20 * (bad.length + 1));

    const log = await readEvents(brokers, topic, { maxEventBytes: 2048 });
    verifyAgainstRecompute(state.dir, log, model, L);
    await expectReplayAgrees({ ...replayCheck(), codec: { maxEventBytes: 2048 } });
  });

  it('serves states as JSON and binary, batch reads, health and metrics', async () => {
    const notFound = await fetch(`${service.url}/v1/users/nobody/bse`);
    expect(notFound.status).toBe(404);

    const userId = service.store.userIds()[0]!;
    const json = (await (
      await fetch(`${service.url}/v1/users/${encodeURIComponent(userId)}/bse`)
    ).json()) as BseStateJson;
    expect(json.version).toBe('v1');
    expect(json.userId).toBe(userId);
    expect(json.counts.length).toBe(json.numSignatures * json.bucketsPerSignature);
    const stored = deserializeBse(service.store.getState(userId)!.bytes);
    // JSON answers carry float32 sums by default (issue #20 item 5): the stored float64 sums rounded once.
    expect(json.precision).toBe('float32');
    expect(Array.from(decodeSums(json.sums, json.precision))).toEqual(Array.from(stored.sums, Math.fround));
    expect(json.length).toBe(stored.length);

    const bin = await fetch(`${service.url}/v1/users/${encodeURIComponent(userId)}/bse`, {
      headers: { accept: 'application/octet-stream' },
    });
    expect(bin.headers.get('x-bse-version')).toBe('v1');
    const fromBin = deserializeBse(new Uint8Array(await bin.arrayBuffer()));
    expect(fromBin.length).toBe(stored.length);
    expect(Array.from(fromBin.counts)).toEqual(Array.from(stored.counts));

    const batch = await fetch(`${service.url}/v1/bse:batchGet`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: [userId, 'nobody'] }),
    });
    expect(batch.status).toBe(200);
    const results = ((await batch.json()) as { results: { userId: string; found: boolean; version?: string }[] })
      .results;
    expect(results.map((r) => [r.userId, r.found])).toEqual([
      [userId, true],
      ['nobody', false],
    ]);
    const badBatch = await fetch(`${service.url}/v1/bse:batchGet`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: 'x' }),
    });
    expect(badBatch.status).toBe(400);

    const health = await fetch(`${service.url}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { activeVersion: string }).activeVersion).toBe('v1');

    const text = await (await fetch(`${service.url}/metrics`)).text();
    const m = parsePrometheus(text);
    for (let p = 0; p < 4; p++) expect(m.get(`bse_consumer_lag{topic="${topic}",partition="${p}"}`)).toBe(0);
    expect(m.has('bse_events_per_second')).toBe(true);
    expect(m.get('bse_http_request_duration_seconds{quantile="0.99"}')).toBeGreaterThan(0);
    await expectReplayAgrees({ ...replayCheck(), codec: { maxEventBytes: 2048 } });
  });

  it('switches model versions blue/green while ingesting, then serves only the new one', async () => {
    const v2 = createSdimModelVersion({
      version: 'v2',
      numItems: 1000,
      dim: 16,
      seed: 2,
      hash: { numHashes: 24, bitsPerSignature: 3 },
    });
    await saveModelToDir(models.dir, v2);
    const unknown = await fetch(`${service.url}/v1/admin/model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v404' }),
    });
    expect(unknown.status).toBe(404);
    const gen = new EventGenerator({ seed: 42, numUsers: 400, eventPrefix: 'g' });
    const ingest = produce(brokers, topic, gen.take(20_000), 200);
    const res = await fetch(`${service.url}/v1/admin/model`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v2' }),
    });
    expect(res.status).toBe(202);
    // Until the switch commits, every read is still v1.
    const someUser = service.store.userIds()[0]!;
    const during = (await (
      await fetch(`${service.url}/v1/users/${encodeURIComponent(someUser)}/bse`)
    ).json()) as BseStateJson;
    if (service.store.versions().active === 'v1') expect(during.version).toBe('v1');
    await ingest;
    await waitFor('the switch to v2', () => service.store.versions().active === 'v2', 120_000, 100);
    await waitCaughtUp(brokers, topic, state.dir, L, 120_000);
    const after = (await (
      await fetch(`${service.url}/v1/users/${encodeURIComponent(someUser)}/bse`)
    ).json()) as BseStateJson;
    expect(after.version).toBe('v2');
    expect(service.reencoder.completed).toContain('v2');
    const log = await readEvents(brokers, topic, { maxEventBytes: 2048 });
    verifyAgainstRecompute(state.dir, log, v2, L);
    await expectReplayAgrees({ ...replayCheck(), codec: { maxEventBytes: 2048 } });
  });
});
