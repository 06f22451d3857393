import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against sources: every @compactrec/* package name resolves to its src/index.ts,
// so no build is needed before `vitest run` (native addons and workers are built by scripts/setup.sh).
const root = fileURLToPath(new URL('.', import.meta.url));
const alias: Record<string, string> = {};
const projects: string[] = [];
for (const group of ['packages', 'apps']) {
  for (const dir of readdirSync(`${root}${group}`)) {
    const src = `${root}${group}/${dir}/src/index.ts`;
    if (existsSync(src)) alias[`@compactrec/${dir}`] = src;
    if (existsSync(`${root}${group}/${dir}/test`)) projects.push(`${group}/${dir}`);
  }
}

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      ...projects.map((dir) => ({
        resolve: { alias },
        test: {
          name: `@compactrec/${dir.split('/')[1]}`,
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
          include: ['**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
