/**
 * Changelog topics (issue #16; the runner uses the windows-only form, see runner.ts): every applied chunk of
 * an input partition p is published, in ONE Kafka transaction, as one record per changed user to a
 * compacted topic per state kind (`<topic>[.<group>].changelog.window`, `…changelog.state.<version>`),
 * keyed by user id, on changelog partition p, plus an offsets marker (key `__offsets__`) holding the
 * input offset the chunk ends at. One transactional producer per input partition
 * (`transactionalId = <group>.<topic>.<p>`): a new owner opening it fences a stalled former owner,
 * which compensates for kafkajs' missing KIP-447. A restore reads partition p read_committed in log
 * order (later records win, so a re-published chunk after a crash changes nothing) in bounded chunks.
 * See README "Multi-host (issue #16)".
 */
import { InvalidArgumentError } from '@compactrec/core';
import type { KafkaTransport, OutboundMessage, TransactionalProducer } from './transport.js';

/** Largest payload per produce request, below the broker's default message.max.bytes (1 MiB). */
const SEND_BYTES = 768 * 1024;

/** Key of the offsets marker record on every changelog partition. */
export const CHANGELOG_OFFSETS_KEY = '__offsets__';

/** Topic config of changelog topics: compacted, so each user's latest record is kept forever. */
export const CHANGELOG_TOPIC_CONFIG: Readonly<Record<string, string>> = Object.freeze({
  'cleanup.policy': 'compact',
});

/** Names of the changelog topics of `topic` for the state of model `version`. */
export function changelogTopics(topic: string, version: string, groupId?: string): { window: string; state: string } {
  if (!/^[A-Za-z0-9._-]+$/.test(version)) {
    throw new InvalidArgumentError(`bse-stream/changelogTopics: version '${version}' is not a valid topic-name part`);
  }
  if (groupId !== undefined && !/^[A-Za-z0-9._-]+$/.test(groupId)) {
    throw new InvalidArgumentError(
      `bse-stream/changelogTopics: group id '${groupId}' cannot be part of a topic name (use letters, digits, '.', '_', '-'); pass another --group`,
    );
  }
  // Scoped by group like Kafka Streams' `<application.id>-<store>-changelog`: two groups consuming one
  // topic keep separate states and so separate changelogs.
  const base = groupId === undefined ? `${topic}.changelog` : `${topic}.${groupId}.changelog`;
  return { window: `${base}.window`, state: `${base}.state.${version}` };
}

/** One user's change in a chunk: its packed window and its serialized state (null = deleted). */
export interface ChangelogEntry {
  readonly userId: string;
  readonly window: Uint8Array | null;
  readonly state: Uint8Array | null;
}

/** Options of {@link ChangelogWriter.open}. */
export interface ChangelogWriterOptions {
  /** Events topic. */
  topic: string;
  /** Consumer group (part of the transactional id). */
  groupId: string;
  /** Input partition this writer publishes for. */
  partition: number;
  /**
   * Model version of the states published beside the windows. Undefined = windows only (the runner's
   * mode: a state is a function of the window and the model, so a restore encodes it again and a model
   * switch needs no new changelog).
   */
  version?: string;
  /** Partitions of the events topic (changelog topics get as many). */
  partitions: number;
  /** Name the changelog topics per group (`<topic>.<group>.changelog.*`; the runner does). @default false */
  groupScoped?: boolean;
}

/** Publishes the changes of one input partition, one Kafka transaction per chunk. */
export class ChangelogWriter {
  private constructor(
    private readonly producer: TransactionalProducer,
    private readonly topics: { window: string; state: string | undefined },
    readonly partition: number,
  ) {}

  /** Creates the changelog topics if missing and opens (and so fences any older) the partition's producer. */
  static async open(transport: KafkaTransport, o: ChangelogWriterOptions): Promise<ChangelogWriter> {
    const named = changelogTopics(o.topic, o.version ?? 'none', o.groupScoped ? o.groupId : undefined);
    const topics = { window: named.window, state: o.version === undefined ? undefined : named.state };
    await transport.ensureTopic(topics.window, o.partitions, CHANGELOG_TOPIC_CONFIG);
    if (topics.state) await transport.ensureTopic(topics.state, o.partitions, CHANGELOG_TOPIC_CONFIG);
    const producer = await transport.createTransactionalProducer(`${o.groupId}.${o.topic}.${o.partition}`);
    return new ChangelogWriter(producer, topics, o.partition);
  }

