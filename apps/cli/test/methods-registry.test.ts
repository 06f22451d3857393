import { main } from '@compactrec/cli';
import {
  methodNames as harnessNames,
  resolveMethod as harnessResolve,
  SHARING_METHODS,
  STORAGE_KINDS,
} from '@compactrec/harness';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capture } from './capture.js';

describe('one method registry for the CLI and the retrieval harness (re-exported from @compactrec/embedding)', () => {
  afterEach(() => vi.restoreAllMocks());
  const parts = [...Object.keys(SHARING_METHODS), ...Object.keys(STORAGE_KINDS)];

  it('bench retrieval --help lists every sharing method and storage kind of the registry', async () => {
    const io = capture();
    expect(await main(['bench', 'retrieval', '--help'])).toBe(0);
    for (const p of parts) expect(io.out(), p).toContain(p);
    expect(io.out()).toContain('SHARING+STORAGE');
  });

  it('the unknown-method error lists the same names, before any work', async () => {
    const io = capture();
    expect(await main(['bench', 'retrieval', '--data', '/nonexistent', '--methods', 'full,graphhash+int3'])).toBe(1);
    const line = io.err().trim().split('\n')[0]!;
    expect(line).toMatch(/unknown method 'graphhash\+int3'/);
    for (const p of parts) expect(line, p).toContain(p);
    expect(io.err()).not.toMatch(/nonexistent/); // failed on the name, not on the data
  });

  it('the harness resolves exactly what the contract registry holds', () => {
    expect(harnessNames()).toEqual([
      ...Object.keys(SHARING_METHODS),
      ...Object.keys(STORAGE_KINDS).filter((k) => STORAGE_KINDS[k] !== STORAGE_KINDS.float32),
    ]);
    for (const s of Object.keys(SHARING_METHODS))
      for (const k of Object.keys(STORAGE_KINDS)) {
        const m = harnessResolve(`${s}+${k}`);
        expect(m.sharing).toBe(SHARING_METHODS[s]);
        expect(m.storage).toBe(STORAGE_KINDS[k]);
      }
  });
});
