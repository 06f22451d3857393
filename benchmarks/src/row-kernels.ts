/**
 * The embedding half of a many-field CTR step, phase by phase: F fields' lookups into one `[B × F × d]`
 * buffer (gather), their gradients back into the tables (accumulate) and one lazy-Adam step per table
 * (step), through `FeatureEmbedding` on float32 tables, on three paths measured in one run:
 * - `c++ rows`: the batch row path on the C++ row kernels (the default);
 * - `js rows`: the same batch path on the JavaScript row kernels (`COMPACTREC_KERNELS=js` at creation);
 * - `c++ no-combine`: the C++ row kernels with the storage's `gatherCombined` hidden, so a K-row method
 *   (double-*, qr) gathers its rows and composes them in JavaScript — the path before the K-row kernel
 *   (the same as `c++ rows` for one-row methods such as `full`);
 * - `per-row`: the contract's per-row methods only (`gather`, one `accumulate` per ID) and the JavaScript
 *   row step — the path every storage had before the batch methods and the C++ row kernels.
 * Rounds are interleaved and the path order rotates every round; the tables are big (random rows miss the
 * caches, as in a real CTR model) and the IDs Zipf-like.
 *
 * Usage: node benchmarks/dist/row-kernels.js [--fields 26] [--rows 100000] [--dim 16] [--batch 4096]
 *          [--steps 10] [--rounds 5] [--method full|double|…]
 */
import { type EmbeddingStorage, Rng } from '@compactrec/core';
import { createFeatureEmbedding, FeatureEmbedding } from '@compactrec/embedding';
import { rowKernelsInfo } from '@compactrec/native';
import { loadLine } from './peers.js';

const HELP = `Usage: node benchmarks/dist/row-kernels.js [options]
  --fields <n>   fields (tables) [default: 26]
  --rows <n>     rows per table [default: 100000]
  --dim <n>      embedding dimension [default: 16]
  --batch <n>    IDs per field per step [default: 4096]
  --steps <n>    steps per path per round [default: 10]
  --rounds <n>   interleaved rounds [default: 5]
  --method <m>   embedding method of every table; sharing methods get a quarter of the full
                 table (e.g. double: two hashed rows summed) [default: full]
`;

function parseArgs(argv: readonly string[]): { a: Record<string, number>; method: string } {
  const a: Record<string, number> = { fields: 26, rows: 100_000, dim: 16, batch: 4096, steps: 10, rounds: 5 };
  let method = 'full';
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (flag === '--help') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (flag === '--method') {
      method = argv[i + 1] ?? '';
      continue;
    }
    const key = flag.replace(/^--/, '');
    const v = Number(argv[i + 1]);
    if (!(key in a)) throw new Error(`row-kernels: unknown option ${flag}\n${HELP}`);
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`row-kernels: ${flag} '${argv[i + 1]}' is not a positive integer`);
    a[key] = v;
  }
  return { a, method };
}

/** The storage with every batch method but `gatherCombined` (K-row lookups compose in JavaScript). */
function noCombine(s: EmbeddingStorage): EmbeddingStorage {
  const w = perRowOnly(s);
  w.gatherStrided = (ids, n, out, off, stride) => s.gatherStrided!(ids, n, out, off, stride);
  w.accumulateStrided = (ids, n, g, off, stride, k, cs) => s.accumulateStrided!(ids, n, g, off, stride, k, cs);
  return w;
}

/** The storage seen through the per-row contract methods only. */
function perRowOnly(s: EmbeddingStorage): EmbeddingStorage {
  return {
    kind: s.kind,
    rows: s.rows,
    rowDim: s.rowDim,
    embeddingBytes: s.embeddingBytes,
    optimizerBytes: s.optimizerBytes,
    trainingBytes: s.trainingBytes,
    serving: s.serving,
    params: s.params,
    lr: s.lr,
    gather: (ids, out, n) => s.gather(ids, out, n),
    accumulate: (r, g, o, scale) => s.accumulate(r, g, o, scale),
    step: () => s.step(),
    trainingView: () => s.trainingView(),
    afterKernelSteps: (t) => s.afterKernelSteps(t),
    finishTraining: () => s.finishTraining(),
    snapshot: () => s.snapshot(),
  };
}

