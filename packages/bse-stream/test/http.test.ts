import { type BseStateJson, buildHttpApp, decodeSums, type HttpDeps, type StoredState } from '@compactrec/bse-stream';
import { InvalidArgumentError } from '@compactrec/core';
import { type BseState, serializeBse } from '@compactrec/sdim';
import { describe, expect, it } from 'vitest';

// The SDIM paper's shape (m = 48 signatures, τ = 3 → 8 buckets) at dim 16, every bucket filled:
// the largest state this shape can have.
const S = 48;
const K = 8;
const DIM = 16;

function state(seed: number): BseState {
  const counts = new Uint32Array(S * K);
  const sums = new Float64Array(S * K * DIM);
  let x = seed * 2654435761;
  for (let i = 0; i < sums.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    sums[i] = (x / 2 ** 32 - 0.5) * 3.7; // not representable in float32
  }
  for (let s = 0; s < S; s++) for (let b = 0; b < K; b++) counts[s * K + b] = 4 + b;
  return { version: 'v1', dim: DIM, numSignatures: S, bucketsPerSignature: K, sums, counts, length: 4 * K + 28 };
}

function fakeDeps(users: number): { deps: HttpDeps; states: Map<string, BseState> } {
  const states = new Map<string, BseState>();
  const rows = new Map<string, StoredState>();
  for (let u = 0; u < users; u++) {
    const st = state(u + 1);
    states.set(`u${u}`, st);
    rows.set(`u${u}`, { userId: `u${u}`, version: 'v1', bytes: serializeBse(st) });
  }
  const deps: HttpDeps = {
    store: { getState: (id: string) => rows.get(id) },
    metricsText: () => '',
    health: () => ({ ok: true }),
    requestVersion: async () => ({ active: 'v1', pending: undefined }),
  };
  return { deps, states };
}

interface Page {
  results: (BseStateJson & { found: boolean })[];
  nextOffset?: number;
}

describe('batchGet answer size (issue #20 item 5)', () => {
  it('a batchGet of 1,000 users is paged under maxResponseBytes; pages cover every user once, in order', async () => {
    const { deps, states } = fakeDeps(1000);
    const { app } = buildHttpApp(deps); // defaults: 4 MiB pages, float32 sums
    const ids = [...states.keys()];
    const seen: string[] = [];
    let offset: number | undefined = 0;
    let pages = 0;
    while (offset !== undefined) {
      const res = await app.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: { userIds: ids, offset } });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.length).toBeLessThanOrEqual(4 << 20);
      const page = res.json() as Page;
      expect(page.results.length).toBeGreaterThan(0);
      for (const r of page.results) {
        expect(r.found).toBe(true);
        expect(r.precision).toBe('float32');
        const want = states.get(r.userId)!;
        // float32 answers are the stored float64 sums rounded once to float32: exactly Math.fround.
        const got = decodeSums(r.sums, r.precision);
        expect(got.length).toBe(want.sums.length);
        for (let i = 0; i < got.length; i += 97) expect(got[i]).toBe(Math.fround(want.sums[i]!));
        expect(r.counts).toEqual(Array.from(want.counts));
        seen.push(r.userId);
      }
      offset = page.nextOffset;
      if (offset !== undefined) expect(offset).toBe(seen.length);
      pages++;
    }
    expect(seen).toEqual(ids);
    expect(pages).toBeGreaterThan(1);
    await app.close();
  });

  it('float32 answers are about half of float64 ones; the float64 flag answers the stored sums exactly', async () => {
    const { deps, states } = fakeDeps(3);
    const f32 = buildHttpApp(deps).app;
    const f64 = buildHttpApp(deps, { statePrecision: 'float64' }).app;
    const body = { userIds: ['u0', 'u1', 'u2'] };
    const a = await f32.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: body });
    const b = await f64.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: body });
    const per32 = a.rawPayload.length / 3;
    const per64 = b.rawPayload.length / 3;
    expect(per32 / per64).toBeLessThan(0.6);
    for (const r of (b.json() as Page).results) {
      expect(r.precision).toBe('float64');
      expect(Array.from(decodeSums(r.sums, r.precision))).toEqual(Array.from(states.get(r.userId)!.sums));
    }
    const one = await f32.inject({ method: 'GET', url: '/v1/users/u1/bse' });
    const j = one.json() as BseStateJson;
    expect(j.precision).toBe('float32');
    expect(decodeSums(j.sums, 'float32')[5]).toBe(Math.fround(states.get('u1')!.sums[5]!));
    await f32.close();
    await f64.close();
  });

  it('a small cap pages one user at a time; a state larger than the cap is 413, bad offsets 400', async () => {
    const { deps } = fakeDeps(4);
    const { app } = buildHttpApp(deps, { maxResponseBytes: 64 << 10 });
    const ids = ['u0', 'u1', 'nobody', 'u2', 'u3'];
    const r0 = await app.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: { userIds: ids } });
    const p0 = r0.json() as Page;
    expect(p0.results.map((r) => r.userId)).toEqual(['u0']);
    expect(p0.nextOffset).toBe(1);
    for (const offset of [-1, 1.5, 6, 'x']) {
      const bad = await app.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: { userIds: ids, offset } });
      expect(bad.statusCode).toBe(400);
      expect((bad.json() as { message: string }).message).toMatch(/offset .* must be an integer in \[0, 5\]/);
    }
    const last = await app.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: { userIds: ids, offset: 5 } });
    expect(last.json()).toEqual({ results: [] });
    await app.close();
    const f64 = buildHttpApp(deps, { maxResponseBytes: 64 << 10, statePrecision: 'float64' }).app;
    const big = await f64.inject({ method: 'POST', url: '/v1/bse:batchGet', payload: { userIds: ['u0'] } });
    expect(big.statusCode).toBe(413);
    expect((big.json() as { message: string }).message).toMatch(/user 'u0' alone is \d+ bytes.*--max-response-kib/);
    await f64.close();
    expect(() => buildHttpApp(deps, { maxResponseBytes: 1000 })).toThrow(InvalidArgumentError);
    expect(() => decodeSums('AAAAAAAAAAA=', 'float64')).not.toThrow();
    expect(() => decodeSums('AAAAAA==', 'float64')).toThrow(/not a whole number of float64 values/);
  });
});
