// `compactrec bench retrieval` as a resumable sweep: the real binary is killed after its third
// finished cell and re-run with the same command, which must train only the three missing cells.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/compactrec.js', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

function start(args: readonly string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  child.stderr!.on('data', (d) => {
    err += String(d);
  });
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
  return { child, done };
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0);
  } catch {
    return [];
  }
}

// 3 methods × 2 budgets = 6 cells on the generated set; 20 epochs validated every epoch make a cell
// take about a second, so the kill lands between the third and the fourth record.
const sweep = (out: string) => [
  'bench',
  'retrieval',
  '--data',
  'generated',
  '--methods',
  'modulo,frequency,double',
  '--budget',
  '0.5,0.25',
  '--epochs',
  '20',
  '--eval-every',
  '1',
  '--dim',
  '16',
  '--out',
  out,
];

describe('compactrec bench retrieval sweeps', () => {
  it('killed after 3 of 6 cells, the same command finishes only the 3 missing cells', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cr-sweep-'));
    const journal = join(out, 'results.jsonl');
    const first = start(sweep(out));
    let killedAt = -1;
    const poll = setInterval(() => {
      void lines(journal).then((ls) => {
        if (killedAt < 0 && ls.length >= 3) {
          killedAt = ls.length;
          first.child.kill('SIGKILL');
        }
      });
    }, 20);
    const r1 = await first.done;
    clearInterval(poll);
    expect(r1.signal, r1.err).toBe('SIGKILL');
    expect(killedAt).toBe(3);
    const before = await lines(journal);
    expect(before).toHaveLength(3);
    const keysBefore = before.map((l) => JSON.parse(l).cellKey as string);

    const r2 = await start(sweep(out)).done;
    expect(r2.code, r2.err).toBe(0);
    expect(r2.err).toMatch(
      /resuming from .*results\.jsonl: 3 cell records, 3 of this sweep's 6 tuning cells already done/,
    );
    expect(r2.err).toMatch(/taking over a stale lock/); // the killed run could not release it
    expect(r2.err.match(/: done in an earlier run, skipped/g)).toHaveLength(3);
    expect(r2.err.match(/\[sweep\] cell \d\/6 .*: running/g)).toHaveLength(3);
    const after = (await lines(journal)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(after).toHaveLength(6);
    expect(after.slice(0, 3).map((r) => r.cellKey)).toEqual(keysBefore);
    expect(new Set(after.map((r) => r.cellKey)).size).toBe(6);
    expect(after.map((r) => `${r.method}@${r.budget}`).sort()).toEqual(
      ['double@0.25', 'double@0.5', 'frequency@0.25', 'frequency@0.5', 'modulo@0.25', 'modulo@0.5'].sort(),
    );
    for (const r of after) expect(r.gitCommit === null || /^[0-9a-f]{40}$/.test(String(r.gitCommit))).toBe(true);
    const reported = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Record<string, unknown>[];
    expect(reported).toHaveLength(6);
    for (const r of reported) {
      expect(typeof r['valid.recall@20']).toBe('number');
      expect(typeof r['recall@20']).toBe('number');
      expect(typeof r.bestEpoch).toBe('number');
    }

    // A third run has nothing left to do; the report reads what the sweep wrote.
    const r3 = await start(sweep(out)).done;
    expect(r3.code, r3.err).toBe(0);
    expect(r3.err).not.toMatch(/: running/);
    const rep = await start(['report', out, '--out', join(out, 'report.html')]).done;
    expect(rep.code, rep.err).toBe(0);
    expect(rep.out).toMatch(/6 record\(s\)/);
  }, 180_000);

  it('rejects a bad tuning grid or budget list with a usage error naming the input', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cr-sweep-bad-'));
    const a = await start(['bench', 'retrieval', '--data', 'generated', '--tune', 'lr=abc', '--out', out]).done;
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--tune 'lr=abc': 'abc' \(lr\) is not a number/);
    const b = await start(['bench', 'retrieval', '--data', 'generated', '--budget', '0.5,2', '--out', out]).done;
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--budget '0.5,2': 2 is outside \(0, 1\]/);
    const c = await start([
      'bench',
      'ctr',
      '--data',
      'fields=2',
      '--format',
      'synthetic',
      '--tune',
      'lr=1e-3,wd=1e-4',
      '--out',
      out,
    ]).done;
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--tune 'lr=1e-3,wd=1e-4': CTR training has no weight decay/);
    expect(await lines(join(out, 'results.jsonl'))).toEqual([]);
  }, 60_000);
});
