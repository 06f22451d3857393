/**
 * `ctr serve` API: every bad-request case (status, reason, one-line message, metrics counter), cold start,
 * BSE version mismatch, and model rollout (reload during a request loop, corrupt directories rejected).
 * User states come from a BSE store built in-process with the encoder's own StateStore.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initTf, type Tf } from '@compactrec/tf-backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CtrServer, startCtrServer } from '../apps/ctr/src/app.js';
import {
  buildStore,
  candidatesFor,
  makeEvents,
  maxAbsDiff,
  offlinePredict,
  postJson,
  type SavedModel,
  SERVE_ITEMS,
  SERVE_L,
  trainSaved,
  windowsOf,
} from './support/ctr-serve-harness.js';

let root: string;
let tf: Tf;
let sdim: SavedModel;
let sdimOther: SavedModel;
let dinA: SavedModel;
let dinB: SavedModel;
let stateDir: string;
let server: CtrServer;
let dinServer: CtrServer;
const events = makeEvents(11, 40, 50);
const windows = windowsOf(events, SERVE_L);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ctr-serve-api-'));
  tf = (await initTf({ prefer: 'auto', quiet: true })).tf;
  sdim = await trainSaved(tf, 'sdim', 1, join(root, 'sdim'));
  sdimOther = await trainSaved(tf, 'sdim', 2, join(root, 'sdim-other'));
  dinA = await trainSaved(tf, 'din', 3, join(root, 'din-a'));
  dinB = await trainSaved(tf, 'din', 4, join(root, 'din-b'));
  stateDir = join(root, 'state');
  buildStore(stateDir, sdim.bse!, events, SERVE_L);
  server = await startCtrServer(
    { modelDir: sdim.dir, bseStateDir: stateDir, port: 0, maxCandidates: 50, log: () => {} },
    tf,
  );
  dinServer = await startCtrServer({ modelDir: dinA.dir, bseStateDir: stateDir, port: 0, log: () => {} }, tf);
});

afterAll(async () => {
  await server?.close();
  await dinServer?.close();
  for (const m of [sdim, sdimOther, dinA, dinB]) m?.seq.model.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

async function raw(
  url: string,
  body: string,
  contentType = 'application/json',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function counter(text: string, reason: string, status: number): number {
  const m = new RegExp(`^ctr_request_errors_total\\{reason="${reason}",status="${status}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('ctr serve: predictions', () => {
  it('answers users with a state on the bse path and users without one on the cold-start path, equal to the offline model', async () => {
    let bse = 0;
    let cold = 0;
    for (let u = 0; u < 40; u++) {
      const cands = candidatesFor(100 + u, 12);
      const r = await postJson(`${server.url}/v1/predict`, {
        userId: String(u),
        candidates: [...cands].map((itemId) => ({ itemId })),
      });
      expect(r.status).toBe(200);
      expect(r.json.version).toBe(sdim.version);
      const history = windows.get(String(u)) ?? new Int32Array(0);
      expect(r.json.path).toBe(history.length > 0 ? 'bse' : 'cold-start');
      if (history.length > 0) bse++;
      else cold++;
      const want = offlinePredict(sdim.seq.model, u, history, cands, SERVE_L);
      expect(maxAbsDiff(r.json.probabilities as number[], want)).toBeLessThan(1e-5);
    }
    expect(bse).toBeGreaterThan(10);
    expect(cold).toBeGreaterThan(2);
  });

  it('a DIN model scores the raw window from the store, equal to the offline model', async () => {
    for (const u of [0, 1, 2, 5, 8]) {
      const cands = candidatesFor(200 + u, 9);
      const r = await postJson(`${dinServer.url}/v1/predict`, {
        userId: u,
        candidates: [...cands].map((itemId) => ({ itemId })),
      });
      expect(r.status).toBe(200);
      const history = windows.get(String(u)) ?? new Int32Array(0);
      expect(r.json.path).toBe(history.length > 0 ? 'window' : 'cold-start');
      expect(
        maxAbsDiff(r.json.probabilities as number[], offlinePredict(dinA.seq.model, u, history, cands, SERVE_L)),
      ).toBeLessThan(1e-5);
    }
  });

  it('a hashed (compressed) user table places users it never saw; they get the cold-start path, equal to the offline model', async () => {
    const hashed = await trainSaved(tf, 'din', 6, join(root, 'din-modulo'), {
      method: 'modulo',
      budget: 0.5,
      keepFullBelow: 0,
    });
    expect(hashed.seq.model.mappers[0]!.method).toBe('modulo');
    expect(hashed.seq.model.mappers[0]!.rows).toBeLessThan(60);
    const s = await startCtrServer({ modelDir: hashed.dir, bseStateDir: stateDir, port: 0, log: () => {} }, tf);
    try {
      const cands = candidatesFor(77, 6);
      const r = await postJson(`${s.url}/v1/predict`, {
        userId: '5000',
        candidates: [...cands].map((itemId) => ({ itemId })),
      });
      expect(r.status).toBe(200);
      expect(r.json.path).toBe('cold-start');
      const want = offlinePredict(hashed.seq.model, 5000, new Int32Array(0), cands, SERVE_L);
      expect(maxAbsDiff(r.json.probabilities as number[], want)).toBeLessThan(1e-5);
      const known = await postJson(`${s.url}/v1/predict`, {
        userId: '1',
        candidates: [...cands].map((itemId) => ({ itemId })),
      });
      expect(maxAbsDiff(known.json.probabilities as number[], want)).toBeGreaterThan(0); // the user embedding matters
    } finally {
      await s.close();
      hashed.seq.model.dispose();
    }
  });

  it('never mixes versions: a state of another model version is a 409 naming both (or the documented window fallback)', async () => {
    const other = await startCtrServer({ modelDir: sdimOther.dir, bseStateDir: stateDir, port: 0, log: () => {} }, tf);
    const fallback = await startCtrServer(
      { modelDir: sdimOther.dir, bseStateDir: stateDir, port: 0, onVersionMismatch: 'window', log: () => {} },
      tf,
    );
    try {
      const user = [...windows.keys()].find((u) => windows.get(u)!.length > 0)!;
      const cands = candidatesFor(7, 5);
      const body = { userId: user, candidates: [...cands].map((itemId) => ({ itemId })) };
      const r = await postJson(`${other.url}/v1/predict`, body);
      expect(r.status).toBe(409);
      expect(r.json.error).toBe('bse_version_mismatch');
      expect(r.json.message).toContain(sdim.version);
      expect(r.json.message).toContain(sdimOther.version);
      const f = await postJson(`${fallback.url}/v1/predict`, body);
      expect(f.status).toBe(200);
      expect(f.json.path).toBe('window');
      expect(f.json.version).toBe(sdimOther.version);
      const want = offlinePredict(sdimOther.seq.model, Number(user), windows.get(user)!, cands, SERVE_L);
      expect(maxAbsDiff(f.json.probabilities as number[], want)).toBeLessThan(1e-5);
    } finally {
      await other.close();
      await fallback.close();
    }
  });

  it('starts before the encoder created its store: /readyz 503 and predictions 503 bse_unavailable until then', async () => {
    const empty = join(root, 'not-yet');
    const early = await startCtrServer({ modelDir: sdim.dir, bseStateDir: empty, port: 0, log: () => {} }, tf);
    try {
      const ready = await fetch(`${early.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/has no bse-state\.sqlite yet/);
      expect((await fetch(`${early.url}/healthz`)).status).toBe(200);
      const r = await postJson(`${early.url}/v1/predict`, { userId: '1', candidates: [{ itemId: 3 }] });
      expect(r.status).toBe(503);
      expect(r.json.error).toBe('bse_unavailable');
      buildStore(empty, sdim.bse!, events, SERVE_L);
      expect((await fetch(`${early.url}/readyz`)).status).toBe(200);
      const ok = await postJson(`${early.url}/v1/predict`, { userId: '1', candidates: [{ itemId: 3 }] });
      expect(ok.status).toBe(200);
    } finally {
      await early.close();
    }
  });

  it('shuts down gracefully: requests already running finish, then the port is closed', async () => {
    // A slow BSE HTTP API (300 ms per batchGet, no users), so the requests are truly in flight at close().
    const slow = createServer((req, res) => {
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ results: [{ userId: '1', found: false }] }));
        }, 300),
      );
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const port = (slow.address() as { port: number }).port;
    const s = await startCtrServer(
      { modelDir: sdim.dir, bseUrl: `http://127.0.0.1:${port}`, port: 0, log: () => {} },
      tf,
    );
    try {
      const inFlight = [0, 1, 2].map((u) =>
        postJson(`${s.url}/v1/predict`, { userId: String(u), candidates: [{ itemId: 4 }, { itemId: 9 }] }),
      );
      await waitUntil(() => s.inflight() === 3);
      const closed = s.close();
      const results = await Promise.all(inFlight);
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(r.json.path).toBe('cold-start');
      }
      await closed;
      await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
    } finally {
      await new Promise((r) => slow.close(r));
    }
  });

  it('serves health, readiness and Prometheus metrics', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { source: string }).source).toBe('store');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain(`ctr_model_info{version="${sdim.version}",kind="sdim"} 1`);
    expect(text).toMatch(/ctr_request_duration_seconds_bucket\{le="0.01",route="\/v1\/predict"\} [1-9]/);
    expect(text).toMatch(/ctr_predictions_total\{path="bse",version="[^"]+"\} [1-9]/);
  });
});

describe('ctr serve: bad requests get a 4xx with a one-line reason and a counter', () => {
  const ok = { userId: '1', candidates: [{ itemId: 3 }] };
  const cases: { name: string; body: string; contentType?: string; status: number; reason: string; message: RegExp }[] =
    [
      {
        name: 'malformed JSON',
        body: '{"userId": "1", "candidates": [',
        status: 400,
        reason: 'malformed_json',
        message: /JSON/i,
      },
      { name: 'empty body', body: '', status: 400, reason: 'malformed_json', message: /empty/i },
      { name: 'a non-object body', body: '[1,2]', status: 400, reason: 'bad_body', message: /JSON object/ },
      {
        name: 'an unknown field',
        body: JSON.stringify({ ...ok, colour: 'red' }),
        status: 400,
        reason: 'unknown_field',
        message: /unknown field 'colour'/,
      },
      {
        name: 'a missing userId',
        body: JSON.stringify({ candidates: ok.candidates }),
        status: 400,
        reason: 'missing_field',
        message: /userId is required/,
      },
      {
        name: 'a userId of the wrong type',
        body: JSON.stringify({ ...ok, userId: true }),
        status: 400,
        reason: 'wrong_type',
        message: /userId must be a string or an integer/,
      },
      {
        name: 'missing candidates',
        body: JSON.stringify({ userId: '1' }),
        status: 400,
        reason: 'missing_field',
        message: /candidates is required/,
      },
      {
        name: 'candidates not an array',
        body: JSON.stringify({ userId: '1', candidates: { itemId: 3 } }),
        status: 400,
        reason: 'wrong_type',
        message: /candidates must be an array/,
      },
      {
        name: 'an empty candidate list',
        body: JSON.stringify({ userId: '1', candidates: [] }),
        status: 400,
        reason: 'empty_candidates',
        message: /candidates is empty/,
      },
      {
        name: 'an oversize candidate list',
        body: JSON.stringify({ userId: '1', candidates: Array.from({ length: 51 }, () => ({ itemId: 3 })) }),
        status: 413,
        reason: 'too_many_candidates',
        message: /51 candidates; at most 50/,
      },
      {
        name: 'a body over the size limit',
        body: JSON.stringify({ userId: '1', candidates: [{ itemId: 3 }], pad: 'x'.repeat(1_100_000) }),
        status: 413,
        reason: 'body_too_large',
        message: /too large/i,
      },
      {
        name: 'a string itemId',
        body: JSON.stringify({ userId: '1', candidates: [{ itemId: '3' }] }),
        status: 400,
        reason: 'wrong_type',
        message: /candidates\[0\]\.itemId must be an integer/,
      },
      {
        name: 'a fractional itemId',
        body: JSON.stringify({ userId: '1', candidates: [{ itemId: 1 }, { itemId: 2.5 }] }),
        status: 400,
        reason: 'wrong_type',
        message: /candidates\[1\]\.itemId must be an integer; got 2.5/,
      },
      {
        name: 'a missing itemId',
        body: JSON.stringify({ userId: '1', candidates: [{}] }),
        status: 400,
        reason: 'missing_field',
        message: /candidates\[0\]\.itemId is required/,
      },
      {
        name: 'an extra candidate field',
        body: JSON.stringify({ userId: '1', candidates: [{ itemId: 3, price: 2 }] }),
        status: 400,
        reason: 'unknown_field',
        message: /candidates\[0\]\.price/,
      },
      {
        name: 'an unknown item id',
        body: JSON.stringify({ userId: '1', candidates: [{ itemId: SERVE_ITEMS + 1 }] }),
        status: 422,
        reason: 'unknown_item',
        message: new RegExp(`itemId ${SERVE_ITEMS + 1} is not an item of this model \\(1 .. ${SERVE_ITEMS}\\)`),
      },
      {
        name: 'item id 0 (padding)',
        body: JSON.stringify({ userId: '1', candidates: [{ itemId: 0 }] }),
        status: 422,
        reason: 'unknown_item',
        message: /itemId 0 is not an item/,
      },
      {
        name: 'a non-numeric userId',
        body: JSON.stringify({ userId: 'alice', candidates: [{ itemId: 3 }] }),
        status: 422,
        reason: 'unknown_user',
        message: /userId 'alice' is not a decimal user id/,
      },
      {
        name: 'a userId outside the full user table',
        body: JSON.stringify({ userId: '60', candidates: [{ itemId: 3 }] }),
        status: 422,
        reason: 'unknown_user',
        message: /outside the model's user ids 0 .. 59/,
      },
      {
        name: 'an unknown context field',
        body: JSON.stringify({ ...ok, context: { city: 3 } }),
        status: 400,
        reason: 'unknown_field',
        message: /context\.city/,
      },
      {
        name: 'recentItems of the wrong type',
        body: JSON.stringify({ ...ok, recentItems: ['a'] }),
        status: 400,
        reason: 'wrong_type',
        message: /recentItems must be an array of integer/,
      },
      {
        name: 'a non-JSON content type',
        body: 'userId=1',
        contentType: 'text/plain',
        status: 415,
        reason: 'unsupported_media_type',
        message: /content-type/i,
      },
    ];
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.reason}`, async () => {
      const before = counter(await (await fetch(`${server.url}/metrics`)).text(), c.reason, c.status);
      const r = await raw(`${server.url}/v1/predict`, c.body, c.contentType);
      expect(r.status).toBe(c.status);
      expect(r.json.error).toBe(c.reason);
      expect(String(r.json.message)).toMatch(c.message);
      expect(String(r.json.message)).not.toContain('\n');
      const after = counter(await (await fetch(`${server.url}/metrics`)).text(), c.reason, c.status);
      expect(after).toBe(before + 1);
    });
  }

  it('an unknown route → 404 not_found', async () => {
    const r = await raw(`${server.url}/v1/predikt`, '{}');
    expect(r.status).toBe(404);
    expect(r.json.error).toBe('not_found');
  });

  it('no bad request was ever answered with a 5xx', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).not.toMatch(/ctr_requests_total\{[^}]*status="5\d\d"\}/);
    expect(text).toMatch(/ctr_request_errors_total\{reason="malformed_json",status="400"\} [1-9]/);
  });
});

describe('ctr serve: model rollout', () => {
  it('reloads during a request loop without losing a request; every response names its version and matches that model', async () => {
    const models = new Map([
      [dinA.version, dinA],
      [dinB.version, dinB],
    ]);
    const users = [...windows.keys()].filter((u) => windows.get(u)!.length > 0).slice(0, 8);
    const cands = candidatesFor(5, 20);
    const body = (u: string) => ({ userId: u, candidates: [...cands].map((itemId) => ({ itemId })) });
    let stop = false;
    const seen = new Map<string, number>();
    const failures: string[] = [];
    let checked = 0;
    const loop = async (k: number) => {
      for (let i = 0; !stop; i++) {
        const u = users[(i + k) % users.length]!;
        const r = await postJson(`${dinServer.url}/v1/predict`, body(u));
        if (r.status !== 200) {
          failures.push(`${r.status} ${JSON.stringify(r.json)}`);
          continue;
        }
        const v = String(r.json.version);
        seen.set(v, (seen.get(v) ?? 0) + 1);
        const m = models.get(v);
        if (!m) failures.push(`unknown version ${v}`);
        else if (
          maxAbsDiff(
            r.json.probabilities as number[],
            offlinePredict(m.seq.model, Number(u), windows.get(u)!, cands, SERVE_L),
          ) > 1e-5
        )
          failures.push(`response of ${v} differs from that model's offline prediction`);
        checked++;
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    const versions: string[] = [];
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const r = await postJson(`${dinServer.url}/admin/reload`, { modelDir: i % 2 === 0 ? dinB.dir : dinA.dir });
      expect(r.status).toBe(200);
      versions.push(String(r.json.version));
    }
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(versions).toEqual([dinB.version, dinA.version, dinB.version, dinA.version, dinB.version, dinA.version]);
    expect(seen.get(dinA.version)).toBeGreaterThan(0);
    expect(seen.get(dinB.version)).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(20);
  });

  it('rejects a corrupt or missing directory with the reason and keeps serving the old model', async () => {
    const bad = join(root, 'din-corrupt');
    await cp(dinB.dir, bad, { recursive: true });
    await writeFile(join(bad, 'sequence.ckpt'), 'not a checkpoint');
    const before = dinServer.version();
    const r = await postJson(`${dinServer.url}/admin/reload`, { modelDir: bad });
    expect(r.status).toBe(422);
    expect(r.json.error).toBe('reload_failed');
    expect(String(r.json.message)).toContain(`still serving ${before}`);
    expect(String(r.json.message)).toMatch(/sequence\.ckpt/);
    const missing = await postJson(`${dinServer.url}/admin/reload`, { modelDir: join(root, 'nope') });
    expect(missing.status).toBe(422);
    expect(String(missing.json.message)).toMatch(/not a CTR model directory/);
    const damagedConfig = join(root, 'din-badconfig');
    await cp(dinB.dir, damagedConfig, { recursive: true });
    await writeFile(join(damagedConfig, 'config.json'), '{"format": "compactrec-ctr-model", ');
    expect((await postJson(`${dinServer.url}/admin/reload`, { modelDir: damagedConfig })).status).toBe(422);
    const after = await postJson(`${dinServer.url}/v1/predict`, { userId: '0', candidates: [{ itemId: 5 }] });
    expect(after.status).toBe(200);
    expect(after.json.version).toBe(before);
    const text = await (await fetch(`${dinServer.url}/metrics`)).text();
    expect(text).toMatch(/ctr_model_reloads_total\{result="rejected"\} 3/);
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ctr serve: closed by default (issue #16 item 4)', () => {
  const TOKEN = 'c7e2d9a14b3f56e80a1b2c3d4e5f6a7b';
  const BSE_TOKEN = 'f00dfacecafebeef0123456789abcdef';
  const u = [...windows.keys()][0]!;
  const history = windows.get(u)!;
  const cands = candidatesFor(7, 5);
  const body = (withRecent: boolean) =>
    JSON.stringify({
      userId: u,
      candidates: [...cands].map((itemId) => ({ itemId })),
      ...(withRecent ? { recentItems: [...history.subarray(Math.max(0, history.length - 16))] } : {}),
    });

  it('binds 127.0.0.1 by default (the socket address)', () => {
    expect((server.app.server.address() as { address: string }).address).toBe('127.0.0.1');
  });

  it('no token → 401, wrong token → 401, right token → 200 on every route but /healthz; oversize body → 413; other paths → 4xx', async () => {
    const secured = await startCtrServer(
      { modelDir: sdim.dir, bseStateDir: stateDir, port: 0, authToken: TOKEN, bodyLimit: 4096, log: () => {} },
      tf,
    );
    try {
      const call = (path: string, auth: string | undefined, init: { method?: string; body?: string } = {}) =>
        fetch(`${secured.url}${path}`, {
          method: init.method ?? 'GET',
          headers: {
            ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(auth !== undefined ? { authorization: auth } : {}),
          },
          ...(init.body !== undefined ? { body: init.body } : {}),
        });
      const routes: [string, { method?: string; body?: string }][] = [
        ['/v1/predict', { method: 'POST', body: body(false) }],
        ['/readyz', {}],
        ['/metrics', {}],
      ];
      for (const [path, init] of routes) {
        const none = await call(path, undefined, init);
        expect(none.status, `${path} without a token`).toBe(401);
        expect(none.headers.get('www-authenticate')).toBe('Bearer');
        expect(((await none.json()) as { error: string }).error).toBe('unauthorized');
        expect((await call(path, `Bearer ${TOKEN}x`, init)).status, `${path} wrong token`).toBe(401);
        expect((await call(path, TOKEN, init)).status, `${path} token without Bearer`).toBe(401);
        expect((await call(path, `Bearer ${TOKEN}`, init)).status, `${path} right token`).toBe(200);
      }
      const reload = await call('/admin/reload', undefined, { method: 'POST', body: '{}' });
      expect(reload.status).toBe(401);
      expect(secured.version()).toBe(sdim.version);
      expect((await call('/healthz', undefined)).status).toBe(200);
      // The right token answers the offline model's probabilities.
      const ok = (await (
        await call('/v1/predict', `Bearer ${TOKEN}`, { method: 'POST', body: body(false) })
      ).json()) as {
        probabilities: number[];
      };
      expect(
        maxAbsDiff(ok.probabilities, offlinePredict(sdim.seq.model, Number(u), history, cands, SERVE_L)),
      ).toBeLessThan(1e-5);
      const big = await call('/v1/predict', `Bearer ${TOKEN}`, {
        method: 'POST',
        body: JSON.stringify({ userId: u, candidates: Array.from({ length: 400 }, () => ({ itemId: 1 })) }),
      });
      expect(big.status).toBe(413);
      for (const path of ['/v1/users/..%2F..', '/v1/predict/..%2F..%2Fetc%2Fpasswd', '/..%2F..%2Fetc%2Fpasswd']) {
        for (const auth of [undefined, `Bearer ${TOKEN}`]) {
          const r = await call(path, auth);
          expect(r.status, path).toBeGreaterThanOrEqual(400);
          expect(r.status, path).toBeLessThan(500);
          expect(await r.text()).not.toMatch(/root:/);
        }
      }
    } finally {
      await secured.close();
    }
  });

  it.skipIf(!hasOpenssl())(
    'serves HTTPS with --tls-cert/--tls-key; the token is still required (skipped: no openssl)',
    async () => {
      const { readFile } = await import('node:fs/promises');
      const { request } = await import('node:https');
      const key = join(root, 'tls-key.pem');
      const cert = join(root, 'tls-cert.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      const tls = { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
      const secured = await startCtrServer(
        { modelDir: sdim.dir, bseStateDir: stateDir, port: 0, authToken: TOKEN, tls, log: () => {} },
        tf,
      );
      const get = (path: string, auth?: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request(
            `${secured.url}${path}`,
            { ca: tls.cert, checkServerIdentity: () => undefined, headers: auth ? { authorization: auth } : {} },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
      try {
        expect(secured.url.startsWith('https://127.0.0.1:')).toBe(true);
        expect(await get('/healthz')).toBe(200);
        expect(await get('/readyz')).toBe(401);
        expect(await get('/readyz', `Bearer ${TOKEN}`)).toBe(200);
      } finally {
        await secured.close();
      }
    },
  );

  it('the HTTP state source sends the BSE token; float32 states from a token-protected BSE API equal the offline model to 1e-5', async () => {
    const { buildHttpApp, StateStore } = await import('@compactrec/bse-stream');
    const store = StateStore.open(stateDir, { windowLength: SERVE_L });
    const bse = buildHttpApp(
      {
        store,
        metricsText: () => '',
        health: () => ({ ok: true }),
        requestVersion: async () => ({ active: sdim.version, pending: undefined }),
      },
      { authToken: BSE_TOKEN },
    ).app;
    await bse.listen({ host: '127.0.0.1', port: 0 });
    const bseUrl = `http://127.0.0.1:${(bse.server.address() as { port: number }).port}`;
    const withToken = await startCtrServer(
      { modelDir: sdim.dir, bseUrl, bseAuthToken: BSE_TOKEN, port: 0, log: () => {} },
      tf,
    );
    const without = await startCtrServer({ modelDir: sdim.dir, bseUrl, port: 0, log: () => {} }, tf);
    try {
      const r = await raw(`${withToken.url}/v1/predict`, body(true));
      expect(r.status).toBe(200);
      expect(r.json.path).toBe('bse');
      const want = offlinePredict(sdim.seq.model, Number(u), history, cands, SERVE_L);
      expect(maxAbsDiff(r.json.probabilities as number[], want)).toBeLessThan(1e-5);
      const refused = await raw(`${without.url}/v1/predict`, body(true));
      expect(refused.status).toBe(503);
      expect(String(refused.json.message)).toMatch(/answered 401/);
    } finally {
      await withToken.close();
      await without.close();
      await bse.close();
      store.close();
    }
  });
});
