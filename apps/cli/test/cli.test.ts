import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@compactrec/cli';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capture } from './capture.js';

describe('compactrec CLI', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints help for the tool and for each command', async () => {
    const io = capture();
    expect(await main(['--help'])).toBe(0);
    expect(io.out()).toContain('bench retrieval');
    expect(await main(['bench', 'retrieval', '--help'])).toBe(0);
    expect(io.out()).toContain('--budget');
  });

  it('one-line errors with a non-zero exit for bad options', async () => {
    for (const [argv, pattern] of [
      [['bench', 'retrieval', '--data', 'generated', '--budget', '0'], /--budget '0': 0 is outside \(0, 1\]/],
      [['bench', 'retrieval', '--data', 'generated', '--budget', '1.5'], /--budget '1.5': 1.5 is outside \(0, 1\]/],
      [['bench', 'retrieval', '--data', 'generated', '--methods', 'full,bogus'], /unknown method 'bogus'/],
      [['bench', 'retrieval'], /--data is required/],
      [['bench', 'retrieval', '--data', 'generated', '--frobnicate'], /unknown option --frobnicate/],
      [['no-such-command'], /unknown command/],
    ] as const) {
      const io = capture();
      expect(await main([...argv])).not.toBe(0);
      expect(io.err()).toMatch(pattern);
      expect(io.err().trim().split('\n')[0]).toMatch(
        pattern.source.includes('unknown command') ? /unknown command/ : pattern,
      );
      vi.restoreAllMocks();
    }
  });

  it('names the file and line of malformed data, and missing directories', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cr-cli-'));
    await writeFile(join(dir, 'train.txt'), '0 1 2\n1 3 x4\n');
    await writeFile(join(dir, 'test.txt'), '0 3\n1 1\n');
    let io = capture();
    expect(await main(['bench', 'retrieval', '--data', dir, '--epochs', '1'])).toBe(1);
    expect(io.err()).toMatch(/train\.txt:2:/);
    vi.restoreAllMocks();
    await writeFile(join(dir, 'train.txt'), '');
    io = capture();
    expect(await main(['bench', 'retrieval', '--data', dir, '--epochs', '1'])).toBe(1);
    expect(io.err()).toMatch(/train\.txt:1: .*empty/);
    vi.restoreAllMocks();
    io = capture();
    expect(await main(['bench', 'retrieval', '--data', join(dir, 'missing'), '--epochs', '1'])).toBe(1);
    expect(io.err()).toMatch(/missing/);
  });

  it('runs a small benchmark end to end and writes its results', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cr-cli-out-'));
    const io = capture();
    const code = await main([
      'bench',
      'retrieval',
      '--data',
      'generated',
      '--methods',
      'full,modulo',
      '--epochs',
      '2',
      '--dim',
      '16',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    expect(io.out()).toMatch(/\| generated-.* \| mf \| modulo \|/);
    expect(io.err()).toMatch(/\[2\/2 modulo @ 0\.25 lr 0\.001\] epoch 2\/2/);
  });
});
