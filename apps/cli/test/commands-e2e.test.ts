// End-to-end tests of CLI commands that had none (issue #19, test debts): each runs the real
// `compactrec` binary (bin/compactrec.js → dist/) on small generated data and checks what it prints
// and writes, not only its exit code.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRetrievalDataset } from '@compactrec/core';
import { loadClustering } from '@compactrec/graphhash';
import { readExport } from '@compactrec/interop';
import { kernelInfo } from '@compactrec/native';
import { beforeAll, describe, expect, it } from 'vitest';
import { parts, toolChecks } from '../src/commands/doctor.js';

const BIN = fileURLToPath(new URL('../bin/compactrec.js', import.meta.url));

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function run(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      err += String(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cr-cli-e2e-'));
});

describe('compactrec cluster → export', () => {
  it('clusters a generated graph within the budget rows and export reads the mapping it wrote', async () => {
    const data = generateRetrievalDataset({ numUsers: 300, numItems: 400, communities: 6, meanDegree: 8, seed: 3 });
    const dir = join(tmp, 'graph');
    await mkdir(dir);
    const { offsets, items, numUsers } = data.train;
    const lines: string[] = [];
    for (let u = 0; u < numUsers; u++) lines.push([u, ...items.subarray(offsets[u]!, offsets[u + 1]!)].join(' '));
    await writeFile(join(dir, 'train.txt'), `${lines.join('\n')}\n`);
    const map = join(tmp, 'mapping.bin');
    const c = await run('cluster', '--data', dir, '--budget', '0.25', '--dim', '16', '--out', map);
    expect(c.code, c.err).toBe(0);
    expect(c.err).toMatch(/cluster: 300 users, \d+ items, \d+ training interactions/);
    const users = /^user clusters +(\d+) \(budget rows (\d+)\)$/m.exec(c.out);
    const itemsLine = /^item clusters +(\d+) \(budget rows (\d+)\)$/m.exec(c.out);
    expect(users, c.out).not.toBeNull();
    expect(itemsLine, c.out).not.toBeNull();
    // Targeted at the budget: more than one cluster per side, never more than the budget rows.
    expect(Number(users![1])).toBeGreaterThan(1);
    expect(Number(users![1])).toBeLessThanOrEqual(Number(users![2]));
    expect(Number(itemsLine![1])).toBeLessThanOrEqual(Number(itemsLine![2]));
    expect(c.out).toMatch(new RegExp(`^wrote +${map.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(c.out).not.toMatch(/warning/);

    const saved = await loadClustering(map);
    expect(saved.numUserClusters).toBe(Number(users![1]));
    expect(saved.numItemClusters).toBe(Number(itemsLine![1]));

    const npy = join(tmp, 'mapping-npy');
    const e = await run('export', '--from', map, '--format', 'npy', '--out', npy);
    expect(e.code, e.err).toBe(0);
    const back = await readExport(npy);
    expect(Array.from(back.tensors['user.mapping.codes']!.data as Int32Array)).toEqual(Array.from(saved.userCluster));
    expect(Array.from(back.tensors['item.mapping.codes']!.data as Int32Array)).toEqual(Array.from(saved.itemCluster));
    expect(back.metadata.features.user!.mapping.rows).toBe(Number(users![1]));
    expect(back.metadata.features.item!.mapping.rows).toBe(Number(itemsLine![1]));
  });
});

describe('compactrec ctr train → ctr eval (synthetic data)', () => {
  it('trains an LR model that beats chance on its test split and ctr eval reproduces that AUC from the model directory', async () => {
    const spec = 'fields=3,cardinality=50,rows=6000,validRows=1000,testRows=1500';
    const dir = join(tmp, 'ctr-model');
    const t = await run(
      'ctr',
      'train',
      '--data',
      spec,
      '--format',
      'synthetic',
      '--model',
      'lr',
      '--lr',
      '0.01',
      '--epochs',
      '5',
      '--out',
      dir,
    );
    expect(t.code, t.err).toBe(0);
    const trained = JSON.parse(t.out) as { test: { auc: number; logloss: number }; epochs: number };
    expect(trained.epochs).toBeGreaterThanOrEqual(1);
    expect(trained.epochs).toBeLessThanOrEqual(5);
    // The synthetic labels depend on the IDs: a trained model ranks better than a coin (0.64 here).
    expect(trained.test.auc).toBeGreaterThan(0.6);
    const e = await run('ctr', 'eval', '--model-dir', dir);
    expect(e.code, e.err).toBe(0);
    const ev = JSON.parse(e.out) as { auc: number; logloss: number; samples: number; split: string };
    expect(ev.split).toBe('test');
    expect(ev.samples).toBe(1500);
    expect(ev.auc).toBeCloseTo(trained.test.auc, 6);
    expect(ev.logloss).toBeCloseTo(trained.test.logloss, 6);
  });
});

describe('compactrec doctor: native kernels', () => {
  it('reports the kernels @compactrec/native loads, as that package reports them', async () => {
    const r = await run('doctor', '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as {
      inRepository: boolean;
      parts: { what: string; found: boolean; detail: string; hint: string }[];
    };
    expect(j.inRepository).toBe(true); // this test runs from the repository
    const k = j.parts.find((p) => p.what === 'native kernels')!;
    const here = kernelInfo();
    expect(k.found).toBe(here.kind === 'native');
    expect(k.detail).toBe(here.reason);
    const text = await run('doctor');
    expect(text.out).toMatch(
      here.kind === 'native'
        ? /^native kernels +found +loaded .*\.node$/m
        : /^native kernels +missing .*bash scripts\/setup\.sh/m,
    );
  });

  it('outside a repository gives no repository hints and no repository-only rows', async () => {
    const installed = parts(false);
    expect(installed.map((p) => p.what)).toEqual(['native kernels']);
    for (const p of installed) expect(p.hint).not.toMatch(/scripts\/setup\.sh/);
    const tools = await toolChecks({}, false);
    expect(tools.map((t) => t.what)).toEqual(['java', 'kafka broker', 'sqlite', 'chromium', 'python']);
    for (const t of tools) expect(`${t.detail} ${t.neededBy}`).not.toMatch(/scripts\/setup\.sh|npm test/);
    const repo = await toolChecks({}, true);
    expect(repo.find((t) => t.what === 'python')!.neededBy).toMatch(/bash scripts\/setup\.sh/);
  });
});
