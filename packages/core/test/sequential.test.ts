import { join } from 'node:path';
import { InvalidArgumentError, readSequentialLooDataset } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { caught, DATASETS, rowsOf, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('readSequentialLooDataset', () => {
  it('holds out the last item for test and the second-to-last for validation, renumbering densely', async () => {
    // Raw ids start at 1 and skip 4; user 3 has only 2 items and stays whole in training.
    const path = tmp.write('Tiny.txt', '1 10 11 12 13\n2 11 12 10\n3 13 10\n5 12 13 11 10 12\n');
    const d = await readSequentialLooDataset(path);
    expect(d.name).toBe('Tiny');
    expect(d.train.numUsers).toBe(4);
    expect(d.train.numItems).toBe(4); // items 10..13 → 0..3
    expect(rowsOf(d.train)).toEqual([[0, 1], [1], [3, 0], [2, 3, 1]]);
    expect(rowsOf(d.validation)).toEqual([[2], [2], [], [0]]);
    expect(rowsOf(d.test)).toEqual([[3], [0], [], [2]]);
    expect(d.shortUsers).toBe(1);
  });

  it('reads the SASRec pairs layout (one user item pair per line) into the same split', async () => {
    const lines = tmp.write('pairs.txt', '1 10\n1 11\n1 12\n1 13\n2 11\n2 12\n2 10\n');
    const seqs = tmp.write('seqs.txt', '1 10 11 12 13\n2 11 12 10\n');
    const a = await readSequentialLooDataset(lines);
    const b = await readSequentialLooDataset(seqs);
    expect(rowsOf(a.train)).toEqual(rowsOf(b.train));
    expect(rowsOf(a.test)).toEqual(rowsOf(b.test));
    expect(rowsOf(a.validation)).toEqual(rowsOf(b.validation));
  });

  it('rejects a minLength below 3 with the option named', async () => {
    const err = await caught(() => readSequentialLooDataset(tmp.write('x.txt', '1 2 3\n'), { minLength: 2 }));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(String(err)).toMatch(/minLength \(2\)/);
  });

  it('splits the real Beauty file: one test and one validation item per user, train = the rest', async () => {
    const d = await readSequentialLooDataset(join(DATASETS, 's3rec_sequential/Beauty.txt'));
    expect(d.name).toBe('Beauty');
    expect(d.train.numUsers).toBe(22363);
    expect(d.train.numItems).toBe(12101);
    expect(d.shortUsers).toBe(0); // 5-core data: every sequence has ≥ 5 items
    expect(d.test.items.length).toBe(22363);
    expect(d.validation.items.length).toBe(22363);
    expect(d.train.items.length + 2 * 22363).toBe(198502);
  });

  it('splits the real Video pairs file (31,013 users, 23,715 items)', async () => {
    const d = await readSequentialLooDataset(join(DATASETS, 'amazon_video_sasrec/Video.txt'));
    expect(d.train.numUsers).toBe(31013);
    expect(d.train.numItems).toBe(23715);
    expect(d.train.items.length + d.validation.items.length + d.test.items.length).toBe(287107);
  });
});
