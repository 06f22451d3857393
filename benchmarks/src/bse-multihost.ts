/**
 * Multi-host benchmark of the streaming BSE encoder (issue #16) on a real Kafka broker over loopback:
 *
 * 1. Ingest: the same backlog of `--events` events (fresh 4-partition topic) is consumed by one
 *    encoder instance in single-host mode and in multi-host mode (changelog on: every chunk's windows
 *    published in one Kafka transaction before the local commit), each with a fresh state folder and
 *    group, `--rounds` times, the two modes interleaved. Sustained ingest = events / time from the
 *    first stored offset to caught-up. Ratio = multi-host / single-host of the same round.
 * 2. Restore: after each multi-host round, partition 0 is restored from that round's changelog into an
 *    empty store, the way an instance taking the partition over does it (read_committed, chunks of
 *    `--chunk-users` users, windows checked and states encoded for the served model): users/s and
 *    changelog MB/s.
 *
 * Uses KAFKA_BROKERS, else starts a broker with scripts/kafka/start.sh in a temp folder (removed at the end).
 * Usage: node benchmarks/dist/bse-multihost.js [--events 200000] [--users 20000] [--window 50]
 *          [--rounds 2] [--chunk-users 1000] [--timeout-s 300] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EventGenerator,
  encodeEvent,
  KafkaTransport,
  restoreFromChangelog,
  StateStore,
  startBseService,
  writeDemoModel,
} from '@compactrec/bse-stream';
import type { SdimModelVersion } from '@compactrec/sdim';

import { benchBroker } from './broker.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`bse-multihost: --${name} '${process.argv[i + 1]}' must be a positive number`);
  return v;
}

const EVENTS = arg('events', 200_000);
const USERS = arg('users', 20_000);
const WINDOW = arg('window', 50);
const ROUNDS = arg('rounds', 2);
const CHUNK_USERS = arg('chunk-users', 1000);
const TIMEOUT_MS = arg('timeout-s', 300) * 1000;
const JSON_OUT = process.argv.includes('--json');

interface IngestRun {
  mode: 'single-host' | 'multi-host';
  round: number;
  eventsPerS: number;
  seconds: number;
  groupId: string;
}

async function ingest(
  brokers: string,
  topic: string,
  modelDir: string,
  work: string,
  mode: IngestRun['mode'],
  round: number,
): Promise<IngestRun> {
  const groupId = `bench-${mode}-${round}-${Date.now()}`;
  const stateDir = join(work, `state-${mode}-${round}`);
  const service = await startBseService({
    brokers: [brokers],
    topic,
    groupId,
    modelDir,
    stateDir,
    windowLength: WINDOW,
    consumer: { maxBytesPerPartition: 4 << 20, maxWaitTimeMs: 50 },
    ...(mode === 'multi-host' ? { multiHost: {} } : {}),
    log: (level, message, extra) => {
      if (level === 'error') process.stderr.write(`${level}: ${message} ${JSON.stringify(extra ?? {})}\n`);
    },
  });
  const probe = StateStore.open(stateDir, { windowLength: WINDOW });
  try {
    const consumed = (): number => {
      let s = 0;
      for (const v of probe.nextOffsets(topic).values()) s += v;
      return s;
    };
    let firstAt = 0;
    let firstCount = 0;
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const c = consumed();
      if (firstAt === 0 && c > 0) {
        firstAt = performance.now();
        firstCount = c;
      }
      if (c >= EVENTS) break;
      if (Date.now() > deadline)
        throw new Error(`bse-multihost: ${mode} not caught up within ${TIMEOUT_MS / 1000} s (${c}/${EVENTS})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - firstAt) / 1000;
    return { mode, round, eventsPerS: (EVENTS - firstCount) / seconds, seconds, groupId };
  } finally {
    probe.close();
    await service.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

interface RestoreRun {
  round: number;
  users: number;
  mb: number;
  /** Whole restore: the read's consumer-group join, the read, the store writes. */
  seconds: number;
  /** From the first chunk handed over to the end (the streaming part, without the group join). */
  streamSeconds: number;
  /** Inside the store writes (window check, state encoding, SQLite). */
  storeSeconds: number;
}

