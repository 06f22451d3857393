import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@compactrec/core';
import {
  bestTracker,
  holdoutValidation,
  meanStd,
  parseBudgets,
  parseSeeds,
  parseTuneGrid,
  type ResultRecord,
  readJournal,
  runSweep,
  type SweepCell,
  type SweepGroup,
  summarizeJournal,
  unionInteractions,
} from '@compactrec/harness';
import { describe, expect, it } from 'vitest';

const quiet = () => {};

/** Feeds a scripted validation curve (one value per evaluation epoch) to a tracker until it says stop. */
function replay(patience: number, evalEvery: number, curve: readonly number[], test: readonly number[]) {
  const t = bestTracker<number>(patience);
  let stoppedAt = 0;
  for (let i = 0; i < curve.length; i++) {
    const epoch = (i + 1) * evalEvery;
    const { stop } = t.observe(epoch, curve[i]!, () => test[i]!);
    if (stop) {
      stoppedAt = epoch;
      break;
    }
  }
  return { tracker: t, stoppedAt };
}

describe('early stopping and best-validation selection', () => {
  it('stops at the first evaluation `patience` epochs after the best one', () => {
    // Validation every 10 epochs; best at epoch 30 (0.5); patience 50 → the stop comes at epoch 80.
    const curve = [0.1, 0.3, 0.5, 0.45, 0.49, 0.5, 0.48, 0.47, 0.9, 0.95];
    const { tracker, stoppedAt } = replay(50, 10, curve, curve);
    expect(stoppedAt).toBe(80);
    expect(tracker.best.epoch).toBe(30);
    // A tie (0.5 at epoch 60) is not an improvement: the earlier epoch stays best.
    expect(tracker.curve.map(([e]) => e)).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    // With patience 60 the late rise at epoch 90 is reached and becomes the best.
    const longer = replay(60, 10, curve, curve);
    expect(longer.stoppedAt).toBe(0);
    expect(longer.tracker.best.epoch).toBe(100);
  });

  it('returns the test metric of the best validation epoch, not of the last one', () => {
    const valid = [0.2, 0.4, 0.35, 0.3];
    const test = [0.25, 0.41, 0.44, 0.47]; // test keeps rising: the last epoch would look best on test
    const { tracker } = replay(100, 5, valid, test);
    expect(tracker.best.epoch).toBe(10);
    expect(tracker.best.state).toBe(0.41);
    expect(tracker.best.state).not.toBe(test[test.length - 1]);
  });

  it('captures the state only when validation improves', () => {
    const t = bestTracker<string>(3);
    const captured: number[] = [];
    for (const [e, v] of [
      [1, 0.1],
      [2, 0.05],
      [3, 0.2],
      [4, 0.2],
    ] as const) {
      t.observe(e, v, () => {
        captured.push(e);
        return `epoch ${e}`;
      });
    }
    expect(captured).toEqual([1, 3]);
    expect(t.best.state).toBe('epoch 3');
  });
});

describe('option parsers name the bad input', () => {
  it('parses a tune grid and rejects non-numbers, unknown keys and bad values', () => {
    expect(parseTuneGrid('lr=1e-3,3e-3,1e-2')).toEqual({ lr: [1e-3, 3e-3, 1e-2] });
    expect(parseTuneGrid('lr=1e-3,1e-2,wd=1e-4,0')).toEqual({ lr: [1e-3, 1e-2], wd: [1e-4, 0] });
    expect(() => parseTuneGrid('lr=abc')).toThrow(InvalidArgumentError);
    expect(() => parseTuneGrid('lr=abc')).toThrow(/--tune 'lr=abc': 'abc' \(lr\) is not a number/);
    expect(() => parseTuneGrid('lr=1e-3,momentum=0.9')).toThrow(/'momentum' is not a tunable setting/);
    expect(() => parseTuneGrid('1e-3,lr=1e-2')).toThrow(/comes before any key/);
    expect(() => parseTuneGrid('lr=0')).toThrow(/lr 0 must be positive/);
    expect(() => parseTuneGrid('lr=1e-3,1e-3')).toThrow(/listed twice/);
  });

  it('parses budget and seed lists and rejects out-of-range or non-numeric items', () => {
    expect(parseBudgets('0.5,0.25,0.1')).toEqual([0.5, 0.25, 0.1]);
    expect(() => parseBudgets('0.5,2')).toThrow(/--budget '0.5,2': 2 is outside \(0, 1\]/);
    expect(() => parseBudgets('0.5,x')).toThrow(/'x' is not a number/);
    expect(() => parseBudgets('0.5,,0.1')).toThrow(/--budget '0.5,,0.1'/);
    expect(parseSeeds('0,1,2')).toEqual([0, 1, 2]);
    expect(() => parseSeeds('0,1.5')).toThrow(/--seeds '0,1.5' has '1.5'/);
  });

  it('mean and sample standard deviation', () => {
    expect(meanStd([1, 2, 3, 4])).toEqual({ mean: 2.5, std: Math.sqrt(5 / 3) });
    expect(meanStd([0.3])).toEqual({ mean: 0.3, std: 0 });
  });
});

