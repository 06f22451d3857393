/**
 * Load benchmark of `compactrec ctr serve` over loopback, with the streaming BSE encoder ingesting at
 * the same time, on a real Kafka broker.
 *
 * 1. Two sequence models at L = 1,024 (same item table size, dim, MLP; random init — latency does not
 *    depend on the weights): SDIM (reads the user's BSE state: hashes the candidates, reads buckets)
 *    and DIN scoring the raw 1,024-behaviour window (target attention over every behaviour per candidate).
 * 2. `compactrec bse serve` (child process) consumes a backlog that fills every user's window, then a
 *    producer keeps sending events (--ingest-rate events/s) for the whole measurement.
 * 3. Three `compactrec ctr serve` child processes: SDIM reading the encoder's store (co-located), SDIM
 *    over the encoder's HTTP batch API, and DIN reading the raw window from the store.
 * 4. One closed-loop keep-alive client (this process) sends /v1/predict with 10, 100 and 1,000
 *    candidates, interleaving the three servers request by request, and reports p50/p99 latency
 *    (client side: request sent → body read) and requests/s (1 client), plus DIN/SDIM ratios.
 *
 * Target: SDIM p99 ≤ 10 ms at 100 candidates.
 * Usage: node benchmarks/dist/ctr-serve-load.js [--users 64] [--requests 300] [--din-requests 12]
 *          [--ingest-rate 1000] [--timeout-s 600]
 * Uses KAFKA_BROKERS, else starts a broker with scripts/kafka/start.sh in a temp folder (removed at the end).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeEvent, KafkaTransport, StateStore } from '@compactrec/bse-stream';
import { Rng } from '@compactrec/core';
import { type CtrSchema, createSequenceCtrModel, type SequenceModelKind, saveSequenceCtrModel } from '@compactrec/ctr';
import { initTf } from '@compactrec/tf-backend';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(root, 'apps/cli/bin/compactrec.js');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0)
    throw new Error(`ctr-serve-load: --${name} '${process.argv[i + 1]}' must be a number ≥ 0`);
  return v;
}

const L = 1024;
const USERS = arg('users', 64);
const ITEMS = 5000;
const REQUESTS = arg('requests', 300);
const DIN_REQUESTS = arg('din-requests', 12);
const INGEST_RATE = arg('ingest-rate', 1000);
const TIMEOUT_MS = arg('timeout-s', 600) * 1000;
const SIZES = [10, 100, 1000];

const log = (line: string): void => {
  process.stderr.write(`[ctr-serve-load] ${line}\n`);
};

/** A CLI child process; resolves `url` from the line it prints once it listens. */
function startChild(args: string[], pattern: RegExp, label: string): { proc: ChildProcess; url: Promise<string> } {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', (code) => reject(new Error(`${label} exited (${code}) before listening:\n${err}`)));
  });
  return { proc, url };
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await done;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const work = mkdtempSync(join(tmpdir(), 'ctr-serve-load-'));
  let brokers = process.env.KAFKA_BROKERS;
  let kafkaDir: string | undefined;
  const children: ChildProcess[] = [];
  let stopIngest = false;
  try {
    if (!brokers) {
      log('starting a Kafka broker (scripts/kafka/start.sh)');
      const r = spawnSync('bash', ['scripts/kafka/start.sh'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (r.status !== 0) throw new Error('ctr-serve-load: scripts/kafka/start.sh failed');
      brokers = /KAFKA_BROKERS=(\S+)/.exec(r.stdout)![1]!;
      kafkaDir = /KAFKA_DIR=(\S+)/.exec(r.stdout)![1]!;
    }
    // 1. Models.
    const { tf, backend } = await initTf({ prefer: 'auto', quiet: true });
    const schema: CtrSchema = {
      name: 'load',
      fieldNames: ['user_id'],
      cardinalities: Int32Array.of(USERS),
      numDense: 0,
    };
    const dirs: Record<string, string> = {};
    for (const kind of ['sdim', 'din'] as SequenceModelKind[]) {
      const seq = createSequenceCtrModel(
        tf,
        { schema, sequence: { numItems: ITEMS, maxLength: L } },
        { model: kind, dim: 16, mlp: [200, 80], numHashes: 48, bitsPerSignature: 3, seed: 1 },
      );
      dirs[kind] = join(work, kind);
      const { bseVersion } = await saveSequenceCtrModel(seq, dirs[kind]!);
      seq.model.dispose();
      log(`${kind} model ${bseVersion} in ${dirs[kind]}`);
    }
    // 2. Encoder + backlog.
    const topic = `ctr-serve-load-${Date.now()}`;
    const stateDir = join(work, 'state');
    const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    await t.ensureTopic(topic, 4);
    const producer = await t.createProducer();
    const rng = new Rng(7);
    let seq = 0;
    const event = (u: number) => {
      seq++;
      return {
        key: String(u),
        value: encodeEvent({ eventId: `e${seq}`, userId: String(u), itemId: 1 + rng.nextInt(ITEMS), ts: seq }),
      };
    };
    const backlog = USERS * (L + 64);
    log(`producing a backlog of ${backlog} events (${USERS} users, windows of ${L})`);
    for (let i = 0; i < backlog; i += 2000) {
      await producer.send(
        topic,
        Array.from({ length: Math.min(2000, backlog - i) }, (_, j) => event((i + j) % USERS)),
      );
    }
    const bse = startChild(
      [
        'bse',
        'serve',
        '--brokers',
        brokers,
        '--topic',
        topic,
        '--model-dir',
        join(dirs.sdim!, 'bse'),
        '--state-dir',
        stateDir,
        '--window-length',
        String(L),
        '--port',
        '0',
      ],
      /serving on (http:\/\/\S+)/,
      'bse serve',
    );
    children.push(bse.proc);
    const bseUrl = await bse.url;
    const t0 = Date.now();
    for (;;) {
      const ends = await t.topicOffsets(topic);
      const store = StateStore.open(stateDir, { windowLength: L, stateCacheMiB: 0 });
      const next = store.nextOffsets(topic);
      store.close();
      const done = ends.every((p) => (next.get(p.partition) ?? 0) >= p.high);
      if (done) break;
      if (Date.now() - t0 > TIMEOUT_MS) throw new Error('ctr-serve-load: the encoder did not catch up in time');
      await new Promise((r) => setTimeout(r, 500));
    }
    const check = StateStore.open(stateDir, { windowLength: L, stateCacheMiB: 0 });
    const windowOf0 = check.getWindow('0')?.length ?? 0;
    check.close();
    log(
      `encoder caught up in ${((Date.now() - t0) / 1000).toFixed(1)} s; user 0's window holds ${windowOf0} behaviours`,
    );
    if (windowOf0 !== L)
      throw new Error(`ctr-serve-load: user 0's window holds ${windowOf0} behaviours, expected ${L}`);
    // Ingest during the measurement.
    let ingested = 0;
    const ingest = (async () => {
      const batch = Math.max(1, Math.round(INGEST_RATE / 10));
      while (!stopIngest && INGEST_RATE > 0) {
        const t1 = Date.now();
        await producer.send(
          topic,
          Array.from({ length: batch }, () => event(rng.nextInt(USERS))),
        );
        ingested += batch;
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t1))));
      }
    })();
    // 3. Servers.
    const serve = (label: string, extra: string[]) => {
      const c = startChild(
        ['ctr', 'serve', '--port', '0', '--max-candidates', '1000', ...extra],
        /serving \S+ on (http:\/\/\S+);/,
        label,
      );
      children.push(c.proc);
      return c.url;
    };
    const servers: { name: string; url: string; requests: (n: number) => number }[] = [
      {
        name: 'sdim (store)',
        url: await serve('sdim store', ['--model-dir', dirs.sdim!, '--bse-state-dir', stateDir]),
        requests: () => REQUESTS,
      },
      {
        name: 'sdim (bse http)',
        url: await serve('sdim http', ['--model-dir', dirs.sdim!, '--bse-url', bseUrl]),
        requests: () => REQUESTS,
      },
      {
        name: 'din raw L=1024 (store)',
        url: await serve('din store', ['--model-dir', dirs.din!, '--bse-state-dir', stateDir]),
        requests: (n) => Math.max(3, Math.round((DIN_REQUESTS * 100) / Math.max(n, 100))),
      },
    ];
    // 4. Measurement.
    const wrng = new Rng(11);
    const recent = Array.from({ length: 16 }, (_, i) => 1 + i);
    const bodies = (n: number, http: boolean) =>
      Array.from({ length: 16 }, () =>
        JSON.stringify({
          userId: String(wrng.nextInt(USERS)),
          candidates: Array.from({ length: n }, () => ({ itemId: 1 + wrng.nextInt(ITEMS) })),
          ...(http ? { recentItems: recent } : {}),
        }),
      );
    const results: Record<string, unknown>[] = [];
    for (const n of SIZES) {
      const plain = bodies(n, false);
      const withRecent = bodies(n, true);
      const lat = servers.map(() => [] as number[]);
      const busy = servers.map(() => 0);
      const counts = servers.map((s) => s.requests(n));
      // Warm-up: 3 requests each.
      for (let s = 0; s < servers.length; s++) {
        for (let w = 0; w < 3; w++) await post(servers[s]!.url, s === 1 ? withRecent[w]! : plain[w]!);
      }
      const rounds = Math.max(...counts);
      for (let i = 0; i < rounds; i++) {
        for (let s = 0; s < servers.length; s++) {
          // Spread the slower server's requests evenly over the rounds.
          if (Math.floor(((i + 1) * counts[s]!) / rounds) === Math.floor((i * counts[s]!) / rounds)) continue;
          const body = (s === 1 ? withRecent : plain)[i % 16]!;
          const t1 = performance.now();
          await post(servers[s]!.url, body);
          const ms = performance.now() - t1;
          lat[s]!.push(ms);
          busy[s]! += ms;
        }
      }
      for (let s = 0; s < servers.length; s++) {
        const sorted = lat[s]!.sort((a, b) => a - b);
        results.push({
          candidates: n,
          server: servers[s]!.name,
          requests: sorted.length,
          p50Ms: +quantile(sorted, 0.5).toFixed(3),
          p99Ms: +quantile(sorted, 0.99).toFixed(3),
          requestsPerSecond: +((1000 * sorted.length) / busy[s]!).toFixed(1),
        });
      }
      log(`done: ${n} candidates`);
    }
    // Server-side share of /v1/predict requests answered within 10 ms (fastify onRequest → onResponse).
    const within10: Record<string, string> = {};
    for (const srv of servers) {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      const le = Number(/ctr_request_duration_seconds_bucket\{le="0.01",route="\/v1\/predict"\} (\d+)/.exec(text)?.[1]);
      const all = Number(/ctr_request_duration_seconds_count\{route="\/v1\/predict"\} (\d+)/.exec(text)?.[1]);
      within10[srv.name] = `${((100 * le) / all).toFixed(1)}% of ${all}`;
    }
    stopIngest = true;
    await ingest;
    await producer.close();
    await t.close();
    const load1 = loadavg();
    // Report.
    const row = (n: number, name: string) => results.find((r) => r.candidates === n && r.server === name)!;
    const lines = [
      `ctr serve load (loopback, L = ${L}, ${USERS} users, ${ITEMS} items, dim 16, MLP 200-80; backend ${backend};`,
      `encoder ingesting ${INGEST_RATE} events/s during the run, ${ingested} events; 1 closed-loop client, servers interleaved)`,
      `load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}`,
      '',
      '| candidates | server | requests | p50 ms | p99 ms | requests/s |',
      '| ---: | --- | ---: | ---: | ---: | ---: |',
      ...results.map(
        (r) => `| ${r.candidates} | ${r.server} | ${r.requests} | ${r.p50Ms} | ${r.p99Ms} | ${r.requestsPerSecond} |`,
      ),
      '',
      '| candidates | DIN/SDIM p50 | DIN/SDIM p99 | SDIM http/store p50 |',
      '| ---: | ---: | ---: | ---: |',
      ...SIZES.map((n) => {
        const s = row(n, 'sdim (store)');
        const h = row(n, 'sdim (bse http)');
        const d = row(n, 'din raw L=1024 (store)');
        return `| ${n} | ${((d.p50Ms as number) / (s.p50Ms as number)).toFixed(1)}× | ${((d.p99Ms as number) / (s.p99Ms as number)).toFixed(1)}× | ${((h.p50Ms as number) / (s.p50Ms as number)).toFixed(2)}× |`;
      }),
      '',
      `server-side share of /v1/predict within 10 ms (all sizes, warm-up included): ${Object.entries(within10)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ')}`,
      `target: SDIM p99 ≤ 10 ms at 100 candidates: ${(row(100, 'sdim (store)').p99Ms as number) <= 10 ? 'met' : 'MISSED'} (store ${row(100, 'sdim (store)').p99Ms} ms, http ${row(100, 'sdim (bse http)').p99Ms} ms)`,
    ];
    process.stdout.write(
      `${lines.join('\n')}\n${JSON.stringify({ results, within10, loadBefore: load0, loadAfter: load1, ingested })}\n`,
    );
  } finally {
    stopIngest = true;
    for (const c of children.reverse()) await stopChild(c);
    if (kafkaDir)
      spawnSync('bash', ['scripts/kafka/stop.sh', '--dir', kafkaDir, '--delete'], { cwd: root, stdio: 'inherit' });
    rmSync(work, { recursive: true, force: true });
  }
}

async function post(url: string, body: string): Promise<void> {
  const res = await fetch(`${url}/v1/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`ctr-serve-load: ${url} answered ${res.status}: ${text.slice(0, 300)}`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
