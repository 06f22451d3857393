import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '@compactrec/core';
import { backendReport, initTf, type TfPreference } from '@compactrec/tf-backend';
import { afterEach, describe, expect, it, vi } from 'vitest';

const NO_NATIVE_HOME = join(tmpdir(), 'compactrec-tf-backend-test-no-native');

describe('initTf', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('should reject an unknown preference', async () => {
    await expect(initTf({ prefer: 'gpu' as TfPreference })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('should reject a thread count that is not a positive integer, naming the option', async () => {
    await expect(initTf({ prefer: 'cpu', intraOpThreads: 0 })).rejects.toThrow(/intraOpThreads \(0\)/);
    await expect(initTf({ prefer: 'cpu', interOpThreads: 1.5 })).rejects.toThrow(/interOpThreads \(1.5\)/);
  });

  it('should give cpu when cpu is preferred', async () => {
    const rt = await initTf({ prefer: 'cpu' });
    expect(rt.backend).toBe('cpu');
    expect(rt.tf.getBackend()).toBe('cpu');
    expect(rt.reason).toContain('prefer=cpu');
    expect(rt.tf.add(rt.tf.scalar(2), rt.tf.scalar(3)).dataSync()[0]).toBe(5);
  });

  it('should give the best available backend with auto, and say why', async () => {
    const report = await backendReport();
    const best = report.backends.find((b) => b.available);
    const rt = await initTf({ prefer: 'auto', quiet: true });
    expect(rt.backend).toBe(best?.backend);
    expect(rt.tf.getBackend()).toBe(rt.backend);
    expect(rt.reason.length).toBeGreaterThan(0);
    if (rt.backend !== 'tensorflow') {
      // Falling back must name why native is out.
      expect(rt.reason).toContain('native unavailable');
    }
  });

  it('should fall back to wasm with a one-line notice when native is not installed', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const rt = await initTf({ prefer: 'auto', tfjsHome: NO_NATIVE_HOME });
    vi.restoreAllMocks();
    expect(rt.backend).toBe('wasm');
    expect(rt.reason).toContain('native unavailable');
    const notices = lines.filter((l) => l.startsWith('[tf-backend]'));
    expect(notices).toHaveLength(1);
    expect(notices[0]?.trimEnd().split('\n')).toHaveLength(1);
    expect(notices[0]).toContain(NO_NATIVE_HOME);
  });

  it('should throw NotFoundError when native is required strictly but missing', async () => {
    await expect(initTf({ prefer: 'native', strict: true, tfjsHome: NO_NATIVE_HOME })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('should give the same engine to every backend (one tfjs-core)', async () => {
    const a = await initTf({ prefer: 'cpu' });
    const t = a.tf.tensor1d([1, 2, 3]);
    const b = await initTf({ prefer: 'wasm' });
    expect(b.backend).toBe('wasm');
    // A tensor made on cpu is readable and usable after switching: only one engine holds it.
    expect(Array.from(b.tf.mul(t, 2).dataSync())).toEqual([2, 4, 6]);
    expect(b.tf.engine()).toBe(a.tf.engine());
  });
});
