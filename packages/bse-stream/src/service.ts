/**
 * Layer 5: the app. Wires store → models → transport → runner → re-encoder → HTTP into one encoder
 * instance, plus the two other entry points of the CLI: a from-scratch replay and an event producer.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InvalidArgumentError, NotFoundError, UsageError } from '@compactrec/core';
import type { SdimModelVersion } from '@compactrec/sdim';
import { type RoutingSnapshot, RoutingTable } from './cluster.js';
import type { CodecOptions } from './codec.js';
import { encodeEvent } from './codec.js';
import { EventGenerator, type EventGeneratorOptions } from './generator.js';
import { buildHttpApp, type HttpDeps, type HttpLatency, type HttpOptions } from './http.js';
import type { HttpWorkerData, HttpWorkerMessage } from './http-worker.js';
import { renderPrometheus } from './metrics.js';
import { checkVersionName, ModelRegistry } from './models.js';
import { Reencoder } from './reencoder.js';
import { type RetryOptions, sleep } from './retry.js';
import { EncoderRunner, type PartitionProblem } from './runner.js';
import { StateStore, type StateStoreOptions } from './store.js';
import {
  type ConsumerOptions,
  type KafkaSecurity,
  KafkaTransport,
  type OutboundMessage,
  type TransportLogLevel,
} from './transport.js';

/** Options of {@link startBseService}. */
export interface BseServiceOptions {
  /** Kafka bootstrap brokers (required). */
  brokers: readonly string[];
  /** TLS / SASL to the brokers, passed through to kafkajs. @default plaintext */
  kafkaSecurity?: KafkaSecurity;
  /** Events topic (required). */
  topic: string;
  /** Folder of model-version files `<version>.sdim` (required). */
  modelDir: string;
  /** Folder of the durable state; instances sharing it form one logical encoder (required). */
  stateDir: string;
  /**
   * Version to serve. Empty store: served at once; otherwise a blue/green switch if it differs. A switch
   * already pending in the store (started by an operator, then interrupted by a crash or stop) is
   * continued, also when this names the active version, unless `cancelModelSwitch` is set.
   * @default the store's active version, else the last file name in modelDir
   */
  modelVersion?: string;
  /** Cancel a pending model switch at start (drops its states; logged). @default false */
  cancelModelSwitch?: boolean;
  /** Dead-letter topic. @default `<topic>.dlq` */
  deadLetterTopic?: string;
  /** Consumer group. @default 'compactrec-bse' */
  groupId?: string;
  /** Partitions of the events topic if this instance has to create it. @default 4 */
  partitions?: number;
  /** L, behaviours per user. @default 100 */
  windowLength?: number;
  /** HTTP interface. @default '127.0.0.1' */
  host?: string;
  /** HTTP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Largest messages per store transaction (see RunnerOptions.maxEventsPerTransaction). @default 20000 */
  maxEventsPerTransaction?: number;
  codec?: CodecOptions;
  retry?: RetryOptions;
  consumer?: Omit<ConsumerOptions, 'groupId' | 'topic'>;
  http?: HttpOptions;
  /** Re-encode batch, polling and throttling (see ReencoderOptions). */
  reencode?: { usersPerStep?: number; pollMs?: number; pauseMs?: number };
  /** kafkajs log level. @default 'error' */
  kafkaLogLevel?: TransportLogLevel;
  /** Store tuning of this instance's writer: state cache size, WAL checkpointing, page cache (see StateStoreOptions). */
  store?: Omit<StateStoreOptions, 'windowLength'>;
  /** Serve HTTP from a worker thread with its own store connection, so ingest transactions never delay reads. @default true */
  httpInWorker?: boolean;
  /** Name in metrics. @default a random UUID */
  instanceId?: string;
  /**
   * How long to wait at start for a broker to answer before failing with one error line (nothing is
   * created before a broker answered). @default 15000
   */
  connectTimeoutMs?: number;
  /** Send dead letters to the dead-letter topic (a replay does not: see RunnerOptions). @default true */
  publishDeadLetters?: boolean;
  /** Log sink. @default JSON lines on stderr */
  log?: (level: 'error' | 'warn' | 'info', message: string, extra?: Record<string, unknown>) => void;
  /**
   * Multi-host mode (issue #16; `bse serve --multi-host`): this instance has a state folder of its own,
   * publishes every chunk's windows to the compacted changelog `<topic>.<group>.changelog.window` before its
   * local commit, restores partitions it is assigned from the changelog, and answers reads of any user
   * (forwarding to the owner). Every instance of the group must use it. @default undefined (single-host)
   */
  multiHost?: MultiHostOptions;
}

