/**
 * How the early-stopping patience of `bench ctr` picks the epoch, chosen on VALIDATION: DeepFM on Frappe (the
 * split, dimensions and optimizer of `compactrec bench ctr --format frappe --model deepfm --methods full`) is
 * trained for `--epochs` epochs without stopping, once per seed, recording the validation AUC after every
 * epoch. Since training does not depend on the patience (the stop only cuts the same trajectory short), each
 * patience p is then replayed on the recorded curve: stop after p epochs without a better validation AUC,
 * keep the best validation epoch. The test AUC of every epoch is recorded too and printed beside each
 * choice, for the report only — the choice itself reads validation AUC and epochs trained, never test.
 *
 * Usage: node benchmarks/dist/ctr-patience.js [--data <frappe dir>] [--seeds 0,1,2] [--epochs 30]
 *          [--patience 1,2,3,4,5,6,8] [--json <file>]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auc } from '@compactrec/core';
import { type CtrBatch, createCtrModel, openCtrData, trainCtr } from '@compactrec/ctr';
import { initTf } from '@compactrec/tf-backend';
import { loadLine, repoRoot } from './peers.js';

interface Args {
  data: string;
  seeds: number[];
  epochs: number;
  patience: number[];
  json: string | null;
}

const HELP = `Usage: node benchmarks/dist/ctr-patience.js [options]
  --data <dir>        Frappe (NFM split) directory [default: ../shared/datasets/frappe_nfm beside the repo]
  --seeds <list>      seeds (split, init and shuffles, as bench ctr --seeds) [default: 0,1,2]
  --epochs <n>        epochs trained per seed, without stopping [default: 30, bench ctr's --epochs]
  --patience <list>   patience values to replay [default: 1,2,3,4,5,6,8]
  --json <file>       also write the per-epoch curves as JSON
`;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    data: join(repoRoot(), '..', 'shared', 'datasets', 'frappe_nfm'),
    seeds: [0, 1, 2],
    epochs: 30,
    patience: [1, 2, 3, 4, 5, 6, 8],
    json: null,
  };
  const ints = (flag: string, value: string) => {
    const xs = value.split(',').map(Number);
    for (const x of xs)
      if (!Number.isInteger(x) || x < 0) throw new Error(`ctr-patience: ${flag} '${value}' is not integers ≥ 0`);
    return xs;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (value === undefined) throw new Error(`ctr-patience: ${flag} needs a value\n${HELP}`);
    if (flag === '--data') args.data = value;
    else if (flag === '--json') args.json = value;
    else if (flag === '--seeds') args.seeds = ints(flag, value);
    else if (flag === '--epochs') args.epochs = Math.max(1, ints(flag, value)[0]!);
    else if (flag === '--patience') args.patience = ints(flag, value).filter((p) => p >= 1);
    else throw new Error(`ctr-patience: unknown option ${flag}\n${HELP}`);
  }
  return args;
}

interface Curve {
  seed: number;
  valid: number[];
  test: number[];
}

/** The epoch early stopping with patience `p` keeps on a validation curve, and how many epochs it trains. */
export function replayPatience(valid: readonly number[], p: number): { best: number; trained: number } {
  let best = 0;
  for (let e = 1; e < valid.length; e++) {
    if (valid[e]! > valid[best]!) best = e;
    else if (e - best >= p) return { best, trained: e + 1 };
  }
  return { best, trained: valid.length };
}

/** bench ctr's model for `--methods full` (its defaults: d 16, MLP 400-400, lr 1e-3, keep-full-below 100). */
const MODEL = {
  model: 'deepfm',
  method: 'full',
  budget: 1,
  dim: 16,
  mlp: [400, 400],
  lr: 0.001,
  keepFullBelow: 100,
} as const;

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rt = await initTf({ prefer: 'auto', quiet: true });
  process.stdout.write(
    `ctr-patience: DeepFM/full on ${args.data}, seeds ${args.seeds.join(',')}, ${args.epochs} epochs each; ${rt.reason}\n`,
  );
  const curves: Curve[] = [];
  for (const seed of args.seeds) {
    const data = await openCtrData('frappe', args.data, { seed });
    // The test rows in memory, so the per-epoch hook (synchronous) can score them with model.predict.
    const testBatches: CtrBatch[] = [];
    for await (const b of data.test.batches({ batchSize: 8192 })) {
      testBatches.push({ size: b.size, ids: b.ids.slice(), labels: b.labels.slice(), dense: b.dense?.slice() ?? null });
    }
    const nTest = testBatches.reduce((a, b) => a + b.size, 0);
    const labels = new Float32Array(nTest);
    const probs = new Float32Array(nTest);
    const totalSteps = args.epochs * Math.ceil((data.train.numSamples ?? 0) / 1024);
    const model = createCtrModel(rt.tf, data.schema, {
      ...MODEL,
      mlp: [...MODEL.mlp],
      quantize: 'after',
      totalSteps,
      seed,
    });
    const curve: Curve = { seed, valid: [], test: [] };
    const t0 = performance.now();
    await trainCtr(
      model,
      { train: data.train, valid: data.valid },
      {
        epochs: args.epochs,
        batchSize: 1024,
        patience: args.epochs,
        restoreBest: false,
        seed,
        log: () => {},
        onEpoch: (r) => {
          curve.valid.push(r.valid!.auc);
          let at = 0;
          for (const b of testBatches) {
            model.predict(b, probs.subarray(at, at + b.size));
            labels.set(b.labels.subarray(0, b.size), at);
            at += b.size;
          }
          curve.test.push(auc(labels, probs));
        },
      },
    );
    model.dispose();
    process.stdout.write(
      `  seed ${seed}: ${args.epochs} epochs in ${((performance.now() - t0) / 1000).toFixed(0)} s (load ${loadLine()})\n` +
        `    valid ${curve.valid.map((v) => v.toFixed(4)).join(' ')}\n` +
        `    test  ${curve.test.map((v) => v.toFixed(4)).join(' ')}\n`,
    );
    curves.push(curve);
  }
  process.stdout.write(
    '\npatience  epochs trained (mean)  best valid AUC (mean)  | test AUC at the kept epoch: per seed, mean  (test: report only)\n',
  );
  for (const p of [...args.patience, args.epochs]) {
    const picks = curves.map((c) => ({ ...replayPatience(c.valid, p), c }));
    const label = p === args.epochs ? `${p} (=all)` : String(p);
    process.stdout.write(
      `${label.padEnd(9)} ${mean(picks.map((x) => x.trained))
        .toFixed(1)
        .padStart(20)}  ${mean(picks.map((x) => x.c.valid[x.best]!))
        .toFixed(4)
        .padStart(21)}  | ` +
        `${picks.map((x) => `s${x.c.seed} ${x.c.test[x.best]!.toFixed(4)} (ep ${x.best + 1})`).join(', ')}; mean ${mean(picks.map((x) => x.c.test[x.best]!)).toFixed(4)}\n`,
    );
  }
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ args, curves }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
