// Issue #20 ("what a new user trips over"), items 7–20: each test runs the real `compactrec`
// binary (bin/compactrec.js → dist/) as a user would, and names its item number.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '@compactrec/cli';
import { methodNames } from '@compactrec/harness';
import { ID_HASHING_METHODS } from '@compactrec/id-hashing';
import { beforeAll, describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import { benchRetrievalCommand } from '../src/commands/bench-retrieval.js';

const BIN = fileURLToPath(new URL('../bin/compactrec.js', import.meta.url));
const FRAPPE = join(fileURLToPath(new URL('../../../../shared/datasets', import.meta.url)), 'frappe_nfm');
const FRAPPE_TEST = join(FRAPPE, 'frappe.test.libfm');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Starts the binary; `onErr` sees stderr as it grows (to interrupt it at a given point). */
function start(
  args: readonly string[],
  opts: { env?: Record<string, string>; onErr?: (err: string, child: ChildProcess) => void } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      err += String(d);
      opts.onErr?.(err, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

const run = (...args: string[]): Promise<Run> => start(args);

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cr-issue20-'));
});

const tinySynthetic = 'fields=3,cardinality=200,rows=20000,validRows=2000,testRows=2000';

describe('issue 20, item 7: work is not lost on Ctrl-C', () => {
  it('bench retrieval keeps the finished method in results.json/.csv when interrupted during the next', async () => {
    const out = join(tmp, 'interrupt-retrieval');
    let sent = false;
    const r = await start(
      [
        'bench',
        'retrieval',
        '--data',
        'generated',
        '--methods',
        'full,modulo',
        '--epochs',
        '40',
        '--dim',
        '16',
        '--out',
        out,
      ],
      {
        onErr: (err, child) => {
          if (!sent && err.includes('modulo @ 0.25 lr 0.001] user rows')) {
            sent = true;
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(sent).toBe(true);
    expect(r.signal).toBe('SIGINT'); // interrupted, not finished
    const records = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { method: string }[];
    expect(records.map((x) => x.method)).toEqual(['full']);
    const csv = (await readFile(join(out, 'results.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(2);
    expect(csv[1]).toMatch(/,full,/);
  });

  it('bench ctr keeps the finished method in results.json when interrupted during the next', async () => {
    const out = join(tmp, 'interrupt-ctr');
    let sent = false;
    const r = await start(
      [
        'bench',
        'ctr',
        '--data',
        tinySynthetic,
        '--format',
        'synthetic',
        '--model',
        'lr',
        '--methods',
        'full,modulo',
        '--epochs',
        '5',
        '--out',
        out,
      ],
      {
        onErr: (err, child) => {
          if (!sent && err.includes('lr/modulo @ 0.25 lr 0.001 seed 0]')) {
            sent = true;
            child.kill('SIGKILL'); // the hardest stop: no handler runs
          }
        },
      },
    );
    expect(sent).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    const records = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { method: string }[];
    expect(records.map((x) => x.method)).toEqual(['full']);
  });
});

describe('issue 20, item 8: output paths are checked before any work', () => {
  it('ctr train --out under a file fails at once with exit 2, before the backend starts', async () => {
    const file = join(tmp, 'a-file');
    await writeFile(file, 'x');
    const r = await run(
      'ctr',
      'train',
      '--data',
      tinySynthetic,
      '--format',
      'synthetic',
      '--model',
      'lr',
      '--out',
      join(file, 'm'),
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out '.*a-file\/m' cannot be created: '.*a-file' is a file/);
    expect(r.err).not.toMatch(/\[ctr\]/); // no backend, data or training line
  });

  it('bench retrieval / bench ctr --out naming a file fail before loading data', async () => {
    const file = join(tmp, 'b-file');
    await writeFile(file, 'x');
    const a = await run('bench', 'retrieval', '--data', 'generated', '--out', file);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--out '.*b-file' is a file; give a directory/);
    expect(a.err).not.toMatch(/\[bench\]/);
    const b = await run('bench', 'ctr', '--data', tinySynthetic, '--format', 'synthetic', '--out', join(file, 'x'));
    expect(b.code).toBe(2);
    expect(b.err).not.toMatch(/\[bench ctr\]/);
  });

  it('cluster --out dir/ fails before reading the data', async () => {
    const r = await run('cluster', '--data', join(tmp, 'no-such-dataset'), '--out', `${tmp}/`);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out '.*\/' is a directory; give a file path/);
    expect(r.err).not.toMatch(/reading/);
  });

  it('ctr train refuses to overwrite a model directory unless --force', async () => {
    const dir = join(tmp, 'model');
    const common = ['ctr', 'train', '--data', tinySynthetic, '--format', 'synthetic', '--epochs', '1', '--out', dir];
    expect((await run(...common, '--model', 'lr', '--mlp', '8')).code).toBe(0);
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const refused = await run(...common, '--model', 'dnn', '--mlp', '8');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/already holds a model \(config\.json.*pass --force/);
    expect(refused.err).not.toMatch(/\[ctr\]/);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
    const forced = await run(...common, '--model', 'dnn', '--mlp', '8', '--force');
    expect(forced.code).toBe(0);
    const after = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { model: { model: string } };
    expect(JSON.stringify(after)).toMatch(/"dnn"/);
    expect(JSON.stringify(after)).not.toMatch(/"model":"lr"/);
  });
});

describe('issue 20, item 9: a huge sparse ID is refused up front', () => {
  it('cluster --data with user id 2000000000 exits 1 naming the id, its line and how to fix it', async () => {
    const dir = join(tmp, 'sparse');
    await mkdir(dir);
    await writeFile(join(dir, 'train.txt'), '0 1 2\n2000000000 3\n1 2\n');
    const r = await run('cluster', '--data', dir, '--out', join(tmp, 'sparse.bin'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/train\.txt:2: user id 2000000000 would make an ID space of 2,000,000,001 users/);
    expect(r.err).toMatch(/renumber the ids/);
    await expect(stat(join(tmp, 'sparse.bin'))).rejects.toThrow();
  });
});

describe('issue 20, item 10: a file too small to split fails before training', () => {
  it.skipIf(missingData('frappe_nfm/frappe.test.libfm'))(
    `ctr train on 4 Frappe rows exits 1 naming the empty part, with no epoch trained (${DATASETS_REASON})`,
    async () => {
      const file = join(tmp, 'tiny.libfm');
      const lines = (await readFile(FRAPPE_TEST, 'utf8')).split('\n').slice(0, 4);
      await writeFile(file, `${lines.join('\n')}\n`);
      const r = await run('ctr', 'train', '--data', file, '--format', 'frappe', '--model', 'lr', '--epochs', '2');
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /too small to split for training: 4 train \/ 0 valid \/ 0 test samples, so the valid part is empty/,
      );
      expect(r.err).not.toMatch(/epoch/);
    },
  );
});

describe('issue 20, item 11: --help lists the method names', () => {
  it('bench retrieval --help lists every registry method, bench ctr --help every CTR method', async () => {
    const a = await run('bench', 'retrieval', '--help');
    const methodsLine = a.out.split('\n').find((l) => l.trimStart().startsWith('--methods'))!;
    for (const m of methodNames()) expect(methodsLine).toContain(m);
    const b = await run('bench', 'ctr', '--help');
    const ctrLine = b.out.split('\n').find((l) => l.trimStart().startsWith('--methods'))!;
    const ctrMethods = Object.values(ID_HASHING_METHODS)
      .filter((s) => !s.requires.includes('interactions'))
      .map((s) => s.name);
    expect(ctrMethods.length).toBeGreaterThan(3);
    for (const m of ctrMethods) expect(ctrLine).toContain(m);
  });
});

describe('issue 20, items 12 and 13: one prefix, one usage exit code, --version', () => {
  it('an option error is prefixed once and exits 2', async () => {
    const r = await run('bench', 'retrieval', '--data', 'generated', '--budget', '0');
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(
      "compactrec bench retrieval: --budget '0': 0 is outside (0, 1]; a budget is the fraction of each full table's bytes",
    );
  });

  it('unknown command, unknown option and missing option exit 2; a data error exits 1', async () => {
    expect((await run('no-such-command')).code).toBe(2);
    expect((await run('bench', 'retrieval', '--data', 'generated', '--frobnicate')).code).toBe(2);
    expect((await run('bench', 'retrieval')).code).toBe(2);
    const missing = await run('bench', 'retrieval', '--data', join(tmp, 'missing-dir'), '--epochs', '1');
    expect(missing.code).toBe(1);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as {
      version: string;
    };
    const r = await run('--version');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(`compactrec ${pkg.version}`);
  });
});

describe('issue 20, item 14: stray words, duplicates and options foreign to the model', () => {
  it('rejects a stray positional word, --methods full,full and --layers with --model mf (exit 2)', async () => {
    const stray = await run('bench', 'retrieval', 'gowalla', '--data', 'generated');
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/unexpected argument 'gowalla'/);
    const dup = await run('bench', 'retrieval', '--data', 'generated', '--methods', 'full,full');
    expect(dup.code).toBe(2);
    expect(dup.err).toMatch(/--methods 'full,full' names 'full' twice/);
    const layers = await run('bench', 'retrieval', '--data', 'generated', '--model', 'mf', '--layers', '3');
    expect(layers.code).toBe(2);
    expect(layers.err).toMatch(/--layers only applies with --model lightgcn \(here --model is mf\)/);
    const hashes = await run(
      'ctr',
      'train',
      '--data',
      tinySynthetic,
      '--format',
      'synthetic',
      '--model',
      'lr',
      '--hashes',
      '8',
    );
    expect(hashes.code).toBe(2);
    expect(hashes.err).toMatch(/--hashes only applies with --model sdim/);
  });

  it('still accepts --layers with --model lightgcn', () => {
    const a = parseArgs(
      ['--data', 'generated', '--model', 'lightgcn', '--layers', '3'],
      benchRetrievalCommand.options,
      'compactrec bench retrieval',
    );
    expect(a.layers).toBe(3);
  });
});

describe('issue 20, item 15: ctr eval on a new file scores all of it', () => {
  it.skipIf(missingData('frappe_nfm/frappe.test.libfm'))(
    `defaults to --split all on a file other than the training file and says which rows were scored (${DATASETS_REASON})`,
    async () => {
      const all = (await readFile(FRAPPE_TEST, 'utf8')).split('\n');
      const trainFile = join(tmp, 'frappe-3000.libfm');
      const newFile = join(tmp, 'frappe-new-500.libfm');
      await writeFile(trainFile, `${all.slice(0, 3000).join('\n')}\n`);
      await writeFile(newFile, `${all.slice(0, 500).join('\n')}\n`); // values the vocabulary knows
      const dir = join(tmp, 'eval-model');
      const t = await run(
        'ctr',
        'train',
        '--data',
        trainFile,
        '--format',
        'frappe',
        '--model',
        'lr',
        '--epochs',
        '1',
        '--out',
        dir,
      );
      expect(t.code).toBe(0);
      const r = await run('ctr', 'eval', '--model-dir', dir, '--data', newFile);
      expect(r.code).toBe(0);
      const res = JSON.parse(r.out) as { samples: number; split: string };
      expect(res.samples).toBe(500);
      expect(res.split).toBe('all');
      expect(r.err).toMatch(/scored all 500 rows/);
      const own = await run('ctr', 'eval', '--model-dir', dir);
      expect((JSON.parse(own.out) as { split: string; samples: number }).split).toBe('test');
      expect(own.err).toMatch(/scored the test part of the seeded split \(600 rows\)/);
    },
  );
});

describe('issue 20, items 16 and 20: the full-table exception is explicit; the report is readable', () => {
  it('bench ctr reports keepFullBelow and fullFields; --keep-full-below 0 keeps every table within the budget', async () => {
    const spec = 'fields=3,cardinality=60,rows=4000,validRows=1000,testRows=1000';
    const base = [
      'bench',
      'ctr',
      '--data',
      spec,
      '--format',
      'synthetic',
      '--model',
      'lr',
      '--methods',
      'modulo',
      '--epochs',
      '1',
    ];
    const a = await run(...base, '--out', join(tmp, 'kfb-default'));
    expect(a.code).toBe(0);
    const [ra] = JSON.parse(await readFile(join(tmp, 'kfb-default', 'results.json'), 'utf8')) as Record<
      string,
      number
    >[];
    expect(ra!.keepFullBelow).toBe(100);
    expect(ra!.fullFields).toBe(3); // 60 IDs ≤ 100: kept full, and the record says so
    expect(ra!.embeddingBytes).toBe(ra!.fullEmbeddingBytes);
    const b = await run(...base, '--keep-full-below', '0', '--out', join(tmp, 'kfb-0'));
    expect(b.code).toBe(0);
    const [rb] = JSON.parse(await readFile(join(tmp, 'kfb-0', 'results.json'), 'utf8')) as Record<string, number>[];
    expect(rb!.keepFullBelow).toBe(0);
    expect(rb!.fullFields).toBe(0);
    expect(rb!.embeddingBytes).toBeLessThanOrEqual(0.25 * rb!.fullEmbeddingBytes!);
    // item 20: AUC bars start at 0.5 on a labelled axis, with memory and the budget explained
    const svg = await readFile(join(tmp, 'kfb-0', 'plot.svg'), 'utf8');
    expect(svg).toMatch(/<g class="axis">/);
    expect(svg).toMatch(/>0\.5<\/text>/);
    expect(svg).toMatch(/bars start at 0\.5/);
    expect(svg).toMatch(/class="bytes"[^>]*>[\d.]+ (B|KB) \(0\.2\d+ of full\)/);
    expect(svg).toMatch(/budget 1 = the full \(uncompressed\) table/);
  });

  it('bench retrieval results.json stores params as an object and plot.svg has an axis and byte labels', async () => {
    const out = join(tmp, 'report');
    const r = await run(
      'bench',
      'retrieval',
      '--data',
      'generated',
      '--methods',
      'full,modulo',
      '--epochs',
      '2',
      '--dim',
      '8',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    const records = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { params: unknown }[];
    expect(typeof records[1]!.params).toBe('object');
    expect(records[1]!.params).toMatchObject({
      user: { m: expect.any(Number) },
      item: { m: expect.any(Number) },
    });
    const svg = await readFile(join(out, 'plot.svg'), 'utf8');
    expect(svg).toMatch(/<g class="axis">/);
    expect(svg).toMatch(/Recall@20 on the test split/);
    expect(svg).toMatch(/modulo · budget 0\.25/);
    expect(svg).toMatch(/class="bytes"[^>]*>[\d.]+ KB \(0\.2\d+ of full\)/);
  });
});

describe('issue 20, item 17: reader and option wording', () => {
  it("names a negative id as negative, says 'an item id', and names the bad --mlp token", async () => {
    const dir = join(tmp, 'wording');
    await mkdir(dir);
    await writeFile(join(dir, 'train.txt'), '0 1 2\n-4 3\n');
    const neg = await run('cluster', '--data', dir, '--out', join(tmp, 'w.bin'));
    expect(neg.code).toBe(1);
    expect(neg.err).toMatch(/train\.txt:2: negative id '-4' where a user id was expected/);
    expect(neg.err).not.toMatch(/non-integer/);
    await writeFile(join(dir, 'train.txt'), '0 1 2\n1 x\n');
    const item = await run('cluster', '--data', dir, '--out', join(tmp, 'w.bin'));
    expect(item.err).toMatch(/train\.txt:2: 'x' is not an integer, where an item id was expected/);
    const mlp = await run('ctr', 'train', '--data', tinySynthetic, '--format', 'synthetic', '--mlp', '400,abc');
    expect(mlp.code).toBe(2);
    expect(mlp.err).toMatch(/--mlp '400,abc' has 'abc', which is not an integer/);
    expect(mlp.err).not.toMatch(/NaN/);
  });
});

describe('issue 20, item 19: doctor', () => {
  let server: Server;
  beforeAll(async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });

  it('names the native backend as --backend does and checks Java, the KAFKA_BROKERS broker, SQLite, Chromium, Python', async () => {
    const port = (server.address() as { port: number }).port;
    const up = await start(['doctor'], { env: { KAFKA_BROKERS: `127.0.0.1:${port}` } });
    expect(up.code).toBe(0);
    expect(up.out).toMatch(/^ {2}native {6}/m);
    expect(up.out).not.toMatch(/^ {2}tensorflow/m);
    expect(up.out).toMatch(new RegExp(`^kafka broker +ok +KAFKA_BROKERS 127\\.0\\.0\\.1:${port}: reachable`, 'm'));
    for (const tool of ['java', 'sqlite', 'chromium', 'python']) {
      expect(up.out).toMatch(new RegExp(`^${tool} +(ok|missing) .*\\[needed by: .+\\]$`, 'm'));
    }
    await new Promise<void>((r) => server.close(() => r()));
    const down = await start(['doctor', '--json'], { env: { KAFKA_BROKERS: `127.0.0.1:${port}` } });
    const j = JSON.parse(down.out) as { tools: { what: string; status: string }[]; tf: { backend: string } };
    expect(j.tools.find((t) => t.what === 'kafka broker')?.status).toBe('missing');
    expect(['native', 'wasm', 'cpu']).toContain(j.tf.backend);
  });
});

describe('issue 20, item 18: header CSV files', () => {
  const AVAZU = join(FRAPPE, '..', 'avazu_sample', 'deepctr_avazu_sample.txt');
  const CRITEO_CSV = join(FRAPPE, '..', 'criteo_sample', 'deepctr_criteo_sample.txt');

  it.skipIf(missingData('avazu_sample/deepctr_avazu_sample.txt', 'criteo_sample/deepctr_criteo_sample.txt'))(
    `ctr train --format csv reads the Avazu sample with a column mapping, and the model directory evaluates (${DATASETS_REASON})`,
    async () => {
      const dir = join(tmp, 'avazu-model');
      const t = await run(
        'ctr',
        'train',
        '--data',
        AVAZU,
        '--format',
        'csv',
        '--label-column',
        'click',
        '--drop-columns',
        'id,hour',
        '--model',
        'lr',
        '--epochs',
        '2',
        '--out',
        dir,
      );
      expect(t.code).toBe(0);
      expect(t.err).toMatch(/deepctr_avazu_sample\.txt: 21 fields, 72 train \/ 8 valid \/ 20 test samples/);
      const trained = JSON.parse(t.out) as { test: { auc: number } };
      const e = await run('ctr', 'eval', '--model-dir', dir);
      expect(e.code).toBe(0);
      const ev = JSON.parse(e.out) as { auc: number; samples: number };
      expect(ev.samples).toBe(20);
      expect(ev.auc).toBeCloseTo(trained.test.auc, 6);
    },
  );

  it.skipIf(missingData('avazu_sample/deepctr_avazu_sample.txt', 'criteo_sample/deepctr_criteo_sample.txt'))(
    `reads the DeepCTR Criteo sample (label column found by name) (${DATASETS_REASON})`,
    async () => {
      const r = await run('ctr', 'train', '--data', CRITEO_CSV, '--format', 'csv', '--model', 'lr', '--epochs', '1');
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/deepctr_criteo_sample\.txt: 39 fields, 144 train \/ 16 valid \/ 40 test samples/);
    },
  );

  it.skipIf(missingData('avazu_sample/deepctr_avazu_sample.txt', 'criteo_sample/deepctr_criteo_sample.txt'))(
    `a header CSV read as criteo names the csv format and lists the supported formats (${DATASETS_REASON})`,
    async () => {
      const r = await run('ctr', 'train', '--data', AVAZU, '--format', 'criteo', '--model', 'lr');
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/deepctr_avazu_sample\.txt:1: .*looks like the header of a CSV file .*--format csv/);
      expect(r.err).toMatch(/Formats: libFM \(frappe\), Criteo TSV \(criteo\), header CSV \(csv\)/);
    },
  );
});
