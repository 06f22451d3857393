import { join } from 'node:path';
import {
  bucketizeCriteoInt,
  CRITEO_MISSING_CAT,
  CRITEO_MISSING_INT_BUCKET,
  criteoBatches,
  DataFormatError,
  InvalidArgumentError,
  libfmToCtr,
  NotFoundError,
  readCriteo,
  readInteractionsFile,
  readLibfm,
  readLightGcnDataset,
  readPairsFile,
  readRecboleInter,
  readSequencesFile,
} from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASETS_REASON, missingData } from '../../../test/datasets.js';
import { caught, DATASETS, rowsOf, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Asserts a DataFormatError located at (file, line). */
async function expectFormatError(fn: () => unknown, file: string, line: number): Promise<void> {
  const err = await caught(fn);
  expect(err).toBeInstanceOf(DataFormatError);
  expect((err as DataFormatError).file).toBe(file);
  expect((err as DataFormatError).line).toBe(line);
}

describe('readInteractionsFile', () => {
  it('rejects bad options before reading', async () => {
    const p = tmp.write('opt.txt', '0 1\n');
    expect(await caught(() => readInteractionsFile(p, { numUsers: -1 }))).toBeInstanceOf(InvalidArgumentError);
    expect(await caught(() => readInteractionsFile(p, { numItems: 1.5 }))).toBeInstanceOf(InvalidArgumentError);
    // Smaller than the data needs.
    expect(await caught(() => readInteractionsFile(p, { numItems: 1 }))).toBeInstanceOf(InvalidArgumentError);
  });

  it('reports a missing file, a directory, an empty file and a blank-only file', async () => {
    expect(await caught(() => readInteractionsFile(join(tmp.dir, 'nope.txt')))).toBeInstanceOf(NotFoundError);
    expect(await caught(() => readInteractionsFile(tmp.dir))).toBeInstanceOf(InvalidArgumentError);
    await expectFormatError(() => readInteractionsFile(tmp.write('empty.txt', '')), join(tmp.dir, 'empty.txt'), 1);
    const blank = tmp.write('blank.txt', '\n \r\n\t\n');
    await expectFormatError(() => readInteractionsFile(blank), blank, 1);
  });

  it('locates non-integer tokens, trailing garbage and int32 overflow by line', async () => {
    const cases: [string, number][] = [
      ['0 1 2\n1 2a\n', 2],
      ['0 1 2\n\n\n1 2 3 #note\n', 4],
      ['0 -1\n', 1],
      ['0 1.5\n', 1],
      ['x 1\n', 1],
      ['0 1\n1 99999999999\n', 2],
      ['0 1\r\n1 2\r\n2 3,4', 3], // truncated/garbled last line without LF
    ];
    for (const [i, [text, line]] of cases.entries()) {
      const p = tmp.write(`bad${i}.txt`, text);
      await expectFormatError(() => readInteractionsFile(p), p, line);
    }
  });

  it('reads rows with spaces, tabs, CRLF, no final LF, missing and repeated users', async () => {
    const p = tmp.write('ok.txt', '3 7  8\t9 \r\n\n0 1\r\n3 2\n5');
    const x = await readInteractionsFile(p);
    expect(x.numUsers).toBe(6);
    expect(x.numItems).toBe(10);
    expect(Array.from(x.offsets)).toEqual([0, 1, 1, 1, 5, 5, 5]);
    expect(rowsOf(x)).toEqual([[1], [], [], [7, 8, 9, 2], [], []]);
  });

  it('pads the ID space when options ask for more', async () => {
    const p = tmp.write('pad.txt', '0 1\n1 0 2\n');
    const x = await readInteractionsFile(p, { numUsers: 4, numItems: 10 });
    expect(x.numUsers).toBe(4);
    expect(x.numItems).toBe(10);
    expect(rowsOf(x)).toEqual([[1], [0, 2], [], []]);
  });
});

describe('readLightGcnDataset', () => {
  it('names the missing file', async () => {
    const d = tempDir();
    try {
      d.write('train.txt', '0 1\n');
      const err = await caught(() => readLightGcnDataset(d.dir));
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).context.path).toBe(join(d.dir, 'test.txt'));
    } finally {
      d.cleanup();
    }
  });

  it('puts train and test in one ID space', async () => {
    const d = tempDir();
    try {
      d.write('train.txt', '0 0 1\n1 2\n');
      d.write('test.txt', '0 5\n2 3\n');
      const ds = await readLightGcnDataset(d.dir);
      expect(ds.train.numUsers).toBe(3);
      expect(ds.test.numUsers).toBe(3);
      expect(ds.train.numItems).toBe(6);
      expect(ds.test.numItems).toBe(6);
      expect(rowsOf(ds.train)).toEqual([[0, 1], [2], []]);
      expect(rowsOf(ds.test)).toEqual([[5], [], [3]]);
    } finally {
      d.cleanup();
    }
  });

  it.skipIf(missingData('gowalla'))(`loads Gowalla with the published counts (${DATASETS_REASON})`, async () => {
    const ds = await readLightGcnDataset(join(DATASETS, 'gowalla'));
    expect(ds.name).toBe('gowalla');
    for (const x of [ds.train, ds.test]) {
      expect(x.numUsers).toBe(29858);
      expect(x.numItems).toBe(40981);
      expect(x.offsets.length).toBe(29859);
      expect(x.offsets[29858]).toBe(x.items.length);
    }
    expect(ds.train.items.length).toBe(810128);
    expect(ds.test.items.length).toBe(217242);
    // Every user has at least one train and one test item (dataset README).
    let emptyRows = 0;
    for (let u = 0; u < 29858; u++) {
      if (ds.train.offsets[u + 1] === ds.train.offsets[u] || ds.test.offsets[u + 1] === ds.test.offsets[u]) emptyRows++;
    }
    expect(emptyRows).toBe(0);
    // First line of train.txt is `0 0 1 2 ...`.
    expect(Array.from(ds.train.items.subarray(0, 4))).toEqual([0, 1, 2, 3]);
  });
});

