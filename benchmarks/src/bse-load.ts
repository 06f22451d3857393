/**
 * Load benchmark of the streaming BSE encoder on a real Kafka broker over loopback.
 *
 * 1. A backlog of `--events` behaviour events is produced into a fresh 4-partition topic.
 * 2. One encoder instance starts (in this process; its HTTP API in its worker thread) and ingests the
 *    backlog; sustained ingest = events / time from the first stored offset to caught-up.
 * 3. Meanwhile `--readers` concurrent keep-alive HTTP clients in a SEPARATE PROCESS (so neither the
 *    ingest thread nor the encoder's event loop delays the client's clock) GET random users' states,
 *    closed loop. Latency is reported at the client (request written → body read) and at the server
 *    (fastify onRequest → onResponse, from /metrics), both while ingesting and, for comparison, for
 *    `--idle-s` seconds after the encoder caught up (same client, no ingest).
 *
 * Bounded in count (--events) and time (--timeout-s). Uses KAFKA_BROKERS, else starts a broker with
 * scripts/kafka/start.sh in a temp folder and removes it at the end.
 * Targets: ≥ 20,000 events/s ingest; GET p99 ≤ 5 ms.
 *
 * Usage: node benchmarks/dist/bse-load.js [--events 200000] [--users 2000] [--readers 4] [--window 50]
 *          [--max-tx N] [--wal-pages N] [--state-cache-mib N] (store tuning; default: the service's defaults)
 *          [--idle-s 3] [--timeout-s 300]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_RUNNER_OPTIONS,
  EventGenerator,
  encodeEvent,
  KafkaTransport,
  parsePrometheus,
  StateStore,
  startBseService,
  writeDemoModel,
} from '@compactrec/bse-stream';

import { benchBroker } from './broker.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function arg(name: string, fallback: number, allowZero = false): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0 || (v === 0 && !allowZero))
    throw new Error(`bse-load: --${name} '${process.argv[i + 1]}' must be a positive number`);
  return v;
}

const EVENTS = arg('events', 200_000);
const USERS = arg('users', 2000);
const READERS = arg('readers', 4);
const WINDOW = arg('window', 50);
const MAX_TX = arg('max-tx', 0, true);
const WAL_PAGES = arg('wal-pages', 0, true);
const STATE_CACHE_MIB = arg('state-cache-mib', -1, true);
const IDLE_S = arg('idle-s', 3, true);
const TIMEOUT_MS = arg('timeout-s', 300) * 1000;

/**
 * The GET client, run as its own node process: closed loop of `concurrency` keep-alive connections.
 * stdin lines: 'mark' (start a new phase: the latencies so far form one phase), 'stop'. On stop it
 * prints one JSON line: per phase the sorted latencies (ms), 404s and errors.
 */
const READER_CODE = `
const http = require('node:http');
const [url, users, concurrency] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const u = new URL(url);
const phases = [];
let cur = { lat: [], notFound: 0, errors: 0 };
let stop = false;
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    if (line === 'mark') { phases.push(cur); cur = { lat: [], notFound: 0, errors: 0 }; }
    else if (line === 'stop') stop = true;
  }
});
function get(path) {
  return new Promise((resolve) => {
    const req = http.get({ host: u.hostname, port: u.port, path, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-1));
  });
}
async function loop(seed) {
  let x = seed;
  while (!stop) {
    x = (x * 1103515245 + 12345) >>> 0;
    const t0 = performance.now();
    const status = await get('/v1/users/u' + (x % users) + '/bse');
    const ms = performance.now() - t0;
    if (status === 200) cur.lat.push(ms);
    else if (status === 404) cur.notFound++;
    else cur.errors++;
  }
}
process.stdout.write('READY\\n');
Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i + 1))).then(() => {
  phases.push(cur);
  agent.destroy();
  const text = JSON.stringify(phases.map((p) => ({ lat: p.lat.sort((a, b) => a - b), notFound: p.notFound, errors: p.errors })));
  process.stdout.write(text + '\\n', () => process.exit(0));
});
`;

interface Phase {
  lat: number[];
  notFound: number;
  errors: number;
}

