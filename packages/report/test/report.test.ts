import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, NotFoundError } from '@compactrec/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  groupResults,
  knobSummary,
  loadResults,
  paretoFront,
  parseResults,
  renderReport,
  runFacts,
} from '../src/index.js';
import { EXPECTED_PLOTS, writeFixtureResults } from './fixtures.js';

const fx = writeFixtureResults();
afterAll(() => rmSync(fx.root, { recursive: true, force: true }));

describe('paretoFront', () => {
  it('keeps exactly the points no other point dominates, ordered by bytes', () => {
    const pts = [
      { bytes: 100, value: 0.5 }, // 0 front
      { bytes: 100, value: 0.4 }, // 1 same bytes, worse
      { bytes: 200, value: 0.5 }, // 2 more bytes, same value: dominated
      { bytes: 300, value: 0.7 }, // 3 front
      { bytes: 50, value: 0.1 }, // 4 front (fewest bytes)
      { bytes: Number.NaN, value: 1 }, // 5 never
    ];
    expect(paretoFront(pts)).toEqual([4, 0, 3]);
    expect(paretoFront([])).toEqual([]);
  });
});

describe('loadResults / parseResults', () => {
  it('reads old and new records: JSON arrays, JSON lines, numbers in strings, nested results dirs', async () => {
    const sets = await loadResults(fx.dirs);
    expect(sets.map((s) => s.label)).toEqual(['toy-sweep', 'frappe-ctr']);
    expect(sets[0]!.records).toHaveLength(7);
    const ctr = sets[1]!;
    expect(ctr.records).toHaveLength(4);
    expect(ctr.skipped).toEqual(['entry 4 is not an object']);
    expect(ctr.records[1]!.auc).toBe(0.95); // was the string '0.95'
    const lines = parseResults('{"method":"a","x":1}\n\n{"method":"b","x":{"y":2}}\n', 'r.jsonl');
    expect(lines.records).toEqual([
      { method: 'a', x: 1 },
      { method: 'b', x: '{"y":2}' },
    ]);
  });

  it('names the path and what is wrong for a missing directory, an empty one and a broken file', async () => {
    await expect(loadResults([join(fx.root, 'nope')])).rejects.toThrow(NotFoundError);
    await expect(loadResults([join(fx.root, 'nope')])).rejects.toThrow(/nope does not exist/);
    await expect(loadResults([])).rejects.toThrow(/no results directory/);
    expect(() => parseResults('[{"method":', 'bad.json')).toThrow(DataFormatError);
    expect(() => parseResults('[{"method":', 'bad.json')).toThrow(/bad\.json:1/);
  });
});

