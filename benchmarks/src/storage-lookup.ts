// Lookup throughput of every storage kind (served form, d 64) against float32, measured in the same
// run and interleaved (rounds alternate the kinds), through the contract's FeatureEmbedding.lookup.
//   node benchmarks/dist/storage-lookup.js [--rows N] [--batch B] [--rounds R]
import { Rng } from '@compactrec/core';
import { createFeatureEmbedding, type FeatureEmbedding, STORAGE_KINDS } from '@compactrec/embedding';
import { FULL_SPEC } from '@compactrec/id-hashing';

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const rows = Number(flag('rows', '200000'));
const batch = Number(flag('batch', '4096'));
const rounds = Number(flag('rounds', '5'));
const dim = 64;
const idsPerMeasure = 2_000_000;

// Every kind alone on the full table (dsl at a 0.3 budget, its density knob), served form.
const fit = { numIds: rows };
const full = rows * dim * 4;
const tables: { name: string; emb: FeatureEmbedding }[] = [];
for (const [name, spec] of Object.entries(STORAGE_KINDS)) {
  const emb = createFeatureEmbedding(spec === STORAGE_KINDS.float32 ? FULL_SPEC.name : name, fit, {
    dim,
    budgetBytes: spec.fitsBudget ? Math.floor(0.3 * full) : full,
    seed: 1,
    totalSteps: 100,
  });
  emb.finishTraining();
  tables.push({ name, emb });
}
const rng = new Rng(7);
const ids = new Int32Array(batch);
const out = new Float32Array(batch * dim);
const seconds = new Map<string, number>();
for (let r = 0; r < rounds; r++) {
  for (const { name, emb } of tables) {
    let done = 0;
    const t0 = performance.now();
    while (done < idsPerMeasure) {
      for (let j = 0; j < batch; j++) ids[j] = rng.nextInt(rows);
      emb.lookup(ids, out, batch);
      done += batch;
    }
    seconds.set(name, (seconds.get(name) ?? 0) + (performance.now() - t0) / 1000);
  }
}
const base = (rounds * idsPerMeasure) / seconds.get('float32')!;
process.stdout.write(
  `Served-table lookup throughput, ${rows.toLocaleString('en-US')} rows × d ${dim}, random batches of ${batch}, ${rounds} interleaved rounds of ${idsPerMeasure.toLocaleString('en-US')} IDs per kind\n\n`,
);
process.stdout.write(
  '| kind | bytes per row | served bytes | IDs/s | vs float32 |\n| --- | ---: | ---: | ---: | ---: |\n',
);
for (const { name, emb } of tables) {
  const ips = (rounds * idsPerMeasure) / seconds.get(name)!;
  process.stdout.write(
    `| ${name} | ${(emb.embeddingBytes / rows).toFixed(1)} | ${emb.embeddingBytes.toLocaleString('en-US')} | ${Math.round(ips).toLocaleString('en-US')} | ${(ips / base).toFixed(2)} |\n`,
  );
}
