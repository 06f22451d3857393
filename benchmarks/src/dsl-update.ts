/**
 * Cost of one DSL prune/grow update on a Gowalla-sized table (29,858 users + 40,981 items = 70,839
 * rows × 64) against the cost of one sparse Adam step on a BPR batch of 2048 × 3 rows, both measured
 * in this run; also the per-step hooks (observeGradients, applyMask) against the same Adam step.
 *
 * Run: `npx tsc -b benchmarks && node benchmarks/dist/dsl-update.js`
 */
import { createSparseOptimizer, Rng } from '@compactrec/core';
import { DslTable } from '@compactrec/dsl';

const ROWS = 70_839;
const DIM = 64;
const BATCH_ROWS = 2048 * 3;
const UPDATE_INTERVAL = 1000;
const TOTAL_STEPS = 100 * UPDATE_INTERVAL;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Distinct random rows (a de-duplicated batch, as the SparseGradAccumulator hands to the optimizer). */
function distinctRows(rng: Rng, n: number, rows: number, out: Int32Array, seen: Uint8Array): void {
  let k = 0;
  while (k < n) {
    const r = rng.nextInt(rows);
    if (seen[r]) continue;
    seen[r] = 1;
    out[k++] = r;
  }
  for (let j = 0; j < n; j++) seen[out[j]!] = 0;
}

function timeMs(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function main(): void {
  const rng = new Rng(42);
  const rows = new Int32Array(BATCH_ROWS);
  const seen = new Uint8Array(ROWS);
  const grads = new Float32Array(BATCH_ROWS * DIM);
  rng.fillNormal(grads, 0.01);

  console.log(
    `DSL update vs sparse Adam step — table ${ROWS} × ${DIM}, batch ${BATCH_ROWS} distinct rows, Node ${process.version}`,
  );
  console.log(
    "(Adam = median sparse Adam step on the same table in the same rounds; observe = 'accumulated' growth's per-step " +
      "cost, which 'batch' growth pays only on update steps; applyMask runs every step in both modes)",
  );
  console.log('');
  console.log(
    'density  nnz        Adam ms   update ms (r=0.5 / r≈0.05 / r=0.005)  update/Adam   amortized/step @ΔT=1000    observe/Adam   applyMask/Adam',
  );

  for (const density of [0.5, 0.25]) {
    const t = new DslTable(ROWS, DIM, TOTAL_STEPS, { density, updateInterval: UPDATE_INTERVAL, seed: 7 });
    t.initValues(0.01, new Rng(2));
    const opt = createSparseOptimizer(t.table, { kind: 'adam', lr: 1e-3 });
    // Baseline measured in the same rounds: the sparse Adam step on the same rows (the values are dense).
    const adamTimes: number[] = [];
    const observe: number[] = [];
    const mask: number[] = [];
    const updates: Record<string, number[]> = { start: [], mid: [], end: [] };
    // Each round: 100 training steps with the hooks (scores accumulate over ~9 of 10 rows), then one update.
    for (let round = 0; round < 7; round++) {
      for (let s = 0; s < 100; s++) {
        distinctRows(rng, BATCH_ROWS, ROWS, rows, seen);
        const step = round * 100 + s + 1;
        observe.push(timeMs(() => t.observeGradients(rows, grads, BATCH_ROWS, step)));
        adamTimes.push(timeMs(() => opt.step(rows, grads, BATCH_ROWS)));
        mask.push(timeMs(() => t.applyMask(rows, BATCH_ROWS)));
      }
      const state = opt.stateArrays();
      // r_t at the start of the run, around 80% of it, and at its end (the cost hardly depends on r_t).
      const phases: [string, number][] = [
        ['start', 0],
        ['mid', Math.round(0.8 * TOTAL_STEPS)],
        ['end', TOTAL_STEPS],
      ];
      const [phase, step] = phases[round % 3]!;
      const ms = timeMs(() => t.update(step, state));
      if (round >= 1) updates[phase]!.push(ms); // the first round warms up the JIT
    }
    const all = [...updates.start!, ...updates.mid!, ...updates.end!];
    const upd = median(all);
    const adamMs = median(adamTimes.slice(50));
    const obs = median(observe.slice(50));
    const msk = median(mask.slice(50));
    console.log(
      [
        density.toFixed(2).padEnd(8),
        String(t.activeCount).padEnd(10),
        adamMs.toFixed(2).padEnd(9),
        `${median(updates.start!).toFixed(1)} / ${median(updates.mid!).toFixed(1)} / ${median(updates.end!).toFixed(1)}`.padEnd(
          38,
        ),
        `${(upd / adamMs).toFixed(1)}×`.padEnd(13),
        `${((100 * upd) / UPDATE_INTERVAL / adamMs).toFixed(2)}% of an Adam step`.padEnd(25),
        `${(obs / adamMs).toFixed(3)}×`.padEnd(14),
        `${(msk / adamMs).toFixed(3)}×`,
      ].join(' '),
    );
    console.log(
      `         pruneRate ${t.pruneRate(0)} / ${t.pruneRate(Math.round(0.8 * TOTAL_STEPS)).toFixed(4)} / ${t.pruneRate(TOTAL_STEPS)}; ` +
        `training bytes ${(t.trainingBytes() / 2 ** 20).toFixed(1)} MiB, compact ${(t.compactBytes() / 2 ** 20).toFixed(1)} MiB ` +
        `(${t.toCompact().format}), dense ${((ROWS * DIM * 4) / 2 ** 20).toFixed(1)} MiB`,
    );
  }
}

main();
