import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRetrievalDataset, Rng } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, exportFeatureEmbeddings, tensor, writeExport } from '../src/index.js';
import { trainMf } from './mf.js';

// The project-local virtual environment scripts/setup.d/python.sh creates (numpy + safetensors from PyPI).
const root = fileURLToPath(new URL('../../..', import.meta.url));
const python = join(process.env.COMPACTREC_PYTHON_VENV ?? join(root, '.venv-python'), 'bin', 'python');
const script = fileURLToPath(new URL('../python/reconstruct.py', import.meta.url));
const havePython = existsSync(python);
const why = `no Python environment at ${python}: run bash scripts/setup.sh (scripts/setup.d/python.sh)`;
if (!havePython && process.env.CI === 'true') {
  throw new Error(`python round-trip: ${why} — CI installs it, so this is a set-up failure, not a skip`);
}

const dir = mkdtempSync(join(tmpdir(), 'interop-python-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runPython(args: string[]): Float64Array | Float32Array {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}.npy`);
  execFileSync(python, [script, ...args, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  return decodeNpy(readFileSync(out), out).data as Float64Array | Float32Array;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

// Large enough for 1,000 distinct IDs per side.
const data = generateRetrievalDataset({ numUsers: 1200, numItems: 1500, communities: 12, meanDegree: 10, seed: 11 });
const dim = 16;

describe.skipIf(!havePython)(`Python round trip (numpy + safetensors; skipped when: ${why})`, () => {
  const MODELS: { user: string; item: string; format: 'safetensors' | 'npy' }[] = [
    { user: 'graphhash', item: 'graphhash+int8', format: 'safetensors' },
    { user: 'double-frequency+int4', item: 'dsl+int8', format: 'npy' },
  ];
  for (const m of MODELS) {
    it(`MF with ${m.user} users and ${m.item} items: Python rebuilds 1,000 embeddings per side and 100 scores within 1e-6 (${m.format})`, async () => {
      const model = trainMf(data, m, { dim, budget: 0.25, epochs: 4 });
      // Training is real: the BPR loss falls.
      expect(model.losses.at(-1)!).toBeLessThan(model.losses[0]! * 0.95);
      const path = join(dir, `${m.user}-${m.item}.${m.format === 'npy' ? 'd' : 'safetensors'}`);
      await writeExport(exportFeatureEmbeddings({ user: model.user, item: model.item }), path, m.format);

      const rng = new Rng(3);
      for (const [name, e] of [
        ['user', model.user],
        ['item', model.item],
      ] as const) {
        const ids = new Int32Array(1000);
        for (let j = 0; j < ids.length; j++) ids[j] = rng.nextInt(e.numIds);
        const idsFile = join(dir, `${name}-ids.npy`);
        writeFileSync(idsFile, encodeNpy(tensor('I32', [ids.length], ids)));
        const want = new Float32Array(ids.length * dim);
        e.lookup(ids, want);
        const got = runPython([path, '--feature', name, '--ids', idsFile]);
        expect(maxDiff(want, got), `${name} embeddings`).toBeLessThan(1e-6);
      }

      const pairs = new Int32Array(200);
      for (let j = 0; j < 100; j++) {
        pairs[2 * j] = rng.nextInt(data.train.numUsers);
        pairs[2 * j + 1] = rng.nextInt(data.train.numItems);
      }
      const pairsFile = join(dir, 'pairs.npy');
      writeFileSync(pairsFile, encodeNpy(tensor('I32', [100, 2], pairs)));
      const U = new Float32Array(dim);
      const I = new Float32Array(dim);
      const ours = new Float64Array(100);
      for (let j = 0; j < 100; j++) {
        model.user.lookup([pairs[2 * j]!], U);
        model.item.lookup([pairs[2 * j + 1]!], I);
        for (let c = 0; c < dim; c++) ours[j]! += U[c]! * I[c]!;
      }
      const theirs = runPython([path, '--scores', pairsFile]);
      expect(maxDiff(ours, theirs), 'MF scores').toBeLessThan(1e-6);
      // Scores must spread: equal-to-1e-6 would hold trivially for an untrained, all-zero model.
      expect(Math.max(...ours) - Math.min(...ours)).toBeGreaterThan(1e-3);
    });
  }
});