describe('readSequencesFile / readPairsFile', () => {
  it('keeps raw 1-based ids (0 free for padding)', async () => {
    const p = tmp.write('seq.txt', '1 1 2 3\r\n2 4 2\r\n');
    const s = await readSequencesFile(p);
    expect(s.numUsers).toBe(3);
    expect(s.numItems).toBe(5);
    expect(rowsOf(s)).toEqual([[], [1, 2, 3], [4, 2]]);
  });

  it('reads pairs in file order, also when a user is not contiguous', async () => {
    const p = tmp.write('pairs.txt', '1 5\n2 3\n1 4\n');
    const s = await readPairsFile(p);
    expect(rowsOf(s)).toEqual([[], [5, 4], [3]]);
    expect(s.numItems).toBe(6);
  });

  it('rejects pair lines with one or three tokens', async () => {
    const three = tmp.write('pairs3.txt', '1 5\n1 5 6\n');
    await expectFormatError(() => readPairsFile(three), three, 2);
    const one = tmp.write('pairs1.txt', '1 5\n\n2');
    await expectFormatError(() => readPairsFile(one), one, 3);
  });

  it.skipIf(missingData('s3rec_sequential/Beauty.txt', 's3rec_sequential/LastFM.txt'))(
    `loads the S3Rec Beauty and LastFM sequences (${DATASETS_REASON})`,
    async () => {
      const beauty = await readSequencesFile(join(DATASETS, 's3rec_sequential/Beauty.txt'));
      expect(beauty.numUsers).toBe(22364);
      expect(beauty.numItems).toBe(12102);
      expect(beauty.items.length).toBe(198502);
      expect(rowsOf(beauty).slice(0, 3)).toEqual([[], [1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 4, 11]]);
      const lastfm = await readSequencesFile(join(DATASETS, 's3rec_sequential/LastFM.txt'));
      expect(lastfm.items.length).toBe(52551);
    },
  );

  it.skipIf(missingData('amazon_video_sasrec/Video.txt'))(
    `loads the SASRec Video pairs (${DATASETS_REASON})`,
    async () => {
      const v = await readPairsFile(join(DATASETS, 'amazon_video_sasrec/Video.txt'));
      expect(v.items.length).toBe(287107);
      expect(v.numUsers).toBe(31014);
      expect(v.numItems).toBe(23716);
      let users = 0;
      for (let u = 1; u < v.numUsers; u++) if (v.offsets[u + 1]! > v.offsets[u]!) users++;
      expect(users).toBe(31013);
      expect(Array.from(v.items.subarray(v.offsets[1]!, v.offsets[1]! + 3))).toEqual([6393, 13504, 14087]);
    },
  );
});

