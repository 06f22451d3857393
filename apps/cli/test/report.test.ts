import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@compactrec/cli';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capture } from './capture.js';

describe('compactrec report', () => {
  afterEach(() => vi.restoreAllMocks());

  it('turns bench output directories into one HTML report with a plot per dataset × model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compactrec-cli-report-'));
    const io = capture();
    // Two budgets of a real (tiny) bench run: the sweep the report plots as curves.
    for (const budget of ['0.5', '0.25']) {
      const argv = ['bench', 'retrieval', '--data', 'generated', '--methods', 'full,modulo,frequency', '--epochs', '1'];
      expect(await main([...argv, '--dim', '8', '--budget', budget, '--out', join(dir, `b${budget}`)])).toBe(0);
    }
    const out = join(dir, 'report.html');
    expect(await main(['report', join(dir, 'b0.5'), join(dir, 'b0.25'), '--out', out])).toBe(0);
    expect(io.out()).toContain(`Wrote ${out}`);
    expect(io.out()).toMatch(/generated-\d+x\d+-s0 · mf: 6 points, \d on the Pareto front/);
    const html = await readFile(out, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(1);
    expect(html.match(/class="mark-symbol role-mark points_marks"/g)).toHaveLength(1);
    expect(html).toContain('gitCommit');
  }, 120_000);

  it('fails with a one-line error naming the path when there is nothing to report', async () => {
    const io = capture();
    expect(await main(['report', '--out', '/tmp/x.html'])).toBe(1);
    expect(io.err()).toMatch(/give at least one results directory/);
    expect(await main(['report', '/nonexistent/results'])).toBe(1);
    expect(io.err()).toMatch(/\/nonexistent\/results does not exist/);
    expect(await main(['report', '--help'])).toBe(0);
    expect(io.out()).toContain('--bytes');
  });
});