describe('validation holdout', () => {
  it('moves a seeded ⌈10 %⌉ of each user’s training items to validation, keeping one in training', () => {
    // 3 users with 1, 5 and 20 items.
    const rows = [[7], [1, 2, 3, 4, 5], Array.from({ length: 20 }, (_, i) => i)];
    const offsets = new Uint32Array([0, 1, 6, 26]);
    const items = Int32Array.from(rows.flat());
    const train = { numUsers: 3, numItems: 30, offsets, items };
    const a = holdoutValidation(train, 0.1, 4);
    const b = holdoutValidation(train, 0.1, 4);
    const c = holdoutValidation(train, 0.1, 5);
    expect([...a.validation.offsets]).toEqual([0, 0, 1, 3]); // 0, ⌈0.5⌉ = 1, ⌈2⌉ = 2
    expect([...a.train.offsets]).toEqual([0, 1, 5, 23]);
    expect([...a.validation.items]).toEqual([...b.validation.items]);
    expect([...a.validation.items]).not.toEqual([...c.validation.items]);
    // A partition of each user's items: the union has the same items per user.
    const u = unionInteractions(a.train, a.validation);
    for (let user = 0; user < 3; user++) {
      const got = [...u.items.subarray(u.offsets[user]!, u.offsets[user + 1]!)].sort((x, y) => x - y);
      expect(got).toEqual([...rows[user]!].sort((x, y) => x - y));
    }
  });
});

/** A scripted trainer for runSweep: records what ran, returns the scripted metrics of (method, lr, seed). */
function scripted(metrics: (cell: SweepCell) => { valid: number; test: number }) {
  const ran: string[] = [];
  const run = async (cell: SweepCell): Promise<ResultRecord> => {
    ran.push(`${cell.group.id.method} lr ${cell.hp.lr} seed ${cell.seed}`);
    const m = metrics(cell);
    return {
      method: cell.group.id.method!,
      budget: cell.group.id.budget!,
      lr: cell.hp.lr,
      reg: cell.hp.wd,
      seed: cell.seed,
      'valid.recall@20': m.valid,
      'recall@20': m.test,
    };
  };
  return { ran, run };
}

const grid = [
  { lr: 0.001, wd: 0 },
  { lr: 0.003, wd: 0 },
  { lr: 0.01, wd: 0 },
];
const groups: SweepGroup[] = [
  { id: { method: 'a', budget: 0.5 }, label: 'a', grid },
  { id: { method: 'b', budget: 0.5 }, label: 'b', grid },
];

