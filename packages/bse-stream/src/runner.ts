/**
 * Layer 4: the runner. Consumes the events topic in a consumer group and, per kafkajs batch, in chunks
 * of at most `maxEventsPerTransaction`: decode each message (its own try/catch; bad ones are
 * dead-lettered with reason and source offset) → send dead letters → ONE store transaction with the
 * state changes and the partition's next offset → resolve the offset → heartbeat. It stops at a chunk
 * boundary as soon as the partition is revoked or the consumer stops, so a rebalance hands over a
 * store that is exactly at a committed offset. On assignment it seeks to the store's offsets.
 *
 * It never applies a log it cannot vouch for: on assignment it seeks one record BEFORE the stored
 * offset and checks that record's fingerprint against the one stored with the offset (a re-created
 * topic, or a stored offset that was changed, fails that check), that the log does not jump past the
 * stored offset (a gap) and that the stored offset is inside the partition. A partition that fails a
 * check, or whose events meet a corrupted user window, is stopped with a {@link PartitionProblem}
 * that /healthz reports; good events are never dead-lettered because our state is broken.
 *
 * Multi-host mode (`changelog` option): each chunk is prepared, published to the partition's changelog
 * in one Kafka transaction, then committed locally; a newly assigned partition is taken over first
 * (fence the former owner's changelog writer, restore from the changelog when the local copy is
 * missing or older) and only then consumed; `ready` holds the partitions whose state is complete.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CompactRecError, InvalidArgumentError } from '@compactrec/core';
import type { SdimModelVersion } from '@compactrec/sdim';
import {
  CHANGELOG_TOPIC_CONFIG,
  ChangelogWriter,
  changelogTopics,
  readChangelogTail,
  restoreFromChangelog,
} from './changelog.js';
import type { GroupRouting, MemberInfo } from './cluster.js';
import {
  type CodecOptions,
  type DecodeFailure,
  deadLetterRecord,
  decodeEvent,
  encodeDeadLetter,
  isDecodeFailure,
  resolveCodecOptions,
} from './codec.js';
import { RateMeter } from './metrics.js';
import type { ModelRegistry } from './models.js';
import { type RetryOptions, resolveRetryOptions, withRetry } from './retry.js';
import {
  type ApplyModels,
  type ApplyResult,
  CorruptWindowError,
  PreparedApply,
  recordFingerprint,
  type StateStore,
  type StoreRecord,
} from './store.js';
import type {
  BatchControl,
  ConsumerOptions,
  InboundBatch,
  InboundMessage,
  KafkaTransport,
  OutboundMessage,
  OutboundProducer,
  RunningConsumer,
} from './transport.js';
import { createWindow, insertBehaviour } from './window.js';

/** Options of {@link EncoderRunner}. */
export interface RunnerOptions {
  /** Topic of behaviour events (required). */
  topic: string;
  /** Dead-letter topic. @default `<topic>.dlq` */
  deadLetterTopic?: string;
  /** Consumer group; instances with the same group (and store) split the partitions. @default 'compactrec-bse' */
  groupId?: string;
  /**
   * Largest number of messages applied in one store transaction (a chunk is also bounded by the fetched
   * batch, see `consumer.maxBytesPerPartition`). Bigger amortises each touched user's state write (the
   * dominant ingest cost) over more events; smaller bounds the time between heartbeats, how far the
   * served state may lag, and the work redone after a crash. 20,000 events take about 0.2 s. @default 20000
   */
  maxEventsPerTransaction?: number;
  /** Event schema limits. */
  codec?: CodecOptions;
  /** Retry policy for dead-letter sends and busy stores. */
  retry?: RetryOptions;
  /** Consumer-group timing and fetch sizes (groupId/topic are taken from above). */
  consumer?: Omit<ConsumerOptions, 'groupId' | 'topic'>;
  /**
   * Send dead letters to the dead-letter topic. A replay sets it to false: the live service already
   * dead-lettered those messages, and they are still counted in the store. @default true
   */
  publishDeadLetters?: boolean;
  /**
   * Multi-host mode (issue #16): every chunk's changed windows are published to the compacted topic
   * `<topic>.<group>.changelog.window` in one Kafka transaction per chunk BEFORE the local commit, and a
   * partition whose local state is missing or older than the changelog is restored from it on
   * assignment. Needs a state folder of its own per instance. @default undefined (single-host)
   */
  changelog?: ChangelogOptions;
  /** Log sink. @default JSON lines on stderr */
  log?: (level: 'error' | 'warn' | 'info', message: string, extra?: Record<string, unknown>) => void;
}

/** Multi-host options of the runner (see {@link RunnerOptions.changelog}). */
export interface ChangelogOptions {
  /** What this instance publishes in the group (its HTTP address and owned partitions). */
  member: () => MemberInfo;
  /** Users per restore transaction (bounds the memory of a restore). @default 1000 */
  restoreChunkUsers?: number;
  /**
   * Fault injection for crash tests only: SIGKILL this process at `point` of the `afterChunks`-th
   * applied chunk. @default none
   */
  crashAt?: { point: 'after-publish' | 'after-commit'; afterChunks: number };
  /** Told at once when the set of complete partitions ({@link EncoderRunner.ready}) changes (read routing). */
  onReadyChange?: () => void;
}

/** Standby copies kept by this instance (for /metrics). */
export interface StandbyStats {
  /** Partitions this instance keeps warm copies of now. */
  partitions: number[];
  /** Users written by standby catch-ups since start. */
  users: number;
  /** Changelog bytes read by standby catch-ups. */
  bytes: number;
  /** Catch-ups finished. */
  syncs: number;
  /** Partitions being caught up now → users so far. */
  readonly active: Map<number, number>;
}