  /**
   * Publishes a chunk's changes stamped with `nextOffset` (the input offset after the chunk) atomically.
   * Throws if this writer was fenced by a newer owner (or the broker failed); nothing of the chunk is then visible.
   */
  async publish(
    nextOffset: number,
    entries: readonly ChangelogEntry[],
    beforeCommit?: () => Promise<void>,
    fingerprint?: number,
  ): Promise<void> {
    if (!Number.isSafeInteger(nextOffset) || nextOffset < 0) {
      throw new InvalidArgumentError(`bse-stream/ChangelogWriter.publish: nextOffset (${nextOffset}) must be ≥ 0`);
    }
    const p = this.partition;
    const stamp = { 'x-bse-next-offset': String(nextOffset) };
    const rec = (key: string, value: Uint8Array | string | null): OutboundMessage => ({
      key,
      value,
      partition: p,
      headers: stamp,
    });
    // The marker also carries the fingerprint of the input record before nextOffset: a restored
    // partition's log identity check (the store's last_fp) uses it.
    const marker = rec(
      CHANGELOG_OFFSETS_KEY,
      JSON.stringify(
        fingerprint === undefined ? { partition: p, nextOffset } : { partition: p, nextOffset, fingerprint },
      ),
    );
    // A produce request's record batch must stay under the broker's message.max.bytes (1 MiB by
    // default): split the chunk into several sends, all inside the one transaction.
    const sends: { topic: string; messages: OutboundMessage[] }[] = [];
    const split = (topic: string, messages: OutboundMessage[]): void => {
      let part: OutboundMessage[] = [];
      let size = 0;
      for (const m of messages) {
        const n = (typeof m.value === 'string' ? m.value.length : (m.value?.byteLength ?? 0)) + 64;
        if (part.length > 0 && size + n > SEND_BYTES) {
          sends.push({ topic, messages: part });
          part = [];
          size = 0;
        }
        part.push(m);
        size += n;
      }
      if (part.length > 0) sends.push({ topic, messages: part });
    };
    split(this.topics.window, [...entries.map((e) => rec(e.userId, e.window)), marker]);
    if (this.topics.state) split(this.topics.state, [...entries.map((e) => rec(e.userId, e.state)), marker]);
    await this.producer.sendAtomically(sends, beforeCommit);
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}

/** What a restore found. */
export interface RestoreResult {
  /** Input offset to resume consuming at (the last committed marker), or 0 when the changelog is empty. */
  readonly nextOffset: number;
  /** Distinct users delivered (a user updated twice counts once per chunk it appears in). */
  readonly records: number;
  /** Bytes of windows and states read. */
  readonly bytes: number;
  /** Fingerprint of the input record before `nextOffset`, as the last committed marker carries it. */
  readonly fingerprint?: number | undefined;
  /** Windows-only restores: the changelog offset the read ended at (where a later catch-up starts). */
  readonly end?: number;
  /** Windows-only restores: whether an offsets marker was read (false: `nextOffset` means nothing). */
  readonly markerSeen?: boolean;
}

/** One read of both changelog topics (see {@link restoreFromChangelog}). */
async function restorePass(
  transport: KafkaTransport,
  o: {
    topic: string;
    /** Undefined = windows only: entries have `state: null` and one topic is read. */
    version?: string | undefined;
    /** The group of group-scoped changelog topics (see {@link ChangelogWriterOptions.groupScoped}). */
    groupId?: string | undefined;
    /**
     * Windows-only: start reading at this changelog offset (a catch-up of a copy that has applied
     * everything before it, e.g. a standby replica). @default 0 (a full restore)
     */
    from?: number | undefined;
    partition: number;
    chunkUsers?: number;
    timeoutMs?: number;
    onChunk: (entries: ChangelogEntry[]) => void | Promise<void>;
    onProgress?: (records: number, bytes: number) => void;
  },
): Promise<RestoreResult & { markerWindow: number }> {
  const topics = changelogTopics(o.topic, o.version ?? 'none', o.groupId);
  if (o.version === undefined) return restoreWindows(transport, o, topics.window);
  const chunkUsers = o.chunkUsers ?? 1000;
  const windows = new Map<string, Uint8Array | null>();
  let markerWindow = 0;
  let markerState = 0;
  let fingerprint: number | undefined;
  let bytes = 0;
  let records = 0;
  const read = async (topic: string, onRecord: (key: string, value: Buffer | null) => void): Promise<void> => {
    const ends = await transport.topicOffsets(topic);
    const only = new Map(ends.map((e) => [e.partition, e.partition === o.partition ? e.high : 0]));
    await transport.readTopic(
      topic,
      (partition, m) => {
        if (partition === o.partition && m.key) onRecord(m.key.toString('utf8'), m.value);
      },
      { ends: only, timeoutMs: o.timeoutMs ?? 120_000 },
    );
  };
  // Windows first (one map entry per user: bounded by the partition's users, the same order of memory
  // as the store itself), then states streamed in chunks joined with their windows.
  await read(topics.window, (key, value) => {
    if (key === CHANGELOG_OFFSETS_KEY) {
      markerWindow = (JSON.parse(value!.toString('utf8')) as { nextOffset: number }).nextOffset;
      return;
    }
    windows.set(key, value === null ? null : new Uint8Array(value));
    bytes += value?.length ?? 0;
  });
  let chunk = new Map<string, ChangelogEntry>();
  const flush = async (): Promise<void> => {
    if (chunk.size === 0) return;
    const out = [...chunk.values()];
    chunk = new Map();
    records += out.length;
    await o.onChunk(out);
    o.onProgress?.(records, bytes);
  };
  const pending: Promise<void>[] = [];
  await read(topics.state, (key, value) => {
    if (key === CHANGELOG_OFFSETS_KEY) {
      const mk = JSON.parse(value!.toString('utf8')) as { nextOffset: number; fingerprint?: number };
      markerState = mk.nextOffset;
      fingerprint = mk.fingerprint;
      return;
    }
    bytes += value?.length ?? 0;
    chunk.set(key, {
      userId: key,
      window: windows.get(key) ?? null,
      state: value === null ? null : new Uint8Array(value),
    });
    if (chunk.size >= chunkUsers) {
      const f = flush();
      f.catch(() => {}); // rethrown by the Promise.all below, never an unhandled rejection meanwhile
      pending.push(f);
    }
  });
  await Promise.all(pending);
  await flush();
  return { nextOffset: markerState, records, bytes, markerWindow, fingerprint };
}

type RestoreOptions = Parameters<typeof restorePass>[1] & { attempts?: number };

/**
 * Windows-only restore: the window topic's records streamed in chunks of ≤ chunkUsers distinct users
 * (memory bounded by one chunk, whatever the partition's size); a user met again in a later chunk
 * is handed over again (later wins). One topic, so the marker read is the one of the last transaction
 * the read saw: a consistent prefix of the partition's transactions.
 */
async function restoreWindows(
  transport: KafkaTransport,
  o: RestoreOptions,
  topic: string,
): Promise<RestoreResult & { markerWindow: number }> {
  const chunkUsers = o.chunkUsers ?? 1000;
  let marker: { nextOffset: number; fingerprint?: number } = { nextOffset: 0 };
  let markerSeen = false;
  let bytes = 0;
  let records = 0;
  let chunk = new Map<string, ChangelogEntry>();
  const full: ChangelogEntry[][] = [];
  const ends = await transport.topicOffsets(topic);
  const only = new Map(ends.map((e) => [e.partition, e.partition === o.partition ? e.high : 0]));
  const end = ends.find((e) => e.partition === o.partition)?.high ?? 0;
  // readTopic calls back synchronously per message: full chunks are queued and applied between
  // batches by the awaited drain below, so at most a few chunks are held at once.
  let draining: Promise<void> = Promise.resolve();
  let failed: unknown;
  const drain = (): void => {
    draining = draining.then(async () => {
      if (failed !== undefined) return;
      try {
        for (let c = full.shift(); c !== undefined; c = full.shift()) {
          records += c.length;
          await o.onChunk(c);
          o.onProgress?.(records, bytes);
        }
      } catch (err) {
        // Kept and rethrown after the read (a rejected promise left alone would crash the process).
        failed = err;
        full.length = 0;
      }
    });
  };
  await transport.readTopic(
    topic,
    (partition, m) => {
      if (partition !== o.partition || !m.key) return;
      const key = m.key.toString('utf8');
      if (key === CHANGELOG_OFFSETS_KEY) {
        marker = JSON.parse(m.value!.toString('utf8')) as typeof marker;
        markerSeen = true;
        return;
      }
      bytes += m.value?.length ?? 0;
      if (failed !== undefined) return;
      chunk.set(key, { userId: key, window: m.value === null ? null : new Uint8Array(m.value), state: null });
      if (chunk.size >= chunkUsers) {
        full.push([...chunk.values()]);
        chunk = new Map();
        drain();
      }
    },
    {
      ends: only,
      timeoutMs: o.timeoutMs ?? 120_000,
      ...(o.from ? { starts: new Map([[o.partition, o.from]]) } : {}),
    },
  );
  if (chunk.size > 0) full.push([...chunk.values()]);
  drain();
  await draining;
  if (failed !== undefined) throw failed;
  return {
    nextOffset: marker.nextOffset,
    records,
    bytes,
    markerWindow: marker.nextOffset,
    fingerprint: marker.fingerprint,
    end,
    markerSeen,
  };
}

/**
 * Reads changelog partition `partition` of `topic`/`version` read_committed to its current end and
 * hands the users over in chunks of at most `chunkUsers` (bounded memory): windows and states of one
 * user arrive together. Apply chunks in order, later wins: a chunk may repeat a user of an earlier
 * chunk, and a whole pass may be repeated. Aborted transactions are never seen. Both topics end with the
 * offsets marker of the same transaction; a broker writes a commit's markers to the data partitions
 * just AFTER the commit returns, so a read right after a commit can see the window topic without the
 * last transaction and the state topic with it: then the pass is repeated (up to `attempts`, 20) until
 * both markers agree, and it throws rather than return a mixed restore.
 */
export async function restoreFromChangelog(transport: KafkaTransport, o: RestoreOptions): Promise<RestoreResult> {
  const attempts = o.attempts ?? 20;
  let last = { window: -1, state: -1 };
  for (let i = 0; i < attempts; i++) {
    const r = await restorePass(transport, o);
    if (r.markerWindow === r.nextOffset) {
      const { markerWindow: _m, ...result } = r;
      return result;
    }
    last = { window: r.markerWindow, state: r.nextOffset };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new InvalidArgumentError(
    `bse-stream/restoreFromChangelog: partition ${o.partition} changelog markers still differ after ${attempts} reads (window ${last.window}, state ${last.state}); is a former owner still publishing?`,
  );
}

/** The last committed offsets marker of a changelog partition (see {@link readChangelogTail}). */
export interface ChangelogTail {
  /** True when no committed chunk was ever published for the partition. */
  readonly empty: boolean;
  readonly nextOffset?: number;
  readonly fingerprint?: number | undefined;
}

/**
 * Reads the last committed offsets marker of changelog partition `partition` (windows topic of
 * `topic`) without reading the whole partition: the marker is the last record of every chunk's
 * transaction, so the last few offsets hold it; if aborted transactions follow it, the whole
 * partition is read. Call it after opening the partition's {@link ChangelogWriter} (which fences a
 * former owner, so no transaction of it is left open).
 */
export async function readChangelogTail(
  transport: KafkaTransport,
  topic: string,
  partition: number,
  timeoutMs = 60_000,
  groupId?: string,
): Promise<ChangelogTail> {
  const cl = changelogTopics(topic, 'none', groupId).window;
  const range = (await transport.topicOffsets(cl)).find((r) => r.partition === partition);
  if (!range || range.high <= range.low) return { empty: true };
  let marker: { nextOffset: number; fingerprint?: number } | undefined;
  const read = async (from: number): Promise<void> => {
    await transport.readTopic(
      cl,
      (p, m) => {
        if (p === partition && m.key?.toString('utf8') === CHANGELOG_OFFSETS_KEY && m.value) {
          marker = JSON.parse(m.value.toString('utf8')) as { nextOffset: number; fingerprint?: number };
        }
      },
      {
        ends: new Map([[partition, range.high]]),
        starts: new Map([[partition, from]]),
        timeoutMs,
      },
    );
  };
  await read(Math.max(range.low, range.high - 8));
  if (marker === undefined && range.high - 8 > range.low) await read(range.low);
  if (marker === undefined) return { empty: true };
  return { empty: false, nextOffset: marker.nextOffset, fingerprint: marker.fingerprint };
}
