import { existsSync } from 'node:fs';
import { backendReport, initTf } from '@compactrec/tf-backend';
import { describe, expect, it } from 'vitest';
import { maxRelDiff, mlpStep } from './mlp.js';

// The native backend exists only after scripts/setup.sh built it; say so visibly when it did not.
const report = await backendReport();
const native = report.backends.find((b) => b.backend === 'tensorflow');
const nativeOk = native?.available === true;
const skipNote = nativeOk ? '' : ` [SKIPPED: native backend unavailable: ${native?.reason ?? 'not probed'}]`;

describe('native backend (tfjs-node + libtensorflow)', () => {
  it.skipIf(!nativeOk)(`should load with a libtensorflow on disk${skipNote}`, async () => {
    const rt = await initTf({ prefer: 'native', strict: true });
    expect(rt.backend).toBe('tensorflow');
    expect(rt.tf.getBackend()).toBe('tensorflow');
    expect(native?.libtensorflow && existsSync(native.libtensorflow)).toBe(true);
    // tfjs-node's namespace shares the one tfjs-core with @tensorflow/tfjs.
    const { baseTf } = await import('@compactrec/tf-backend');
    expect(rt.tf.engine()).toBe(baseTf().engine());
  });

  it.skipIf(!nativeOk)(`should match the cpu backend on an MLP forward/backward and Adam${skipNote}`, async () => {
    const rt = await initTf({ prefer: 'native', strict: true });
    for (const seed of [1, 2]) {
      const nat = await mlpStep(rt.tf, 'tensorflow', seed);
      const cpu = await mlpStep(rt.tf, 'cpu', seed);
      expect(Math.abs(nat.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
      expect(maxRelDiff(nat.grads, cpu.grads)).toBeLessThan(1e-3);
      expect(maxRelDiff(nat.weightsAfterAdam, cpu.weightsAfterAdam)).toBeLessThan(1e-4);
    }
  });

  it('should report every backend in order of preference', async () => {
    expect(report.backends.map((b) => b.backend)).toEqual(['tensorflow', 'wasm', 'cpu']);
    for (const b of report.backends) {
      expect(b.reason.length).toBeGreaterThan(0);
      if (!b.available) expect(b.libtensorflow).toBeUndefined();
    }
    expect(report.backends[2]?.available).toBe(true);
    expect(report.tfjs).toBe('4.22.0');
  });

  it('should leave the active backend as it found it', async () => {
    const rt = await initTf({ prefer: 'cpu' });
    await backendReport();
    expect(rt.tf.getBackend()).toBe('cpu');
  });
});
