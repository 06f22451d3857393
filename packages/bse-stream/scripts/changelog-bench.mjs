// KAFKA_BROKERS=h:p node packages/bse-stream/scripts/changelog-bench.mjs [users] [chunkUsers]
// Issue #16 step 6, partial: the Kafka side of the changelog only (it is not wired into the runner yet).
// Interleaved in one run: publish rate of chunks with plain (non-transactional) sends vs one Kafka
// transaction per chunk (the changelog's cost on ingest), and restore rate (users/s, MB/s) of one
// partition from the changelog into memory (not into the SQLite store).
import { ChangelogWriter, KafkaTransport, restoreFromChangelog } from '../dist/index.js';

const users = Number(process.argv[2] ?? 5000);
const chunkUsers = Number(process.argv[3] ?? 500);
const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean);
if (brokers.length === 0) throw new Error('set KAFKA_BROKERS (e.g. export $(bash scripts/kafka/start.sh))');
const t = new KafkaTransport({ brokers, logLevel: 'nothing' });
// Realistic sizes: a float64 state of 8 signatures × 8 buckets × dim 16 (~3 KB, the tests' model) and a
// window of L = 100 events (~1.6 KB).
const state = new Uint8Array(3 * 1024).map((_, i) => (i * 31) & 255);
const window = new Uint8Array(1600).map((_, i) => (i * 17) & 255);
const entries = (n, tag) => Array.from({ length: n }, (_, i) => ({ userId: `u${tag}-${i}`, window, state }));
const rounds = [];
for (let round = 0; round < 2; round++) {
  const topic = `chl-bench-${process.pid}-${Date.now()}-${round}`;
  await t.ensureTopic(topic, 2);
  // plain sends, same records, same chunking
  const producer = await t.createProducer();
  await t.ensureTopic(`${topic}.plain`, 2);
  let t0 = performance.now();
  for (let c = 0; c < users; c += chunkUsers) {
    const es = entries(Math.min(chunkUsers, users - c), `p${c}`);
    // same request size as the changelog writer (under 1 MiB per request)
    for (let i = 0; i < es.length; i += 100) {
      const part = es.slice(i, i + 100);
      await producer.send(
        `${topic}.plain`,
        part.map((e) => ({ key: e.userId, value: e.window, partition: 1 })),
      );
      await producer.send(
        `${topic}.plain`,
        part.map((e) => ({ key: e.userId, value: e.state, partition: 1 })),
      );
    }
  }
  const plainS = (performance.now() - t0) / 1000;
  await producer.close();
  const w = await ChangelogWriter.open(t, { topic, groupId: 'bench', partition: 1, version: 'v1', partitions: 2 });
  t0 = performance.now();
  for (let c = 0; c < users; c += chunkUsers)
    await w.publish(c + chunkUsers, entries(Math.min(chunkUsers, users - c), `t${c}`));
  const txS = (performance.now() - t0) / 1000;
  await w.close();
  t0 = performance.now();
  let n = 0;
  const r = await restoreFromChangelog(t, {
    topic,
    version: 'v1',
    partition: 1,
    chunkUsers: 1000,
    onChunk: (es) => {
      n += es.length;
    },
  });
  const restoreS = (performance.now() - t0) / 1000;
  const mb = r.bytes / 1e6;
  rounds.push({
    round,
    users: n,
    MB: +mb.toFixed(1),
    plainUsersPerS: Math.round(users / plainS),
    txUsersPerS: Math.round(users / txS),
    txOverPlain: +(plainS / txS).toFixed(2),
    restoreUsersPerS: Math.round(n / restoreS),
    restoreMBPerS: +(mb / restoreS).toFixed(1),
  });
  for (const x of [topic, `${topic}.plain`, `${topic}.changelog.window`, `${topic}.changelog.state.v1`])
    await t.deleteTopic(x).catch(() => {});
}
console.table(rounds);
console.log(JSON.stringify(rounds));
await t.close();
