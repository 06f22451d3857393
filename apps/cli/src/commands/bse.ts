import { mkdir } from 'node:fs/promises';
import {
  type BseServiceOptions,
  ModelRegistry,
  produceEvents,
  replayTopic,
  startBseService,
  writeDemoModel,
} from '@compactrec/bse-stream';
import { CompactRecError, InvalidArgumentError } from '@compactrec/core';
import type { Command, OptionSpec, ParsedArgs } from '../args.js';

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
];

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
  return {
    brokers: brokersOf(args, where),
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
    { name: 'host', type: 'string', description: 'HTTP interface', default: '127.0.0.1' },
    { name: 'port', type: 'int', description: 'HTTP port (0 = any free port)', default: 8080, min: 0, max: 65535 },
    {
      name: 'connect-timeout',
      type: 'number',
      description:
        'Seconds to wait for a broker to answer at start; then exit 1 with one line (nothing is created before)',
      default: 15,
      gt: 0,
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
    'HTTP: GET /v1/users/:id/bse (JSON; binary with Accept: application/octet-stream), POST /v1/bse:batchGet {"userIds": [...]},',
    '      POST /v1/admin/model {"version": "..."} (blue/green switch; the active version cancels a pending switch),',
    '      GET /healthz (503 with "problems" when a partition is stopped or the store cannot be written), GET /metrics (Prometheus).',
    'A partition whose log no longer matches the store (re-created topic, changed offset, gap) is stopped, never skipped;',
    'a corrupted user state is rebuilt from its window, a corrupted window from the log (if the log still starts at 0).',
    'Recovery of a stopped partition: `compactrec bse replay --state-dir NEW`, then serve from NEW.',
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
      connectTimeoutMs: (args['connect-timeout'] as number) * 1000,
    }).catch((err: unknown) => {
      // One line, never a stack trace: a failed start is an operator's problem to fix.
      if (err instanceof CompactRecError) throw err;
      throw new CompactRecError(`the service could not start: ${String((err as Error)?.message ?? err)}`);
    });
    process.stdout.write(`bse: serving on ${service.url} (topic ${args.topic}, group ${args.group}); Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        resolve();
      };
      process.on('SIGINT', done);
      process.on('SIGTERM', done);
    });
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
    const r = await produceEvents({
      brokers: brokersOf(args, where),
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