async function restore(
  t: KafkaTransport,
  topic: string,
  groupId: string,
  model: SdimModelVersion,
  work: string,
  round: number,
): Promise<RestoreRun> {
  const dir = join(work, `restore-${round}`);
  const store = StateStore.open(dir, { windowLength: WINDOW });
  try {
    const t0 = performance.now();
    let first = 0;
    let storeMs = 0;
    const r = await restoreFromChangelog(t, {
      topic,
      groupId,
      partition: 0,
      chunkUsers: CHUNK_USERS,
      timeoutMs: TIMEOUT_MS,
      onChunk: (entries) => {
        const c0 = performance.now();
        if (first === 0) first = c0;
        const rows: { userId: string; window: Uint8Array }[] = [];
        for (const e of entries) if (e.window) rows.push({ userId: e.userId, window: e.window });
        store.restoreUsers(0, rows, [model]);
        storeMs += performance.now() - c0;
      },
    });
    store.setPartitionMark(topic, 0, r.nextOffset, r.fingerprint);
    const t1 = performance.now();
    const seconds = (t1 - t0) / 1000;
    const distinct = store.partitionUsers(0);
    if (distinct === 0) throw new Error('bse-multihost: the restore found no users');
    return {
      round,
      users: distinct,
      mb: r.bytes / 1e6,
      seconds,
      streamSeconds: (t1 - first) / 1000,
      storeSeconds: storeMs / 1000,
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const broker = benchBroker(root, 'bse-multihost');
  const brokers = broker.brokers;
  const work = mkdtempSync(join(tmpdir(), 'bse-multihost-'));
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  const load0 = loadavg()[0]!;
  try {
    const modelDir = join(work, 'models');
    const { model } = await writeDemoModel(modelDir, {
      version: 'v1',
      numItems: 10_000,
      dim: 16,
      numHashes: 48,
      seed: 1,
    });
    const topic = `bse-multihost-${Date.now()}`;
    await t.ensureTopic(topic, 4);
    const gen = new EventGenerator({ seed: 16, numUsers: USERS, numItems: model.numItems });
    const producer = await t.createProducer();
    for (let sent = 0; sent < EVENTS; ) {
      const n = Math.min(2000, EVENTS - sent);
      const batch = new Array(n);
      for (let i = 0; i < n; i++) {
        const e = gen.next();
        batch[i] = { key: e.userId, value: encodeEvent(e) };
      }
      await producer.send(topic, batch);
      sent += n;
    }
    await producer.close();

    const ingests: IngestRun[] = [];
    const restores: RestoreRun[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Interleaved, alternating which mode goes first.
      const order: IngestRun['mode'][] =
        round % 2 === 1 ? ['single-host', 'multi-host'] : ['multi-host', 'single-host'];
      for (const mode of order) {
        const run = await ingest(brokers, topic, modelDir, work, mode, round);
        ingests.push(run);
        process.stderr.write(`  round ${round} ${mode}: ${Math.round(run.eventsPerS)} events/s\n`);
        if (mode === 'multi-host') {
          const r = await restore(t, topic, run.groupId, model, work, round);
          restores.push(r);
          process.stderr.write(
            `  round ${round} restore of partition 0: ${r.users} users in ${r.seconds.toFixed(2)} s\n`,
          );
        }
      }
    }
    const load1 = loadavg()[0]!;
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const rows: string[][] = [
      [
        'round',
        'single-host events/s',
        'multi-host events/s',
        'ratio multi/single',
        'restore users/s',
        'restore MB/s',
        'streaming users/s',
        'streaming MB/s',
        'store share',
      ],
    ];
    for (let round = 1; round <= ROUNDS; round++) {
      const s = ingests.find((x) => x.round === round && x.mode === 'single-host')!;
      const m = ingests.find((x) => x.round === round && x.mode === 'multi-host')!;
      const r = restores.find((x) => x.round === round)!;
      rows.push([
        String(round),
        fmt(s.eventsPerS),
        fmt(m.eventsPerS),
        (m.eventsPerS / s.eventsPerS).toFixed(2),
        fmt(r.users / r.seconds),
        (r.mb / r.seconds).toFixed(1),
        fmt(r.users / r.streamSeconds),
        (r.mb / r.streamSeconds).toFixed(1),
        `${Math.round((100 * r.storeSeconds) / r.seconds)} %`,
      ]);
    }
    if (JSON_OUT) {
      process.stdout.write(
        `${JSON.stringify({ events: EVENTS, users: USERS, window: WINDOW, ingests, restores, load: [load0, load1] })}\n`,
      );
      return;
    }
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    process.stdout.write(
      `bse-multihost (real Kafka on loopback; ${EVENTS.toLocaleString('en-US')} events, ${USERS.toLocaleString('en-US')} users, L ${WINDOW}, dim ${model.dim}, ${model.hasher.numSignatures} signatures; 4 partitions; restore = partition 0 (${restores[0]!.users} users, ${restores[0]!.mb.toFixed(1)} MB of changelog) into an empty store, ${CHUNK_USERS} users per transaction; "restore" includes the read's consumer-group join, "streaming" is from the first chunk to the end, "store share" the part of the restore spent writing the store; load average ${load0.toFixed(1)} → ${load1.toFixed(1)})\n`,
    );
    for (const r of rows)
      process.stdout.write(`  ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')}\n`);
  } finally {
    await t.close();
    rmSync(work, { recursive: true, force: true });
    broker.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bse-multihost: ${String(err?.stack ?? err)}\n`);
  process.exitCode = 1;
});
