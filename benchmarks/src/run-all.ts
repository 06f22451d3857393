/**
 * `npm run bench`: runs the speed benchmarks of this folder one after another (each in its own
 * process, as documented in its header), prints each one's output, then a summary of exit codes and
 * wall times. The compression comparisons are `compactrec bench retrieval|ctr`, not part of this.
 *
 * Usage: node benchmarks/dist/run-all.js [--only a,b] [--list]
 * A benchmark whose inputs are missing (datasets, Kafka jars, native kernels) says so and exits
 * non-zero; the run goes on and the summary shows it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Each speed benchmark with the arguments of a run of a few minutes at most. */
const BENCHMARKS: readonly { name: string; args: readonly string[]; what: string }[] = [
  { name: 'mf-bpr-speed', args: ['--epochs', '1'], what: 'MF-BPR epoch + full ranking, native vs JavaScript kernels' },
  { name: 'lightgcn-speed', args: [], what: 'LightGCN epoch per gradient scheme' },
  { name: 'graphhash-cluster', args: ['--repeats', '1'], what: 'Louvain clustering of Gowalla' },
  { name: 'dsl-update', args: [], what: 'one DSL prune/grow update vs one sparse Adam step' },
  {
    name: 'tfjs-dnn',
    args: ['--steps', '5', '--wasm-steps', '2', '--cpu-steps', '1'],
    what: 'DNN training per TF.js backend',
  },
  { name: 'sdim-vs-din', args: ['--quick'], what: 'SDIM vs DIN attention cost by sequence length' },
  { name: 'ctr-memory', args: ['--cardinality', '100000', '--steps', '20'], what: 'CTR table bytes vs budget, RSS' },
  { name: 'storage-lookup', args: [], what: 'served-table lookup IDs/s of every storage kind vs float32' },
  {
    name: 'row-kernels',
    args: ['--steps', '3', '--rounds', '3'],
    what: 'CTR embedding gather / accumulate / lazy Adam: C++ vs JavaScript rows vs per-row path',
  },
  { name: 'bse-load', args: ['--events', '20000'], what: 'streaming BSE encoder on a real Kafka broker' },
];

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  process.stdout.write(
    `Usage: node benchmarks/dist/run-all.js [--only a,b] [--list]\n${BENCHMARKS.map((b) => `  ${b.name.padEnd(20)}${b.what} (args: ${b.args.join(' ') || 'defaults'})`).join('\n')}\n`,
  );
  process.exit(0);
}
if (argv.includes('--list')) {
  for (const b of BENCHMARKS) process.stdout.write(`${b.name}\t${b.what}\n`);
  process.exit(0);
}
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? new Set((argv[onlyAt + 1] ?? '').split(',')) : null;
if (only) {
  const unknown = [...only].filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `run-all: unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`,
    );
    process.exit(2);
  }
}
const summary: string[] = [];
let failed = 0;
const picked = BENCHMARKS.filter((b) => only === null || only.has(b.name));
for (const [i, b] of picked.entries()) {
  const file = fileURLToPath(new URL(`./${b.name}.js`, import.meta.url));
  process.stdout.write(`\n=== [${i + 1}/${picked.length}] ${b.name}: ${b.what}\n`);
  if (!existsSync(file)) {
    summary.push(`${b.name.padEnd(20)} missing (${file}; build with npx tsc -b)`);
    failed++;
    continue;
  }
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [file, ...b.args], { stdio: 'inherit' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) failed++;
  summary.push(
    `${b.name.padEnd(20)} ${r.status === 0 ? 'ok    ' : `exit ${r.status ?? r.signal}`} ${seconds.toFixed(1)} s`,
  );
}
process.stdout.write(`\n=== summary\n${summary.join('\n')}\n`);
process.exitCode = failed > 0 ? 1 : 0;
