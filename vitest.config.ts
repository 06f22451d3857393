import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against sources: every @compactrec/* package name resolves to its src/index.ts,
// so no build is needed before `vitest run` (native addons and workers are built by scripts/setup.sh).
const root = fileURLToPath(new URL('.', import.meta.url));
const alias: Record<string, string> = {};
const projects: { dir: string; name: string }[] = [];
const dirs = ['benchmarks'];
for (const group of ['packages', 'apps']) for (const d of readdirSync(`${root}${group}`)) dirs.push(`${group}/${d}`);
for (const dir of dirs) {
  const pkg = `${root}${dir}/package.json`;
  if (!existsSync(pkg)) continue;
  const { name } = JSON.parse(readFileSync(pkg, 'utf8')) as { name: string };
  if (existsSync(`${root}${dir}/src/index.ts`)) alias[name] = `${root}${dir}/src/index.ts`;
  if (existsSync(`${root}${dir}/test`)) projects.push({ dir, name });
}

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      ...projects.map(({ dir, name }) => ({
        resolve: { alias },
        test: {
          name,
          root: `${root}${dir}`,
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      })),
      {
        resolve: { alias },
        test: {
          name: 'integration',
          root: `${root}test`,
          // Starts a real Kafka broker (scripts/kafka/start.sh) unless KAFKA_BROKERS is set.
          globalSetup: [`${root}test/global-setup.ts`],
          include: ['**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
