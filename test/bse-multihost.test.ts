/**
 * Issue #16, multi-host: instances with their own state folders in one group, state restored from the
 * changelog topic on assignment, reads answered by any instance (forwarded to the owner, 503 during a
 * hand-over). Real broker, encoder instances as child processes (SIGKILL-able).
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BehaviourEvent,
  type BseState,
  bseDistance,
  decodeSums,
  EventGenerator,
  KafkaTransport,
  parsePrometheus,
  partitionOfUser,
  readChangelogTail,
  recomputeStates,
  SERVED_BY_HEADER,
  StateStore,
} from '@compactrec/bse-stream';
import { deserializeBse, type SdimModelVersion } from '@compactrec/sdim';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTopic,
  EncoderChild,
  expectMultiHostAgrees,
  FAST,
  makeModelDir,
  produce,
  tempDir,
  topicPartitions,
  waitFor,
} from './support/bse-harness.js';

const brokers = inject('kafkaBrokers');
const L = 50;

interface Health {
  ok: boolean;
  ownedPartitions: number[];
  readyPartitions: number[];
  restoringPartitions: number[];
  problems: unknown[];
}

async function health(c: EncoderChild): Promise<Health> {
  return (await (await c.http('/healthz')).json()) as Health;
}

/** Sum of a metric's samples (all labels) on one instance. */
async function metric(c: EncoderChild, name: string): Promise<number> {
  const samples = parsePrometheus(await (await c.http('/metrics')).text());
  let sum = 0;
  for (const [key, value] of samples) if (key === name || key.startsWith(`${name}{`)) sum += value;
  return sum;
}

