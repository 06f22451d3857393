/**
 * Layer 2: transport. The ONLY module that imports kafkajs. It turns kafkajs's consumer group, producer
 * and admin into the small surface the runner needs: numbers for offsets, a batch callback with an
 * `isActive()` that folds `isRunning() && !isStale()`, a partition-assignment hook that returns the
 * offsets to seek to (the store's, not Kafka's committed ones), and a supervisor that restarts a
 * consumer kafkajs gave up on.
 */
import { CompactRecError, InvalidArgumentError, UsageError } from '@compactrec/core';
import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type KafkaConfig,
  logLevel as KafkaLogLevel,
  type LogEntry,
  Partitioners,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { decodeAssignment, decodeMemberInfo, type GroupRouting, type MemberInfo, stickyAssigner } from './cluster.js';
import { backoffDelayMs, type RetryOptions, resolveRetryOptions, toKafkaRetry } from './retry.js';

/** Severity of a transport log line. */
export type TransportLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/**
 * How to reach a secured Kafka cluster; passed through to kafkajs (`ssl`, `sasl`). The password is
 * kept out of every log line and error message this package writes.
 */
export interface KafkaSecurity {
  /** TLS to the brokers: `true` = system CAs; or PEM material (`ca` for a private CA). */
  ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  /** SASL authentication. */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/** Options of {@link KafkaTransport}. */
export interface TransportOptions {
  /** Bootstrap brokers, `host:port` (required). */
  brokers: readonly string[];
  /** TLS / SASL to the brokers. @default plaintext, no authentication */
  security?: KafkaSecurity;
  /** Client id shown in broker logs. @default 'compactrec-bse' */
  clientId?: string;
  /** TCP connect timeout, ms. @default 3000 */
  connectionTimeoutMs?: number;
  /** Request timeout, ms. @default 30000 */
  requestTimeoutMs?: number;
  /** Retry policy of every broker call (and of consumer restarts). @default DEFAULT_RETRY_OPTIONS */
  retry?: RetryOptions;
  /** Lowest level of kafkajs's own log lines passed to `log`. @default 'error' */
  logLevel?: TransportLogLevel;
  /** Sink of log lines. @default one JSON line on stderr */
  log?: (level: TransportLogLevel, message: string, extra?: Record<string, unknown>) => void;
}

/** A transactional producer (see {@link KafkaTransport.createTransactionalProducer}). */
export interface TransactionalProducer {
  /**
   * Sends every message in one transaction and commits it; on any failure aborts and throws.
   * `beforeCommit` runs after the sends, before the commit (tests use it to simulate a crash there).
   */
  sendAtomically(
    sends: readonly { topic: string; messages: readonly OutboundMessage[] }[],
    beforeCommit?: () => Promise<void>,
  ): Promise<void>;
  close(): Promise<void>;
}

/** One consumed message. `offset` is a safe integer (Kafka offsets stay far below 2^53). */
export interface InboundMessage {
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** The record's Kafka timestamp (epoch ms; CreateTime or LogAppendTime, as the topic is set up). */
  readonly timestamp: number;
  /** The record's headers as the producer set them (e.g. trace ids); absent when it had none. */
  readonly headers?: Readonly<Record<string, Buffer | string>>;
}

/** The messages of one partition fetched together. */
export interface InboundBatch {
  readonly topic: string;
  readonly partition: number;
  /** Offset the next produced message will get (end of the partition) when the batch was fetched. */
  readonly highWatermark: number;
  readonly messages: readonly InboundMessage[];
}

/** What a batch handler may do besides reading the messages. */
export interface BatchControl {
  /** False once the consumer is stopping or a rebalance took the partition away: stop at once. */
  isActive(): boolean;
  /** Marks everything up to `offset` (inclusive) as processed, for Kafka's committed offsets. */
  resolveOffset(offset: number): void;
  /** Keeps the group membership alive during a long batch. */
  heartbeat(): Promise<void>;
  /** Commits resolved offsets to Kafka if the auto-commit policy says so. */
  commitIfNecessary(): Promise<void>;
  /** Stops fetching this partition; returns the function that resumes it. */
  pause(): () => void;
}

/** Callbacks of {@link KafkaTransport.runConsumer}. */
export interface ConsumerHandlers {
  /**
   * Called synchronously right after every join of the group, with this member's partitions. Returns
   * the offset to start each partition from (partitions missing from the map start from Kafka's
   * committed offset, or the beginning).
   */
  onAssigned(topic: string, partitions: readonly number[]): ReadonlyMap<number, number>;
  /** Processes one batch. Must catch its own per-message errors; a throw restarts the consumer. */
  onBatch(batch: InboundBatch, control: BatchControl): Promise<void>;
  /** Told when the consumer crashed and whether it restarts. */
  onCrash?(error: unknown, restarting: boolean): void;
}

/** Options of {@link KafkaTransport.runConsumer}. */
export interface ConsumerOptions {
  /** Consumer group (required): instances with the same group split the partitions. */
  groupId: string;
  /** Topic to consume (required). */
  topic: string;
  /** Group session timeout, ms; a dead member's partitions move after this. @default 10000 */
  sessionTimeoutMs?: number;
  /** Heartbeat interval, ms; must be below a third of sessionTimeoutMs. @default 1000 */
  heartbeatIntervalMs?: number;
  /** Bytes fetched per partition per request (bounds one batch). @default 1048576 */
  maxBytesPerPartition?: number;
  /** Longest wait of a fetch for new data, ms (latency vs. request rate). @default 100 */
  maxWaitTimeMs?: number;
  /**
   * Multi-host: what this member publishes in the group metadata (its HTTP address and owned
   * partitions); the group then uses the sticky assignor of cluster.ts. @default none (kafkajs round robin)
   */
  member?: () => MemberInfo;
}

/** Defaults of {@link ConsumerOptions}. */
export const DEFAULT_CONSUMER_OPTIONS = Object.freeze({
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1000,
  maxBytesPerPartition: 1 << 20,
  maxWaitTimeMs: 100,
});

/** One message to produce. */
export interface OutboundMessage {
  readonly key?: string | Buffer | null;
  /** null = a message without value (a tombstone). */
  readonly value: Uint8Array | string | null;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  readonly partition?: number;
}

/** A connected producer (acks from all in-sync replicas). */
export interface OutboundProducer {
  send(topic: string, messages: readonly OutboundMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** A running consumer (with its restart supervisor). */
export interface RunningConsumer {
  /** Leaves the group after the current batch; its partitions move to the other members. */
  stop(): Promise<void>;
  /** Moves the fetch position of an owned partition (e.g. after a restore). */
  seek(partition: number, offset: number): void;
  /** The group's assignment and every member's published address (DescribeGroups). */
  routing(): Promise<GroupRouting>;
}

/** Low/high offsets of one partition. */
export interface PartitionOffsets {
  readonly partition: number;
  readonly low: number;
  readonly high: number;
}

const LEVELS: Record<TransportLogLevel, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/**
 * kafkajs reports these at error level while a consumer group forms or moves (a fresh broker creates
 * its offsets topic, a coordinator moves): they are retried and resolve by themselves, so they are
 * logged at info.
 */
const TRANSIENT_GROUP_ERRORS =
  /coordinator is not available|COORDINATOR_NOT_AVAILABLE|not the correct coordinator|NOT_COORDINATOR|coordinator is loading|COORDINATOR_LOAD_IN_PROGRESS|rebalance in progress|REBALANCE_IN_PROGRESS/i;

function levelName(l: KafkaLogLevel): TransportLogLevel {
  if (l <= KafkaLogLevel.ERROR) return 'error';
  if (l === KafkaLogLevel.WARN) return 'warn';
  if (l === KafkaLogLevel.INFO) return 'info';
  return 'debug';
}

function defaultLog(level: TransportLogLevel, message: string, extra?: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level, message, ...extra })}\n`);
}

/** Kafka access for the BSE service: admin, producer and a supervised consumer group. */
export class KafkaTransport {
  private readonly kafka: Kafka;
  private readonly retry: Required<RetryOptions>;
  private readonly log: NonNullable<TransportOptions['log']>;
  private admin: Admin | undefined;

  constructor(options: TransportOptions) {
    if (!Array.isArray(options?.brokers) || options.brokers.length === 0) {
      throw new InvalidArgumentError(
        'bse-stream/KafkaTransport: brokers must be a non-empty list of host:port; pass --brokers or set KAFKA_BROKERS',
      );
    }
    for (const b of options.brokers) {
      if (typeof b !== 'string' || !/^[^:\s]+:\d+$/.test(b)) {
        throw new InvalidArgumentError(`bse-stream/KafkaTransport: broker '${String(b)}' is not host:port`);
      }
    }
    const secret = options.security?.sasl?.password;
    const scrub = (text: string): string => (secret ? text.split(secret).join('***') : text);
    this.scrub = scrub;
    this.retry = resolveRetryOptions(options.retry);
    this.log = options.log ?? defaultLog;
    const log = this.log;
    const config: KafkaConfig = {
      clientId: options.clientId ?? 'compactrec-bse',
      brokers: [...options.brokers],
      ...(options.security?.ssl !== undefined ? { ssl: options.security.ssl } : {}),
      ...(options.security?.sasl ? { sasl: { ...options.security.sasl } as SASLOptions } : {}),
      connectionTimeout: options.connectionTimeoutMs ?? 3000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      retry: toKafkaRetry(this.retry),
      logLevel: LEVELS[options.logLevel ?? 'error'],
      logCreator:
        () =>
        ({ level, log: entry }: LogEntry) => {
          const { message, timestamp: _t, logger: _l, ...extra } = entry;
          let lvl = levelName(level);
          if (lvl === 'error' && TRANSIENT_GROUP_ERRORS.test(`${message} ${String(extra.error ?? '')}`)) lvl = 'info';
          const clean = scrub(`kafkajs: ${message}`);
          const extraText = JSON.stringify(extra);
          log(lvl, clean, scrub(extraText) === extraText ? extra : { redacted: scrub(extraText) });
        },
    };
    this.kafka = new Kafka(config);
    this.config = config;
  }

  private readonly config: KafkaConfig;
  /** Replaces the SASL password in a text by `***` (log lines and error messages never carry it). */
  private readonly scrub: (text: string) => string;

  /**
   * Checks that a broker answers, within `timeoutMs` (attempts every second, quietly). Throws a
   * UsageError naming the brokers and the last connection error, so a service fails fast with one line
   * instead of retrying for minutes.
   */
  async probe(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const quiet = new Kafka({
      ...this.config,
      logLevel: KafkaLogLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: Math.min(3000, Math.max(100, timeoutMs)),
    });
    let last: unknown;
    for (;;) {
      const admin = quiet.admin({ retry: { retries: 0 } });
      try {
        await admin.connect();
        await admin.listTopics();
        return;
      } catch (err) {
        last = err;
      } finally {
        await admin.disconnect().catch(() => {});
      }
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
    const brokers = (this.config.brokers as string[]).join(',');
    throw new UsageError(
      `bse-stream/KafkaTransport: no Kafka broker answers at ${brokers} within ${Math.round(timeoutMs / 1000)} s ` +
        `(${this.scrub(String((last as Error)?.message ?? last))}); check --brokers / KAFKA_BROKERS and that the broker runs`,
    );
  }

  private async getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  /** Creates `topic` with `partitions` partitions (replication factor 1) unless it exists. */
  async ensureTopic(topic: string, partitions: number, config?: Readonly<Record<string, string>>): Promise<void> {
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new InvalidArgumentError(`bse-stream/ensureTopic: partitions (${partitions}) must be a positive integer`);
    }
    const admin = await this.getAdmin();
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return;
    try {
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor: 1,
            ...(config ? { configEntries: Object.entries(config).map(([name, value]) => ({ name, value })) } : {}),
          },
        ],
        waitForLeaders: true,
      });
    } catch (err) {
      // Right after creation a KRaft broker may not yet list the new partitions in its metadata;
      // kafkajs' leader wait gives up on that instead of retrying. Wait for the leaders ourselves.
      // Another instance may have created it at the same moment.
      const type = (err as { type?: string; errors?: { type?: string }[] }).type;
      const inner = (err as { errors?: { type?: string }[] }).errors ?? [];
      const exists = type === 'TOPIC_ALREADY_EXISTS' || inner.some((e) => e?.type === 'TOPIC_ALREADY_EXISTS');
      if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && !exists) throw err;
    }
    await this.waitForLeaders(admin, topic, partitions);
  }

  /** Polls metadata until every partition of `topic` has a leader (bounded: 30 s). */
  private async waitForLeaders(admin: Admin, topic: string, partitions: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const parts = meta.topics[0]?.partitions ?? [];
        if (parts.length >= partitions && parts.every((p) => p.leader >= 0)) return;
      } catch (err) {
        // Another instance may have created it at the same moment.
        const type = (err as { type?: string; errors?: { type?: string }[] }).type;
        const inner = (err as { errors?: { type?: string }[] }).errors ?? [];
        const exists = type === 'TOPIC_ALREADY_EXISTS' || inner.some((e) => e?.type === 'TOPIC_ALREADY_EXISTS');
        if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && !exists) throw err;
      }
      if (Date.now() > deadline) {
        throw new CompactRecError(
          `bse-stream/ensureTopic: topic '${topic}' has no leader for every partition after 30 s`,
          {
            retriable: true,
          },
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Deletes `topic` (tools and tests; deletion completes asynchronously on the broker). */
  async deleteTopic(topic: string): Promise<void> {
    const admin = await this.getAdmin();
    await admin.deleteTopics({ topics: [topic] });
  }

  /** Low and high (end) offsets of every partition of `topic`. */
  async topicOffsets(topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.getAdmin();
    const rows = await admin.fetchTopicOffsets(topic);
    return rows
      .map((r) => ({ partition: r.partition, low: Number(r.low), high: Number(r.high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  /** A connected producer. Messages with a key go to the key's partition (murmur2, like the Java client). */
  async createProducer(): Promise<OutboundProducer> {
    const producer: Producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    return {
      async send(topic, messages) {
        if (messages.length === 0) return;
        await producer.send({
          topic,
          acks: -1,
          messages: messages.map((m) => ({
            key: m.key ?? null,
            value:
              m.value === null || typeof m.value === 'string'
                ? m.value
                : Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength),
            ...(m.headers ? { headers: { ...m.headers } } : {}),
            ...(m.partition !== undefined ? { partition: m.partition } : {}),
          })),
        });
      },
      async close() {
        await producer.disconnect();
      },
    };
  }

  /**
   * A connected transactional producer: `sendAtomically` writes all its messages in one Kafka
   * transaction (all visible to read_committed readers, or none). Opening a second producer with the
   * same `transactionalId` fences the first: its next send fails (how a stalled former owner is stopped).
   */
  async createTransactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
    const producer: Producer = this.kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    // kafkajs registers the transactional id (InitProducerId, which bumps its epoch and so fences any
    // older producer with the same id) only at the first transaction: do it now, with an empty one
    // (aborting an empty transaction sends nothing).
    const init = await producer.transaction();
    await init.abort();
    const toKafka = (m: OutboundMessage) => ({
      key: m.key ?? null,
      value:
        m.value === null || typeof m.value === 'string'
          ? m.value
          : Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength),
      ...(m.headers ? { headers: { ...m.headers } } : {}),
      ...(m.partition !== undefined ? { partition: m.partition } : {}),
    });
    return {
      async sendAtomically(sends, beforeCommit) {
        const tx = await producer.transaction();
        try {
          for (const { topic, messages } of sends) {
            if (messages.length > 0) await tx.send({ topic, acks: -1, messages: messages.map(toKafka) });
          }
          await beforeCommit?.();
          await tx.commit();
        } catch (err) {
          await tx.abort().catch(() => {});
          throw err;
        }
      },
      async close() {
        await producer.disconnect();
      },
    };
  }

  /**
   * Joins `options.groupId` and consumes `options.topic` until stopped. kafkajs restarts the consumer
   * itself after retriable failures; when it gives up (a non-retriable failure) this supervisor starts
   * a fresh consumer after a backoff delay, so the service recovers without intervention.
   */
  async runConsumer(options: ConsumerOptions, handlers: ConsumerHandlers): Promise<RunningConsumer> {
    const o = {
      ...DEFAULT_CONSUMER_OPTIONS,
      ...stripUndefined(options),
      groupId: options.groupId,
      topic: options.topic,
    };
    if (!(o.heartbeatIntervalMs * 3 <= o.sessionTimeoutMs)) {
      throw new InvalidArgumentError(
        `bse-stream/runConsumer: heartbeatIntervalMs (${o.heartbeatIntervalMs}) must be at most a third of sessionTimeoutMs (${o.sessionTimeoutMs})`,
      );
    }
    let stopped = false;
    let current: Consumer | undefined;
    let restartTimer: NodeJS.Timeout | undefined;
    let restarts = 0;

    const start = async (): Promise<void> => {
      const consumer = this.kafka.consumer({
        groupId: o.groupId,
        sessionTimeout: o.sessionTimeoutMs,
        heartbeatInterval: o.heartbeatIntervalMs,
        rebalanceTimeout: Math.max(o.sessionTimeoutMs, 10_000),
        maxBytesPerPartition: o.maxBytesPerPartition,
        maxWaitTimeInMs: o.maxWaitTimeMs,
        allowAutoTopicCreation: false,
        retry: { ...toKafkaRetry(this.retry), restartOnFailure: async () => true },
        ...(options.member ? { partitionAssigners: [stickyAssigner(options.member)] } : {}),
      });
      current = consumer;
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const partitions = e.payload.memberAssignment[o.topic] ?? [];
        const seekTo = handlers.onAssigned(o.topic, partitions);
        for (const [partition, offset] of seekTo) {
          consumer.seek({ topic: o.topic, partition, offset: String(offset) });
        }
      });
      consumer.on(consumer.events.CRASH, (e) => {
        const restarting = e.payload.restart;
        handlers.onCrash?.(e.payload.error, restarting || !stopped);
        if (!restarting && !stopped && current === consumer) {
          const delay = backoffDelayMs(Math.min(restarts++, 10), this.retry);
          restartTimer = setTimeout(() => {
            restartTimer = undefined;
            if (!stopped) start().catch((err) => this.scheduleAfterFailedStart(err));
          }, delay);
        }
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [o.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: true,
        autoCommitInterval: 1000,
        eachBatchAutoResolve: false,
        eachBatch: async (payload: EachBatchPayload) => {
          const { batch } = payload;
          const messages: InboundMessage[] = new Array(batch.messages.length);
          for (let i = 0; i < batch.messages.length; i++) {
            const m = batch.messages[i]!;
            messages[i] = {
              offset: Number(m.offset),
              key: m.key ?? null,
              value: m.value ?? null,
              timestamp: Number(m.timestamp),
              ...(m.headers && Object.keys(m.headers).length > 0 ? { headers: flatHeaders(m.headers) } : {}),
            };
          }
          await handlers.onBatch(
            { topic: batch.topic, partition: batch.partition, highWatermark: Number(batch.highWatermark), messages },
            {
              isActive: () => payload.isRunning() && !payload.isStale(),
              resolveOffset: (offset) => payload.resolveOffset(String(offset)),
              heartbeat: () => payload.heartbeat(),
              commitIfNecessary: () => payload.commitOffsetsIfNecessary(),
              pause: () => payload.pause(),
            },
          );
        },
      });
    };
    this.scheduleAfterFailedStart = (err: unknown) => {
      this.log('error', 'bse-stream/runConsumer: consumer start failed; retrying', { error: String(err) });
      if (stopped) return;
      const delay = backoffDelayMs(Math.min(restarts++, 10), this.retry);
      restartTimer = setTimeout(() => {
        restartTimer = undefined;
        if (!stopped) start().catch((e) => this.scheduleAfterFailedStart(e));
      }, delay);
    };
    await start();
    return {
      stop: async () => {
        stopped = true;
        if (restartTimer) clearTimeout(restartTimer);
        await current?.disconnect();
      },
      seek: (partition, offset) => {
        current?.seek({ topic: o.topic, partition, offset: String(offset) });
      },
      routing: async () => {
        const c = current;
        if (!c) return { stable: false, owners: new Map() };
        const g = await c.describeGroup();
        const owners = new Map<number, string>();
        if (g.state !== 'Stable') return { stable: false, owners };
        for (const m of g.members) {
          const info = decodeMemberInfo(m.memberMetadata as Buffer);
          if (!info) continue;
          for (const p of decodeAssignment(m.memberAssignment as Buffer, o.topic)) owners.set(p, info.url);
        }
        return { stable: true, owners };
      },
    };
  }

  private scheduleAfterFailedStart: (err: unknown) => void = () => {};

  /**
   * Reads `topic` from the beginning up to the end offsets it has now, in a throw-away consumer group,
   * calling `onMessage` per message in offset order per partition. For tools and tests (the DLQ, a
   * recomputation over the whole event log), optionally only up to `options.ends` and from
   * `options.starts` per partition.
   */
  async readTopic(
    topic: string,
    onMessage: (partition: number, message: InboundMessage) => void,
    options: { timeoutMs?: number; ends?: ReadonlyMap<number, number>; starts?: ReadonlyMap<number, number> } = {},
  ): Promise<void> {
    const ends = await this.topicOffsets(topic);
    const remaining = new Map<number, number>();
    for (const p of ends) {
      // Up to `options.ends` (exclusive) where given: e.g. a store's offsets.
      const end = Math.min(p.high, options.ends?.get(p.partition) ?? p.high);
      if (end > Math.max(p.low, options.starts?.get(p.partition) ?? 0)) remaining.set(p.partition, end);
    }
    if (remaining.size === 0) return;
    const consumer = this.kafka.consumer({
      groupId: `compactrec-read-${topic}-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    if (options.starts) {
      const starts = options.starts;
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        for (const p of e.payload.memberAssignment[topic] ?? []) {
          const from = starts.get(p);
          if (from !== undefined && from > 0) consumer.seek({ topic, partition: p, offset: String(from) });
        }
      });
    }
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        // A batch of only transaction markers (or aborted records) never reaches eachBatch; its end
        // still counts (read_committed: the last offset of a transactional topic is a commit marker).
        consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
          const end = remaining.get(e.payload.partition);
          if (end !== undefined && Number(e.payload.lastOffset) + 1 >= end) {
            remaining.delete(e.payload.partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          }
        });
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `bse-stream/readTopic: '${topic}' not read to its end within ${options.timeoutMs ?? 120_000} ms`,
              ),
            ),
          options.timeoutMs ?? 120_000,
        );
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch, pause }) => {
              const end = remaining.get(batch.partition);
              if (end === undefined) {
                // Not asked for (e.g. a restore of one partition): stop fetching it.
                pause();
                return;
              }
              for (const m of batch.messages) {
                const offset = Number(m.offset);
                if (offset >= end) break;
                onMessage(batch.partition, {
                  offset,
                  key: m.key ?? null,
                  value: m.value ?? null,
                  timestamp: Number(m.timestamp),
                  ...(m.headers && Object.keys(m.headers).length > 0 ? { headers: flatHeaders(m.headers) } : {}),
                });
              }
              const last = Number(batch.lastOffset());
              if (last + 1 >= end) remaining.delete(batch.partition);
              if (remaining.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
  }

  /** Closes the admin connection (producers and consumers are closed by their own handles). */
  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect();
  }
}

/** kafkajs header values may be arrays (a repeated key): keep the last one. */
function flatHeaders(
  h: Record<string, Buffer | string | (Buffer | string)[] | undefined>,
): Record<string, Buffer | string> {
  const out: Record<string, Buffer | string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one !== undefined) out[k] = one;
  }
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
