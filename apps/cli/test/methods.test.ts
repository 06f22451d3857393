import { main } from '@compactrec/cli';
import { methodNames } from '@compactrec/embedding';
import { runCtrBench } from '@compactrec/harness';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capture } from './capture.js';

// Registry agreement: `--help` of the CTR commands, their unknown-method errors and the CTR harness
// list the same method names — the embedding registry's.

describe('method names: CLI, harness and registry agree', () => {
  afterEach(() => vi.restoreAllMocks());

  for (const command of [
    ['bench', 'ctr'],
    ['ctr', 'train'],
  ]) {
    it(`${command.join(' ')}: --help and the unknown-method error list every registry name`, async () => {
      let io = capture();
      expect(await main([...command, '--help'])).toBe(0);
      const help = io.out();
      for (const name of methodNames()) expect(help).toContain(name);
      expect(help).toContain('--quantize');
      vi.restoreAllMocks();
      io = capture();
      const flag = command[0] === 'bench' ? '--methods' : '--method';
      const code = await main([
        ...command,
        '--data',
        'fields=3,cardinality=50,trainRows=64,validRows=16,testRows=16',
        '--format',
        'synthetic',
        flag,
        'bogus+int8',
        '--backend',
        'cpu',
        '--epochs',
        '1',
      ]);
      expect(code).not.toBe(0);
      const line = io.err().trim().split('\n')[0]!;
      expect(line).toMatch(/unknown method 'bogus\+int8'/);
      for (const name of methodNames()) expect(line).toContain(name);
    });
  }

  it('the CTR harness accepts every composed name the registry resolves, and rejects unknown ones listing them', async () => {
    const err = await runCtrBench({
      data: 'fields=3,cardinality=50,trainRows=64,validRows=16,testRows=16',
      format: 'synthetic',
      methods: ['full', 'nope'],
      backend: 'cpu',
      log: () => {},
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    for (const name of methodNames()) expect((err as Error).message).toContain(name);
  });
});
