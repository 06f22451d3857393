/**
 * What a new user of the streaming encoder meets first (issue #20, service items 1, 2, 3, 4 and 6):
 * `compactrec bse serve` on a busy port or without a reachable broker exits at once with one line,
 * the HTTP API answers errors in one shape and closes silent connections, replays do not duplicate
 * dead letters, dead letters keep the producer's headers, and `bse produce` runs do not collide; and the
 * happy path end to end: `bse produce` → `bse serve` (HTTP answers, SIGTERM stop) → `bse replay`.
 * CLI cases run the real binary (apps/cli/bin/compactrec.js) against the real broker.
 * (Item 3, the coordinator log level, is checked in bse-broker-restart.test.ts, which has a fresh broker.)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BseService,
  decodeDeadLetter,
  EventGenerator,
  encodeEvent,
  KafkaTransport,
  replayTopic,
  STATE_DB_FILE,
  startBseService,
} from '@compactrec/bse-stream';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  expectReplayAgrees,
  FAST,
  makeModelDir,
  produceRaw,
  tempDir,
  waitCaughtUp,
  waitFor,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'apps/cli/bin/compactrec.js');

/** Runs the real CLI; resolves with exit code, output and seconds taken (killed after `timeoutMs`). */
function cli(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

describe('bse service and CLI rough edges (issue #20)', () => {
  const cleanups: (() => void)[] = [];
  const running: BseService[] = [];
  afterAll(async () => {
    for (const s of running) await s.stop().catch(() => {});
    for (const c of cleanups) c();
  });
  const dir = (label: string): string => {
    const d = tempDir(label);
    cleanups.push(d.cleanup);
    return d.dir;
  };

  it('item 1: `bse serve` on a busy port exits 1 at once with one line', async () => {
    const models = dir('port-models');
    const state = dir('port-state');
    await makeModelDir(models);
    const topic = await createTopic(brokers, 'busy-port', 1);
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await cli([
        'bse',
        'serve',
        '--brokers',
        brokers,
        '--topic',
        topic,
        '--model-dir',
        models,
        '--state-dir',
        state,
        '--port',
        String(port),
      ]);
      expect(r.code).toBe(1);
      expect(r.seconds).toBeLessThan(30); // not alive until someone kills it
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      holder.close();
    }
  });

  it('item 2: `bse serve` with no broker exits 1 in bounded time, one line, nothing created', async () => {
    const models = dir('nobroker-models');
    const state = join(dir('nobroker'), 'state');
    await makeModelDir(models);
    const r = await cli([
      'bse',
      'serve',
      '--brokers',
      '127.0.0.1:1',
      '--model-dir',
      models,
      '--state-dir',
      state,
      '--port',
      '0',
      '--connect-timeout',
      '3',
    ]);
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThan(20);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/no Kafka broker answers at 127\.0\.0\.1:1 within 3 s/);
    expect(existsSync(join(state, STATE_DB_FILE))).toBe(false);
    expect(existsSync(state)).toBe(false);
  });

  it('item 4: one error shape, idle connections closed, no server paths in answers', async () => {
    const models = dir('http-models');
    const state = dir('http-state');
    await makeModelDir(models);
    const topic = await createTopic(brokers, 'http-shape', 1);
    const s = await startBseService({
      brokers: [brokers],
      topic,
      modelDir: models,
      stateDir: state,
      groupId: `g-${topic}`,
      http: { idleTimeoutMs: 1000 },
      ...FAST,
      log: () => {},
    });
    running.push(s);
    const shapes: { status: number; body: Record<string, unknown> }[] = [];
    for (const [path, init] of [
      ['/nope', undefined],
      ['/v1/bse:batchGet', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userIds": [' }],
      ['/v1/bse:batchGet', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
      ['/v1/users/nobody/bse', undefined],
      [
        '/v1/admin/model',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"version":"v404"}' },
      ],
    ] as const) {
      const r = await fetch(`${s.url}${path}`, init as RequestInit | undefined);
      shapes.push({ status: r.status, body: (await r.json()) as Record<string, unknown> });
    }
    expect(shapes.map((x) => x.status)).toEqual([404, 400, 400, 404, 404]);
    for (const x of shapes) {
      expect(Object.keys(x.body).sort()).toEqual(['error', 'message']);
      expect(typeof x.body.message).toBe('string');
    }
    expect(String(shapes[4]!.body.message)).not.toContain(models);
    expect(String(shapes[4]!.body.message)).toMatch(/v404/);

    // A connection that sends nothing is closed after the idle timeout.
    const sock = new Socket();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const t0 = Date.now();
      sock.on('close', () => resolve(Date.now() - t0));
      sock.on('error', () => {});
      sock.connect(s.port, '127.0.0.1');
      setTimeout(() => reject(new Error('the silent connection is still open after 10 s')), 10_000);
    });
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    await s.stop();
  });

  it('item 6: replay does not re-publish dead letters; dead letters keep the producer headers', async () => {
    const models = dir('dlq-models');
    const state = dir('dlq-state');
    await makeModelDir(models);
    const topic = await createTopic(brokers, 'dlq-dup', 1);
    const gen = new EventGenerator({ seed: 9, numUsers: 10 });
    await produceRaw(brokers, topic, [
      ...gen.take(20).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
      { key: 'u1', value: 'not json', headers: { traceparent: '00-abc-def-01' } },
      { key: 'u2', value: '{"eventId":"x"}', headers: { traceparent: '00-123-456-01' } },
    ]);
    const s = await startBseService({
      brokers: [brokers],
      topic,
      modelDir: models,
      stateDir: state,
      groupId: `g-${topic}`,
      ...FAST,
      log: () => {},
    });
    running.push(s);
    await waitCaughtUp(brokers, topic, state, 100, 60_000);
    await s.stop();
    const readDlq = async () => {
      const out: { reason: string; traceparent: string | undefined }[] = [];
      const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
      try {
        await t.readTopic(`${topic}.dlq`, (_p, m) =>
          out.push({ reason: decodeDeadLetter(m.value!).reason, traceparent: m.headers?.traceparent?.toString() }),
        );
      } finally {
        await t.close();
      }
      return out;
    };
    await waitFor('the dead letters', async () => (await readDlq()).length >= 2, 30_000, 300);
    expect(await readDlq()).toEqual([
      { reason: 'not-json', traceparent: '00-abc-def-01' },
      { reason: 'missing-field', traceparent: '00-123-456-01' },
    ]);
    // A replay with the default dead-letter topic: counted in its store, not sent again.
    const replayDir = dir('dlq-replay');
    const r = await replayTopic({
      brokers: [brokers],
      topic,
      modelDir: models,
      stateDir: replayDir,
      windowLength: 100,
      ...FAST,
      log: () => {},
    });
    expect(r.deadLettered).toBe(2);
    expect(await readDlq()).toHaveLength(2);
    await expectReplayAgrees({ brokers, topic, modelDir: models, stateDir: state, windowLength: 100 });
  });

  it('item 6: two `bse produce` runs are two sets of new events (no collision with the first run)', async () => {
    const models = dir('prod-models');
    const state = dir('prod-state');
    await makeModelDir(models);
    const topic = await createTopic(brokers, 'produce-twice', 2);
    for (let run = 0; run < 2; run++) {
      const r = await cli([
        'bse',
        'produce',
        '--brokers',
        brokers,
        '--topic',
        topic,
        '--count',
        '300',
        '--users',
        '20',
        '--seed',
        '5',
      ]);
      expect(r.code, r.stderr).toBe(0);
      await new Promise((res) => setTimeout(res, 20)); // the next run's clock has moved on
    }
    const s = await startBseService({
      brokers: [brokers],
      topic,
      modelDir: models,
      stateDir: state,
      windowLength: 1000,
      groupId: `g-${topic}`,
      ...FAST,
      log: () => {},
    });
    running.push(s);
    await waitCaughtUp(brokers, topic, state, 1000, 60_000);
    const c = s.store.counters();
    expect(c.get('applied')).toBe(600);
    expect(c.get('duplicates') ?? 0).toBe(0);
    expect(c.get('too_old') ?? 0).toBe(0);
    await s.stop();
    await expectReplayAgrees({ brokers, topic, modelDir: models, stateDir: state, windowLength: 1000 });
  });

  it('`bse produce` → `bse serve` answers the users over HTTP and stops on SIGTERM → `bse replay` rebuilds the same state', async () => {
    const models = dir('e2e-models');
    const state = dir('e2e-state');
    const replayed = join(dir('e2e-replay'), 'state');
    await makeModelDir(models);
    const topic = await createTopic(brokers, 'cli-e2e', 2);
    const common = ['--brokers', brokers, '--topic', topic, '--model-dir', models];
    const p = await cli(['bse', 'produce', ...common, '--count', '400', '--users', '25', '--seed', '3']);
    expect(p.code, p.stderr).toBe(0);

    const serve = spawn(
      process.execPath,
      [
        bin,
        'bse',
        'serve',
        ...common,
        '--state-dir',
        state,
        '--window-length',
        '1000',
        '--port',
        '0',
        '--group',
        `g-${topic}`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    serve.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    serve.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((res) => serve.on('exit', (code) => res(code)));
    try {
      await waitFor('bse serve to print its URL', async () => /serving on http:\/\/\S+/.test(out), 60_000, 50);
      const url = /serving on (http:\/\/\S+)/.exec(out)![1]!;
      expect(out).toMatch(new RegExp(`\\(topic ${topic}, group g-${topic}\\)`));
      await waitCaughtUp(brokers, topic, state, 1000, 60_000);
      const health = await fetch(`${url}/healthz`);
      expect(health.status, await health.clone().text()).toBe(200);
      const user = (await (await fetch(`${url}/v1/users/u0/bse`)).json()) as { userId: string; version: string };
      expect(user).toMatchObject({ userId: 'u0', version: 'v1' });
      expect((await fetch(`${url}/v1/users/nobody/bse`)).status).toBe(404);
      serve.kill('SIGTERM');
      expect(await exited, err).toBe(0);
      expect(out).toMatch(/bse: stopping \(handing partitions over\)/);
    } finally {
      serve.kill('SIGKILL');
    }

    const r = await cli(['bse', 'replay', ...common, '--state-dir', replayed, '--window-length', '1000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bse replay: 400 events, 25 users, 0 dead letters in /m);
    await expectReplayAgrees({ brokers, topic, modelDir: models, stateDir: state, windowLength: 1000 });
  });
});
