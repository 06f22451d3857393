import { spawnSync } from 'node:child_process';

/** A Kafka broker for a benchmark: the one in `KAFKA_BROKERS`, or one started here on free ports. */
export interface BenchBroker {
  readonly brokers: string;
  /** Stops and deletes the broker this process started (a no-op for `KAFKA_BROKERS`). */
  stop(): void;
}

/**
 * Uses `KAFKA_BROKERS` when set; otherwise starts the project's broker (`scripts/kafka/start.sh`,
 * run from `root`) and returns how to stop it. `name` prefixes the error when the start fails.
 */
export function benchBroker(root: string, name: string): BenchBroker {
  const given = process.env.KAFKA_BROKERS;
  if (given) return { brokers: given, stop: () => {} };
  const r = spawnSync('bash', ['scripts/kafka/start.sh'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0)
    throw new Error(`${name}: scripts/kafka/start.sh failed (exit ${r.status}); see its output above`);
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(r.stdout)?.[1];
  const dir = /KAFKA_DIR=(\S+)/.exec(r.stdout)?.[1];
  if (!brokers || !dir) throw new Error(`${name}: scripts/kafka/start.sh printed no KAFKA_BROKERS/KAFKA_DIR`);
  return {
    brokers,
    stop: () => {
      spawnSync('bash', ['scripts/kafka/stop.sh', '--dir', dir, '--delete'], { cwd: root, stdio: 'inherit' });
    },
  };
}
