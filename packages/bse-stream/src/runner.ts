/**
 * Layer 4: the runner. Consumes the events topic in a consumer group and, per kafkajs batch, in chunks
 * of at most `maxEventsPerTransaction`: decode each message (its own try/catch; bad ones are
 * dead-lettered with reason and source offset) → send dead letters → ONE store transaction with the
 * state changes and the partition's next offset → resolve the offset → heartbeat. It stops at a chunk
 * boundary as soon as the partition is revoked or the consumer stops, so a rebalance hands over a
 * store that is exactly at a committed offset. On assignment it seeks to the store's offsets.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CompactRecError, InvalidArgumentError } from '@compactrec/core';
import type { SdimModelVersion } from '@compactrec/sdim';
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
import type { ApplyModels, ApplyResult, StateStore, StoreRecord } from './store.js';
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
  /** Log sink. @default JSON lines on stderr */
  log?: (level: 'error' | 'warn' | 'info', message: string, extra?: Record<string, unknown>) => void;
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
  private readonly maxTx: number;
  private readonly codec: Required<CodecOptions>;
  private readonly retry: Required<RetryOptions>;
  private readonly consumerOptions: RunnerOptions['consumer'];
  private readonly log: NonNullable<RunnerOptions['log']>;
  private producer: OutboundProducer | undefined;
  private consumer: RunningConsumer | undefined;
  private stopping = false;

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
    this.log =
      options.log ??
      ((level, message, extra) =>
        process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level, message, ...extra })}\n`));
  }

  /** Connects the dead-letter producer and joins the group (returns once the consumer runs). */
  async start(): Promise<void> {
    this.producer = await withRetry(
      'connect the dead-letter producer',
      () => this.transport.createProducer(),
      this.retry,
    );
    this.consumer = await withRetry(
      'start the consumer',
      () =>
        this.transport.runConsumer(
          { ...this.consumerOptions, groupId: this.groupId, topic: this.topic },
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
    const producer = this.producer;
    this.producer = undefined;
    await producer?.close();
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
    const stored = this.store.nextOffsets(this.topic);
    for (const v of this.partitions.values()) v.owned = false;
    const seek = new Map<number, number>();
    for (const p of partitions) {
      const v = this.view(p);
      v.owned = true;
      v.nextOffset = stored.get(p) ?? 0;
      // Always from the store: a partition it never saw starts at 0 (Kafka resets to the earliest
      // offset if 0 is gone), never at Kafka's committed offset, which may be ahead of the store.
      seek.set(p, v.nextOffset);
    }
    this.log('info', 'bse-stream/runner: partitions assigned', {
      partitions: [...partitions],
      seek: Object.fromEntries(seek),
    });
    return seek;
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
    let i = 0;
    while (i < msgs.length) {
      if (!control.isActive() || this.stopping) return;
      const end = Math.min(msgs.length, i + this.maxTx);
      const last = msgs[end - 1]!.offset;
      await this.processChunk(batch.topic, batch.partition, msgs, i, end);
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
      const numItems = models.pending
        ? Math.min(models.active.numItems, models.pending.numItems)
        : models.active.numItems;
      const stored = this.store.nextOffsets(topic).get(partition) ?? -1;
      const records: StoreRecord[] = [];
      const dead: OutboundMessage[] = [];
      for (let k = from; k < to; k++) {
        const m = msgs[k]!;
        if (m.offset < stored) continue; // applied before (earlier run or another instance)
        let failure: DecodeFailure | undefined;
        try {
          const r = decodeEvent(m.value, this.codec);
          if (isDecodeFailure(r)) failure = r;
          else if (r.itemId >= numItems) {
            failure = {
              reason: 'unknown-item',
              detail: `itemId ${r.itemId} is not below numItems ${numItems} of the model`,
            };
          } else records.push({ offset: m.offset, event: r });
        } catch (err) {
          failure = { reason: 'apply-failed', detail: `decoding threw: ${String(err)}` };
        }
        if (failure) {
          records.push({ offset: m.offset, reason: failure.reason });
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
      headers: {
        'x-dlq-reason': failure.reason,
        'x-dlq-source': `${topic}/${partition}/${m.offset}`,
      },
    };
  }

  private async sendDeadLetters(dead: readonly OutboundMessage[]): Promise<void> {
    if (dead.length === 0) return;
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
        () => {
          try {
            return this.store.apply(topic, partition, recs, models);
          } catch (err) {
            if (isRetriableStoreError(err)) throw new StoreBusyError(err);
            throw err;
          }
        },
        this.retry,
      );
    try {
      return await once(records);
    } catch (err) {
      if (err instanceof CompactRecError && err.retriable) throw err;
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
        r = await once([{ offset: rec.offset, reason: 'apply-failed' }]);
      }
      if (!r.ok) return r;
      sum(r);
    }
    return total!;
  }

  /** The model of a version if loaded (for the HTTP layer). */
  model(version: string): SdimModelVersion | undefined {
    return this.models.get(version);
  }
}