/** Options of multi-host mode (see {@link BseServiceOptions.multiHost}). */
export interface MultiHostOptions {
  /**
   * Base URL other instances reach this one's HTTP API at (published in the consumer group).
   * @default `http(s)://<--host, or this machine's hostname for 0.0.0.0/::>:<port>`
   */
  advertiseUrl?: string;
  /** Users per restore transaction. @default 1000 */
  restoreChunkUsers?: number;
  /**
   * Warm copies: this instance keeps, for each partition, a copy when it is one of the N members after
   * the owner (members sorted by URL), caught up from the changelog about once a second; taking such
   * a partition over reads only the changelog's tail. @default 0
   */
  standbyReplicas?: number;
  /** Crash tests only: SIGKILL at a point of the n-th chunk (see ChangelogOptions.crashAt). */
  crashAt?: { point: 'after-publish' | 'after-commit'; afterChunks: number };
}

/** A running encoder instance. */
export interface BseService {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  readonly port: number;
  /** The address the HTTP socket is bound to (e.g. '127.0.0.1'; '0.0.0.0' with --host 0.0.0.0). */
  readonly address: string;
  readonly store: StateStore;
  readonly runner: EncoderRunner;
  readonly reencoder: Reencoder;
  /** Prometheus text of the metrics (fetched from GET /metrics). */
  metricsText(): Promise<string>;
  /** Leaves the group cleanly (its partitions move to the other instances), stops HTTP, closes the store. */
  stop(): Promise<void>;
}

