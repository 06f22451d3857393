import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import {
  type BseServiceOptions,
  isLoopbackHost,
  type KafkaSecurity,
  ModelRegistry,
  produceEvents,
  readTlsFiles,
  readTokenFile,
  replayTopic,
  startBseService,
  type TlsFiles,
  writeDemoModel,
} from '@compactrec/bse-stream';
import { CompactRecError, InvalidArgumentError } from '@compactrec/core';
import type { Command, OptionSpec, ParsedArgs } from '../args.js';
import { untilStopSignal } from '../signals.js';

/** Options shared by the three `bse` commands (where the events are). */
const KAFKA_OPTIONS: readonly OptionSpec[] = [
  { name: 'brokers', type: 'list', description: 'Kafka bootstrap brokers host:port,... (default: $KAFKA_BROKERS)' },
  { name: 'topic', type: 'string', description: 'Topic of behaviour events', default: 'behaviours' },
  {
    name: 'partitions',
    type: 'int',
    description: 'Partitions of the topic if it has to be created',
    default: 4,
    min: 1,
  },
  { name: 'kafka-ssl', type: 'boolean', description: 'Connect to the brokers over TLS', default: false },
  { name: 'kafka-ca-file', type: 'string', description: 'PEM CA of the brokers (implies --kafka-ssl)' },
  {
    name: 'kafka-sasl-mechanism',
    type: 'string',
    description: 'SASL authentication to the brokers',
    choices: ['plain', 'scram-sha-256', 'scram-sha-512'],
  },
  { name: 'kafka-sasl-username', type: 'string', description: 'SASL user name' },
  {
    name: 'kafka-sasl-password-file',
    type: 'string',
    description: 'File whose first line is the SASL password (never on the command line; never logged)',
  },
];

