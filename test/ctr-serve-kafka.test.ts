/**
 * End to end on a real Kafka broker: behaviour events are produced to Kafka, `bse serve` (a child
 * process) consumes them, `ctr serve` answers /v1/predict for those users, and every prediction equals
 * the offline model's on the same histories to 1e-5 — over the store (co-located) and over the BSE HTTP
 * API, after a model reload (same model, then a new model version rolled out on both services), and
 * after the BSE service is restarted and has consumed more events.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BehaviourEvent } from '@compactrec/bse-stream';
import { initTf, type Tf } from '@compactrec/tf-backend';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CtrServer, startCtrServer } from '../apps/ctr/src/app.js';
import { createTopic, EncoderChild, FAST, produce, waitCaughtUp, waitFor } from './support/bse-harness.js';
import {
  candidatesFor,
  makeEvents,
  maxAbsDiff,
  offlinePredict,
  postJson,
  type SavedModel,
  SERVE_L,
  SERVE_USERS,
  trainSaved,
  windowsOf,
} from './support/ctr-serve-harness.js';

const brokers = inject('kafkaBrokers');

describe('ctr serve end to end with bse serve on a real Kafka broker', () => {
  let root: string;
  let tf: Tf;
  let m1: SavedModel;
  let m2: SavedModel;
  let topic: string;
  let bseModels: string;
  let stateDir: string;
  let child: EncoderChild;
  let store: CtrServer;
  let http: CtrServer | undefined;
  let events: BehaviourEvent[];

  const encoderOptions = () => ({
    brokers: [brokers],
    topic,
    modelDir: bseModels,
    stateDir,
    windowLength: SERVE_L,
    port: 0,
    ...FAST,
  });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ctr-serve-kafka-'));
    tf = (await initTf({ prefer: 'auto', quiet: true })).tf;
    m1 = await trainSaved(tf, 'sdim', 21, join(root, 'm1'));
    m2 = await trainSaved(tf, 'sdim', 22, join(root, 'm2'));
    // The encoder's model folder holds both versions (what `bse serve --model-dir <model>/bse` reads).
    bseModels = join(root, 'bse-models');
    await mkdir(bseModels, { recursive: true });
    await cp(join(m1.dir, 'bse'), bseModels, { recursive: true });
    await cp(join(m2.dir, 'bse'), bseModels, { recursive: true });
    stateDir = join(root, 'state');
    topic = await createTopic(brokers, 'ctr-serve', 3);
    child = new EncoderChild({ ...encoderOptions(), modelVersion: m1.version });
    await child.ready;
    events = makeEvents(5, SERVE_USERS, 70);
    await produce(brokers, topic, events, 500);
    await waitCaughtUp(brokers, topic, stateDir, SERVE_L);
    store = await startCtrServer({ modelDir: m1.dir, bseStateDir: stateDir, port: 0, log: () => {} }, tf);
  });

  afterAll(async () => {
    await store?.close();
    await http?.close();
    await child?.stop();
    m1?.seq.model.dispose();
    m2?.seq.model.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Asks `server` for every user and compares with `model` offline on the windows of `evs`. */
  async function checkAll(server: CtrServer, model: SavedModel, evs: readonly BehaviourEvent[], withRecent: boolean) {
    const windows = windowsOf(evs, SERVE_L);
    let withState = 0;
    let evicted = 0;
    let worst = 0;
    for (let u = 0; u < SERVE_USERS; u++) {
      const history = windows.get(String(u)) ?? new Int32Array(0);
      const cands = candidatesFor(1000 + u, 25);
      const body: Record<string, unknown> = { userId: String(u), candidates: [...cands].map((itemId) => ({ itemId })) };
      if (withRecent) body.recentItems = [...history.subarray(Math.max(0, history.length - 16))];
      const r = await postJson(`${server.url}/v1/predict`, body);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.version).toBe(model.version);
      expect(r.json.path).toBe(history.length > 0 ? 'bse' : 'cold-start');
      const want = offlinePredict(model.seq.model, u, history, cands, SERVE_L);
      worst = Math.max(worst, maxAbsDiff(r.json.probabilities as number[], want));
      if (history.length > 0) withState++;
      if (evs.filter((e) => e.userId === String(u)).length > SERVE_L) evicted++;
    }
    expect(worst).toBeLessThan(1e-5);
    expect(withState).toBeGreaterThan(SERVE_USERS / 2);
    return { withState, evicted, worst };
  }

  it('every prediction equals the offline model on the same histories (store and HTTP sources)', async () => {
    const s = await checkAll(store, m1, events, false);
    expect(s.evicted).toBeGreaterThan(5); // windows that evicted behaviours are covered
    http = await startCtrServer(
      { modelDir: m1.dir, bseUrl: `http://127.0.0.1:${child.port}`, port: 0, log: () => {} },
      tf,
    );
    await checkAll(http, m1, events, true);
    // Over HTTP the short-term behaviours must come with the request.
    const user = events[0]!.userId;
    const missing = await postJson(`${http.url}/v1/predict`, { userId: user, candidates: [{ itemId: 3 }] });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe('missing_field');
    expect(String(missing.json.message)).toMatch(/^recentItems is required/);
  });

  it('after a reload of the same model, and after rolling out a new model version on both services', async () => {
    const copy = join(root, 'm1-copy');
    await cp(m1.dir, copy, { recursive: true });
    const same = await postJson(`${store.url}/admin/reload`, { modelDir: copy });
    expect(same.status).toBe(200);
    expect(same.json).toEqual({ version: m1.version, previous: m1.version });
    await checkAll(store, m1, events, false);
    // New CTR model first: the encoder still serves m1's states, so m2 refuses to mix (409), never guesses.
    expect((await postJson(`${store.url}/admin/reload`, { modelDir: m2.dir })).status).toBe(200);
    const user = events[0]!.userId;
    const mixed = await postJson(`${store.url}/v1/predict`, { userId: user, candidates: [{ itemId: 3 }] });
    expect(mixed.status).toBe(409);
    expect(mixed.json.error).toBe('bse_version_mismatch');
    // Then the encoder re-encodes every user with m2 (blue/green) and switches.
    const sw = await child.http('/v1/admin/model', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: m2.version }),
    });
    expect(sw.status).toBe(202);
    await waitFor('the encoder to serve m2', async () => {
      const r = await postJson(`${store.url}/v1/predict`, { userId: user, candidates: [{ itemId: 3 }] });
      return r.status === 200;
    });
    await checkAll(store, m2, events, false);
    const httpReload = await postJson(`${http!.url}/admin/reload`, { modelDir: m2.dir });
    expect(httpReload.status).toBe(200);
    await checkAll(http!, m2, events, true);
  });

  it('after the BSE service is restarted and consumes more events', async () => {
    expect(await child.stop()).toBe(0);
    // While it is down, ctr serve still answers from the store it left.
    await checkAll(store, m2, events, false);
    const more = makeEvents(6, SERVE_USERS, 20, 2_000_000, 'r');
    await produce(brokers, topic, more, 500);
    child = new EncoderChild({ ...encoderOptions(), modelVersion: m2.version });
    await child.ready;
    await waitCaughtUp(brokers, topic, stateDir, SERVE_L);
    const all = [...events, ...more];
    await checkAll(store, m2, all, false);
    await http?.close();
    http = await startCtrServer(
      { modelDir: m2.dir, bseUrl: `http://127.0.0.1:${child.port}`, port: 0, log: () => {} },
      tf,
    );
    await checkAll(http, m2, all, true);
  });
});
