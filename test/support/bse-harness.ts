/**
 * Shared helpers of the streaming-encoder integration tests: encoder child processes, a model folder,
 * producing events, waiting for the store to catch up, and the from-scratch verification.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BehaviourEvent,
  type BseServiceOptions,
  bseDistance,
  type CodecOptions,
  decodeEvent,
  encodeEvent,
  isDecodeFailure,
  KafkaTransport,
  type OutboundMessage,
  partitionOfUser,
  recomputeStates,
  replayTopic,
  resolveCodecOptions,
  StateStore,
  sameWindow,
  saveModelToDir,
} from '@compactrec/bse-stream';
import { createSdimModelVersion, deserializeBse, type SdimModelVersion } from '@compactrec/sdim';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Fast retry/consumer settings for tests (short session so dead members' partitions move quickly). */
export const FAST = Object.freeze({
  retry: { retries: 30, initialDelayMs: 50, maxDelayMs: 1000, factor: 1.5, jitter: 0.2 },
  consumer: { sessionTimeoutMs: 3000, heartbeatIntervalMs: 500, maxWaitTimeMs: 50 },
});

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `bse-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A unique topic name for one test. */
export function uniqueTopic(label: string): string {
  return `${label}-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
}

/** Creates a fresh topic (unique name from `label`) with `partitions` partitions; returns its name. */
export async function createTopic(brokers: string, label: string, partitions = 4): Promise<string> {
  const topic = uniqueTopic(label);
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  try {
    await t.ensureTopic(topic, partitions);
  } finally {
    await t.close();
  }
  return topic;
}

/** The test model: 1000 items, dim 16, 24 hashes × τ 3 = 8 signatures. */
export async function makeModelDir(dir: string, version = 'v1', seed = 1): Promise<SdimModelVersion> {
  const model = createSdimModelVersion({
    version,
    numItems: 1000,
    dim: 16,
    seed,
    hash: { numHashes: 24, bitsPerSignature: 3 },
  });
  await saveModelToDir(dir, model);
  return model;
}

