import { DataFormatError } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { lineChunks, scanLines } from '../src/internal/lines.js';
import { caught, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** All non-empty lines of a file read with a tiny chunk size, as [line number, text]. */
async function readAll(path: string, chunkBytes: number): Promise<[number, string][]> {
  const out: [number, string][] = [];
  let line = 1;
  for await (const chunk of lineChunks(path, 'test', chunkBytes)) {
    line = scanLines(chunk, line, (buf, s, e, ln) => out.push([ln, buf.toString('utf8', s, e)]));
  }
  return out;
}

describe('lineChunks / scanLines', () => {
  it('splits lines across chunk boundaries, grows for long lines, strips CR, keeps line numbers', async () => {
    const long = 'x'.repeat(100);
    const p = tmp.write('l.txt', `a\r\n${long}\r\n\r\nbb\nlast`);
    const want: [number, string][] = [
      [1, 'a'],
      [2, long],
      [4, 'bb'],
      [5, 'last'],
    ];
    for (const size of [1, 2, 3, 16, 1 << 20]) expect(await readAll(p, size)).toEqual(want);
  });

  it('treats an empty file as a format error at line 1', async () => {
    const err = await caught(() => readAll(tmp.write('e.txt', ''), 16));
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as DataFormatError).line).toBe(1);
  });
});
