/**
 * Closed by default (issue #16 item 4): the BSE feature API binds loopback unless told otherwise,
 * needs a bearer token on every route except /healthz when one is configured, serves HTTPS when given a
 * certificate, refuses oversize bodies and batches, never answers a path outside its routes, and never
 * writes a secret to its log. Real broker, in-process encoder.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BseService, EventGenerator, KafkaTransport, startBseService } from '@compactrec/bse-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  expectReplayAgrees,
  FAST,
  makeModelDir,
  produce,
  tempDir,
  waitCaughtUp,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const L = 12;
const root = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'a3f1c0ffee5eed00d15ea5e0123456789abcdef0123456789';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const OPENSSL = hasOpenssl();

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** HTTPS request trusting `ca`; resolves with status and body text. */
function httpsCall(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? 'GET', headers: init.headers, ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

describe('bse-stream service is closed by default', () => {
  const models = tempDir('sec-models');
  const open = tempDir('sec-open');
  const closed = tempDir('sec-closed');
  const certs = tempDir('sec-certs');
  let topic = '';
  const logs: string[] = [];
  let plain: BseService;
  let secured: BseService;
  let ca = '';

  beforeAll(async () => {
    await makeModelDir(models.dir, 'v1', 1);
    topic = await createTopic(brokers, 'sec', 4);
    const gen = new EventGenerator({ seed: 7, numUsers: 20 });
    await produce(brokers, topic, gen.take(400));
    const common = { brokers: [brokers], topic, modelDir: models.dir, windowLength: L, ...FAST };
    plain = await startBseService({ ...common, stateDir: open.dir, groupId: `${topic}-open`, log: () => {} });
    let tls: { cert: string; key: string } | undefined;
    if (OPENSSL) {
      const key = join(certs.dir, 'key.pem');
      const cert = join(certs.dir, 'cert.pem');
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
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      const { readFileSync } = await import('node:fs');
      tls = { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
      ca = tls.cert;
    }
    secured = await startBseService({
      ...common,
      stateDir: closed.dir,
      groupId: `${topic}-closed`,
      http: { authToken: TOKEN, bodyLimit: 4096, maxBatchGet: 10, ...(tls ? { tls } : {}) },
      log: (level, message, extra) => logs.push(JSON.stringify({ level, message, extra })),
    });
    await waitCaughtUp(brokers, topic, open.dir, L, 60_000);
    await waitCaughtUp(brokers, topic, closed.dir, L, 60_000);
  });
  afterAll(async () => {
    await plain?.stop();
    await secured?.stop();
    for (const d of [models, open, closed, certs]) d.cleanup();
  });

  it('binds 127.0.0.1 by default (the socket address)', async () => {
    expect(plain.address).toBe('127.0.0.1');
    expect(secured.address).toBe('127.0.0.1');
    expect((await fetch(`${plain.url}/v1/users/u0/bse`)).status).toBe(200);
  });

  it.skipIf(externalIPv4() === undefined)(
    'another interface of this host cannot connect (skipped: no external IPv4)',
    async () => {
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        const s = connect({ host: externalIPv4()!, port: plain.port });
        s.on('connect', () => {
          s.destroy();
          resolve(undefined);
        });
        s.on('error', (e) => resolve(e));
      });
      expect(err?.code).toBe('ECONNREFUSED');
    },
  );

  it.skipIf(!OPENSSL)(
    'no token → 401, wrong token → 401, right token → 200 on every route but /healthz (HTTPS)',
    async () => {
      expect(secured.url.startsWith('https://127.0.0.1:')).toBe(true);
      const routes: [string, { method?: string; body?: string }][] = [
        ['/v1/users/u0/bse', {}],
        ['/v1/bse:batchGet', { method: 'POST', body: JSON.stringify({ userIds: ['u0'] }) }],
        ['/metrics', {}],
      ];
      for (const [path, init] of routes) {
        const headers = init.body !== undefined ? { 'content-type': 'application/json' } : {};
        const none = await httpsCall(`${secured.url}${path}`, ca, { ...init, headers });
        expect(none.status, `${path} without a token`).toBe(401);
        expect(none.headers['www-authenticate']).toBe('Bearer');
        expect(JSON.parse(none.body)).toMatchObject({ error: 'unauthorized' });
        const wrong = await httpsCall(`${secured.url}${path}`, ca, {
          ...init,
          headers: { ...headers, authorization: `Bearer ${TOKEN.slice(0, -1)}x` },
        });
        expect(wrong.status, `${path} with a wrong token`).toBe(401);
        const basic = await httpsCall(`${secured.url}${path}`, ca, {
          ...init,
          headers: { ...headers, authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
        });
        expect(basic.status, `${path} with Basic auth`).toBe(401);
        const right = await httpsCall(`${secured.url}${path}`, ca, {
          ...init,
          headers: { ...headers, authorization: `Bearer ${TOKEN}` },
        });
        expect(right.status, `${path} with the token`).toBe(200);
      }
      // The admin route is closed too (401 before the body is even looked at).
      const admin = await httpsCall(`${secured.url}/v1/admin/model`, ca, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"version":"v1"}',
      });
      expect(admin.status).toBe(401);
      const health = await httpsCall(`${secured.url}/healthz`, ca);
      expect(health.status).toBe(200);
      // Plain HTTP to the HTTPS port gets no answer from the API.
      const plainHttp = await fetch(secured.url.replace('https:', 'http:') + '/healthz').then(
        (r) => r.status,
        () => 'failed',
      );
      expect(plainHttp === 'failed' || plainHttp === 400).toBe(true);
    },
  );

  it.skipIf(!OPENSSL)('oversize body → 413, oversize batch → 400, other paths → 4xx', async () => {
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const big = await httpsCall(`${secured.url}/v1/bse:batchGet`, ca, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ userIds: Array.from({ length: 9 }, (_, i) => `u${i}${'x'.repeat(600)}`) }),
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toMatchObject({ error: 'payload_too_large' });
    const many = await httpsCall(`${secured.url}/v1/bse:batchGet`, ca, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ userIds: Array.from({ length: 11 }, (_, i) => `u${i}`) }),
    });
    expect(many.status).toBe(400);
    expect(JSON.parse(many.body).message).toMatch(/at most 10 userIds/);
    for (const path of [
      '/v1/users/..%2F..',
      '/v1/users/..%2F..%2F..%2Fetc%2Fpasswd/bse',
      '/v1/users/../../healthz/x',
    ]) {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }]) {
        const r = await httpsCall(`${secured.url}${path}`, ca, { headers });
        expect(r.status, `${path}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${path}`).toBeLessThan(500);
        expect(r.body).not.toMatch(/root:|state\.db|\/tmp\//);
      }
    }
    const open404 = await fetch(`${plain.url}/v1/users/..%2F..`);
    expect(open404.status).toBe(404);
  });

  it('Kafka TLS/SASL options reach kafkajs: ssl against the plaintext broker fails, without it the probe answers', async () => {
    const plainT = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    await expect(plainT.probe(5000)).resolves.toBeUndefined();
    await plainT.close();
    const tlsT = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing', security: { ssl: true } });
    await expect(tlsT.probe(1500)).rejects.toThrow(/no Kafka broker answers/);
    await tlsT.close();
  });

  it('never logs the bearer token or the Kafka SASL password', async () => {
    expect(logs.length).toBeGreaterThan(0); // the start line at least
    for (const line of logs) expect(line).not.toContain(TOKEN);
    const password = 'pw-9f8e7d6c5b4a-not-to-be-logged';
    const lines: string[] = [];
    const t = new KafkaTransport({
      brokers: ['127.0.0.1:1'],
      security: { sasl: { mechanism: 'plain', username: 'bob', password } },
      logLevel: 'debug',
      log: (level, message, extra) => lines.push(JSON.stringify({ level, message, extra })),
    });
    const err = await t.probe(300).then(
      () => undefined,
      (e: Error) => e,
    );
    await t.close();
    expect(err?.message).toMatch(/no Kafka broker answers at 127\.0\.0\.1:1/);
    expect(err?.message).not.toContain(password);
    for (const line of lines) expect(line).not.toContain(password);
  });

  it('`bse serve --host 0.0.0.0` without --auth-token-file is refused before anything starts', async () => {
    const bin = join(root, 'apps/cli/bin/compactrec.js');
    const tokenFile = join(certs.dir, 'short-token');
    writeFileSync(tokenFile, 'short\n');
    const run = (args: string[]): Promise<{ code: number | null; err: string }> =>
      new Promise((resolve) => {
        const p = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d: Buffer) => {
          err += d.toString();
        });
        p.on('exit', (code) => resolve({ code, err }));
      });
    const base = [
      'bse',
      'serve',
      '--brokers',
      '127.0.0.1:1',
      '--model-dir',
      models.dir,
      '--state-dir',
      join(certs.dir, 's'),
    ];
    const exposed = await run([...base, '--host', '0.0.0.0']);
    expect(exposed.code).not.toBe(0);
    expect(exposed.err).toMatch(/--host 0\.0\.0\.0 exposes .* pass --auth-token-file/);
    const short = await run([...base, '--auth-token-file', tokenFile]);
    expect(short.code).not.toBe(0);
    expect(short.err).toMatch(/is 5 characters; use at least 16/);
    expect(short.err).not.toContain('short\n');
  });

  it('the secured service consumed the same events as an open one (replay agrees)', async () => {
    await expectReplayAgrees({ brokers, topic, modelDir: models.dir, stateDir: closed.dir, windowLength: L });
  });
});