describe('runSweep', () => {
  it('picks each group’s tuning point by validation, not by test, and re-runs only that point on further seeds', async () => {
    // Validation prefers lr 0.003, test prefers lr 0.01 (they disagree on purpose).
    const valid: Record<number, number> = { 0.001: 0.1, 0.003: 0.3, 0.01: 0.2 };
    const test: Record<number, number> = { 0.001: 0.1, 0.003: 0.2, 0.01: 0.4 };
    const { ran, run } = scripted((c) => ({
      valid: valid[c.hp.lr]! + c.seed * 0.01,
      test: test[c.hp.lr]! + (c.group.id.method === 'b' ? 0.05 : 0) + c.seed * 0.02,
    }));
    const res = await runSweep({
      shared: { x: 1 },
      groups,
      seeds: [0, 1, 2],
      select: 'valid.recall@20',
      aggregate: ['recall@20', 'valid.recall@20'],
      run,
      gitCommit: null,
      log: quiet,
    });
    expect(ran.slice(0, 6)).toEqual([
      'a lr 0.001 seed 0',
      'a lr 0.003 seed 0',
      'a lr 0.01 seed 0',
      'b lr 0.001 seed 0',
      'b lr 0.003 seed 0',
      'b lr 0.01 seed 0',
    ]);
    expect(ran.slice(6)).toEqual(['a lr 0.003 seed 1', 'b lr 0.003 seed 1', 'a lr 0.003 seed 2', 'b lr 0.003 seed 2']);
    expect(res.records.map((r) => [r.method, r.lr])).toEqual([
      ['a', 0.003],
      ['b', 0.003],
    ]);
    const a = res.records[0]!;
    // Test recall of lr 0.003 over seeds 0, 1, 2: 0.2, 0.22, 0.24 → mean 0.22, sample std 0.02.
    expect(a['recall@20']).toBeCloseTo(0.22, 12);
    expect(a['recall@20.std']).toBeCloseTo(0.02, 12);
    expect(a.seeds).toEqual([0, 1, 2]);
    expect(a.tuneGrid).toEqual([
      { lr: 0.001, wd: 0, 'valid.recall@20': 0.1 },
      { lr: 0.003, wd: 0, 'valid.recall@20': 0.3 },
      { lr: 0.01, wd: 0, 'valid.recall@20': 0.2 },
    ]);
    expect(res.records[1]!['recall@20']).toBeCloseTo(0.27, 12);
  });

  it('resumes from the journal: finished cells are skipped, a torn last line is dropped and re-run', async () => {
    const out = await mkdtemp(join(tmpdir(), 'sweep-resume-'));
    const logs: string[] = [];
    const base = {
      out,
      shared: { x: 1 },
      groups,
      seeds: [0],
      select: 'valid.recall@20',
      aggregate: ['recall@20'],
      gitCommit: 'c1',
      log: (l: string) => void logs.push(l),
    };
    const first = scripted((c) => ({ valid: c.hp.lr, test: c.hp.lr }));
    await runSweep({ ...base, run: first.run });
    expect(first.ran).toHaveLength(6);
    // Stopped mid-grid, a group's reported record says so.
    const partial = (await readJournal(join(out, 'results.jsonl'), quiet)).slice(0, 5);
    const b = summarizeJournal(partial, 'valid.recall@20', ['recall@20']).find((r) => r.method === 'b')!;
    expect(b.tuneIncomplete).toBe('2 of 3 grid points done');
    expect(b.lr).toBe(0.003);
    // Tear the last record (a kill mid-write) and drop one more whole line.
    const path = join(out, 'results.jsonl');
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    await writeFile(path, `${lines.slice(0, 4).join('\n')}\n${lines[4]!.slice(0, 30)}`);
    const second = scripted((c) => ({ valid: c.hp.lr, test: c.hp.lr }));
    const res = await runSweep({ ...base, gitCommit: 'c2', run: second.run });
    expect(second.ran).toEqual(['b lr 0.003 seed 0', 'b lr 0.01 seed 0']);
    expect(res.resumed).toBe(4);
    expect(logs.some((l) => /dropping an unfinished last line/.test(l))).toBe(true);
    expect(logs.some((l) => /warning: resumed cells were recorded at commit c1/.test(l))).toBe(true);
    const journal = await readJournal(path, quiet);
    expect(journal).toHaveLength(6);
    expect(journal.every((r) => r.gridSize === 3)).toBe(true);
    expect(new Set(journal.map((r) => r.cellKey)).size).toBe(6);
    const reported = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as ResultRecord[];
    expect(reported.map((r) => [r.method, r.lr])).toEqual([
      ['a', 0.01],
      ['b', 0.01],
    ]);
    // A third run with the same options runs nothing.
    const third = scripted((c) => ({ valid: c.hp.lr, test: c.hp.lr }));
    await runSweep({ ...base, run: third.run });
    expect(third.ran).toEqual([]);
  });

  it('a bad line in the middle of the journal is an error naming the file and line', async () => {
    const out = await mkdtemp(join(tmpdir(), 'sweep-bad-'));
    await writeFile(join(out, 'results.jsonl'), '{"a":1}\nnot json\n{"b":2}\n');
    await expect(readJournal(join(out, 'results.jsonl'), quiet)).rejects.toThrow(/results\.jsonl:2/);
  });

  it('one sweep per output directory: a live lock is an error naming its pid, a stale one is taken over', async () => {
    const out = await mkdtemp(join(tmpdir(), 'sweep-lock-'));
    const lock = join(out, 'results.lock');
    const base = {
      out,
      shared: { x: 1 },
      groups: groups.slice(0, 1),
      seeds: [0],
      select: 'valid.recall@20',
      aggregate: ['recall@20'],
      gitCommit: null,
    };
    // A live process on this host (the test itself) holds it.
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: 'then' }));
    const blocked = scripted((c) => ({ valid: c.hp.lr, test: c.hp.lr }));
    await expect(runSweep({ ...base, run: blocked.run, log: quiet })).rejects.toThrow(
      new RegExp(`another sweep \\(pid ${process.pid}, started then\\) is writing`),
    );
    expect(blocked.ran).toEqual([]);
    // A killed run's lock (no such process): taken over, and released at the end.
    await writeFile(lock, JSON.stringify({ pid: 2 ** 30, host: hostname(), startedAt: 'then' }));
    const logs: string[] = [];
    const ok = scripted((c) => ({ valid: c.hp.lr, test: c.hp.lr }));
    await runSweep({ ...base, run: ok.run, log: (l) => void logs.push(l) });
    expect(ok.ran).toHaveLength(3);
    expect(logs.some((l) => /taking over a stale lock \(pid 1073741824/.test(l))).toBe(true);
    await expect(readFile(lock, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('a cell recorded twice in the journal counts once in the reported records', () => {
    const cell = (lr: number, v: number) => ({
      method: 'a',
      lr,
      reg: 0,
      seed: 0,
      phase: 'tune',
      groupKey: 'g',
      cellKey: `c${lr}`,
      'valid.recall@20': v,
    });
    const [r] = summarizeJournal([cell(0.1, 0.2), cell(0.3, 0.5), cell(0.1, 0.2)], 'valid.recall@20', []);
    expect(r!.lr).toBe(0.3);
    expect(r!.tuneGrid).toHaveLength(2);
  });
});