/** TLS / SASL options of the three commands, read from their files. */
function kafkaSecurityOf(args: ParsedArgs, where: string): KafkaSecurity | undefined {
  const security: KafkaSecurity = {};
  const ca = args['kafka-ca-file'] as string | undefined;
  if (ca !== undefined) {
    try {
      security.ssl = { ca: readFileSync(ca, 'utf8') };
    } catch (err) {
      throw new InvalidArgumentError(
        `${where}: cannot read --kafka-ca-file '${ca}' (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  } else if (args['kafka-ssl'] === true) security.ssl = true;
  const mechanism = args['kafka-sasl-mechanism'] as 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  const user = args['kafka-sasl-username'] as string | undefined;
  const pwFile = args['kafka-sasl-password-file'] as string | undefined;
  if (mechanism !== undefined || user !== undefined || pwFile !== undefined) {
    if (mechanism === undefined || user === undefined || pwFile === undefined) {
      throw new InvalidArgumentError(
        `${where}: SASL needs all of --kafka-sasl-mechanism, --kafka-sasl-username and --kafka-sasl-password-file`,
      );
    }
    let password: string;
    try {
      password = (readFileSync(pwFile, 'utf8').split(/\r?\n/, 1)[0] ?? '').trim();
    } catch (err) {
      throw new InvalidArgumentError(
        `${where}: cannot read --kafka-sasl-password-file '${pwFile}' (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    if (password === '') throw new InvalidArgumentError(`${where}: --kafka-sasl-password-file '${pwFile}' is empty`);
    security.sasl = { mechanism, username: user, password };
  }
  return security.ssl === undefined && security.sasl === undefined ? undefined : security;
}

/** Options of the encoder itself (serve and replay). */
const ENCODER_OPTIONS: readonly OptionSpec[] = [
  { name: 'model-dir', type: 'string', description: 'Folder of model-version files <version>.sdim', required: true },
  { name: 'state-dir', type: 'string', description: 'Folder of the durable state (SQLite, WAL)', required: true },
  {
    name: 'model-version',
    type: 'string',
    description:
      "Version to serve (a different one than the store's starts a blue/green switch; default: the store's, else the last file)",
  },
  { name: 'dlq-topic', type: 'string', description: 'Dead-letter topic (default: <topic>.dlq)' },
  {
    name: 'window-length',
    type: 'int',
    description: 'L, behaviours kept per user (fixed per store)',
    default: 100,
    min: 1,
    max: 65535,
  },
  { name: 'max-events-per-tx', type: 'int', description: 'Messages per store transaction', default: 20000, min: 1 },
  {
    name: 'max-event-bytes',
    type: 'int',
    description: 'Larger messages are dead-lettered as oversize',
    default: 4096,
    min: 64,
  },
  {
    name: 'max-future-skew',
    type: 'number',
    description:
      "Seconds an event's ts may lie after its Kafka record timestamp; later ones are dead-lettered as future-ts",
    default: 86400,
    min: 0,
  },
  {
    name: 'max-db-mib',
    type: 'number',
    description:
      'Largest state database file, MiB (0 = no limit); beyond it the consumer stops storing and /healthz says so',
    default: 0,
    min: 0,
  },
];

function brokersOf(args: ParsedArgs, where: string): string[] {
  const list = (args.brokers as string[] | undefined) ?? process.env.KAFKA_BROKERS?.split(',').filter((s) => s !== '');
  if (!list || list.length === 0) {
    throw new InvalidArgumentError(`no brokers (${where}); pass --brokers host:port or set KAFKA_BROKERS`);
  }
  return list;
}

function encoderOptions(args: ParsedArgs, where: string): BseServiceOptions {
  const security = kafkaSecurityOf(args, where);
  return {
    brokers: brokersOf(args, where),
    ...(security ? { kafkaSecurity: security } : {}),
    topic: args.topic as string,
    partitions: args.partitions as number,
    modelDir: args['model-dir'] as string,
    stateDir: args['state-dir'] as string,
    windowLength: args['window-length'] as number,
    maxEventsPerTransaction: args['max-events-per-tx'] as number,
    codec: {
      maxEventBytes: args['max-event-bytes'] as number,
      maxFutureSkewMs: (args['max-future-skew'] as number) * 1000,
    },
    store: { maxDbBytes: Math.floor((args['max-db-mib'] as number) * 1024 * 1024) },
    ...(args['model-version'] !== undefined ? { modelVersion: args['model-version'] as string } : {}),
    ...(args['dlq-topic'] !== undefined ? { deadLetterTopic: args['dlq-topic'] as string } : {}),
  };
}

/** `--auth-token-file`, `--tls-cert/--tls-key`; a non-loopback `--host` without a token is refused. */
function httpSecurityOf(args: ParsedArgs, where: string): { authToken?: string; tls?: TlsFiles } {
  const tokenFile = args['auth-token-file'] as string | undefined;
  const authToken = tokenFile === undefined ? undefined : readTokenFile(tokenFile, where);
  const host = args.host as string;
  if (authToken === undefined && !isLoopbackHost(host)) {
    throw new InvalidArgumentError(
      `${where}: --host ${host} exposes every user's state beyond this machine; pass --auth-token-file too (closed by default)`,
    );
  }
  const tls = readTlsFiles(args['tls-cert'] as string | undefined, args['tls-key'] as string | undefined, where);
  return { ...(authToken !== undefined ? { authToken } : {}), ...(tls ? { tls } : {}) };
}

/** `compactrec bse serve`: runs one encoder instance (consumer group member + HTTP feature API) until SIGINT/SIGTERM. */
export const bseServeCommand: Command = {
  name: 'bse serve',
  summary: 'Run the streaming BSE encoder: consume behaviour events, keep per-user SDIM states, serve them over HTTP',
  options: [
    ...KAFKA_OPTIONS,
    ...ENCODER_OPTIONS,
    {
      name: 'group',
      type: 'string',
      description: 'Consumer group (instances sharing it and the state dir split the partitions)',
      default: 'compactrec-bse',
    },
    {
      name: 'host',
      type: 'string',
      description: 'HTTP interface (loopback only by default; another host needs --auth-token-file)',
      default: '127.0.0.1',
    },
    {
      name: 'auth-token-file',
      type: 'string',
      description: 'File whose first line is the bearer token required on every route except /healthz',
    },
    { name: 'tls-cert', type: 'string', description: 'PEM certificate: serve HTTPS (with --tls-key)' },
    { name: 'tls-key', type: 'string', description: 'PEM private key of --tls-cert' },
    { name: 'port', type: 'int', description: 'HTTP port (0 = any free port)', default: 8080, min: 0, max: 65535 },
    {
      name: 'state-precision',
      type: 'string',
      description:
        'Precision of the bucket sums in JSON answers (float32 halves them; float64 = the stored sums exactly)',
      choices: ['float32', 'float64'],
      default: 'float32',
    },
    {
      name: 'max-batch-get',
      type: 'int',
      description: 'Most user ids in one batchGet request (more → 400)',
      default: 1000,
      min: 1,
    },
    {
      name: 'max-response-kib',
      type: 'int',
      description:
        'Largest batchGet answer, KiB; a larger one is paged (nextOffset) so a request holds one page in memory',
      default: 4096,
      min: 64,
    },
    {
      name: 'body-limit-kib',
      type: 'int',
      description: 'Largest request body, KiB (larger → 413)',
      default: 1024,
      min: 1,
    },
    {
      name: 'connect-timeout',
      type: 'number',
      description:
        'Seconds to wait for a broker to answer at start; then exit 1 with one line (nothing is created before)',
      default: 15,
      gt: 0,
    },
    {
      name: 'multi-host',
      type: 'boolean',
      description:
        'Multi-host mode: own --state-dir per instance, changelog topic <topic>.<group>.changelog.window, restore on assignment, reads forwarded to the owner (every instance of the group must pass it)',
      default: false,
    },
    {
      name: 'advertise-url',
      type: 'string',
      description:
        'With --multi-host: the URL other instances reach this one at (default http(s)://<--host or hostname>:<port>)',
    },
    {
      name: 'restore-chunk-users',
      type: 'int',
      description: "With --multi-host: users per restore transaction (bounds a restore's memory)",
      default: 1000,
      min: 1,
    },
    {
      name: 'standby-replicas',
      type: 'int',
      description:
        'With --multi-host: keep warm copies of the partitions of the N members after each owner (taking one over reads only the changelog tail)',
      default: 0,
      min: 0,
    },
    {
      name: 'cancel-model-switch',
      type: 'boolean',
      description:
        'Cancel a model switch left pending in the store (without it, a restart continues the switch, also with --model-version <active>)',
      default: false,
    },
  ],
  details: [
    'HTTP: GET /v1/users/:id/bse (JSON; binary with Accept: application/octet-stream), POST /v1/bse:batchGet {"userIds": [...], "offset"?: k}',
    '      (answers of more than --max-response-kib are paged: repeat with "offset": nextOffset),',
    '      POST /v1/admin/model {"version": "..."} (blue/green switch; the active version cancels a pending switch),',
    '      GET /healthz (503 with "problems" when a partition is stopped or the store cannot be written), GET /metrics (Prometheus).',
    'A partition whose log no longer matches the store (re-created topic, changed offset, gap) is stopped, never skipped;',
    'a corrupted user state is rebuilt from its window, a corrupted window from the log (if the log still starts at 0).',
    'Recovery of a stopped partition: `compactrec bse replay --state-dir NEW`, then serve from NEW.',
    'Multi-host (--multi-host): each instance its own --state-dir, --host <interface> with --auth-token-file (same token on all);',
    '      any instance answers any user (forwarded to the owner; 503 + Retry-After during a hand-over).',
    'Example: compactrec bse produce --brokers 127.0.0.1:9092 --model-dir models --count 100000',
    '         compactrec bse serve --brokers 127.0.0.1:9092 --model-dir models --state-dir state',
    'A local broker for development: export $(bash scripts/kafka/start.sh)   # sets KAFKA_BROKERS and KAFKA_DIR',
    '                                 bash scripts/kafka/stop.sh --dir "$KAFKA_DIR" --delete',
  ].join('\n'),
  async run(args) {
    const where = 'compactrec bse serve';
    const service = await startBseService({
      ...encoderOptions(args, where),
      groupId: args.group as string,
      host: args.host as string,
      port: args.port as number,
      cancelModelSwitch: args['cancel-model-switch'] as boolean,
      http: {
        ...httpSecurityOf(args, where),
        statePrecision: args['state-precision'] as 'float32' | 'float64',
        maxBatchGet: args['max-batch-get'] as number,
        maxResponseBytes: (args['max-response-kib'] as number) * 1024,
        bodyLimit: (args['body-limit-kib'] as number) * 1024,
      },
      connectTimeoutMs: (args['connect-timeout'] as number) * 1000,
      ...(args['multi-host']
        ? {
            multiHost: {
              ...(args['advertise-url'] !== undefined ? { advertiseUrl: args['advertise-url'] as string } : {}),
              restoreChunkUsers: args['restore-chunk-users'] as number,
              standbyReplicas: args['standby-replicas'] as number,
            },
          }
        : {}),
    }).catch((err: unknown) => {
      // One line, never a stack trace: a failed start is an operator's problem to fix.
      if (err instanceof CompactRecError) throw err;
      throw new CompactRecError(`the service could not start: ${String((err as Error)?.message ?? err)}`);
    });
    process.stdout.write(`bse: serving on ${service.url} (topic ${args.topic}, group ${args.group}); Ctrl-C to stop\n`);
    await untilStopSignal();
    process.stdout.write('bse: stopping (handing partitions over)\n');
    await service.stop();
    return 0;
  },
};

/** `compactrec bse replay`: rebuilds the state from the whole topic into an empty state folder, then exits. */
export const bseReplayCommand: Command = {
  name: 'bse replay',
  summary: 'Rebuild the BSE state from scratch by replaying the whole topic into an empty state folder',
  options: [
    ...KAFKA_OPTIONS,
    ...ENCODER_OPTIONS,
    { name: 'timeout', type: 'number', description: 'Give up after this many seconds', default: 3600, gt: 0 },
  ],
  details: 'Reads every partition from its first offset up to the end offsets at start, in its own consumer group.',
  async run(args) {
    const where = 'compactrec bse replay';
    let last = 0;
    const r = await replayTopic({
      ...encoderOptions(args, where),
      timeoutMs: (args.timeout as number) * 1000,
      onProgress: (done, total) => {
        if (Date.now() - last > 2000) {
          last = Date.now();
          process.stderr.write(`bse replay: ${done}/${total} events\n`);
        }
      },
      log: (level, message) => {
        if (level !== 'info') process.stderr.write(`${level}: ${message}\n`);
      },
    });
    process.stdout.write(
      `bse replay: ${r.events} events, ${r.users} users, ${r.deadLettered} dead letters in ${r.seconds.toFixed(1)} s (${Math.round(r.events / Math.max(r.seconds, 1e-3))} events/s)\n`,
    );
    return 0;
  },
};

/** `compactrec bse produce`: a deterministic behaviour-event generator for load and demos. */
export const bseProduceCommand: Command = {
  name: 'bse produce',
  summary: 'Produce synthetic behaviour events (keyed by user) at a target rate, for load tests and demos',
  options: [
    ...KAFKA_OPTIONS,
    { name: 'rate', type: 'number', description: 'Events per second (0 = as fast as possible)', default: 0, min: 0 },
    { name: 'count', type: 'int', description: 'Events to send', default: 100000, min: 0 },
    { name: 'users', type: 'int', description: 'Distinct users', default: 10000, min: 1 },
    { name: 'items', type: 'int', description: 'Item indices drawn from [0, items)', default: 1000, min: 1 },
    { name: 'seed', type: 'int', description: 'Seed of the stream', default: 0 },
    {
      name: 'event-prefix',
      type: 'string',
      description: 'Prefix of the event ids (default: a new one per run, so a second run is not taken for retries)',
    },
    {
      name: 'start-ts',
      type: 'number',
      description: 'Event time of the first event, epoch ms (default: now, so a second run is not "too old")',
      min: 0,
    },
    {
      name: 'duplicate-rate',
      type: 'number',
      description: 'Share of verbatim repeats (producer retries)',
      default: 0,
      min: 0,
      max: 0.99,
    },
    {
      name: 'late-rate',
      type: 'number',
      description: 'Share of late (out-of-order) events',
      default: 0,
      min: 0,
      max: 0.99,
    },
    {
      name: 'model-dir',
      type: 'string',
      description: 'If set and it holds no model yet, also write a random demo model version "demo" (dim 32) there',
    },
  ],
  async run(args) {
    const where = 'compactrec bse produce';
    const modelDir = args['model-dir'] as string | undefined;
    if (modelDir !== undefined) {
      await mkdir(modelDir, { recursive: true });
      if ((await new ModelRegistry(modelDir).available()).length === 0) {
        const { path } = await writeDemoModel(modelDir, { numItems: args.items as number, seed: args.seed as number });
        process.stdout.write(`bse produce: wrote demo model ${path}\n`);
      }
    }
    const security = kafkaSecurityOf(args, where);
    const r = await produceEvents({
      brokers: brokersOf(args, where),
      ...(security ? { kafkaSecurity: security } : {}),
      topic: args.topic as string,
      partitions: args.partitions as number,
      count: args.count as number,
      rate: args.rate as number,
      generator: {
        seed: args.seed as number,
        numUsers: args.users as number,
        numItems: args.items as number,
        duplicateRate: args['duplicate-rate'] as number,
        lateRate: args['late-rate'] as number,
        eventPrefix: (args['event-prefix'] as string | undefined) ?? `e${Date.now().toString(36)}-`,
        startTs: (args['start-ts'] as number | undefined) ?? Date.now(),
      },
    });
    process.stdout.write(
      `bse produce: ${r.events} events to ${args.topic} in ${r.seconds.toFixed(1)} s (${Math.round(r.events / Math.max(r.seconds, 1e-3))} events/s)\n`,
    );
    return 0;
  },
};

/** The three `bse` commands, for registration in commands/index.ts. */
export const BSE_COMMANDS: readonly Command[] = [bseServeCommand, bseReplayCommand, bseProduceCommand];
