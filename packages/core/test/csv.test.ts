import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError, readHeaderCsv } from '@compactrec/core';
import { beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cr-csv-'));
});

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

describe('readHeaderCsv', () => {
  it('maps columns: label by name, id dropped, equal values equal keys, quoted commas, CRLF, blank lines', async () => {
    const p = await file('ok.csv', 'id,click,site,"app"\r\n1,0,a,x\r\n\r\n2,1,b,"y,z"\n3,0,a,\n');
    const d = await readHeaderCsv(p);
    expect(d.labelColumn).toBe('click');
    expect(d.dropped).toEqual(['id']);
    expect(d.fieldNames).toEqual(['site', 'app']);
    expect(Array.from(d.labels)).toEqual([0, 1, 0]);
    const k = (s: number, f: number): number => d.keys[s * 2 + f]!;
    expect(k(0, 0)).toBe(k(2, 0)); // a == a
    expect(k(0, 0)).not.toBe(k(1, 0)); // a != b
    expect(new Set([k(0, 1), k(1, 1), k(2, 1)]).size).toBe(3); // x, "y,z", empty
    expect(Number.isSafeInteger(k(1, 1))).toBe(true);
  });

  it('takes an explicit label and drop list; maxRows stops early', async () => {
    const p = await file('map.csv', 'a,b,y\n1,2,1\n3,4,0\n5,6,1\n');
    const d = await readHeaderCsv(p, { label: 'y', drop: ['a'], maxRows: 2 });
    expect(d.fieldNames).toEqual(['b']);
    expect(d.numSamples).toBe(2);
  });

  it('names file, line and column of bad rows', async () => {
    const cases: [string, number, RegExp][] = [
      ['click,a\n0,x\n1\n', 3, /1 columns but the header has 2/],
      ['click,a\n0,x\n1,y,z\n', 3, /more than the header's 2 columns/],
      ['click,a\n2,x\n', 2, /label '2' in column 'click' is not 0 or 1/],
      ['a,b\n0,1\n', 1, /no label column in the header \(a,b\)/],
      ['click,a\n', 2, /has a header but no data line/],
    ];
    for (const [i, [text, line, why]] of cases.entries()) {
      const p = await file(`bad${i}.csv`, text);
      const err = await readHeaderCsv(p).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataFormatError);
      expect((err as DataFormatError).line).toBe(line);
      expect((err as Error).message).toMatch(why);
    }
  });
});
