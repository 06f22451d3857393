// node --expose-gc packages/bse-stream/scripts/batchget-memory.mjs <maxResponseBytes> <precision>: RSS while 8 clients batchGet 1000 users at once.

import { serializeBse } from '@compactrec/sdim';
import { buildHttpApp } from '../dist/index.js';

const [cap, precision] = [Number(process.argv[2]), process.argv[3]];
const S = 48,
  K = 8,
  DIM = 16;
const rows = new Map();
for (let u = 0; u < 1000; u++) {
  const counts = new Uint32Array(S * K),
    sums = new Float64Array(S * K * DIM);
  for (let i = 0; i < sums.length; i++) sums[i] = Math.sin(u * 7919 + i) * 3.3;
  for (let c = 0; c < counts.length; c++) counts[c] = c % K < 6 ? 2 : 0; // 3/4 of the buckets used
  rows.set(`u${u}`, {
    userId: `u${u}`,
    version: 'v1',
    bytes: serializeBse({
      version: 'v1',
      dim: DIM,
      numSignatures: S,
      bucketsPerSignature: K,
      sums,
      counts,
      length: 12,
    }),
  });
}
const { app } = buildHttpApp(
  {
    store: { getState: (id) => rows.get(id) },
    metricsText: () => '',
    health: () => ({ ok: true }),
    requestVersion: async () => ({}),
  },
  { maxResponseBytes: cap, statePrecision: precision, bodyLimit: 1 << 20 },
);
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${app.server.address().port}/v1/bse:batchGet`;
global.gc?.();
const base = process.memoryUsage().rss;
let peak = base;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);
const { execFile } = await import('node:child_process');
const out = await new Promise((res, rej) =>
  execFile(
    process.execPath,
    [new URL('./batchget-client.mjs', import.meta.url).pathname, url],
    { maxBuffer: 1e6 },
    (e, so) => (e ? rej(e) : res(JSON.parse(so))),
  ),
);
const { users, requests, bytes } = out;
clearInterval(timer);
console.log(
  JSON.stringify({
    cap,
    precision,
    users,
    requests,
    answerMB: +(bytes / 8 / 1e6).toFixed(1),
    perUserKB: +(bytes / users / 1e3).toFixed(1),
    rssBaseMB: +(base / 1e6).toFixed(0),
    rssPeakMB: +(peak / 1e6).toFixed(0),
    growthMB: +((peak - base) / 1e6).toFixed(0),
  }),
);
await app.close();
