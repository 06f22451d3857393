import { initTf } from '@compactrec/tf-backend';
import { describe, expect, it } from 'vitest';
import { maxRelDiff, mlpStep } from './mlp.js';

describe('wasm backend', () => {
  it('should initialise in Node from the package dist folder', async () => {
    const rt = await initTf({ prefer: 'wasm', strict: true });
    expect(rt.backend).toBe('wasm');
    expect(rt.tf.getBackend()).toBe('wasm');
    expect(rt.threads).toBeGreaterThanOrEqual(1);
  });

  it('should match the cpu backend on an MLP forward/backward', async () => {
    const rt = await initTf({ prefer: 'wasm', strict: true });
    const wasm = await mlpStep(rt.tf, 'wasm', 7);
    const cpu = await mlpStep(rt.tf, 'cpu', 7);
    expect(Math.abs(wasm.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
    expect(maxRelDiff(wasm.grads, cpu.grads)).toBeLessThan(1e-3);
    expect(maxRelDiff(wasm.weightsAfterAdam, cpu.weightsAfterAdam)).toBeLessThan(1e-4);
  });
});