function defaultLog(level: string, message: string, extra?: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level, message, ...extra })}\n`);
}

function checkCommon(o: { brokers: readonly string[]; topic: string }, where: string): void {
  if (!Array.isArray(o.brokers) || o.brokers.length === 0) {
    throw new InvalidArgumentError(`${where}: brokers is empty; pass --brokers host:port or set KAFKA_BROKERS`);
  }
  if (typeof o.topic !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(o.topic)) {
    throw new InvalidArgumentError(`${where}: topic '${String(o.topic)}' is not a valid Kafka topic name`);
  }
}

/** Resolves which version to serve and records it in the store (see {@link BseServiceOptions.modelVersion}). */
async function chooseVersion(
  store: StateStore,
  models: ModelRegistry,
  requested: string | undefined,
  cancel: boolean,
  log: NonNullable<BseServiceOptions['log']>,
): Promise<void> {
  const before = store.versions();
  let version = requested;
  if (version === undefined) version = before.active;
  if (version === undefined) {
    const available = await models.available();
    version = available[available.length - 1];
    if (version === undefined) {
      throw new NotFoundError(
        `bse-stream/startBseService: no model version files (*.sdim) in ${models.modelDir}; save one there (saveModelToDir) or pass --model-version`,
      );
    }
  }
  checkVersionName(version, 'bse-stream/startBseService');
  await models.ensure(version);
  const { active, pending, cancelled } = store.requestVersion(version, { cancelPending: cancel });
  await models.ensure(active);
  if (pending !== undefined) await models.ensure(pending);
  if (cancelled !== undefined) {
    log('warn', 'bse-stream: cancelled the pending model switch (cancelModelSwitch)', { active, cancelled });
  } else if (before.pending !== undefined && before.pending === pending) {
    log('warn', 'bse-stream: continuing the pending model switch from the store', {
      active,
      pending,
      remainingUsers: store.missingStates(pending),
      hint:
        requested === active
          ? `--model-version ${requested} is the active version; the switch goes on unless you pass --cancel-model-switch`
          : undefined,
    });
  } else if (before.pending !== undefined && pending !== before.pending) {
    log('warn', 'bse-stream: replaced the pending model switch', { active, replaced: before.pending, pending });
  } else if (cancel) {
    log('info', 'bse-stream: no pending model switch to cancel', { active });
  }
}

/** Starts one encoder instance: creates the topics if missing, joins the group, serves HTTP. */
export async function startBseService(options: BseServiceOptions): Promise<BseService> {
  checkCommon(options, 'bse-stream/startBseService');
  const adv = options.multiHost?.advertiseUrl;
  if (adv !== undefined && !/^https?:\/\/[^/\s?#]+$/.test(adv)) {
    throw new InvalidArgumentError(
      `bse-stream/startBseService: advertiseUrl '${adv}' must be http(s)://host:port with no path (--advertise-url)`,
    );
  }
  const standbys = options.multiHost?.standbyReplicas;
  if (standbys !== undefined && !(Number.isInteger(standbys) && standbys >= 0)) {
    throw new InvalidArgumentError(
      `bse-stream/startBseService: standbyReplicas (${standbys}) must be an integer ≥ 0 (--standby-replicas)`,
    );
  }
  const log = options.log ?? defaultLog;
  const transport: KafkaTransport | undefined = new KafkaTransport({
    brokers: options.brokers,
    ...(options.kafkaSecurity ? { security: options.kafkaSecurity } : {}),
    clientId: `compactrec-bse-${options.instanceId ?? process.pid}`,
    ...(options.retry ? { retry: options.retry } : {}),
    logLevel: options.kafkaLogLevel ?? 'error',
    log: (level, message, extra) => {
      if (level === 'error' || level === 'warn' || level === 'info') log(level, message, extra);
    },
  });
  // A broker must answer before anything is created on disk.
  await transport.probe(options.connectTimeoutMs ?? 15_000);
  let store: StateStore;
  try {
    store = StateStore.open(options.stateDir, {
      ...options.store,
      ...(options.windowLength === undefined ? {} : { windowLength: options.windowLength }),
    });
  } catch (err) {
    await transport.close().catch(() => {});
    throw err;
  }
  try {
    checkStoreMode(store, options.multiHost !== undefined, options.stateDir);
  } catch (err) {
    store.close();
    await transport.close().catch(() => {});
    throw err;
  }
  const models = new ModelRegistry(options.modelDir);
  let runner: EncoderRunner | undefined;
  let reencoder: Reencoder | undefined;
  let http: RunningHttp | undefined;
  try {
    await chooseVersion(store, models, options.modelVersion, options.cancelModelSwitch === true, log);
    const deadLetterTopic = options.deadLetterTopic ?? `${options.topic}.dlq`;
    await transport.ensureTopic(options.topic, options.partitions ?? 4);
    await transport.ensureTopic(deadLetterTopic, 1);
    const partitionCount = (await transport.topicOffsets(options.topic)).length;
    let selfUrl = '';
    let pushRouting: () => void = () => {};
    runner = new EncoderRunner(store, models, transport, {
      topic: options.topic,
      deadLetterTopic,
      ...(options.groupId !== undefined ? { groupId: options.groupId } : {}),
      ...(options.maxEventsPerTransaction !== undefined
        ? { maxEventsPerTransaction: options.maxEventsPerTransaction }
        : {}),
      ...(options.codec ? { codec: options.codec } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.consumer ? { consumer: options.consumer } : {}),
      ...(options.publishDeadLetters === undefined ? {} : { publishDeadLetters: options.publishDeadLetters }),
      ...(options.multiHost
        ? {
            changelog: {
              member: () => ({
                url: selfUrl,
                owned: runner?.ownedPartitions() ?? [],
                standby: runner?.standby.partitions ?? [],
              }),
              // A partition that stops being complete must stop being answered here at once.
              onReadyChange: () => pushRouting(),
              ...(options.multiHost.restoreChunkUsers === undefined
                ? {}
                : { restoreChunkUsers: options.multiHost.restoreChunkUsers }),
              ...(options.multiHost.crashAt ? { crashAt: options.multiHost.crashAt } : {}),
            },
          }
        : {}),
      log,
    });
    reencoder = new Reencoder(store, models, { ...options.reencode, log });
    const instanceId = options.instanceId ?? randomUUID();
    const r = runner;
    const t = transport;
    const re0 = reencoder;
    const problems = (): PartitionProblem[] => [
      ...(r.storeFailure ? [r.storeFailure] : []),
      ...(re0.blocked
        ? [
            {
              partition: undefined,
              kind: 'switch-blocked' as const,
              message: `the pending model switch cannot complete: ${re0.blocked.message}`,
              since: new Date().toISOString(),
            },
          ]
        : []),
      ...[...r.halted.values()].sort((a, b) => (a.partition ?? -1) - (b.partition ?? -1)),
    ];
    let endsCache: { at: number; ends: Map<number, number> } | undefined;
    const metricsText = async (latency: HttpLatency): Promise<string> => {
      // Partition ends from the broker (cached 1 s); the stored offsets are the store's, so the lag is
      // the whole group's, whichever instance owns a partition.
      if (!endsCache || Date.now() - endsCache.at > 1000) {
        try {
          const rows = await t.topicOffsets(options.topic);
          endsCache = { at: Date.now(), ends: new Map(rows.map((x) => [x.partition, x.high])) };
        } catch {
          endsCache = {
            at: Date.now(),
            ends: new Map([...r.partitions.values()].map((p) => [p.partition, p.endOffset])),
          };
        }
      }
      const stored = store.nextOffsets(options.topic);
      const owned = new Set(r.ownedPartitions());
      const parts = [...new Set([...endsCache.ends.keys(), ...stored.keys()])].sort((a, b) => a - b);
      const { active, pending } = store.versions();
      const restoring = [...r.restores.active].map(
        ([p, users]) =>
          `bse_partition_restoring{topic="${options.topic}",partition="${p}"} 1\nbse_partition_restored_users{topic="${options.topic}",partition="${p}"} ${users}\n`,
      );
      const restoreText = options.multiHost
        ? '# HELP bse_restore_users_total Users restored from the changelog by this instance.\n# TYPE bse_restore_users_total counter\n' +
          `bse_restore_users_total ${r.restores.users}\n` +
          '# HELP bse_restore_bytes_total Changelog bytes read by restores.\n# TYPE bse_restore_bytes_total counter\n' +
          `bse_restore_bytes_total ${r.restores.bytes}\n` +
          '# HELP bse_restores_completed_total Partition restores finished.\n# TYPE bse_restores_completed_total counter\n' +
          `bse_restores_completed_total ${r.restores.completed}\n` +
          '# HELP bse_partition_restoring 1 while a partition is restored from the changelog (with its users so far).\n# TYPE bse_partition_restoring gauge\n' +
          restoring.join('') +
          '# HELP bse_restores_incremental_total Restores that read only the changelog after a local copy (standby).\n# TYPE bse_restores_incremental_total counter\n' +
          `bse_restores_incremental_total ${r.restores.incremental}\n` +
          '# HELP bse_standby_partitions Partitions this instance keeps standby copies of.\n# TYPE bse_standby_partitions gauge\n' +
          `bse_standby_partitions ${r.standby.partitions.length}\n` +
          '# HELP bse_standby_users_total Users written by standby catch-ups.\n# TYPE bse_standby_users_total counter\n' +
          `bse_standby_users_total ${r.standby.users}\n` +
          '# HELP bse_standby_bytes_total Changelog bytes read by standby catch-ups.\n# TYPE bse_standby_bytes_total counter\n' +
          `bse_standby_bytes_total ${r.standby.bytes}\n` +
          '# HELP bse_standby_syncs_total Standby catch-ups finished.\n# TYPE bse_standby_syncs_total counter\n' +
          `bse_standby_syncs_total ${r.standby.syncs}\n` +
          '# HELP bse_partition_ready 1 for an owned partition whose state is complete (reads answered here).\n# TYPE bse_partition_ready gauge\n' +
          [...r.ready]
            .sort((a, b) => a - b)
            .map((p) => `bse_partition_ready{topic="${options.topic}",partition="${p}"} 1\n`)
            .join('')
        : '';
      return (
        restoreText +
        renderPrometheus({
          topic: options.topic,
          partitions: parts.map((p) => ({
            partition: p,
            nextOffset: stored.get(p) ?? 0,
            endOffset: endsCache!.ends.get(p) ?? 0,
            owned: owned.has(p),
          })),
          eventsPerSecond: r.rate.rate(),
          counters: store.counters(),
          activeVersion: active,
          pendingVersion: pending,
          reencodeRemaining: pending === undefined ? 0 : store.missingStates(pending),
          problems: problems(),
          storeWriteFailures: r.storeWriteFailures,
          requestLatencyP50: latency.p50,
          requestLatencyP99: latency.p99,
          requests: latency.requests,
          consumerRestarts: r.restarts,
          instanceId,
        })
      );
    };
    let stopped = false;
    const deps: HttpDeps = {
      store,
      metricsText,
      health: () => {
        const { active, pending } = store.versions();
        const p = problems();
        return {
          ok: !stopped && active !== undefined && p.length === 0,
          activeVersion: active,
          pendingVersion: pending,
          ownedPartitions: r.ownedPartitions(),
          ...(options.multiHost
            ? {
                readyPartitions: [...r.ready].sort((a, b) => a - b),
                restoringPartitions: [...r.restores.active.keys()],
              }
            : {}),
          instanceId,
          storeWritable: r.storeFailure === undefined,
          repairedStates: store.counters().get('repaired_states') ?? 0,
          rebuiltUsers: store.counters().get('rebuilt_users') ?? 0,
          problems: p,
        };
      },
      requestVersion: async (version) => {
        checkVersionName(version, 'bse-stream/requestVersion');
        try {
          await models.ensure(version);
        } catch (err) {
          // The registry's message names the server's file path: not for HTTP clients.
          if (err instanceof NotFoundError) {
            throw new NotFoundError(
              `model version '${version}' has no file in the service's model folder; save ${version}.sdim there first`,
            );
          }
          log('error', 'bse-stream: a requested model version cannot be loaded', { version, error: String(err) });
          throw err;
        }
        // An operator asking for the active version while a switch is pending cancels that switch.
        const res = store.requestVersion(version, { cancelPending: true });
        if (res.cancelled !== undefined) {
          log('warn', 'bse-stream: cancelled the pending model switch (POST /v1/admin/model)', {
            active: res.active,
            cancelled: res.cancelled,
          });
        } else if (res.pending !== undefined) {
          log('info', 'bse-stream: model switch requested', { active: res.active, pending: res.pending });
        }
        return { active: res.active, pending: res.pending };
      },
      repair: async (userId) => {
        const { active, pending } = store.versions();
        const loaded = new Map<string, SdimModelVersion>();
        for (const v of [active, pending]) if (v !== undefined) loaded.set(v, await models.ensure(v));
        const n = store.repairUser(userId, loaded);
        if (n > 0)
          log('warn', 'bse-stream: rebuilt corrupted BSE states of a user from its window', { userId, states: n });
        return n;
      },
    };
    const table = options.multiHost ? new RoutingTable() : undefined;
    if (table) deps.route = (userId, forwarded) => table.route(userId, forwarded);
    http = await startHttp(deps, {
      stateDir: options.stateDir,
      windowLength: store.windowLength,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      http: options.http,
      inWorker: options.httpInWorker ?? true,
      multiHost: options.multiHost !== undefined,
    });
    const port = http.port;
    {
      const host = options.host ?? '127.0.0.1';
      const shownHost = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
      selfUrl = options.multiHost?.advertiseUrl ?? `${options.http?.tls ? 'https' : 'http'}://${shownHost}:${port}`;
    }
    await runner.start();
    reencoder.start();
    let routingTimer: NodeJS.Timeout | undefined;
    if (options.multiHost) {
      // The routing table of the HTTP side: this runner's complete partitions (every 200 ms) and the
      // group's assignment with every member's URL (DescribeGroups, every second).
      let owners: (readonly [number, string])[] = [];
      let sent = '';
      let ticks = 0;
      let asking = false;
      const h0 = http;
      const push = (): void => {
        const snap: RoutingSnapshot = {
          partitions: partitionCount,
          self: selfUrl,
          ready: [...r.ready].sort((a, b) => a - b),
          owners,
        };
        const text = JSON.stringify(snap);
        if (text === sent) return;
        sent = text;
        table?.update(snap);
        h0.sendRouting(snap);
      };
      pushRouting = push;
      routingTimer = setInterval(() => {
        if (ticks++ % 5 === 0 && !asking) {
          asking = true;
          r.routing()
            .then(
              (g) => {
                owners = g.stable ? [...g.owners].sort((a, b) => a[0] - b[0]) : [];
                const n = options.multiHost?.standbyReplicas ?? 0;
                if (n > 0 && g.stable) r.syncStandbys(standbysOf(g.owners, selfUrl, n));
              },
              () => {
                owners = [];
              },
            )
            .finally(() => {
              asking = false;
              push();
            });
        }
        push();
      }, 200);
      routingTimer.unref();
    }
    log('info', 'bse-stream: encoder started', { port, topic: options.topic, groupId: runner.groupId, instanceId });
    const h = http;
    const re = reencoder;
    const host = options.host ?? '127.0.0.1';
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const url = `${options.http?.tls ? 'https' : 'http'}://${shown}:${port}`;
    const token = options.http?.authToken;
    return {
      url,
      port,
      address: h.address,
      store,
      runner: r,
      reencoder: re,
      metricsText: async () =>
        (await fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {})).text(),
      async stop() {
        if (stopped) return;
        stopped = true;
        if (routingTimer) clearInterval(routingTimer);
        re.stop();
        await r.stop();
        await h.close();
        await t.close();
        store.close();
      },
    };
  } catch (err) {
    reencoder?.stop();
    await runner?.stop().catch(() => {});
    await http?.close().catch(() => {});
    await transport?.close().catch(() => {});
    store.close();
    throw err;
  }
}