/** Progress of restores from the changelog (for /metrics). */
export interface RestoreStats {
  /** Users written by restores since start. */
  users: number;
  /** Changelog bytes read by restores since start. */
  bytes: number;
  /** Restores finished since start. */
  completed: number;
  /** Of those, restores that read only the changelog after a local copy's position (standby or earlier copy). */
  incremental: number;
  /** Partitions being restored now → users so far. */
  readonly active: Map<number, number>;
}

/** Defaults of {@link RunnerOptions}. */
export const DEFAULT_RUNNER_OPTIONS = Object.freeze({
  groupId: 'compactrec-bse',
  maxEventsPerTransaction: 20_000,
});

/** What the runner knows about one partition of the topic. */
export interface PartitionView {
  readonly partition: number;
  /** Store's next offset when last applied by this instance (or read at assignment). */
  nextOffset: number;
  /** End of the partition when last fetched. */
  endOffset: number;
  owned: boolean;
}

/** Why a partition is stopped (or, for `store-unwritable`, why no partition can store). */
export interface PartitionProblem {
  /** Undefined for `store-unwritable`, which concerns the whole store. */
  readonly partition: number | undefined;
  readonly kind:
    | 'log-mismatch'
    | 'offset-gap'
    | 'offset-beyond-end'
    | 'corrupt-window'
    | 'store-unwritable'
    | 'switch-blocked';
  /** What is wrong and how to fix it. */
  readonly message: string;
  /** ISO time it was detected. */
  readonly since: string;
}

/** The store reported an error SQLite may recover from (busy/locked/IO): retried with backoff. */
class StoreBusyError extends CompactRecError {
  constructor(cause: unknown) {
    super(
      `bse-stream/runner: the state store is busy or failed an I/O (${String((cause as Error)?.message ?? cause)}); retrying`,
      {
        cause,
        retriable: true,
      },
    );
    this.name = 'StoreBusyError';
  }
}

/**
 * Publishing a chunk to the changelog failed (broker error, or this instance was fenced by a newer
 * owner of the partition): nothing of the chunk was committed locally. Not a poison event: the
 * consumer restarts (kafkajs) and the partition's owner, whoever it is now, applies the chunk.
 */
export class ChangelogPublishError extends CompactRecError {
  constructor(partition: number, cause: unknown) {
    super(
      `bse-stream/runner: publishing a chunk of partition ${partition} to the changelog failed (${String((cause as Error)?.message ?? cause)}); nothing was committed locally, the chunk is consumed again`,
      { cause, retriable: false },
    );
    this.name = 'ChangelogPublishError';
  }
}

/** Longest restore of one partition from the changelog (then it fails and is started again). */
const RESTORE_TIMEOUT_MS = 6 * 3600_000;

/** Kafka's answer to a transactional producer whose id was taken over by a newer one. */
function isFencedError(err: unknown): boolean {
  const e = err as { type?: unknown; message?: unknown; cause?: unknown };
  return (
    /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/.test(String(e?.type ?? '')) ||
    /old epoch|fenced/i.test(String(e?.message ?? '')) ||
    (e?.cause !== undefined && e.cause !== err && isFencedError(e.cause))
  );
}

const RETRIABLE_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|PROTOCOL)/;

function isRetriableStoreError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && RETRIABLE_SQLITE.test(code);
}