describe('bse multi-host: own state dirs, changelog restore, reads from any instance (issue #16)', () => {
  const cleanups: (() => void)[] = [];
  const children: EncoderChild[] = [];
  afterAll(async () => {
    for (const c of children) await c.kill().catch(() => {});
    for (const f of cleanups) f();
  });

  function dir(label: string): string {
    const d = tempDir(label);
    cleanups.push(d.cleanup);
    return d.dir;
  }

  function start(
    name: string,
    stateDir: string,
    o: {
      topic: string;
      modelDir: string;
      crashAt?: { point: 'after-publish' | 'after-commit'; afterChunks: number };
      authToken?: string;
      standbyReplicas?: number;
    },
  ): EncoderChild {
    const c = new EncoderChild({
      ...(o.authToken ? { http: { authToken: o.authToken } } : {}),
      brokers: [brokers],
      topic: o.topic,
      groupId: `g-${o.topic}`,
      modelDir: o.modelDir,
      stateDir,
      windowLength: L,
      maxEventsPerTransaction: 2000,
      instanceId: name,
      ...FAST,
      multiHost: {
        restoreChunkUsers: 500,
        ...(o.crashAt ? { crashAt: o.crashAt } : {}),
        ...(o.standbyReplicas ? { standbyReplicas: o.standbyReplicas } : {}),
      },
    });
    children.push(c);
    return c;
  }

  /** Waits until the alive instances' complete partitions cover every partition exactly once. */
  async function waitAllReady(alive: readonly EncoderChild[], partitions: number, what: string, timeoutMs = 120_000) {
    await waitFor(
      what,
      async () => {
        const seen: number[] = [];
        for (const c of alive) {
          const h = await health(c).catch(() => undefined);
          if (!h) return false;
          seen.push(...h.readyPartitions);
        }
        seen.sort((a, b) => a - b);
        return seen.length === partitions && seen.every((p, i) => p === i);
      },
      timeoutMs,
      200,
    );
  }

  /** Partition → state folder of its owner (from the instances' health). */
  async function owners(alive: readonly [EncoderChild, string][]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const [c, d] of alive) for (const p of (await health(c)).readyPartitions) out.set(p, d);
    return out;
  }

  /** Every partition's owner has consumed it to its end. */
  async function waitCaughtUpMulti(topic: string, alive: readonly [EncoderChild, string][], timeoutMs = 180_000) {
    await waitFor(
      `every partition of ${topic} consumed by its owner`,
      async () => {
        const ends = await topicPartitions(brokers, topic);
        let own: Map<number, string>;
        try {
          own = await owners(alive);
        } catch {
          return false;
        }
        if (own.size !== ends.length) return false;
        for (const e of ends) {
          const s = StateStore.open(own.get(e.partition)!, { windowLength: L });
          try {
            if ((s.nextOffsets(topic).get(e.partition) ?? 0) !== e.high) return false;
          } finally {
            s.close();
          }
        }
        return true;
      },
      timeoutMs,
      300,
    );
  }

  it('three hosts, kill -9 mid-stream, an empty fourth joiner, a wiped state dir: every user equals the recomputation; every read was correct or 503', async () => {
    const P = 8;
    const topic = await createTopic(brokers, 'mh3', P);
    const modelDir = dir('mh-models');
    const model = await makeModelDir(modelDir);
    const gen = new EventGenerator({ seed: 16, numUsers: 4000, numItems: 1000, eventPrefix: `mh${Date.now()}-` });
    const events: BehaviourEvent[] = Array.from({ length: 103_000 }, () => gen.next());
    const [first, stream, joinerPart, finalPart] = [
      events.slice(0, 10_000),
      events.slice(10_000, 100_000),
      events.slice(100_000, 102_000),
      events.slice(102_000),
    ];

    // Reference for reads: every state a sampled user had after each of its events.
    const sample = [...new Set(first.map((e) => e.userId))].slice(0, 40);
    const prefixes = new Map<string, BseState[]>();
    for (const u of sample) {
      const mine = events.filter((e) => e.userId === u);
      const states: BseState[] = [];
      for (let k = 1; k <= mine.length; k++) states.push(recomputeStates(mine.slice(0, k), model, L).get(u)!.state);
      prefixes.set(u, states);
    }
    const isPrefixState = (u: string, st: BseState): boolean =>
      prefixes.get(u)!.some((ref) => ref.length === st.length && bseDistance(st, ref) < 1e-9);
    const isPrefixJson = (u: string, j: { length: number; counts: number[]; sums: string; precision: string }) => {
      const sums = decodeSums(j.sums, j.precision as 'float32' | 'float64');
      return prefixes
        .get(u)!
        .some(
          (ref) =>
            ref.length === j.length &&
            j.counts.every((c, i) => c === ref.counts[i]) &&
            sums.every((x, i) => Math.abs(x - ref.sums[i]!) <= 1e-5 * Math.max(1, Math.abs(ref.sums[i]!))),
        );
    };

    const dirs = { a: dir('mh-a'), b: dir('mh-b'), c: dir('mh-c'), d: dir('mh-d') };
    const a = start('a', dirs.a, { topic, modelDir });
    await a.ready;
    let b = start('b', dirs.b, { topic, modelDir });
    const c = start('c', dirs.c, { topic, modelDir });
    await Promise.all([b.ready, c.ready]);
    await waitAllReady([a, b, c], P, 'the three instances to own every partition');
    for (const x of [a, b, c]) expect((await health(x)).readyPartitions.length).toBeGreaterThan(0);

    await produce(brokers, topic, first);
    await waitCaughtUpMulti(topic, [
      [a, dirs.a],
      [b, dirs.b],
      [c, dirs.c],
    ]);

    // Readers for the whole test: random instance, random sampled user; GET (binary) and batchGet.
    let alive: EncoderChild[] = [a, b, c];
    const tally = { ok: 0, unavailable: 0, forwarded: 0, batches: 0, wrong: [] as string[] };
    let reading = true;
    const reader = (async () => {
      let i = 0;
      while (reading) {
        const inst = alive[Math.floor(Math.random() * alive.length)]!;
        const u = sample[Math.floor(Math.random() * sample.length)]!;
        try {
          if (i++ % 5 === 4) {
            const ids = Array.from({ length: 5 }, () => sample[Math.floor(Math.random() * sample.length)]!);
            const res = await inst.http('/v1/bse:batchGet', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ userIds: ids }),
            });
            if (res.status === 503) {
              expect(res.headers.get('retry-after')).not.toBeNull();
              tally.unavailable++;
            } else if (res.status === 200) {
              const body = (await res.json()) as {
                results: {
                  userId: string;
                  found: boolean;
                  length: number;
                  counts: number[];
                  sums: string;
                  precision: string;
                }[];
              };
              tally.batches++;
              for (const r of body.results) {
                if (!r.found || !isPrefixJson(r.userId, r))
                  tally.wrong.push(`batchGet ${r.userId}: ${r.found ? 'wrong state' : 'not found'}`);
                else tally.ok++;
              }
            } else tally.wrong.push(`batchGet answered ${res.status}: ${await res.text()}`);
          } else {
            const res = await inst.http(`/v1/users/${u}/bse?format=binary`);
            if (res.status === 503) {
              expect(res.headers.get('retry-after')).not.toBeNull();
              tally.unavailable++;
            } else if (res.status === 200) {
              const st = deserializeBse(new Uint8Array(await res.arrayBuffer()));
              if (!isPrefixState(u, st)) tally.wrong.push(`GET ${u}: a state the user never had (length ${st.length})`);
              else tally.ok++;
              if (res.headers.get(SERVED_BY_HEADER) !== `http://127.0.0.1:${inst.port}`) tally.forwarded++;
            } else tally.wrong.push(`GET ${u} answered ${res.status}: ${await res.text()}`);
          }
        } catch (err) {
          // A connection to an instance just killed: not an answer.
          if (!/fetch failed|ECONNREFUSED|ECONNRESET|socket/i.test(String((err as Error)?.cause ?? err))) throw err;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // Mid-stream kill -9 of C: its partitions move to A and B, restored from the changelog.
    const cParts = (await health(c)).readyPartitions;
    const streaming = produce(brokers, topic, stream, 500);
    await waitFor(
      'a third of the stream consumed',
      async () => {
        let done = 0;
        for (const d of [dirs.a, dirs.b, dirs.c]) {
          const s = StateStore.open(d, { windowLength: L });
          try {
            for (const v of s.nextOffsets(topic).values()) done += v;
          } finally {
            s.close();
          }
        }
        return done >= 40_000;
      },
      120_000,
      100,
    );
    await c.kill();
    alive = [a, b];
    await streaming;
    await waitAllReady(alive, P, "C's partitions to be taken over by A and B");
    await waitCaughtUpMulti(topic, [
      [a, dirs.a],
      [b, dirs.b],
    ]);
    const own1 = await owners([
      [a, dirs.a],
      [b, dirs.b],
    ]);
    for (const p of cParts) expect([dirs.a, dirs.b]).toContain(own1.get(p));
    expect(
      (await metric(a, 'bse_restores_completed_total')) + (await metric(b, 'bse_restores_completed_total')),
    ).toBeGreaterThanOrEqual(cParts.length);
    expect((await metric(a, 'bse_restore_users_total')) + (await metric(b, 'bse_restore_users_total'))).toBeGreaterThan(
      0,
    );

    // A fourth instance with an empty state dir joins and takes partitions by restoring them.
    const d = start('d', dirs.d, { topic, modelDir });
    await d.ready;
    alive = [a, b, d];
    await waitFor('D to own partitions', async () => (await health(d)).readyPartitions.length > 0, 120_000, 200);
    await waitAllReady(alive, P, 'A, B and D to own every partition');
    const dParts = (await health(d)).readyPartitions;
    expect(await metric(d, 'bse_restores_completed_total')).toBeGreaterThanOrEqual(dParts.length);
    expect(await metric(d, 'bse_restore_users_total')).toBeGreaterThan(0);
    await produce(brokers, topic, joinerPart);
    await waitCaughtUpMulti(topic, [
      [a, dirs.a],
      [b, dirs.b],
      [d, dirs.d],
    ]);

    // B stopped, its state dir deleted, B restarted on the empty dir: it restores what it is given.
    alive = [a, d];
    expect(await b.stop()).toBe(0);
    rmSync(dirs.b, { recursive: true, force: true });
    await waitAllReady(alive, P, "B's partitions to be taken over by A and D");
    b = start('b2', dirs.b, { topic, modelDir });
    await b.ready;
    alive = [a, b, d];
    await waitFor(
      'restarted B to own partitions',
      async () => (await health(b)).readyPartitions.length > 0,
      120_000,
      200,
    );
    await waitAllReady(alive, P, 'A, B and D to own every partition again');
    expect(await metric(b, 'bse_restores_completed_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(b, 'bse_restore_users_total')).toBeGreaterThan(0);
    await produce(brokers, topic, finalPart);
    const final: [EncoderChild, string][] = [
      [a, dirs.a],
      [b, dirs.b],
      [d, dirs.d],
    ];
    await waitCaughtUpMulti(topic, final);
    reading = false;
    await reader;

    for (const x of [a, b, d]) {
      const h = await health(x);
      expect(h.problems).toEqual([]);
      expect(h.ok).toBe(true);
    }
    expect(tally.wrong).toEqual([]);
    expect(tally.ok).toBeGreaterThan(100);
    expect(tally.forwarded).toBeGreaterThan(0);
    expect(tally.batches).toBeGreaterThan(0);
    const users = await expectMultiHostAgrees({
      brokers,
      topic,
      modelDir,
      owners: await owners(final),
      windowLength: L,
      model: model as SdimModelVersion,
    });
    expect(users).toBeGreaterThan(3000);
    // Reads after the hand-overs: a non-owner forwards and the answer is the final state.
    const u = sample[0]!;
    const finalState = prefixes.get(u)!.at(-1)!;
    for (const x of [a, b, d]) {
      const res = await x.http(`/v1/users/${u}/bse?format=binary`);
      expect(res.status).toBe(200);
      expect(bseDistance(deserializeBse(new Uint8Array(await res.arrayBuffer())), finalState)).toBeLessThan(1e-9);
    }
    process.stderr.write(`multi-host reads: ${JSON.stringify({ ...tally, wrong: tally.wrong.length })}\n`);
  }, 600_000);

  it('failure points: a crash after the changelog commit and before the local commit is restored on restart; a crash after the local commit resumes locally; both equal the recomputation', async () => {
    const P = 2;
    const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
    try {
      for (const point of ['after-publish', 'after-commit'] as const) {
        const topic = await createTopic(brokers, `mhcrash-${point}`, P);
        const modelDir = dir('mhc-models');
        const model = await makeModelDir(modelDir);
        const stateDir = dir(`mhc-${point}`);
        const gen = new EventGenerator({ seed: 7, numUsers: 300, eventPrefix: `c${point}${Date.now()}-` });
        const events = Array.from({ length: 12_000 }, () => gen.next());
        await produce(brokers, topic, events);
        const crashing = start('x', stateDir, { topic, modelDir, crashAt: { point, afterChunks: 3 } });
        await crashing.ready;
        const code = await new Promise<number | null>((resolve) =>
          crashing.proc.on('exit', (c2, sig) => resolve(sig === 'SIGKILL' ? -9 : c2)),
        );
        expect(code).toBe(-9);
        // Where the crash left the changelog and the local store.
        const local = StateStore.open(stateDir, { windowLength: L });
        const marks = local.partitionMarks(topic);
        local.close();
        const ahead: number[] = [];
        for (let p = 0; p < P; p++) {
          const tail = await readChangelogTail(t, topic, p, 60_000, `g-${topic}`);
          const mine = marks.get(p)?.nextOffset ?? 0;
          if (point === 'after-commit') expect(tail.nextOffset ?? 0).toBe(mine);
          expect(tail.nextOffset ?? 0).toBeGreaterThanOrEqual(mine);
          if ((tail.nextOffset ?? 0) > mine) ahead.push(p);
        }
        if (point === 'after-publish') expect(ahead.length).toBe(1);
        const again = start('y', stateDir, { topic, modelDir });
        await again.ready;
        await waitAllReady([again], P, 'the restarted instance to own both partitions');
        await waitCaughtUpMulti(topic, [[again, stateDir]]);
        expect(await metric(again, 'bse_restores_completed_total')).toBe(ahead.length);
        // A restored partition resumes with the changelog's fingerprint of its last record (#17 check).
        const after = StateStore.open(stateDir, { windowLength: L });
        try {
          for (let p = 0; p < P; p++) expect(after.partitionMarks(topic).get(p)?.fingerprint).toBeTypeOf('number');
        } finally {
          after.close();
        }
        expect((await health(again)).problems).toEqual([]);
        const users = await expectMultiHostAgrees({
          brokers,
          topic,
          modelDir,
          owners: new Map([
            [0, stateDir],
            [1, stateDir],
          ]),
          windowLength: L,
          model,
        });
        expect(users).toBe(300);
        await again.stop();
      }
    } finally {
      await t.close();
    }
  }, 300_000);

  it("a read that reaches a non-owner is forwarded with the caller's token; without it the non-owner answers 401 itself", async () => {
    const P = 2;
    const topic = await createTopic(brokers, 'mhauth', P);
    const modelDir = dir('mha-models');
    const model = await makeModelDir(modelDir);
    const token = 'multi-host-token-0123456789';
    const x = start('x', dir('mha-x'), { topic, modelDir, authToken: token });
    await x.ready;
    const y = start('y', dir('mha-y'), { topic, modelDir, authToken: token });
    await y.ready;
    await waitFor(
      'x and y to own one partition each',
      async () => {
        const [hx, hy] = [await health(x), await health(y)];
        return hx.readyPartitions.length === 1 && hy.readyPartitions.length === 1;
      },
      60_000,
      200,
    );
    const gen = new EventGenerator({ seed: 9, numUsers: 50, eventPrefix: `auth${Date.now()}-` });
    const events = Array.from({ length: 2000 }, () => gen.next());
    await produce(brokers, topic, events);
    const ref = recomputeStates(events, model, L);
    const auth = { authorization: `Bearer ${token}` };
    const ownerOf = new Map<number, EncoderChild>();
    for (const c of [x, y]) ownerOf.set((await health(c)).readyPartitions[0]!, c);
    const users = [...ref.keys()];
    await waitFor(
      'every user served',
      async () => {
        const res = await x.http('/v1/bse:batchGet', {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ userIds: users }),
        });
        if (res.status !== 200) return false;
        const body = (await res.json()) as { results: { userId: string; found: boolean; length: number }[] };
        return body.results.every((r) => r.found && r.length === ref.get(r.userId)!.state.length);
      },
      60_000,
      200,
    );
    let forwarded = 0;
    for (const u of users.slice(0, 20)) {
      const owner = ownerOf.get(partitionOfUser(u, P))!;
      const other = owner === x ? y : x;
      const res = await other.http(`/v1/users/${u}/bse?format=binary`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get(SERVED_BY_HEADER)).toBe(`http://127.0.0.1:${owner.port}`);
      expect(bseDistance(deserializeBse(new Uint8Array(await res.arrayBuffer())), ref.get(u)!.state)).toBeLessThan(
        1e-9,
      );
      forwarded++;
      expect((await other.http(`/v1/users/${u}/bse`)).status).toBe(401);
      const wrong = await other.http(`/v1/users/${u}/bse`, {
        headers: { authorization: 'Bearer not-the-token-000000' },
      });
      expect(wrong.status).toBe(401);
    }
    expect(forwarded).toBe(20);
    await x.stop();
    await y.stop();
  }, 180_000);

  it('`bse serve --multi-host` (real binary): two instances with own state dirs answer every user from either; the other mode is refused', async () => {
    const P = 2;
    const topic = await createTopic(brokers, 'mhcli', P);
    const modelDir = dir('mhcli-models');
    const model = await makeModelDir(modelDir);
    const gen = new EventGenerator({ seed: 4, numUsers: 30, eventPrefix: `cli${Date.now()}-` });
    const events = Array.from({ length: 600 }, () => gen.next());
    await produce(brokers, topic, events);
    const ref = recomputeStates(events, model, L);
    const tokenFile = join(dir('mhcli-token'), 'token');
    const token = 'cli-multi-host-token-0123456789';
    writeFileSync(tokenFile, `${token}\n`);
    const bin = join(fileURLToPath(new URL('..', import.meta.url)), 'apps/cli/bin/compactrec.js');
    const common = ['--brokers', brokers, '--topic', topic, '--model-dir', modelDir, '--window-length', String(L)];
    const serve = (stateDir: string, extra: string[]) => {
      const proc = spawn(
        process.execPath,
        [bin, 'bse', 'serve', ...common, '--state-dir', stateDir, '--port', '0', ...extra],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const io = { out: '', err: '' };
      proc.stdout.on('data', (d: Buffer) => {
        io.out += d.toString();
      });
      proc.stderr.on('data', (d: Buffer) => {
        io.err += d.toString();
      });
      const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
      return { proc, io, exited };
    };
    const dirs = [dir('mhcli-1'), dir('mhcli-2')];
    const flags = ['--multi-host', '--group', `g-${topic}`, '--auth-token-file', tokenFile];
    const both = dirs.map((d) => serve(d, flags));
    try {
      const urls: string[] = [];
      for (const s of both) {
        await waitFor(
          'bse serve --multi-host to print its URL',
          () => /serving on http:\/\/\S+/.test(s.io.out),
          60_000,
          50,
        );
        urls.push(/serving on (http:\/\/\S+)/.exec(s.io.out)![1]!);
      }
      await waitFor(
        'each instance to own one complete partition',
        async () => {
          const hs = await Promise.all(urls.map(async (u) => (await (await fetch(`${u}/healthz`)).json()) as Health));
          return hs.every((h) => h.readyPartitions.length === 1);
        },
        60_000,
        200,
      );
      const auth = { authorization: `Bearer ${token}` };
      for (const url of urls) {
        await waitFor(
          `every user served by ${url}`,
          async () => {
            for (const [u, want] of ref) {
              const res = await fetch(`${url}/v1/users/${u}/bse?format=binary`, { headers: auth });
              if (res.status !== 200) return false;
              if (!(bseDistance(deserializeBse(new Uint8Array(await res.arrayBuffer())), want.state) < 1e-9))
                return false;
            }
            return true;
          },
          60_000,
          200,
        );
      }
      for (const s of both) s.proc.kill('SIGTERM');
      for (const s of both) expect(await s.exited, s.io.err).toBe(0);
    } finally {
      for (const s of both) s.proc.kill('SIGKILL');
    }
    // A multi-host state dir is refused in single-host mode, with one line saying why.
    const single = serve(dirs[0]!, ['--group', `g-${topic}`]);
    expect(await single.exited).toBe(1);
    expect(single.io.err).toMatch(/written in multi-host mode; start it with --multi-host/);
  }, 180_000);

  it('--standby-replicas 1: each instance keeps a warm copy of the other partition; after kill -9 the standby takes over reading only the changelog tail', async () => {
    const P = 2;
    const topic = await createTopic(brokers, 'mhstandby', P);
    const modelDir = dir('mhs-models');
    const model = await makeModelDir(modelDir);
    const dx = dir('mhs-x');
    const dy = dir('mhs-y');
    const x = start('x', dx, { topic, modelDir, standbyReplicas: 1 });
    await x.ready;
    const y = start('y', dy, { topic, modelDir, standbyReplicas: 1 });
    await y.ready;
    await waitAllReady([x, y], P, 'x and y to own one partition each');
    await waitFor('one partition each', async () => (await health(x)).readyPartitions.length === 1, 60_000, 200);
    const gen = new EventGenerator({ seed: 21, numUsers: 400, eventPrefix: `sb${Date.now()}-` });
    const events = Array.from({ length: 8000 }, () => gen.next());
    await produce(brokers, topic, events.slice(0, 6000));
    await waitCaughtUpMulti(topic, [
      [x, dx],
      [y, dy],
    ]);
    const pY = (await health(y)).readyPartitions[0]!;
    const end = (await topicPartitions(brokers, topic)).find((r) => r.partition === pY)!.high;
    // x's standby copy of y's partition reaches y's offset.
    await waitFor(
      "x's standby copy of y's partition to catch up",
      () => {
        const s = StateStore.open(dx, { windowLength: L });
        try {
          return s.partitionMarks(topic).get(pY)?.nextOffset === end;
        } finally {
          s.close();
        }
      },
      60_000,
      200,
    );
    expect(await metric(x, 'bse_standby_partitions')).toBe(1);
    const standbyBytes = await metric(x, 'bse_standby_bytes_total');
    expect(await metric(x, 'bse_standby_users_total')).toBeGreaterThan(0);
    await y.kill();
    await waitAllReady([x], P, "x to take y's partition over");
    // No full restore: the warm copy was current (taken over as is) or only its tail was read.
    expect(await metric(x, 'bse_restores_completed_total')).toBe(await metric(x, 'bse_restores_incremental_total'));
    const restoreBytes = await metric(x, 'bse_restore_bytes_total');
    expect(restoreBytes).toBeLessThan(standbyBytes / 10);
    await produce(brokers, topic, events.slice(6000));
    await waitCaughtUpMulti(topic, [[x, dx]]);
    expect((await health(x)).problems).toEqual([]);
    const users = await expectMultiHostAgrees({
      brokers,
      topic,
      modelDir,
      owners: new Map([
        [0, dx],
        [1, dx],
      ]),
      windowLength: L,
      model,
    });
    expect(users).toBe(400);
    await x.stop();
  }, 180_000);
});
