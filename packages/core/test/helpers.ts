import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared read-only datasets (../shared/datasets beside the checkout). */
export const DATASETS = fileURLToPath(new URL('../../../../shared/datasets/', import.meta.url));

/** A temporary directory with a helper to write files into it; call `cleanup()` in afterAll. */
export function tempDir(prefix = 'compactrec-core-'): {
  dir: string;
  write: (name: string, content: string | Uint8Array) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` and returns what it threw (fails the test if it did not throw). */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, none was thrown');
}

/** Rows of a CSR structure as plain arrays (for readable assertions). */
export function rowsOf(x: { numUsers: number; offsets: Uint32Array; items: Int32Array }): number[][] {
  const out: number[][] = [];
  for (let u = 0; u < x.numUsers; u++) out.push(Array.from(x.items.subarray(x.offsets[u]!, x.offsets[u + 1]!)));
  return out;
}