/** An encoder instance in a child process (so it can be SIGKILLed). */
export class EncoderChild {
  readonly proc: ChildProcess;
  readonly ready: Promise<number>;
  port = 0;
  stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(options: Omit<BseServiceOptions, 'log'>) {
    this.proc = spawn(process.execPath, [join(root, 'test/support/bse-child.mjs'), JSON.stringify(options)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      if (process.env.BSE_CHILD_VERBOSE)
        process.stderr.write(`[${options.instanceId ?? this.proc.pid}] ${d.toString()}`);
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
    this.ready = new Promise((resolve, reject) => {
      let out = '';
      this.proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) {
          this.port = Number(m[1]);
          resolve(this.port);
        }
      });
      this.exited.then((code) =>
        reject(new Error(`encoder child exited (${code}) before READY:\n${this.stderr.slice(-4000)}`)),
      );
    });
  }

  /** GET/POST JSON against this instance. */
  async http(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.port}${path}`, init);
  }

  /** SIGKILL: no clean-up at all, like a crash or an OOM kill. */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: leaves the group cleanly; resolves with the exit code. */
  async stop(): Promise<number | null> {
    this.proc.kill('SIGTERM');
    return this.exited;
  }
}

/** Produces events keyed by userId, in batches. */
export async function produce(
  brokers: string,
  topic: string,
  events: readonly BehaviourEvent[],
  batch = 1000,
): Promise<void> {
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  const p = await t.createProducer();
  try {
    for (let i = 0; i < events.length; i += batch) {
      await p.send(
        topic,
        events.slice(i, i + batch).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
      );
    }
  } finally {
    await p.close();
    await t.close();
  }
}

/** Produces raw messages (any bytes, explicit partitions) to `topic`. */
export async function produceRaw(brokers: string, topic: string, messages: readonly OutboundMessage[]): Promise<void> {
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  const p = await t.createProducer();
  try {
    await p.send(topic, messages);
  } finally {
    await p.close();
    await t.close();
  }
}

/** Sum of the store's next offsets and of the partition ends. */
export async function progress(
  brokers: string,
  topic: string,
  stateDir: string,
  windowLength: number,
): Promise<{ done: number; total: number }> {
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  try {
    const ends = await t.topicOffsets(topic);
    const store = StateStore.open(stateDir, { windowLength });
    try {
      const next = store.nextOffsets(topic);
      let done = 0;
      let total = 0;
      for (const p of ends) {
        total += p.high;
        done += Math.min(next.get(p.partition) ?? 0, p.high);
      }
      return { done, total };
    } finally {
      store.close();
    }
  } finally {
    await t.close();
  }
}

/** Polls `cond` every `everyMs` until true or `timeoutMs` (then throws with `what`). */
export async function waitFor(
  what: string,
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 120_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until the store has consumed every partition of `topic` to its current end. */
export async function waitCaughtUp(
  brokers: string,
  topic: string,
  stateDir: string,
  windowLength: number,
  timeoutMs = 180_000,
): Promise<void> {
  await waitFor(
    `the encoder to consume all of ${topic}`,
    async () => {
      const p = await progress(brokers, topic, stateDir, windowLength);
      return p.total > 0 && p.done === p.total;
    },
    timeoutMs,
    200,
  );
}

/**
 * Every valid event in the topic, in log order per partition (read back from the broker), with the
 * service's rules: the codec's schema and its future-timestamp bound against each record's timestamp.
 */
export async function readEvents(
  brokers: string,
  topic: string,
  codecOptions: CodecOptions = {},
): Promise<BehaviourEvent[]> {
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  const codec = resolveCodecOptions(codecOptions);
  const events: BehaviourEvent[] = [];
  try {
    await t.readTopic(topic, (_p, m) => {
      const r = decodeEvent(m.value, codec, m.timestamp);
      if (!isDecodeFailure(r)) events.push(r);
    });
  } finally {
    await t.close();
  }
  return events;
}

/**
 * Compares the store with a from-scratch recomputation over `events`: same users, identical windows,
 * identical bucket counts and sums equal up to float rounding of the incremental add/remove.
 * Returns the number of users compared; throws with the first mismatches.
 */
export function verifyAgainstRecompute(
  stateDir: string,
  events: readonly BehaviourEvent[],
  model: SdimModelVersion,
  windowLength: number,
): number {
  const ref = recomputeStates(events, model, windowLength);
  const store = StateStore.open(stateDir, { windowLength });
  try {
    const problems: string[] = [];
    const ids = store.userIds();
    if (ids.length !== ref.size) problems.push(`store has ${ids.length} users, recomputation ${ref.size}`);
    for (const [userId, want] of ref) {
      const w = store.getWindow(userId);
      const s = store.getState(userId);
      if (!w || !s) {
        problems.push(`${userId}: missing`);
      } else if (!sameWindow(w, want.window)) {
        problems.push(`${userId}: window differs (${w.length} vs ${want.window.length} behaviours)`);
      } else {
        const d = bseDistance(deserializeBse(s.bytes), want.state);
        if (!(d < 1e-9)) problems.push(`${userId}: BSE state differs (max |Δ| ${d})`);
      }
      if (problems.length >= 5) break;
    }
    if (problems.length > 0) throw new Error(`state ≠ recomputation:\n${problems.join('\n')}`);
    return ref.size;
  } finally {
    store.close();
  }
}

/** What {@link expectReplayAgrees} needs to replay the topic the way the live service consumed it. */
export interface ReplayCheck {
  brokers: string;
  topic: string;
  modelDir: string;
  /** The live service's state folder (it may still be running). */
  stateDir: string;
  windowLength: number;
  codec?: CodecOptions;
}

/**
 * THE agreement check of every streaming-encoder integration test: `bse replay` (replayTopic) of the
 * whole topic into a fresh folder, under the live store's active model version, must hold exactly the
 * live service's users, identical windows and the same served states (version, lengths, counts; sums
 * equal up to float rounding of the incremental add/remove, 1e-9). Replay dead-letters into its own
 * topic so the live DLQ is not touched. Returns the number of users compared; throws on a mismatch.
 */
export async function expectReplayAgrees(o: ReplayCheck): Promise<number> {
  const replayDir = tempDir('replay-check');
  const live = StateStore.open(o.stateDir, { windowLength: o.windowLength });
  try {
    const active = live.versions().active;
    if (active === undefined) throw new Error(`expectReplayAgrees: the live store ${o.stateDir} serves no version`);
    await replayTopic({
      brokers: [o.brokers],
      topic: o.topic,
      modelDir: o.modelDir,
      stateDir: replayDir.dir,
      windowLength: o.windowLength,
      modelVersion: active,
      deadLetterTopic: `${o.topic}.replay-dlq-${Math.floor(Math.random() * 1e9)}`,
      ...(o.codec ? { codec: o.codec } : {}),
      ...FAST,
      timeoutMs: 120_000,
      log: () => {},
    });
    const replayed = StateStore.open(replayDir.dir, { windowLength: o.windowLength });
    try {
      const problems: string[] = [];
      const a = live.userIds();
      const b = replayed.userIds();
      if (a.join('\u0000') !== b.join('\u0000')) {
        const onlyLive = a.filter((u) => !b.includes(u)).slice(0, 5);
        const onlyReplay = b.filter((u) => !a.includes(u)).slice(0, 5);
        problems.push(
          `users differ: live ${a.length}, replay ${b.length}; only live ${JSON.stringify(onlyLive)}, only replay ${JSON.stringify(onlyReplay)}`,
        );
      }
      for (const userId of a) {
        if (problems.length >= 5) break;
        const wl = live.getWindow(userId);
        const wr = replayed.getWindow(userId);
        if (!wr || !wl) continue;
        if (!sameWindow(wl, wr)) {
          problems.push(
            `${userId}: window differs (live ${JSON.stringify(Array.from(wl.items.subarray(0, wl.length)))}, replay ${JSON.stringify(Array.from(wr.items.subarray(0, wr.length)))})`,
          );
          continue;
        }
        const sl = live.getState(userId);
        const sr = replayed.getState(userId);
        if (!sl || !sr) {
          problems.push(`${userId}: served state missing (live ${!!sl}, replay ${!!sr})`);
          continue;
        }
        const d = bseDistance(deserializeBse(sl.bytes), deserializeBse(sr.bytes));
        if (!(d < 1e-9))
          problems.push(`${userId}: served state differs (max |Δ| ${d}, versions ${sl.version}/${sr.version})`);
      }
      if (problems.length > 0) throw new Error(`bse replay ≠ live service:\n${problems.join('\n')}`);
      return a.length;
    } finally {
      replayed.close();
    }
  } finally {
    live.close();
    replayDir.cleanup();
  }
}

/** What {@link expectMultiHostAgrees} needs: the topic, and which instance's state folder owns each partition. */
export interface MultiHostCheck {
  brokers: string;
  topic: string;
  modelDir: string;
  /** Partition → state folder of the instance that owns it now (every partition exactly once). */
  owners: ReadonlyMap<number, string>;
  windowLength: number;
  /** The served model: also checked against a from-scratch recomputation over the event log. */
  model: SdimModelVersion;
  codec?: CodecOptions;
}

/**
 * The multi-host form of {@link expectReplayAgrees}: the live state is spread over the instances'
 * own state folders, one owner per partition. `bse replay` of the whole topic into a fresh folder AND
 * a from-scratch recomputation over the event log must equal, user by user, the state held by the
 * owner of the user's partition: the same users per partition (no missing, no extra), identical
 * windows, the same served state (sums to 1e-9). Returns the users compared.
 */
export async function expectMultiHostAgrees(o: MultiHostCheck): Promise<number> {
  const partitions = (await topicPartitions(o.brokers, o.topic)).length;
  for (let p = 0; p < partitions; p++) {
    if (!o.owners.has(p)) throw new Error(`expectMultiHostAgrees: partition ${p} has no owner`);
  }
  const ref = recomputeStates(await readEvents(o.brokers, o.topic, o.codec ?? {}), o.model, o.windowLength);
  const replayDir = tempDir('replay-multi');
  const stores = new Map<string, StateStore>();
  const storeOf = (dir: string): StateStore => {
    let s = stores.get(dir);
    if (!s) {
      s = StateStore.open(dir, { windowLength: o.windowLength });
      stores.set(dir, s);
    }
    return s;
  };
  try {
    await replayTopic({
      brokers: [o.brokers],
      topic: o.topic,
      modelDir: o.modelDir,
      stateDir: replayDir.dir,
      windowLength: o.windowLength,
      modelVersion: o.model.version,
      deadLetterTopic: `${o.topic}.replay-dlq-${Math.floor(Math.random() * 1e9)}`,
      ...(o.codec ? { codec: o.codec } : {}),
      ...FAST,
      timeoutMs: 120_000,
      log: () => {},
    });
    const replayed = StateStore.open(replayDir.dir, { windowLength: o.windowLength });
    const problems: string[] = [];
    let compared = 0;
    try {
      const all = replayed.userIds();
      if (all.length !== ref.size) problems.push(`replay has ${all.length} users, recomputation ${ref.size}`);
      for (let p = 0; p < partitions; p++) {
        const live = storeOf(o.owners.get(p)!);
        const want = all.filter((u) => partitionOfUser(u, partitions) === p);
        const have = live.userIdsOf(p);
        if (want.join('\u0000') !== have.join('\u0000')) {
          problems.push(`partition ${p}: owner holds ${have.length} users, replay ${want.length}`);
        }
        for (const userId of want) {
          if (problems.length >= 5) break;
          compared++;
          const wl = live.getWindow(userId);
          const wr = replayed.getWindow(userId);
          const rc = ref.get(userId);
          if (!wl || !wr || !rc) {
            problems.push(`${userId} (p${p}): missing (owner ${!!wl}, replay ${!!wr}, recompute ${!!rc})`);
            continue;
          }
          if (!sameWindow(wl, wr) || !sameWindow(wl, rc.window)) {
            problems.push(`${userId} (p${p}): window differs from replay/recomputation`);
            continue;
          }
          const sl = live.getState(userId);
          const sr = replayed.getState(userId);
          if (!sl || !sr) {
            problems.push(`${userId} (p${p}): served state missing (owner ${!!sl}, replay ${!!sr})`);
            continue;
          }
          const st = deserializeBse(sl.bytes);
          const d = Math.max(bseDistance(st, deserializeBse(sr.bytes)), bseDistance(st, rc.state));
          if (!(d < 1e-9) || sl.version !== o.model.version) {
            problems.push(`${userId} (p${p}): served state differs (max |Δ| ${d}, version ${sl.version})`);
          }
        }
      }
    } finally {
      replayed.close();
    }
    if (problems.length > 0) throw new Error(`multi-host state ≠ replay/recomputation:\n${problems.join('\n')}`);
    return compared;
  } finally {
    for (const s of stores.values()) s.close();
    replayDir.cleanup();
  }
}

/** Partition offsets of `topic`. */
export async function topicPartitions(brokers: string, topic: string) {
  const t = new KafkaTransport({ brokers: [brokers], logLevel: 'nothing' });
  try {
    return await t.topicOffsets(topic);
  } finally {
    await t.close();
  }
}