/** Starts the client process; resolves once it sends requests. */
async function startReader(url: string): Promise<{ mark(): void; stop(): Promise<Phase[]> }> {
  const child: ChildProcess = spawn(process.execPath, ['-e', READER_CODE, url, String(USERS), String(READERS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('READY\n')) resolve();
    });
    child.once('error', reject);
    exited.then(() => reject(new Error('bse-load: the reader process exited early')));
  });
  return {
    mark: () => child.stdin!.write('mark\n'),
    async stop() {
      child.stdin!.write('stop\n');
      await exited;
      return JSON.parse(out.slice('READY\n'.length)) as Phase[];
    },
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Server-side p50/p99 (ms) from the /metrics text. */
function serverQuantiles(text: string): [number, number] {
  const m = parsePrometheus(text);
  const q = (x: string): number => (m.get(`bse_http_request_duration_seconds{quantile="${x}"}`) ?? Number.NaN) * 1000;
  return [q('0.5'), q('0.99')];
}

async function main(): Promise<void> {
  const broker = benchBroker(root, 'bse-load');
  const brokers = broker.brokers;
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

    // 2. Ingest with concurrent reads from another process.
    const service = await startBseService({
      brokers: [brokers],
      topic,
      groupId: topic, // a group of its own: no stale member of an earlier run can delay this one
      modelDir,
      stateDir,
      windowLength: WINDOW,
      consumer: { maxBytesPerPartition: 4 << 20, maxWaitTimeMs: 50 },
      http: { latencySamples: 1 << 20 },
      ...(MAX_TX > 0 ? { maxEventsPerTransaction: MAX_TX } : {}),
      store: {
        ...(WAL_PAGES > 0 ? { walAutocheckpointPages: WAL_PAGES } : {}),
        ...(STATE_CACHE_MIB >= 0 ? { stateCacheMiB: STATE_CACHE_MIB } : {}),
      },
      log: (level, message, extra) => {
        if (level !== 'info') process.stderr.write(`${level}: ${message} ${JSON.stringify(extra ?? {})}\n`);
      },
    });
    const reader = await startReader(service.url);
    const probe = StateStore.open(stateDir, { windowLength: WINDOW });
    const consumed = (): number => {
      let s = 0;
      for (const v of probe.nextOffsets(topic).values()) s += v;
      return s;
    };
    let firstAt = 0;
    let firstCount = 0;
    const cpu0 = process.cpuUsage();
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const c = consumed();
      if (firstAt === 0 && c > 0) {
        firstAt = performance.now();
        firstCount = c;
        reader.mark(); // reads before the first commit (all 404) are not counted
      }
      if (c >= EVENTS) break;
      if (Date.now() > deadline)
        throw new Error(`bse-load: not caught up within ${TIMEOUT_MS / 1000} s (${c}/${EVENTS})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const ingestS = (performance.now() - firstAt) / 1000;
    const cpu = process.cpuUsage(cpu0);
    reader.mark();
    const serverIngest = serverQuantiles(await service.metricsText());
    const transactions = service.runner.transactions;
    const cache = service.store.cacheStats();
    // 3. The same reads with no ingest, for comparison.
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const phases = await reader.stop();
    probe.close();
    await service.stop();
    await t.close();

    const during = phases[1] ?? { lat: [], notFound: 0, errors: 0 };
    const idle = phases[2] ?? { lat: [], notFound: 0, errors: 0 };
    const rate = (EVENTS - firstCount) / ingestS;
    const p50 = quantile(during.lat, 0.5);
    const p99 = quantile(during.lat, 0.99);
    const ms = (x: number): string => x.toFixed(2);
    const rows: [string, string][] = [
      ['events', String(EVENTS)],
      ['users / window L / dim / signatures', `${USERS} / ${WINDOW} / ${model.dim} / ${model.hasher.numSignatures}`],
      ['produce (backlog) events/s', Math.round(EVENTS / produceS).toLocaleString('en-US')],
      ['ingest events/s (sustained, store-committed)', Math.round(rate).toLocaleString('en-US')],
      [
        'encoder process CPU during ingest',
        `${(cpu.user / 1e6).toFixed(1)} s user + ${(cpu.system / 1e6).toFixed(1)} s sys over ${ingestS.toFixed(1)} s (${Math.round((EVENTS - firstCount) / ((cpu.user + cpu.system) / 1e6)).toLocaleString('en-US')} events per CPU-second, all threads)`,
      ],
      [
        'store transactions (events each) / state cache',
        `${transactions} (${Math.round(EVENTS / Math.max(1, transactions))}) / ${cache.hits} hits, ${cache.misses} misses, ${cache.invalidations} invalidations`,
      ],
      [
        'GETs during ingest',
        `${during.lat.length} ok, ${during.notFound} 404 (user not yet seen), ${during.errors} errors`,
      ],
      ['GET p50 / p99 during ingest (client process, ms)', `${ms(p50)} / ${ms(p99)}`],
      ['GET p50 / p99 during ingest (server, ms)', `${ms(serverIngest[0])} / ${ms(serverIngest[1])}`],
      [
        `GET p50 / p99 with no ingest, ${IDLE_S} s after catch-up (client process, ms)`,
        `${ms(quantile(idle.lat, 0.5))} / ${ms(quantile(idle.lat, 0.99))}  (${idle.lat.length} ok)`,
      ],
      [
        'targets',
        `ingest ≥ 20,000/s: ${rate >= 20_000 ? 'met' : 'NOT met'}; p99 ≤ 5 ms (client): ${p99 <= 5 ? 'met' : 'NOT met'}; p99 ≤ 5 ms (server): ${serverIngest[1] <= 5 ? 'met' : 'NOT met'}`,
      ],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(
      `bse-load (real Kafka on loopback, ${READERS} concurrent readers in a separate process; maxEventsPerTransaction ${MAX_TX || DEFAULT_RUNNER_OPTIONS.maxEventsPerTransaction})\n`,
    );
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    broker.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bse-load: ${String(err?.stack ?? err)}\n`);
  process.exitCode = 1;
});