describe('groupResults / renderReport', () => {
  it('plots each dataset × model with its metric, its points and its Pareto front', async () => {
    const groups = groupResults(await loadResults(fx.dirs));
    const byName = Object.fromEntries(groups.map((g) => [`${g.dataset} · ${g.model}`, g]));
    expect(Object.keys(byName).sort()).toEqual(Object.keys(EXPECTED_PLOTS).sort());
    expect(byName['Toy · mf']!.metric).toBe('recall@20');
    expect(byName['Frappe · fm']!.metric).toBe('auc');
    for (const [name, want] of Object.entries(EXPECTED_PLOTS)) {
      const g = byName[name]!;
      expect(g.points).toHaveLength(want.points);
      expect(new Set(g.points.map((p) => p.method)).size).toBe(want.methods);
      expect(g.points.filter((p) => p.pareto)).toHaveLength(want.front);
    }
    // x = embedding + mapping bytes: graphhash@0.1 (100 + 40) is on the front, modulo@0.25 (266 B, 0.08) is not.
    const toy = byName['Toy · mf']!;
    const at = (m: string, b: number) => toy.points.find((p) => p.method === m && p.budget === b)!;
    expect(at('graphhash', 0.1)).toMatchObject({ bytes: 140, pareto: true });
    expect(at('modulo', 0.25)).toMatchObject({ bytes: 266, pareto: false });
    expect(byName['Frappe · fm']!.unplotted.map((r) => r.method)).toEqual(['qr']);
  });

  it('writes one self-contained page: inline SVG plots, no external resource, environment or "not recorded"', async () => {
    const sets = await loadResults(fx.dirs);
    const html = await renderReport(sets, { generatedAt: new Date('2026-01-01T00:00:00Z') });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(2);
    // Nothing is loaded from anywhere: no src/href attribute, no url(), no @import (SVG namespaces are not fetches).
    expect(html).not.toMatch(/\s(src|href)=/);
    expect(html).not.toMatch(/url\(|@import/);
    expect(html).toContain('0123456789abcdef0123456789abcdef01234567');
    const facts = runFacts(sets[1]!);
    expect(facts.environment.find(([k]) => k === 'gitCommit')).toEqual(['gitCommit', 'not recorded']);
    expect(runFacts(sets[0]!).environment.find(([k]) => k === 'hostname')).toEqual(['hostname', 'test-host']);
    expect(runFacts(sets[0]!).protocol).toContainEqual(['batchSize', 2048]);
  });

  it('shows a tuned sweep record: mean ± std over seeds, validation metric and best epoch; per-record fields stay out of the protocol', async () => {
    const rec = (method: string, budget: number, recall: number, std: number) => ({
      dataset: 'gowalla',
      model: 'mf',
      method,
      budget,
      embeddingBytes: Math.round(budget * 1e6),
      mappingBytes: 16,
      'recall@20': recall,
      'recall@20.std': std,
      'valid.recall@20': recall + 0.01,
      bestEpoch: 40,
      epochsTrained: 90,
      lr: 0.003,
      validCurve: [
        [10, 0.1],
        [20, 0.12],
      ],
      tuneGrid: [{ lr: 0.001, wd: 0.0001, 'valid.recall@20': 0.1 }],
      cellKey: `k-${method}`,
      selectedBy: 'valid.recall@20',
      patience: 50,
    });
    const partial = { ...rec('dsl+int8', 0.25, 0.09, 0.001), tuneIncomplete: '2 of 3 grid points done' };
    const set = {
      file: 'sweep/results.json',
      label: 'sweep',
      records: parseResults(
        JSON.stringify([rec('full', 1, 0.13, 0.002), rec('modulo', 0.25, 0.05, 0.004), partial]),
        'x.json',
      ).records,
      skipped: [],
    };
    const html = await renderReport([set], { generatedAt: new Date('2026-01-01T00:00:00Z') });
    expect(html).toContain('0.1300 ± 0.0020');
    expect(html).toContain('0.0500 ± 0.0040');
    expect(html).toMatch(/<th[^>]*>valid\.recall@20<\/th>/);
    expect(html).toMatch(/<th[^>]*>bestEpoch<\/th>/);
    expect(html).toContain('0.0030 (2 of 3 grid points done)');
    // One error bar (value ± std over seeds) per plotted record with a std.
    expect(html.match(/<g class="mark-rule role-mark errors_marks"/g)).toHaveLength(1);
    const rules = html.slice(html.indexOf('errors_marks')).split('</g>')[0]!;
    expect(rules.match(/<line aria-label="[^"]*lo: [\d.]+; hi: [\d.]+/g)).toHaveLength(3);
    expect(rules).toContain('lo: 0.128; hi: 0.132'); // full: 0.13 ± 0.002
    const protocol = runFacts(set).protocol.map(([k]) => k);
    expect(protocol).toContain('patience');
    expect(protocol).toContain('selectedBy');
    for (const k of ['validCurve', 'tuneGrid', 'cellKey', 'recall@20.std', 'valid.recall@20', 'tuneIncomplete']) {
      expect(protocol).not.toContain(k);
    }
  });

  it("summarises each side's chosen knob from the params JSON", () => {
    expect(knobSummary(JSON.stringify({ user: { resolution: 12.5, clusters: 100 }, item: { density: 0.25 } }))).toBe(
      'user: resolution=12.500, clusters=100; item: density=0.2500',
    );
    expect(knobSummary(JSON.stringify([{ method: 'qr', rows: 10 }]))).toBe('method=qr, rows=10');
    expect(knobSummary(undefined)).toBe('');
  });
});