interface RunningHttp {
  readonly port: number;
  readonly address: string;
  /** Hands the routing table to the HTTP side (multi-host). */
  sendRouting(snapshot: RoutingSnapshot): void;
  close(): Promise<void>;
}

/**
 * Partitions `self` keeps standby copies of: for each partition, the `n` members after its owner in
 * URL order (members = the URLs owning some partition).
 */
export function standbysOf(owners: ReadonlyMap<number, string>, self: string, n: number): number[] {
  const members = [...new Set(owners.values())].sort();
  const out: number[] = [];
  if (members.length < 2) return out;
  for (const [p, owner] of owners) {
    if (owner === self) continue;
    const i = members.indexOf(owner);
    for (let k = 1; k <= Math.min(n, members.length - 1); k++) {
      if (members[(i + k) % members.length] === self) out.push(p);
    }
  }
  return out.sort((a, b) => a - b);
}

/** A state folder is written in one mode: single-host (shared folder) or multi-host (own folder + changelog). */
function checkStoreMode(store: StateStore, multiHost: boolean, stateDir: string): void {
  const mode = store.metaValue('mode');
  if (multiHost && mode !== 'multi-host') {
    if (!store.isEmpty()) {
      throw new UsageError(
        `bse-stream/startBseService: the state folder ${stateDir} holds single-host state, which the changelog does not have; multi-host mode needs a new empty --state-dir per instance (it restores its partitions from the changelog)`,
      );
    }
    store.setMetaValue('mode', 'multi-host');
  } else if (!multiHost && mode === 'multi-host') {
    throw new UsageError(
      `bse-stream/startBseService: the state folder ${stateDir} was written in multi-host mode; start it with --multi-host (or replay into a new --state-dir)`,
    );
  }
}