const PATHS = ['c++ rows', 'c++ no-combine', 'js rows', 'per-row'] as const;
type Path = (typeof PATHS)[number];
const PHASES = ['gather', 'accumulate', 'step'] as const;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function main(): void {
  const { a, method } = parseArgs(process.argv.slice(2));
  const { fields: F, rows, dim: d, batch: n, steps, rounds } = a as Record<string, number>;
  const info = rowKernelsInfo();
  if (info.kind !== 'native') throw new Error(`row-kernels: the C++ row kernels are not available: ${info.reason}`);
  process.stdout.write(
    `row-kernels: ${F} float32 tables of ${rows.toLocaleString('en-US')} IDs (method ${method}) × d ${d}, ${n} IDs per table per step, ` +
      `${steps} steps per path × ${rounds} interleaved rounds (C++ kernels: ${info.reason})\n`,
  );
  const make = (path: Path): FeatureEmbedding[] => {
    const before = process.env.COMPACTREC_KERNELS;
    if (path === 'js rows' || path === 'per-row') process.env.COMPACTREC_KERNELS = 'js';
    else delete process.env.COMPACTREC_KERNELS;
    try {
      return Array.from({ length: F }, (_, f) => {
        const full = rows * d * 4;
        const budgetBytes = method === 'full' ? full : Math.floor(full / 4);
        const e = createFeatureEmbedding(method, { numIds: rows }, { dim: d, budgetBytes, seed: f });
        if (path === 'per-row') return new FeatureEmbedding(e.method, e.mapper, perRowOnly(e.storage), d);
        if (path === 'c++ no-combine') return new FeatureEmbedding(e.method, e.mapper, noCombine(e.storage), d);
        return e;
      });
    } finally {
      if (before === undefined) delete process.env.COMPACTREC_KERNELS;
      else process.env.COMPACTREC_KERNELS = before;
    }
  };
  const tables = new Map<Path, FeatureEmbedding[]>(PATHS.map((p) => [p, make(p)]));
  // Zipf-like IDs (u² over the rows), fixed batches shared by every path.
  const rng = new Rng(5);
  const batches = Array.from({ length: 4 }, () =>
    Array.from({ length: F }, () => Int32Array.from({ length: n }, () => Math.floor(rng.next() ** 2 * rows))),
  );
  const out = new Float32Array(n * F * d);
  const grad = new Float32Array(n * F * d);
  for (let i = 0; i < grad.length; i++) grad[i] = (rng.next() - 0.5) * 1e-2;
  // ms per step of each phase, per path and round
  const ms = new Map<Path, Record<(typeof PHASES)[number], number[]>>(
    PATHS.map((p) => [p, { gather: [], accumulate: [], step: [] }]),
  );
  const run = (path: Path, count: number, record: boolean): void => {
    const es = tables.get(path)!;
    const t = { gather: 0, accumulate: 0, step: 0 };
    for (let s = 0; s < count; s++) {
      const b = batches[s % batches.length]!;
      const t0 = performance.now();
      for (let f = 0; f < F; f++) es[f]!.lookup(b[f]!, out, n, f * d, F * d);
      const t1 = performance.now();
      for (let f = 0; f < F; f++) es[f]!.backward(b[f]!, grad, f * d, F * d);
      const t2 = performance.now();
      for (let f = 0; f < F; f++) es[f]!.step();
      const t3 = performance.now();
      t.gather += t1 - t0;
      t.accumulate += t2 - t1;
      t.step += t3 - t2;
    }
    if (!record) return;
    const m = ms.get(path)!;
    for (const k of PHASES) m[k].push(t[k] / count);
  };
  for (const p of PATHS) run(p, 2, false); // warm-up: first-touch of the moments, JIT
  for (let r = 0; r < rounds; r++) {
    const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!);
    for (const p of order) run(p, steps, true);
    process.stdout.write(
      `  round ${r + 1}: ${order.map((p) => `${p} ${PHASES.reduce((s, k) => s + ms.get(p)![k].at(-1)!, 0).toFixed(1)} ms`).join(', ')} (load ${loadLine()})\n`,
    );
  }
  process.stdout.write(
    '\npath             phase        ms/step (median of rounds)   per-row ÷ path   js rows ÷ path   no-combine ÷ path\n',
  );
  for (const p of PATHS) {
    const m = ms.get(p)!;
    const total = (q: Path, r: number): number => PHASES.reduce((s, k) => s + ms.get(q)![k][r]!, 0);
    const rows_: [string, number[], (q: Path) => number[]][] = [
      ...PHASES.map((k) => [k, m[k], (q: Path) => ms.get(q)![k]] as [string, number[], (q: Path) => number[]]),
      ['total', m.gather.map((_, r) => total(p, r)), (q: Path) => m.gather.map((_, r) => total(q, r))],
    ];
    for (const [phase, xs, of] of rows_) {
      const ratio = (base: Path): string =>
        median(xs.map((x, r) => of(base)[r]! / x))
          .toFixed(2)
          .padStart(6);
      process.stdout.write(
        `${p.padEnd(16)} ${phase.padEnd(12)} ${median(xs).toFixed(2).padStart(8)}                     ${ratio('per-row')}×          ${ratio('js rows')}×          ${ratio('c++ no-combine')}×\n`,
      );
    }
  }
  process.stdout.write(`load average at the end: ${loadLine()}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
