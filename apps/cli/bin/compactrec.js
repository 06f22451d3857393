#!/usr/bin/env node
// Entry point of the `compactrec` binary: runs the compiled CLI (built by `npm run setup`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(dist)) {
  process.stderr.write('compactrec: the CLI is not built yet; run `npm run setup` at the repository root first\n');
  process.exit(1);
}
const { main } = await import('../dist/main.js');
process.exitCode = await main(process.argv.slice(2));