/**
 * Starts the HTTP API in a worker thread (default) or in this thread. From sources (tests run .ts
 * through vitest) the worker runs the built file in dist/, which `tsc -b` produces.
 */
async function startHttp(
  deps: HttpDeps,
  o: {
    stateDir: string;
    windowLength: number;
    host: string;
    port: number;
    http: HttpOptions | undefined;
    inWorker: boolean;
    multiHost: boolean;
  },
): Promise<RunningHttp> {
  const cannotListen = (detail: string): UsageError =>
    new UsageError(
      `bse-stream/startBseService: the HTTP server cannot listen on ${o.host}:${o.port} (${detail}); pick another --port (0 = any free port)`,
    );
  if (!o.inWorker) {
    const { app } = buildHttpApp(deps, o.http ?? {});
    try {
      await app.listen({ host: o.host, port: o.port });
    } catch (err) {
      await app.close().catch(() => {});
      throw cannotListen(String((err as Error)?.message ?? err));
    }
    const address = app.server.address();
    return {
      port: typeof address === 'object' && address ? address.port : 0,
      address: typeof address === 'object' && address ? address.address : String(address),
      sendRouting: () => {}, // deps.route reads the service's own table
      close: () => app.close(),
    };
  }
  const here = import.meta.url;
  const file = here.endsWith('.ts') ? new URL('../dist/http-worker.js', here) : new URL('./http-worker.js', here);
  const workerData: HttpWorkerData = {
    stateDir: o.stateDir,
    windowLength: o.windowLength,
    host: o.host,
    port: o.port,
    http: o.http,
    multiHost: o.multiHost,
  };
  const worker = new Worker(file, { workerData });
  const reply = (id: number, p: Promise<unknown>): void => {
    p.then(
      (value) => worker.postMessage({ type: 'reply', id, ok: true, value } satisfies HttpWorkerMessage),
      (err: Error) =>
        worker.postMessage({
          type: 'reply',
          id,
          ok: false,
          error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) },
        } satisfies HttpWorkerMessage),
    );
  };
  let closed: (() => void) | undefined;
  let address = '';
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new UsageError(`bse-stream/startBseService: the HTTP worker exited (${code})`)));
    worker.on('message', (m: HttpWorkerMessage) => {
      if (m.type === 'listening') {
        address = m.address;
        resolve(m.port);
      } else if (m.type === 'failed') {
        // The worker holds a store connection and a message port: end it, or the process lingers.
        void worker.terminate();
        reject(cannotListen(m.error));
      } else if (m.type === 'closed') closed?.();
      else if (m.type === 'call') {
        if (m.kind === 'metrics')
          reply(
            m.id,
            Promise.resolve().then(() => deps.metricsText(m.arg as HttpLatency)),
          );
        else if (m.kind === 'health')
          reply(
            m.id,
            Promise.resolve().then(() => deps.health()),
          );
        else if (m.kind === 'repair')
          reply(
            m.id,
            Promise.resolve().then(() => deps.repair?.(m.arg as string) ?? 0),
          );
        else
          reply(
            m.id,
            Promise.resolve().then(() => deps.requestVersion(m.arg as string)),
          );
      }
    });
  });
  return {
    port,
    address,
    sendRouting: (snapshot) => worker.postMessage({ type: 'routing', snapshot } satisfies HttpWorkerMessage),
    close: async () => {
      await new Promise<void>((resolve) => {
        closed = resolve;
        worker.postMessage({ type: 'close' } satisfies HttpWorkerMessage);
        setTimeout(resolve, 5000).unref();
      });
      await worker.terminate();
    },
  };
}