describe('readLibfm', () => {
  it('reads labels, fields and values; -1 and 0 are negatives', async () => {
    const p = tmp.write('a.libfm', '1 0:1 5:1\r\n-1 1:1 6:1\r\n\r\n0\t2:1\t5:1');
    const d = await readLibfm(p);
    expect(Array.from(d.labels)).toEqual([1, 0, 0]);
    expect(d.numFields).toBe(2);
    expect(d.numSamples).toBe(3);
    expect(Array.from(d.indices)).toEqual([0, 5, 1, 6, 2, 5]);
    expect(d.values).toBeUndefined();
    const v = await readLibfm(tmp.write('v.libfm', '1 0:0.5 5:1\n0 1:2e-1 6:1\n'));
    expect(Array.from(v.values!)).toEqual([0.5, 1, Math.fround(0.2), 1]);
    const first = await readLibfm(p, { maxRows: 2 });
    expect(first.numSamples).toBe(2);
  });

  it('locates bad labels, bad features, a field-count change and a truncated last line', async () => {
    const cases: [string, number][] = [
      ['1 0:1\n2 0:1\n', 2],
      ['1 0:1\nyes 0:1\n', 2],
      ['1 0:1 3:1\n0 0:1\n', 2],
      ['1 0:1\n0 0:1 1:1\n', 2],
      ['1 a:1\n', 1],
      ['1 -3:1\n', 1],
      ['1 3:x\n', 1],
      ['1 3\n', 1],
      ['1\n', 1],
      ['1 0:1 5:1\n0 0:1 5:', 2],
      ['1 0:1 5:1\n0 0:1 5:1 trailing\n', 2],
    ];
    for (const [i, [text, line]] of cases.entries()) {
      const p = tmp.write(`bad${i}.libfm`, text);
      await expectFormatError(() => readLibfm(p), p, line);
    }
    expect(await caught(() => readLibfm(tmp.write('m.libfm', '1 0:1\n'), { maxRows: 0 }))).toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('libfmToCtr renumbers each field by sorted global index', async () => {
    const d = await readLibfm(tmp.write('c.libfm', '1 10:1 7:1\n0 3:1 7:1\n1 10:1 8:1\n'));
    const c = libfmToCtr(d, 'toy', ['a', 'b']);
    expect(c.name).toBe('toy');
    expect(c.fieldNames).toEqual(['a', 'b']);
    expect(Array.from(c.cardinalities)).toEqual([2, 2]);
    expect(Array.from(c.ids)).toEqual([1, 0, 0, 0, 1, 1]);
    expect(c.labels).toBe(d.labels);
    expect(libfmToCtr(d, 'toy').fieldNames).toEqual(['f0', 'f1']);
    expect(() => libfmToCtr(d, 'toy', ['a'])).toThrow(InvalidArgumentError);
    const v = await readLibfm(tmp.write('cv.libfm', '1 1:0.5\n'));
    expect(() => libfmToCtr(v, 'v')).toThrow(InvalidArgumentError);
  });

  it.skipIf(missingData('frappe_nfm/frappe.validation.libfm', 'frappe_nfm/frappe.test.libfm'))(
    `loads Frappe (validation + test): 86,582 rows, 10 fields in the documented index ranges (${DATASETS_REASON})`,
    async () => {
      const ranges = [
        [0, 956],
        [957, 5038],
        [5039, 5045],
        [5046, 5052],
        [5053, 5054],
        [5055, 5057],
        [5058, 5059],
        [5060, 5068],
        [5069, 5148],
        [5149, 5381],
      ];
      let rows = 0;
      let positives = 0;
      for (const f of ['frappe.validation.libfm', 'frappe.test.libfm']) {
        const d = await readLibfm(join(DATASETS, 'frappe_nfm', f));
        expect(d.numFields).toBe(10);
        expect(d.values).toBeUndefined();
        rows += d.numSamples;
        for (const y of d.labels) positives += y;
        for (let s = 0; s < d.numSamples; s++) {
          for (let k = 0; k < 10; k++) {
            const g = d.indices[s * 10 + k]!;
            if (g < ranges[k]![0]! || g > ranges[k]![1]!)
              throw new Error(`${f} row ${s} field ${k}: ${g} out of range`);
          }
        }
        const c = libfmToCtr(d, 'frappe');
        for (let k = 0; k < 10; k++)
          expect(c.cardinalities[k]).toBeLessThanOrEqual(ranges[k]![1]! - ranges[k]![0]! + 1);
        for (let s = 0; s < c.numSamples; s++) {
          for (let k = 0; k < 10; k++) {
            const id = c.ids[s * 10 + k]!;
            if (id < 0 || id >= c.cardinalities[k]!)
              throw new Error(`row ${s} field ${k}: local id ${id} out of range`);
          }
        }
      }
      expect(rows).toBe(86582);
      expect(positives).toBe(28599);
    },
  );
});

/** A Criteo row from parts (label, 13 ints, 26 cats as strings). */
function criteoRow(label: string, ints: string[], cats: string[]): string {
  return [label, ...ints, ...cats].join('\t');
}

const INTS = ['1', '', '-2', '0', '1382', '4', '15', '2', '181', '1', '2', '', '2'];
const CATS = Array.from({ length: 26 }, (_, i) => (i === 3 ? '' : (0x10000000 + i).toString(16)));

describe('readCriteo / criteoBatches', () => {
  it('parses a full row, pads short rows, accepts CRLF and upper-case hex', async () => {
    const short = criteoRow('1', INTS.slice(0, 5), []); // 6 fields
    const upper = criteoRow(
      '0',
      INTS,
      CATS.map((c) => c.toUpperCase()),
    );
    const p = tmp.write('c.tsv', `${criteoRow('0', INTS, CATS)}\r\n${short}\n\n${upper}`);
    const d = await readCriteo(p);
    expect(d.numRows).toBe(3);
    expect(Array.from(d.labels)).toEqual([0, 1, 0]);
    expect(Array.from(d.ints.subarray(0, 13))).toEqual([1, NaN, -2, 0, 1382, 4, 15, 2, 181, 1, 2, NaN, 2]);
    expect(d.cats[0]).toBe(0x10000000);
    expect(d.cats[3]).toBe(CRITEO_MISSING_CAT);
    expect(d.cats[25]).toBe(0x10000019);
    expect(Array.from(d.ints.subarray(13, 26))).toEqual([1, NaN, -2, 0, 1382, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    expect(d.cats.subarray(26, 52).every((c) => c === CRITEO_MISSING_CAT)).toBe(true);
    expect(Array.from(d.cats.subarray(52))).toEqual(Array.from(d.cats.subarray(0, 26)));
  });

  it('locates every kind of bad row', async () => {
    const good = criteoRow('0', INTS, CATS);
    const bad = [
      `${good}\textra`, // 41 fields
      criteoRow('2', INTS, CATS),
      criteoRow('', INTS, CATS),
      criteoRow('1', ['x', ...INTS.slice(1)], CATS),
      criteoRow('1', ['1.5', ...INTS.slice(1)], CATS),
      criteoRow('1', ['-', ...INTS.slice(1)], CATS),
      criteoRow('1', INTS, ['zz345678', ...CATS.slice(1)]),
      criteoRow('1', INTS, [...CATS.slice(0, 25), '1234567']), // truncated last hash
    ];
    for (const [i, row] of bad.entries()) {
      const p = tmp.write(`badc${i}.tsv`, `${good}\n\n${row}\n${good}`);
      await expectFormatError(() => readCriteo(p), p, 3);
    }
    await expectFormatError(() => readCriteo(tmp.write('emptyc.tsv', '')), join(tmp.dir, 'emptyc.tsv'), 1);
  });

  it('streams batches that add up to the whole file', async () => {
    const lines = Array.from({ length: 5 }, (_, r) =>
      criteoRow(
        String(r % 2),
        INTS.map((v) => (v ? `${r}` : '')),
        CATS,
      ),
    );
    const p = tmp.write('b.tsv', lines.join('\n'));
    const sizes: number[] = [];
    const labels: number[] = [];
    for await (const b of criteoBatches(p, 2)) {
      sizes.push(b.numRows);
      expect(b.ints.length).toBe(b.numRows * 13);
      expect(b.cats.length).toBe(b.numRows * 26);
      labels.push(...b.labels);
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(labels).toEqual([0, 1, 0, 1, 0]);
    const firstThree: number[] = [];
    for await (const b of criteoBatches(p, 2, { maxRows: 3 })) firstThree.push(b.numRows);
    expect(firstThree).toEqual([2, 1]);
    expect(await caught(() => criteoBatches(p, 0).next())).toBeInstanceOf(InvalidArgumentError);
  });

  it.skipIf(missingData('criteo_sample/criteo_kaggle_train_first1000.txt'))(
    `reads the first 1,000 Kaggle rows (205 positives), whole or streamed (${DATASETS_REASON})`,
    async () => {
      const path = join(DATASETS, 'criteo_sample/criteo_kaggle_train_first1000.txt');
      const d = await readCriteo(path);
      expect(d.numRows).toBe(1000);
      expect(d.labels.reduce((s, y) => s + y, 0)).toBe(205);
      // The well-known first row.
      expect(Array.from(d.ints.subarray(0, 13))).toEqual([1, 1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, NaN, 2]);
      expect(d.cats[0]).toBe(0x68fd1e64);
      expect(d.cats[21]).toBe(CRITEO_MISSING_CAT);
      expect(d.cats[25]).toBe(0x9727dd16);
      let r = 0;
      for await (const b of criteoBatches(path, 300)) {
        expect(b.labels).toEqual(d.labels.subarray(r, r + b.numRows));
        expect(b.cats).toEqual(d.cats.subarray(r * 26, (r + b.numRows) * 26));
        r += b.numRows;
      }
      expect(r).toBe(1000);
    },
  );

  it('bucketizes integers as floor(ln(v)^2) above 2', () => {
    expect(bucketizeCriteoInt(Number.NaN)).toBe(CRITEO_MISSING_INT_BUCKET);
    expect(bucketizeCriteoInt(-1)).toBe(-1);
    expect(bucketizeCriteoInt(0)).toBe(0);
    expect(bucketizeCriteoInt(2)).toBe(2);
    expect(bucketizeCriteoInt(3)).toBe(1); // ln 3 = 1.0986, squared 1.207
    expect(bucketizeCriteoInt(100)).toBe(21); // ln 100 = 4.6052, squared 21.21
    expect(bucketizeCriteoInt(1382)).toBe(52); // ln 1382 = 7.2313, squared 52.29
  });
});

describe('readRecboleInter', () => {
  const header = 'user_id:token\titem_id:token\trating:float\ttimestamp:float';

  it('remaps tokens by first appearance and keeps ratings and timestamps', async () => {
    const p = tmp.write(
      'x.inter',
      `${header}\r\n196\t242\t3\t881250949\r\n186\t302\t3.5\t891717742\r\n196\t302\t1\t5\r\n`,
    );
    const d = await readRecboleInter(p);
    expect(Array.from(d.users)).toEqual([0, 1, 0]);
    expect(Array.from(d.items)).toEqual([0, 1, 1]);
    expect(Array.from(d.ratings)).toEqual([3, 3.5, 1]);
    expect(Array.from(d.timestamps)).toEqual([881250949, 891717742, 5]);
    expect(d.userTokens).toEqual(['196', '186']);
    expect(d.itemTokens).toEqual(['242', '302']);
    expect([d.numUsers, d.numItems, d.numRows]).toEqual([2, 2, 3]);
  });

  it('finds columns by name in any order', async () => {
    const p = tmp.write('y.inter', 'item_id:token\ttimestamp:float\tuser_id:token\trating:float\nA\t7\tu\t4\n');
    const d = await readRecboleInter(p);
    expect(d.userTokens).toEqual(['u']);
    expect(d.itemTokens).toEqual(['A']);
    expect(d.timestamps[0]).toBe(7);
    expect(d.ratings[0]).toBe(4);
  });

  it('checks the header and every row', async () => {
    const cases: [string, number][] = [
      ['user_id:token\titem_id:token\trating:float\n1\t2\t3\n', 1],
      ['user_id:float\titem_id:token\trating:float\ttimestamp:float\n1\t2\t3\t4\n', 1],
      [`${header}\n1\t2\t3\t4\n1\t2\t3\n`, 3],
      [`${header}\n1\t2\tgood\t4\n`, 2],
      [`${header}\n1\t2\t3\t4x\n`, 2],
      [`${header}\n`, 2],
    ];
    for (const [i, [text, line]] of cases.entries()) {
      const p = tmp.write(`bad${i}.inter`, text);
      await expectFormatError(() => readRecboleInter(p), p, line);
    }
  });

  it.skipIf(missingData('ml-100k/ml-100k.inter'))(`loads MovieLens-100K (${DATASETS_REASON})`, async () => {
    const d = await readRecboleInter(join(DATASETS, 'ml-100k/ml-100k.inter'));
    expect(d.numRows).toBe(100000);
    expect(d.numUsers).toBe(943);
    expect(d.numItems).toBe(1682);
    expect([d.userTokens[d.users[0]!], d.itemTokens[d.items[0]!], d.ratings[0], d.timestamps[0]]).toEqual([
      '196',
      '242',
      3,
      881250949,
    ]);
    let lo = 5;
    let hi = 1;
    for (const r of d.ratings) {
      lo = Math.min(lo, r);
      hi = Math.max(hi, r);
    }
    expect([lo, hi]).toEqual([1, 5]);
  });
});