/** Consumes the events topic into the store. */
export class EncoderRunner {
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly groupId: string;
  /** Events consumed per second by this instance. */
  readonly rate = new RateMeter(10);
  /** Per-partition view (lag inputs). */
  readonly partitions = new Map<number, PartitionView>();
  /** Consumer crashes that were followed by a restart. */
  restarts = 0;
  /** Messages this instance dead-lettered (also counted durably in the store). */
  deadLettered = 0;
  /** Store transactions that applied a chunk (events per transaction = rate total / this). */
  transactions = 0;
  /** Store writes that failed (busy, I/O, full disk) and were retried. */
  storeWriteFailures = 0;
  /** Set while the store cannot be written (cleared by the next successful apply). */
  storeFailure: PartitionProblem | undefined;
  /** Partitions stopped because their log or state cannot be trusted (see the module doc). */
  readonly halted = new Map<number, PartitionProblem>();
  /** Per partition: the record expected first after the assignment's seek, and its stored fingerprint. */
  private readonly verify = new Map<number, { nextOffset: number; fingerprint: number | undefined }>();
  /** Resume functions of the partitions paused by a halt. */
  private readonly resumers = new Map<number, () => void>();
  private readonly maxTx: number;
  private readonly codec: Required<CodecOptions>;
  private readonly retry: Required<RetryOptions>;
  private readonly consumerOptions: RunnerOptions['consumer'];
  private readonly log: NonNullable<RunnerOptions['log']>;
  private producer: OutboundProducer | undefined;
  private consumer: RunningConsumer | undefined;
  private stopping = false;
  private readonly publishDeadLetters: boolean;
  private readonly changelog: ChangelogOptions | undefined;
  /** Multi-host: one transactional changelog writer per owned partition (opening it fences the former owner). */
  private readonly writers = new Map<number, ChangelogWriter>();
  /** Multi-host: take-over of each newly assigned partition (fence, compare, restore) in flight or done. */
  private readonly takeovers = new Map<number, Promise<boolean>>();
  /** Multi-host: after a restore, batches below this offset are from before the seek and ignored. */
  private readonly expectFrom = new Map<number, number>();
  /** Owned partitions whose state is complete (restored or current): the ones reads are answered for. */
  readonly ready = new Set<number>();
  /** Restore progress. */
  readonly restores: RestoreStats = { users: 0, bytes: 0, completed: 0, incremental: 0, active: new Map() };
  /** Standby copies (multi-host with standby replicas). */
  readonly standby: StandbyStats = { partitions: [], users: 0, bytes: 0, syncs: 0, active: new Map() };
  private standbyJob: Promise<void> | undefined;
  private assignmentEpoch = 0;
  private fault: ((point: 'after-publish' | 'after-commit') => void) | undefined;
  /** The batch being processed (multi-host: whether a fenced writer may be re-opened). */
  private control: BatchControl | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly models: ModelRegistry,
    private readonly transport: KafkaTransport,
    options: RunnerOptions,
  ) {
    if (typeof options?.topic !== 'string' || options.topic === '') {
      throw new InvalidArgumentError('bse-stream/EncoderRunner: topic must be a non-empty string; pass --topic');
    }
    this.topic = options.topic;
    this.deadLetterTopic = options.deadLetterTopic ?? `${options.topic}.dlq`;
    if (this.deadLetterTopic === this.topic) {
      throw new InvalidArgumentError(
        `bse-stream/EncoderRunner: deadLetterTopic equals topic (${this.topic}); use another topic`,
      );
    }
    this.groupId = options.groupId ?? DEFAULT_RUNNER_OPTIONS.groupId;
    this.maxTx = options.maxEventsPerTransaction ?? DEFAULT_RUNNER_OPTIONS.maxEventsPerTransaction;
    if (!Number.isInteger(this.maxTx) || this.maxTx < 1) {
      throw new InvalidArgumentError(
        `bse-stream/EncoderRunner: maxEventsPerTransaction (${this.maxTx}) must be a positive integer`,
      );
    }
    this.codec = resolveCodecOptions(options.codec);
    this.retry = resolveRetryOptions(options.retry);
    this.consumerOptions = options.consumer;
    this.publishDeadLetters = options.publishDeadLetters ?? true;
    this.changelog = options.changelog;
    if (this.changelog) changelogTopics(this.topic, 'none', this.groupId); // the group must fit in a topic name
    const crash = options.changelog?.crashAt;
    if (crash) {
      let chunks = 0;
      this.fault = (point) => {
        if (point === crash.point && ++chunks >= crash.afterChunks) process.kill(process.pid, 'SIGKILL');
      };
    }
    this.log =
      options.log ??
      ((level, message, extra) =>
        process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level, message, ...extra })}\n`));
  }

  /** Connects the dead-letter producer and joins the group (returns once the consumer runs). */
  async start(): Promise<void> {
    if (this.changelog) {
      // Created once here, not by the partitions' take-overs racing each other.
      const partitions = (await this.transport.topicOffsets(this.topic)).length;
      const cl = changelogTopics(this.topic, 'none', this.groupId).window;
      await withRetry(
        'create the changelog topic',
        () => this.transport.ensureTopic(cl, partitions, CHANGELOG_TOPIC_CONFIG),
        this.retry,
      );
    }
    this.producer = await withRetry(
      'connect the dead-letter producer',
      () => this.transport.createProducer(),
      this.retry,
    );
    this.consumer = await withRetry(
      'start the consumer',
      () =>
        this.transport.runConsumer(
          {
            ...this.consumerOptions,
            groupId: this.groupId,
            topic: this.topic,
            ...(this.changelog ? { member: this.changelog.member } : {}),
          },
          {
            onAssigned: (_topic, partitions) => this.onAssigned(partitions),
            onBatch: (batch, control) => this.onBatch(batch, control),
            onCrash: (error, restarting) => {
              if (restarting) this.restarts++;
              this.log('warn', 'bse-stream/runner: consumer crashed', { error: String(error), restarting });
            },
          },
        ),
      this.retry,
    );
  }

  /** Leaves the group after the current chunk (its transaction is committed), then closes the producer. */
  async stop(): Promise<void> {
    this.stopping = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
    for (const p of this.partitions.values()) p.owned = false;
    this.ready.clear();
    await this.closeWriters(new Set());
    const producer = this.producer;
    this.producer = undefined;
    await producer?.close();
  }

  /** The group's assignment with every member's address (multi-host; one member's view). */
  async routing(): Promise<GroupRouting> {
    const c = this.consumer;
    if (!c) return { stable: false, owners: new Map() };
    return c.routing();
  }

  /** Closes the changelog writers of partitions not in `keep`. */
  private async closeWriters(keep: ReadonlySet<number>): Promise<void> {
    for (const [p, w] of [...this.writers]) {
      if (keep.has(p)) continue;
      this.writers.delete(p);
      await w.close().catch(() => {});
    }
  }

  /**
   * Opens partition `p`'s transactional changelog writer (InitProducerId: fences any other writer of
   * `p`). Not opened when `live()` is already false; closed at once if it turned false meanwhile (a
   * late take-over of an old assignment must not keep a writer). Returns whether it is open.
   */
  private async openWriter(p: number, live: () => boolean): Promise<boolean> {
    if (!live()) return false;
    const t = this.transport;
    const partitions = (await t.topicOffsets(this.topic)).length;
    if (!live()) return false;
    const writer = await withRetry(
      'open the changelog writer',
      () =>
        ChangelogWriter.open(t, {
          topic: this.topic,
          groupId: this.groupId,
          partition: p,
          partitions,
          groupScoped: true,
        }),
      this.retry,
      () => !live(),
    );
    if (!live()) {
      await writer.close().catch(() => {});
      return false;
    }
    const old = this.writers.get(p);
    this.writers.set(p, writer);
    await old?.close().catch(() => {});
    return true;
  }

  /**
   * Multi-host take-over of partition `p` (runs right after the assignment, before its first chunk):
   * opens its transactional changelog writer (which fences a former owner still publishing), reads the
   * changelog's last committed offsets marker, and restores the partition from the changelog when the
   * local state is missing or older. Returns false when the assignment changed meanwhile.
   */
  private async takeOver(p: number, epoch: number): Promise<boolean> {
    const live = (): boolean => epoch === this.assignmentEpoch && !this.stopping;
    const t = this.transport;
    if (!this.writers.has(p) && !(await this.openWriter(p, live))) return false;
    // A standby catch-up of this partition finishes (or is cancelled) first: one writer of a
    // partition's users at a time, and the local mark read below is the one it left.
    await this.standbyJob?.catch(() => {});
    if (!live()) return false;
    const local = this.store.partitionMarks(this.topic).get(p);
    const tail = await readChangelogTail(t, this.topic, p, 60_000, this.groupId);
    if (tail.empty || (local !== undefined && tail.nextOffset !== undefined && local.nextOffset >= tail.nextOffset)) {
      // Nothing newer in the changelog: the local state is current (or both are empty).
      this.log('info', 'bse-stream/runner: partition taken over from the local state', {
        partition: p,
        localOffset: local?.nextOffset,
        changelogOffset: tail.nextOffset,
      });
      return live();
    }
    const t0 = Date.now();
    const r = await this.copyPartition(p, live, 'restore');
    if (r === undefined) return false;
    const mark = { nextOffset: r.nextOffset, fingerprint: r.fingerprint };
    const v = this.view(p);
    v.nextOffset = r.nextOffset;
    this.verify.set(p, mark);
    const seekTo = mark.fingerprint !== undefined && mark.nextOffset > 0 ? mark.nextOffset - 1 : mark.nextOffset;
    this.expectFrom.set(p, seekTo);
    this.consumer?.seek(p, seekTo);
    this.log('info', 'bse-stream/runner: partition restored from the changelog', {
      partition: p,
      incremental: r.incremental,
      users: r.users,
      bytes: r.bytes,
      nextOffset: r.nextOffset,
      localOffset: local?.nextOffset,
      seconds: (Date.now() - t0) / 1000,
    });
    return true;
  }

  /** Store meta key of the changelog offset up to which partition `p`'s local copy applied the changelog. */
  private clposKey(p: number): string {
    return `changelog:${this.topic}:${p}`;
  }

  /**
   * Brings partition `p`'s local copy up to the changelog's end: incrementally from the changelog
   * offset the copy has applied up to (a standby copy, or a restore interrupted after its first run),
   * else in full (drop the partition's local users, read from the start). Windows are full snapshots,
   * so re-applying records is harmless and the copy ends at the changelog's state; the partition's
   * offset and fingerprint are set from the last marker read, with the changelog offset reached.
   * Returns undefined when `live()` turned false.
   */
  private async copyPartition(
    p: number,
    live: () => boolean,
    purpose: 'restore' | 'standby',
  ): Promise<
    | { nextOffset: number; fingerprint: number | undefined; users: number; bytes: number; incremental: boolean }
    | undefined
  > {
    const t = this.transport;
    const stored = this.store.metaValue(this.clposKey(p));
    const local = this.store.partitionMarks(this.topic).get(p);
    const incremental = stored !== undefined && stored !== '' && local !== undefined;
    if (!incremental) {
      this.store.dropPartition(this.topic, p);
      this.store.setMetaValue(this.clposKey(p), '');
    }
    const track = purpose === 'restore' ? this.restores.active : this.standby.active;
    track.set(p, 0);
    let users = 0;
    try {
      const models = await this.currentModels();
      const versions = models.pending ? [models.active, models.pending] : [models.active];
      const r = await restoreFromChangelog(t, {
        topic: this.topic,
        groupId: this.groupId,
        partition: p,
        ...(incremental ? { from: Number(stored) } : {}),
        chunkUsers: this.changelog?.restoreChunkUsers ?? 1000,
        // A whole-read bound: a big partition (millions of users) takes minutes; a rebalance ends it sooner.
        timeoutMs: RESTORE_TIMEOUT_MS,
        onChunk: (entries) => {
          if (!live()) throw new CompactRecError(`bse-stream/runner: ${purpose} of partition ${p} cancelled`);
          const rows: { userId: string; window: Uint8Array }[] = [];
          for (const e of entries) if (e.window) rows.push({ userId: e.userId, window: e.window });
          this.store.restoreUsers(p, rows, versions);
          users += rows.length;
          if (purpose === 'restore') this.restores.users += rows.length;
          else this.standby.users += rows.length;
          track.set(p, users);
        },
      });
      if (purpose === 'restore') this.restores.bytes += r.bytes;
      else this.standby.bytes += r.bytes;
      if (!live()) return undefined;
      let mark = { nextOffset: r.nextOffset, fingerprint: r.fingerprint };
      if (!r.markerSeen) {
        // Nothing new since the copy's changelog offset (or an empty changelog): keep its mark.
        mark = { nextOffset: local?.nextOffset ?? 0, fingerprint: local?.fingerprint };
      }
      this.store.setPartitionMark(this.topic, p, mark.nextOffset, mark.fingerprint);
      this.store.setMetaValue(this.clposKey(p), String(r.end ?? 0));
      if (purpose === 'restore') {
        this.restores.completed++;
        if (incremental) this.restores.incremental++;
      } else this.standby.syncs++;
      return { ...mark, users, bytes: r.bytes, incremental };
    } finally {
      track.delete(p);
    }
  }

  /**
   * Keeps warm copies of `partitions` (standby replicas, `multiHost.standbyReplicas`): each one this
   * instance does not own is caught up from the changelog, one at a time. A take-over waits for the
   * running catch-up, then needs only the changelog's tail. Skipped while the previous run is going.
   */
  syncStandbys(partitions: readonly number[]): void {
    this.standby.partitions = [...partitions];
    if (this.standbyJob !== undefined || this.stopping) return;
    const job = (async () => {
      for (const p of partitions) {
        const live = (): boolean => !this.stopping && this.partitions.get(p)?.owned !== true;
        if (!live()) continue;
        try {
          await this.copyPartition(p, live, 'standby');
        } catch (err) {
          this.log('warn', 'bse-stream/runner: a standby catch-up failed; retried later', {
            partition: p,
            error: String(err),
          });
        }
      }
    })();
    this.standbyJob = job.finally(() => {
      this.standbyJob = undefined;
    });
  }

  /** Partitions this instance consumes now. */
  ownedPartitions(): number[] {
    return [...this.partitions.values()].filter((p) => p.owned).map((p) => p.partition);
  }

  private view(partition: number): PartitionView {
    let v = this.partitions.get(partition);
    if (!v) {
      v = { partition, nextOffset: 0, endOffset: 0, owned: false };
      this.partitions.set(partition, v);
    }
    return v;
  }

  private onAssigned(partitions: readonly number[]): Map<number, number> {
    // The store's own checks already keep the cache exact (state-cache.ts); this keeps it to the users
    // of the partitions owned from now on.
    this.store.invalidateCache();
    const marks = this.store.partitionMarks(this.topic);
    for (const v of this.partitions.values()) v.owned = false;
    const seek = new Map<number, number>();
    this.verify.clear();
    this.halted.clear(); // checked again from scratch on this assignment
    for (const resume of this.resumers.values()) resume();
    this.resumers.clear();
    for (const p of partitions) {
      const v = this.view(p);
      v.owned = true;
      const mark = marks.get(p);
      v.nextOffset = mark?.nextOffset ?? 0;
      // Always from the store: a partition it never saw starts at 0 (Kafka resets to the earliest
      // offset if 0 is gone), never at Kafka's committed offset, which may be ahead of the store.
      // With a stored fingerprint, one record earlier: the first record fetched proves the log is the
      // one the store applied (the store skips records below its offset anyway).
      if (mark !== undefined) this.verify.set(p, mark);
      seek.set(p, mark?.fingerprint !== undefined && mark.nextOffset > 0 ? mark.nextOffset - 1 : v.nextOffset);
    }
    this.log('info', 'bse-stream/runner: partitions assigned', {
      partitions: [...partitions],
      seek: Object.fromEntries(seek),
    });
    if (marks.size > 0) void this.checkRanges(partitions, marks);
    this.assignmentEpoch++;
    this.ready.clear();
    this.changelog?.onReadyChange?.();
    this.takeovers.clear();
    this.expectFrom.clear();
    if (this.changelog) {
      const epoch = this.assignmentEpoch;
      const owned = new Set(partitions);
      void this.closeWriters(owned);
      for (const p of partitions) {
        const job = this.takeOver(p, epoch).then(
          (ok) => {
            if (ok && epoch === this.assignmentEpoch) {
              this.ready.add(p);
              this.changelog?.onReadyChange?.();
            }
            return ok;
          },
          (err) => {
            this.log('error', 'bse-stream/runner: taking over a partition failed; retried at its next batch', {
              partition: p,
              error: String(err),
            });
            if (epoch === this.assignmentEpoch) this.takeovers.delete(p);
            return false;
          },
        );
        this.takeovers.set(p, job);
      }
    } else {
      for (const p of partitions) this.ready.add(p);
    }
    return seek;
  }

  /** A stored offset beyond the partition's end: the topic was re-created or truncated. */
  private async checkRanges(partitions: readonly number[], marks: ReadonlyMap<number, { nextOffset: number }>) {
    try {
      const ends = new Map((await this.transport.topicOffsets(this.topic)).map((r) => [r.partition, r.high]));
      for (const p of partitions) {
        const next = marks.get(p)?.nextOffset;
        const high = ends.get(p);
        if (next !== undefined && high !== undefined && high < next && this.partitions.get(p)?.owned) {
          this.halt(
            p,
            'offset-beyond-end',
            `the stored offset ${next} of ${this.topic}/${p} is beyond the partition's end ${high}: the topic was re-created or truncated`,
          );
        }
      }
    } catch (err) {
      this.log('warn', 'bse-stream/runner: could not read the partition ends to check the stored offsets', {
        error: String(err),
      });
    }
  }

  /** Stops consuming `partition` and records why (reported by /healthz and /metrics). */
  private halt(partition: number, kind: PartitionProblem['kind'], what: string): void {
    const message = `${what}; partition ${partition} is stopped and nothing of it is applied. Rebuild the state with \`compactrec bse replay\` into a new --state-dir (or restore the store) and serve from it`;
    this.halted.set(partition, { partition, kind, message, since: new Date().toISOString() });
    this.log('error', `bse-stream/runner: ${message}`, { partition, kind });
  }

  /** Checks the first record fetched after an assignment against the stored mark; false = halted. */
  private verifyFirst(partition: number, first: InboundMessage): boolean {
    const mark = this.verify.get(partition);
    if (mark === undefined) return true;
    this.verify.delete(partition);
    const where = `${this.topic}/${partition}`;
    const next = mark.nextOffset;
    if (mark.fingerprint !== undefined && next > 0 && first.offset === next - 1) {
      if (recordFingerprint(first.value, first.timestamp) === mark.fingerprint) return true;
      this.halt(
        partition,
        'log-mismatch',
        `record ${next - 1} of ${where} is not the record the store applied there: the topic was re-created, or the stored offset was changed`,
      );
      return false;
    }
    if (first.offset < next - 1 || (mark.fingerprint === undefined && first.offset < next)) {
      this.halt(
        partition,
        'log-mismatch',
        `${where} restarts at offset ${first.offset}, below the stored offset ${next}: the topic was re-created or truncated`,
      );
      return false;
    }
    if (first.offset > next) {
      this.halt(
        partition,
        'offset-gap',
        `${where} jumps from the stored offset ${next} to ${first.offset}: ${first.offset - next} records were deleted (retention) or the topic was re-created`,
      );
      return false;
    }
    if (mark.fingerprint !== undefined && next > 0) {
      this.log('warn', `bse-stream/runner: record ${next - 1} of ${where} is gone; the log identity is not verified`);
    }
    return true;
  }

  /**
   * Rebuilds a user whose stored window is corrupted from the event log: every partition is read from
   * its start up to the store's offsets (the events the store has applied), the user's events go
   * through the same codec rules and window rule, and the window and states are written if no offset
   * moved meanwhile. Returns false (the caller stops the partition) when the log no longer starts at
   * offset 0 (retention deleted events, so the window cannot be rebuilt exactly) or the read fails.
   */
  private async rebuildFromLog(topic: string, userId: string, control: BatchControl): Promise<boolean> {
    const beat = setInterval(() => void control.heartbeat().catch(() => {}), 500);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const ranges = await this.transport.topicOffsets(topic);
        const truncated = ranges.filter((r) => r.low > 0);
        if (truncated.length > 0) {
          this.log('error', 'bse-stream/runner: cannot rebuild a corrupted window: the log no longer starts at 0', {
            userId,
            partitions: truncated.map((r) => `${r.partition}@${r.low}`),
          });
          return false;
        }
        const upTo = new Map(ranges.map((r) => [r.partition, 0]));
        for (const [p, next] of this.store.nextOffsets(topic)) upTo.set(p, next);
        const window = createWindow(this.store.windowLength);
        const scratch = { item: 0, eventId: '', ts: 0 };
        let events = 0;
        await this.transport.readTopic(
          topic,
          (_p, m) => {
            const r = decodeEvent(m.value, this.codec, m.timestamp);
            if (isDecodeFailure(r) || r.userId !== userId) return;
            insertBehaviour(window, r.eventId, r.ts, r.itemId, scratch);
            events++;
          },
          { ends: upTo },
        );
        const models = await this.currentModels();
        const versions = models.pending ? [models.active, models.pending] : [models.active];
        if (this.store.rebuildUser(topic, userId, window, upTo, versions)) {
          this.log('warn', 'bse-stream/runner: rebuilt a corrupted user window from the event log', {
            userId,
            events,
            behaviours: window.length,
          });
          return true;
        }
      }
      return false;
    } catch (err) {
      this.log('error', 'bse-stream/runner: rebuilding a corrupted window from the log failed', {
        userId,
        error: String(err),
      });
      return false;
    } finally {
      clearInterval(beat);
    }
  }

  /** The models of the store's active and pending versions (loaded on demand). */
  private async currentModels(): Promise<ApplyModels> {
    const { active, pending } = this.store.versions();
    if (active === undefined) {
      throw new CompactRecError(
        'bse-stream/runner: the store has no active model version; start the service with --model-version',
        {
          retriable: true,
        },
      );
    }
    const a = await this.models.ensure(active);
    const p = pending === undefined ? undefined : await this.models.ensure(pending);
    return { active: a, pending: p };
  }

  private async onBatch(batch: InboundBatch, control: BatchControl): Promise<void> {
    const v = this.view(batch.partition);
    v.endOffset = Math.max(v.endOffset, batch.highWatermark);
    const msgs = batch.messages;
    if (!control.isActive() || this.stopping) return;
    this.control = control;
    if (this.changelog && !(await this.awaitTakeover(batch.partition, control))) return;
    const from = this.expectFrom.get(batch.partition);
    if (from !== undefined) {
      // Fetched before the restore's seek: the store holds these events already.
      if (msgs.length > 0 && msgs[0]!.offset < from) return;
      this.expectFrom.delete(batch.partition);
    }
    if (msgs.length > 0 && !this.halted.has(batch.partition)) this.verifyFirst(batch.partition, msgs[0]!);
    if (this.halted.has(batch.partition)) {
      this.resumers.set(batch.partition, control.pause());
      return;
    }
    let i = 0;
    let rebuilt: string | undefined;
    while (i < msgs.length) {
      if (!control.isActive() || this.stopping) return;
      const end = Math.min(msgs.length, i + this.maxTx);
      const last = msgs[end - 1]!.offset;
      try {
        await this.processChunk(batch.topic, batch.partition, msgs, i, end);
      } catch (err) {
        if (!(err instanceof CorruptWindowError)) throw err;
        // Rebuild the user from the log once per corrupted user and chunk, then retry the chunk.
        const key = `${err.userId}\u0000${i}`;
        if (rebuilt !== key && (await this.rebuildFromLog(batch.topic, err.userId, control))) {
          rebuilt = key;
          continue;
        }
        this.halt(batch.partition, 'corrupt-window', err.message);
        this.resumers.set(batch.partition, control.pause());
        return;
      }
      v.nextOffset = last + 1;
      this.rate.add(end - i);
      control.resolveOffset(last);
      await control.heartbeat();
      i = end;
      // Let HTTP requests in between two transactions.
      if (i < msgs.length) await yieldToLoop();
    }
    await control.commitIfNecessary();
  }

  /**
   * Waits (heartbeating) for the take-over of `partition`; starts it again if it failed. False when
   * the batch must be dropped (the assignment changed, or the take-over failed: the next fetch retries).
   */
  private async awaitTakeover(partition: number, control: BatchControl): Promise<boolean> {
    let job = this.takeovers.get(partition);
    if (job === undefined) {
      const epoch = this.assignmentEpoch;
      job = this.takeOver(partition, epoch).then(
        (ok) => {
          if (ok && epoch === this.assignmentEpoch) {
            this.ready.add(partition);
            this.changelog?.onReadyChange?.();
          }
          return ok;
        },
        (err) => {
          this.log('error', 'bse-stream/runner: taking over a partition failed; retrying', {
            partition,
            error: String(err),
          });
          if (epoch === this.assignmentEpoch) this.takeovers.delete(partition);
          return false;
        },
      );
      this.takeovers.set(partition, job);
    }
    if (this.ready.has(partition)) return true;
    const beat = setInterval(() => void control.heartbeat().catch(() => {}), 500);
    try {
      const ok = await job;
      if (!ok) await new Promise((r) => setTimeout(r, 500));
      return ok && control.isActive() && !this.stopping && this.expectFrom.get(partition) === undefined;
    } finally {
      clearInterval(beat);
    }
  }

  /** Decodes messages [from, to), dead-letters the bad ones, applies the rest in one transaction. */
  private async processChunk(
    topic: string,
    partition: number,
    msgs: readonly InboundMessage[],
    from: number,
    to: number,
  ): Promise<ApplyResult> {
    for (let attempt = 0; ; attempt++) {
      const models = await withRetry(
        'load the model versions',
        () => this.currentModels(),
        this.retry,
        () => this.stopping,
      );
      const stored = this.store.nextOffsets(topic).get(partition) ?? -1;
      const records: StoreRecord[] = [];
      const dead: OutboundMessage[] = [];
      for (let k = from; k < to; k++) {
        const m = msgs[k]!;
        if (m.offset < stored) continue; // applied before (earlier run or another instance)
        let failure: DecodeFailure | undefined;
        // Only the chunk's last record ends up stored with the offset (the log identity check).
        const fingerprint = k === to - 1 ? recordFingerprint(m.value, m.timestamp) : undefined;
        try {
          // Items the model does not know are applied too (they stay in the window and add nothing to
          // that model's state): the rule of encodeUserState, the same for live events and re-encodes.
          const r = decodeEvent(m.value, this.codec, m.timestamp);
          if (isDecodeFailure(r)) failure = r;
          else
            records.push(
              fingerprint === undefined ? { offset: m.offset, event: r } : { offset: m.offset, event: r, fingerprint },
            );
        } catch (err) {
          failure = { reason: 'apply-failed', detail: `decoding threw: ${String(err)}` };
        }
        if (failure) {
          records.push(
            fingerprint === undefined
              ? { offset: m.offset, reason: failure.reason }
              : { offset: m.offset, reason: failure.reason, fingerprint },
          );
          dead.push(this.deadLetter(failure, topic, partition, m));
        }
      }
      if (records.length === 0) {
        return {
          ok: true,
          activeVersion: undefined,
          pendingVersion: undefined,
          applied: 0,
          duplicates: 0,
          tooOld: 0,
          deadLettered: 0,
          skipped: to - from,
          nextOffset: stored,
          users: 0,
        };
      }
      // Dead letters first: if we crash before the store commit they are sent again (at-least-once,
      // each carries its source offset), but a dead letter is never counted without being sent.
      await this.sendDeadLetters(dead);
      const result = await this.applyRecords(topic, partition, records, models);
      if (result.ok) {
        this.deadLettered += result.deadLettered;
        this.transactions++;
        return result;
      }
      if (attempt > 20) {
        throw new CompactRecError('bse-stream/runner: the model versions keep changing during apply', {
          retriable: true,
        });
      }
    }
  }

  private deadLetter(failure: DecodeFailure, topic: string, partition: number, m: InboundMessage): OutboundMessage {
    const record = deadLetterRecord(failure, { topic, partition, offset: m.offset }, m.value);
    return {
      key: m.key,
      value: encodeDeadLetter(record),
      // The producer's headers (trace ids...) travel with the dead letter.
      headers: {
        ...m.headers,
        'x-dlq-reason': failure.reason,
        'x-dlq-source': `${topic}/${partition}/${m.offset}`,
      },
    };
  }

  private async sendDeadLetters(dead: readonly OutboundMessage[]): Promise<void> {
    if (dead.length === 0 || !this.publishDeadLetters) return;
    await withRetry(
      'send dead letters',
      async () => {
        if (!this.producer) throw new CompactRecError('bse-stream/runner: the producer is closed', { retriable: true });
        await this.producer.send(this.deadLetterTopic, dead);
      },
      this.retry,
    );
  }

  /**
   * One transaction for the chunk; if it throws a non-retriable error (a record the store cannot
   * apply), falls back to one transaction per record and dead-letters the failing ones, so one poison
   * event never blocks the partition.
   */
  private async applyRecords(
    topic: string,
    partition: number,
    records: StoreRecord[],
    models: ApplyModels,
  ): Promise<ApplyResult> {
    const once = (recs: readonly StoreRecord[]): Promise<ApplyResult> =>
      withRetry(
        'apply to the store',
        async () => {
          try {
            const r = this.changelog
              ? await this.applyWithChangelog(topic, partition, recs, models)
              : this.store.apply(topic, partition, recs, models);
            this.storeFailure = undefined;
            return r;
          } catch (err) {
            if (err instanceof ChangelogPublishError) throw err;
            if (isRetriableStoreError(err)) {
              this.storeWriteFailures++;
              if (this.storeFailure === undefined) {
                const full = (err as { code?: string }).code === 'SQLITE_FULL';
                this.storeFailure = {
                  partition: undefined,
                  kind: 'store-unwritable',
                  message: `the state store cannot be written (${String((err as Error)?.message ?? err)}); ${
                    full ? 'the disk (or maxDbBytes) is full: free space' : 'check the state folder'
                  }; consumption resumes by itself once a write succeeds`,
                  since: new Date().toISOString(),
                };
                this.log('error', `bse-stream/runner: ${this.storeFailure.message}`, {
                  code: (err as { code?: string }).code,
                });
              }
              throw new StoreBusyError(err);
            }
            throw err;
          }
        },
        this.retry,
        () => this.stopping,
      );
    try {
      return await once(records);
    } catch (err) {
      if (err instanceof CompactRecError && err.retriable) throw err;
      if (err instanceof ChangelogPublishError) throw err;
      // Our state is broken, not the event: never dead-letter for that (the caller stops the partition).
      if (err instanceof CorruptWindowError) throw err;
      this.log('warn', 'bse-stream/runner: a chunk failed to apply; applying its records one by one', {
        error: String(err),
      });
    }
    let total: ApplyResult | undefined;
    const sum = (r: ApplyResult): void => {
      total = total
        ? {
            ...r,
            applied: total.applied + r.applied,
            duplicates: total.duplicates + r.duplicates,
            tooOld: total.tooOld + r.tooOld,
            deadLettered: total.deadLettered + r.deadLettered,
            skipped: total.skipped + r.skipped,
            users: total.users + r.users,
          }
        : r;
    };
    for (const rec of records) {
      let r: ApplyResult;
      try {
        r = await once([rec]);
      } catch (err) {
        if (err instanceof CompactRecError && err.retriable) throw err;
        if (err instanceof ChangelogPublishError) throw err;
        if (err instanceof CorruptWindowError) throw err;
        const failure: DecodeFailure = {
          reason: 'apply-failed',
          detail: `the store could not apply it: ${String(err)}`,
        };
        await this.sendDeadLetters([
          {
            key: rec.event?.userId ?? null,
            value: encodeDeadLetter(
              deadLetterRecord(
                failure,
                { topic, partition, offset: rec.offset },
                new TextEncoder().encode(JSON.stringify(rec.event ?? null)),
              ),
            ),
            headers: { 'x-dlq-reason': failure.reason, 'x-dlq-source': `${topic}/${partition}/${rec.offset}` },
          },
        ]);
        r = await once([
          {
            offset: rec.offset,
            reason: 'apply-failed',
            ...(rec.fingerprint === undefined ? {} : { fingerprint: rec.fingerprint }),
          },
        ]);
      }
      if (!r.ok) return r;
      sum(r);
    }
    return total!;
  }

  /**
   * Multi-host apply of one chunk: prepare (compute the changed windows, write nothing) → publish them
   * and the offsets marker in ONE Kafka transaction on the partition's changelog → commit locally. A
   * crash between publish and commit leaves the changelog one chunk ahead: the next owner (this one
   * after a restart too) sees its local offset behind the marker and restores, or replays the chunk,
   * which gives the same windows. A publish that fails (broker, or fenced by a newer owner) writes
   * nothing locally.
   */
  private async applyWithChangelog(
    topic: string,
    partition: number,
    records: readonly StoreRecord[],
    models: ApplyModels,
  ): Promise<ApplyResult> {
    const writer = this.writers.get(partition);
    if (!writer) {
      throw new CompactRecError(`bse-stream/runner: partition ${partition} has no changelog writer (not taken over)`, {
        retriable: true,
      });
    }
    const prepared = this.store.prepareApply(topic, partition, records, models);
    if (!(prepared instanceof PreparedApply)) return prepared;
    try {
      await writer.publish(
        prepared.result.nextOffset,
        prepared.windows.map((w) => ({ userId: w.userId, window: w.window, state: null })),
        undefined,
        prepared.fingerprint,
      );
    } catch (err) {
      this.store.abortPrepared();
      const epoch = this.assignmentEpoch;
      const live = (): boolean => epoch === this.assignmentEpoch && !this.stopping && this.control?.isActive() === true;
      if (isFencedError(err) && this.partitions.get(partition)?.owned && live()) {
        // Another instance opened this partition's writer: a late take-over of an assignment it no
        // longer has (it closes that writer at once). We own the partition now: open ours again,
        // which fences it, and retry the chunk. A real zombie sees its batch inactive and stops.
        this.log('warn', 'bse-stream/runner: the changelog writer was fenced; opening it again', { partition });
        this.writers.delete(partition);
        await writer.close().catch(() => {});
        await this.openWriter(partition, live);
        throw new CompactRecError(
          `bse-stream/runner: partition ${partition}'s changelog writer was re-opened; retrying`,
          {
            retriable: true,
            cause: err,
          },
        );
      }
      throw new ChangelogPublishError(partition, err);
    }
    this.fault?.('after-publish');
    const r = this.store.commitPrepared(prepared);
    if (r.ok) this.fault?.('after-commit');
    return r;
  }

  /** The model of a version if loaded (for the HTTP layer). */
  model(version: string): SdimModelVersion | undefined {
    return this.models.get(version);
  }
}