/** Options of {@link replayTopic}: the service's, without HTTP. */
export interface ReplayOptions
  extends Omit<BseServiceOptions, 'host' | 'port' | 'http' | 'groupId' | 'instanceId' | 'reencode'> {
  /** Give up after this long, ms. @default 600000 */
  timeoutMs?: number;
  /** Progress callback (every poll). */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link replayTopic} did. */
export interface ReplayResult {
  readonly events: number;
  readonly users: number;
  readonly deadLettered: number;
  readonly seconds: number;
}

/**
 * Rebuilds the state from the topic from scratch into an EMPTY state folder: consumes every partition
 * from its first offset up to the end offsets at start (own throw-away consumer group), then stops.
 * The result equals what a live encoder would hold at those offsets, so it is both the recovery path
 * for a lost store and the way to build a store for a new window length.
 */
export async function replayTopic(options: ReplayOptions): Promise<ReplayResult> {
  checkCommon(options, 'bse-stream/replayTopic');
  const log = options.log ?? defaultLog;
  const probe = StateStore.open(
    options.stateDir,
    options.windowLength === undefined ? {} : { windowLength: options.windowLength },
  );
  const empty = probe.isEmpty();
  probe.close();
  if (!empty) {
    throw new UsageError(
      `bse-stream/replayTopic: the state folder ${options.stateDir} already holds state; replay into a new empty --state-dir`,
    );
  }
  const transport = new KafkaTransport({
    brokers: options.brokers,
    ...(options.kafkaSecurity ? { security: options.kafkaSecurity } : {}),
    logLevel: options.kafkaLogLevel ?? 'error',
  });
  let ends: Awaited<ReturnType<KafkaTransport['topicOffsets']>>;
  try {
    await transport.probe(options.connectTimeoutMs ?? 15_000);
    ends = await transport.topicOffsets(options.topic);
  } finally {
    await transport.close();
  }
  const total = ends.reduce((s, p) => s + (p.high - p.low), 0);
  const t0 = Date.now();
  const service = await startBseService({
    ...options,
    groupId: `compactrec-bse-replay-${randomUUID()}`,
    port: 0,
    // The live service dead-lettered these messages already; the replay only counts them.
    publishDeadLetters: false,
    reencode: { pollMs: 1000 },
    log,
  });
  try {
    const deadline = t0 + (options.timeoutMs ?? 600_000);
    for (;;) {
      const stored = service.store.nextOffsets(options.topic);
      let done = 0;
      let complete = true;
      for (const p of ends) {
        const next = stored.get(p.partition) ?? p.low;
        done += Math.max(0, Math.min(next, p.high) - p.low);
        if (next < p.high) complete = false;
      }
      options.onProgress?.(done, total);
      if (complete) break;
      if (Date.now() > deadline) {
        throw new UsageError(
          `bse-stream/replayTopic: replay did not finish within ${options.timeoutMs ?? 600_000} ms (${done}/${total} events)`,
        );
      }
      await sleep(200);
    }
    const c = service.store.counters();
    let dead = 0;
    for (const [k, v] of c) if (k.startsWith('dlq:')) dead += v;
    return { events: total, users: c.get('users') ?? 0, deadLettered: dead, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await service.stop();
  }
}

/** Options of {@link produceEvents}. */
export interface ProduceOptions {
  brokers: readonly string[];
  /** TLS / SASL to the brokers, passed through to kafkajs. @default plaintext */
  kafkaSecurity?: KafkaSecurity;
  topic: string;
  /** Events to send. @default 10000 */
  count?: number;
  /** Target events per second; 0 = as fast as possible. @default 0 */
  rate?: number;
  /** Messages per produce request. @default 500 */
  batchSize?: number;
  /** Partitions if the topic must be created. @default 4 */
  partitions?: number;
  /** The event stream. */
  generator?: EventGeneratorOptions;
  retry?: RetryOptions;
}

/** Sends generated events, keyed by userId, at a target rate. Returns events sent and seconds taken. */
export async function produceEvents(options: ProduceOptions): Promise<{ events: number; seconds: number }> {
  checkCommon(options, 'bse-stream/produceEvents');
  const count = options.count ?? 10_000;
  const rate = options.rate ?? 0;
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(count) || count < 0)
    throw new InvalidArgumentError(`bse-stream/produceEvents: count (${count}) must be ≥ 0`);
  if (!(rate >= 0)) throw new InvalidArgumentError(`bse-stream/produceEvents: rate (${rate}) must be ≥ 0`);
  const transport = new KafkaTransport({
    brokers: options.brokers,
    ...(options.kafkaSecurity ? { security: options.kafkaSecurity } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  await transport.ensureTopic(options.topic, options.partitions ?? 4);
  const producer = await transport.createProducer();
  const gen = new EventGenerator(options.generator);
  const t0 = Date.now();
  let sent = 0;
  try {
    while (sent < count) {
      const n = Math.min(batchSize, count - sent);
      const batch: OutboundMessage[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const e = gen.next();
        batch[i] = { key: e.userId, value: encodeEvent(e) };
      }
      await producer.send(options.topic, batch);
      sent += n;
      if (rate > 0) {
        const due = t0 + (sent / rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  } finally {
    await producer.close();
    await transport.close();
  }
  return { events: sent, seconds: (Date.now() - t0) / 1000 };
}
