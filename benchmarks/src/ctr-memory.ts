/**
 * Memory of a CTR model on a synthetic Criteo-like stream: 26 fields × 10⁶ IDs by default, every field
 * compressed at `--budget` of its full table. Prints the table bytes against the budget (they must be
 * within a few percent below it), mapping and optimizer bytes, and the process RSS before the model,
 * after building it and after training `--steps` streamed batches (the rows are generated, never stored).
 *
 * Usage: node benchmarks/dist/ctr-memory.js [--fields 26] [--cardinality 1000000] [--budget 0.05]
 *   [--method double-frequency] [--model deepfm] [--steps 100] [--batch 1024] [--backend auto]
 */
import { type CtrModelKind, createCtrModel, evaluateCtr, SyntheticCtr, trainCtr } from '@compactrec/ctr';
import { initTf, type TfPreference } from '@compactrec/tf-backend';

interface Args {
  fields: number;
  cardinality: number;
  budget: number;
  method: string;
  model: CtrModelKind;
  steps: number;
  batch: number;
  backend: TfPreference;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    fields: 26,
    cardinality: 1_000_000,
    budget: 0.05,
    method: 'double-frequency',
    model: 'deepfm',
    steps: 100,
    batch: 1024,
    backend: 'auto',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!.replace(/^--/, '');
    const value = argv[i + 1];
    if (value === undefined || !(flag in a)) throw new Error(`ctr-memory: bad option ${argv[i]}`);
    const cur = (a as unknown as Record<string, unknown>)[flag];
    (a as unknown as Record<string, unknown>)[flag] = typeof cur === 'number' ? Number(value) : value;
  }
  return a;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const rt = await initTf({ prefer: a.backend, quiet: true });
  const rss0 = process.memoryUsage().rss;
  const data = new SyntheticCtr({
    fields: a.fields,
    cardinality: a.cardinality,
    trainRows: a.steps * a.batch,
    validRows: 20_000,
    testRows: 20_000,
  });
  const t0 = performance.now();
  const model = createCtrModel(
    rt.tf,
    data.schema,
    { model: a.model, method: a.method, budget: a.budget },
    { counts: data.expectedCounts() },
  );
  const buildSeconds = (performance.now() - t0) / 1000;
  const rss1 = process.memoryUsage().rss;
  const mem = model.memory();
  const res = await trainCtr(
    model,
    { train: data.train, valid: data.valid },
    { epochs: 1, batchSize: a.batch, log: () => {} },
  );
  const test = await evaluateCtr(model, data.test);
  const rss2 = process.memoryUsage().rss;
  const out = {
    backend: rt.backend,
    fields: a.fields,
    cardinality: a.cardinality,
    model: a.model,
    method: a.method,
    budget: a.budget,
    rows: mem.rows,
    embeddingBytes: mem.embeddingBytes,
    budgetBytes: mem.budgetBytes,
    fullEmbeddingBytes: mem.fullEmbeddingBytes,
    tableToBudget: mem.embeddingBytes / mem.budgetBytes,
    tableToFull: mem.embeddingBytes / mem.fullEmbeddingBytes,
    mappingBytes: mem.mappingBytes,
    optimizerBytes: mem.optimizerBytes,
    rssBaseline: rss0,
    rssAfterBuild: rss1,
    rssAfterTrain: rss2,
    buildSeconds,
    trainSamples: res.epochs[0]!.samples,
    samplesPerSecond: Math.round(res.samplesPerSecond),
    testAuc: test.auc,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(
    `tables ${mib(mem.embeddingBytes)} of budget ${mib(mem.budgetBytes)} (${((100 * mem.embeddingBytes) / mem.budgetBytes).toFixed(2)} %; full ${mib(mem.fullEmbeddingBytes)}), optimizer ${mib(mem.optimizerBytes)}, mapping ${mib(mem.mappingBytes)}; RSS ${mib(rss0)} → ${mib(rss1)} built → ${mib(rss2)} trained\n`,
  );
  model.dispose();
}

await main();
