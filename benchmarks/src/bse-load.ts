/**
 * Load benchmark of the streaming BSE encoder on a real Kafka broker over loopback.
 *
 * 1. A backlog of `--events` behaviour events is produced into a fresh 4-partition topic.
 * 2. One encoder instance starts (in this process; its HTTP API in its worker thread) and ingests the
 *    backlog; sustained ingest = events / time from the first stored offset to caught-up.
 * 3. Meanwhile `--readers` concurrent HTTP clients (in a separate worker thread, so the ingest thread
 *    does not skew the client clock) GET random users' states; p50/p99 client-side and server-side.
 *
 * Bounded in count (--events) and time (--timeout-s). Uses KAFKA_BROKERS, else starts a broker with
 * scripts/kafka/start.sh in a temp folder and removes it at the end.
 * Targets: ≥ 20,000 events/s ingest; GET p99 ≤ 5 ms.
 *
 * Usage: node benchmarks/dist/bse-load.js [--events 200000] [--users 2000] [--readers 4] [--window 50] [--timeout-s 300]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  EventGenerator,
  encodeEvent,
  KafkaTransport,
  parsePrometheus,
  StateStore,
  startBseService,
  writeDemoModel,
} from '@compactrec/bse-stream';

const root = fileURLToPath(new URL('../..', import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`bse-load: --${name} '${process.argv[i + 1]}' must be a positive number`);
  return v;
}

const EVENTS = arg('events', 200_000);
const USERS = arg('users', 2000);
const READERS = arg('readers', 4);
const WINDOW = arg('window', 50);
const TIMEOUT_MS = arg('timeout-s', 300) * 1000;

/** Client-side GET load, in its own thread: loops until told to stop, returns sorted latencies (ms). */
const READER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, users, concurrency } = workerData;
let stop = false;
const lat = [];
let errors = 0, notFound = 0;
parentPort.on('message', () => { stop = true; });
async function loop(seed) {
  let x = seed;
  while (!stop) {
    x = (x * 1103515245 + 12345) >>> 0;
    const id = 'u' + (x % users);
    const t0 = performance.now();
    try {
      const r = await fetch(url + '/v1/users/' + id + '/bse');
      await r.arrayBuffer();
      if (r.status === 404) notFound++;
      else if (r.status !== 200) errors++;
      else lat.push(performance.now() - t0);
    } catch { errors++; }
  }
}
Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i + 1))).then(() => {
  parentPort.postMessage({ lat: Float64Array.from(lat).sort(), errors, notFound });
});
`;

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function main(): Promise<void> {
  let brokers = process.env.KAFKA_BROKERS;
  let kafkaDir: string | undefined;
  if (!brokers) {
    const r = spawnSync('bash', ['scripts/kafka/start.sh'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error('bse-load: scripts/kafka/start.sh failed');
    brokers = /KAFKA_BROKERS=(\S+)/.exec(r.stdout)![1]!;
    kafkaDir = /KAFKA_DIR=(\S+)/.exec(r.stdout)![1]!;
  }
  const work = mkdtempSync(join(tmpdir(), 'bse-load-'));
  try {
    const modelDir = join(work, 'models');
    const stateDir = join(work, 'state');
    const { model } = await writeDemoModel(modelDir, {
      version: 'v1',
      numItems: 10_000,
      dim: 16,
      numHashes: 24,
      seed: 1,
    });
    const topic = `bse-load-${Date.now()}`;
    const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    await t.ensureTopic(topic, 4);

    // 1. Backlog.
    const gen = new EventGenerator({
      seed: 5,
      numUsers: USERS,
      numItems: model.numItems,
      duplicateRate: 0.01,
      lateRate: 0.02,
    });
    const producer = await t.createProducer();
    const p0 = performance.now();
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
    const produceS = (performance.now() - p0) / 1000;

    // 2. Ingest with concurrent reads.
    const service = await startBseService({
      brokers: [brokers],
      topic,
      modelDir,
      stateDir,
      windowLength: WINDOW,
      consumer: { maxBytesPerPartition: 4 << 20, maxWaitTimeMs: 50 },
      log: () => {},
    });
    const probe = StateStore.open(stateDir, { windowLength: WINDOW });
    const consumed = (): number => {
      let s = 0;
      for (const v of probe.nextOffsets(topic).values()) s += v;
      return s;
    };
    let firstAt = 0;
    let firstCount = 0;
    const deadline = Date.now() + TIMEOUT_MS;
    let reader: Worker | undefined;
    let readerResult: Promise<{ lat: Float64Array; errors: number; notFound: number }> | undefined;
    for (;;) {
      const c = consumed();
      if (firstAt === 0 && c > 0) {
        firstAt = performance.now();
        firstCount = c;
        reader = new Worker(READER_CODE, {
          eval: true,
          workerData: { url: service.url, users: USERS, concurrency: READERS },
        });
        readerResult = new Promise((resolve, reject) => {
          reader!.once('message', resolve);
          reader!.once('error', reject);
        });
      }
      if (c >= EVENTS) break;
      if (Date.now() > deadline)
        throw new Error(`bse-load: not caught up within ${TIMEOUT_MS / 1000} s (${c}/${EVENTS})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const ingestS = (performance.now() - firstAt) / 1000;
    reader?.postMessage('stop');
    const reads = readerResult ? await readerResult : { lat: new Float64Array(0), errors: 0, notFound: 0 };
    await reader?.terminate();
    const metrics = parsePrometheus(await service.metricsText());
    probe.close();
    await service.stop();
    await t.close();

    const rate = (EVENTS - firstCount) / ingestS;
    const p50 = quantile(reads.lat, 0.5);
    const p99 = quantile(reads.lat, 0.99);
    const rows: [string, string][] = [
      ['events', String(EVENTS)],
      ['users / window L / dim / signatures', `${USERS} / ${WINDOW} / ${model.dim} / ${model.hasher.numSignatures}`],
      ['produce (backlog) events/s', Math.round(EVENTS / produceS).toLocaleString('en-US')],
      ['ingest events/s (sustained, store-committed)', Math.round(rate).toLocaleString('en-US')],
      [
        'GETs during ingest',
        `${reads.lat.length} ok, ${reads.notFound} 404 (user not yet seen), ${reads.errors} errors`,
      ],
      ['GET p50 / p99 (client, ms)', `${p50.toFixed(2)} / ${p99.toFixed(2)}`],
      [
        'GET p50 / p99 (server, ms)',
        `${((metrics.get('bse_http_request_duration_seconds{quantile="0.5"}') ?? Number.NaN) * 1000).toFixed(2)} / ${((metrics.get('bse_http_request_duration_seconds{quantile="0.99"}') ?? Number.NaN) * 1000).toFixed(2)}`,
      ],
      [
        'targets',
        `ingest ≥ 20,000/s: ${rate >= 20_000 ? 'met' : 'NOT met'}; p99 ≤ 5 ms: ${p99 <= 5 ? 'met' : 'NOT met'}`,
      ],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(`bse-load (real Kafka on loopback, ${READERS} concurrent readers)\n`);
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (kafkaDir)
      spawnSync('bash', ['scripts/kafka/stop.sh', '--dir', kafkaDir, '--delete'], { cwd: root, stdio: 'inherit' });
  }
}

main().catch((err) => {
  process.stderr.write(`bse-load: ${String(err?.stack ?? err)}\n`);
  process.exitCode = 1;
});
