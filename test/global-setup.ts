/**
 * Global set-up of the `integration` vitest project: a real Apache Kafka broker for the tests.
 * If KAFKA_BROKERS is set, that broker is used. Otherwise scripts/kafka/start.sh starts a single-node
 * KRaft broker on free loopback ports in a fresh temp folder, and teardown stops it and deletes the
 * folder. Also builds packages/bse-stream and apps/cli (incremental tsc): encoder child processes run the
 * package's dist, CLI tests the real binary.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('..', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

export default function setup(project: TestProject): () => void {
  // Encoder child processes run packages/bse-stream/dist; CLI tests run apps/cli/dist (incremental).
  execFileSync('npx', ['--no-install', 'tsc', '-b', 'packages/bse-stream', 'apps/cli'], {
    cwd: root,
    stdio: 'inherit',
  });
  const external = process.env.KAFKA_BROKERS;
  if (external) {
    project.provide('kafkaBrokers', external);
    return () => {};
  }
  const r = spawnSync('bash', ['scripts/kafka/start.sh'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0)
    throw new Error(`test/global-setup: scripts/kafka/start.sh failed (exit ${r.status}); see the lines above`);
  const out = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
  const brokers = out.KAFKA_BROKERS;
  const dir = out.KAFKA_DIR;
  if (!brokers || !dir) throw new Error(`test/global-setup: unexpected start.sh output: ${r.stdout}`);
  process.env.KAFKA_BROKERS = brokers;
  project.provide('kafkaBrokers', brokers);
  return () => {
    spawnSync('bash', ['scripts/kafka/stop.sh', '--dir', dir, '--delete'], { cwd: root, stdio: 'inherit' });
  };
}
