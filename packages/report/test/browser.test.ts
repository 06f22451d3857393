/**
 * The report in a real browser: Debian's Chromium (installed by scripts/setup.d/chromium.sh) opens
 * a generated report headless through playwright-core. Without Chromium the test is skipped with
 * the reason; under CI (CI=true) a missing Chromium is a failure, never a skip.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { PLOT_LAYERS, writeReport } from '../src/index.js';
import { EXPECTED_PLOTS, writeFixtureResults } from './fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
const SKIP_REASON = `${CHROMIUM} not found: run scripts/setup.d/chromium.sh (needs root and apt-get), or set CHROMIUM_PATH`;
/** Where the screenshot goes (gitignored); the path is printed by the test. */
export const OUTPUT_DIR = fileURLToPath(new URL('../test-output/', import.meta.url));

/** The flags the brief asks for: headless, no sandbox (root), nothing phoning home. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const fx = writeFixtureResults();
const profile = mkdtempSync(join(tmpdir(), 'compactrec-chromium-'));
afterAll(() => {
  rmSync(fx.root, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
});

if (!HAVE_CHROMIUM) process.stderr.write(`report browser test skipped: ${SKIP_REASON}\n`);

describe('report in headless Chromium', () => {
  // Under CI a missing Chromium is a failure (the test runs and throws), never a skip.
  it.skipIf(!HAVE_CHROMIUM && !IN_CI)(
    `renders without console errors or network requests, each plot with its expected marks, sortable, screenshot saved${HAVE_CHROMIUM ? '' : ` — skipped: ${SKIP_REASON}`}`,
    async () => {
      if (!HAVE_CHROMIUM) throw new Error(`CI=true but ${SKIP_REASON}`);
      mkdirSync(OUTPUT_DIR, { recursive: true });
      const out = join(OUTPUT_DIR, 'report.html');
      await writeReport(fx.dirs, out, { title: 'Browser test report' });
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: FLAGS,
        viewport: { width: 1280, height: 900 },
      });
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(String(e)));
        page.on('request', (r) => requests.push(r.url()));
        const url = pathToFileURL(out).href;
        await page.goto(url, { waitUntil: 'load' });
        expect(errors).toEqual([]);
        // The page fetched nothing but itself (self-contained: opens with no network).
        expect(requests).toEqual([url]);
        const plots = await page.$$eval(
          'section.group',
          (sections, layers) =>
            sections.map((s) => ({
              name: s.querySelector('h2')?.textContent ?? '',
              svgs: s.querySelectorAll('.plot svg').length,
              points: s.querySelectorAll(`.plot g.${layers.points}_marks path`).length,
              curves: s.querySelectorAll(`.plot g.${layers.curves}_marks`).length,
              frontLine: s.querySelectorAll(`.plot g.${layers.front}_marks path`).length,
              frontPoints: s.querySelectorAll(`.plot g.${layers.frontPoints}_marks path`).length,
              rows: s.querySelectorAll('table tbody tr').length,
            })),
          PLOT_LAYERS,
        );
        expect(plots.map((p) => p.name).sort()).toEqual(Object.keys(EXPECTED_PLOTS).sort());
        for (const p of plots) {
          const want = EXPECTED_PLOTS[p.name as keyof typeof EXPECTED_PLOTS];
          expect(p, p.name).toMatchObject({
            svgs: 1,
            points: want.points,
            curves: want.methods,
            frontLine: 1,
            frontPoints: want.front,
          });
        }
        // The plots were laid out by the browser (non-zero size), not just present in the DOM.
        const sizes = await page.$$eval('.plot svg', (svgs) => svgs.map((s) => s.getBoundingClientRect().width));
        expect(sizes.every((w) => w > 300)).toBe(true);
        // Sorting: clicking the metric header orders the Toy table by recall, ascending then descending.
        const toy = page.locator('section.group', { hasText: 'Toy · mf' });
        const recallOrder = () =>
          toy.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.children[4]!.getAttribute('data-v'))));
        await toy.locator('th', { hasText: /^recall@20$/ }).click();
        expect(await recallOrder()).toEqual([0.05, 0.08, 0.09, 0.12, 0.15, 0.18, 0.2]);
        await toy.locator('th', { hasText: /^recall@20$/ }).click();
        expect(await recallOrder()).toEqual([0.2, 0.18, 0.15, 0.12, 0.09, 0.08, 0.05]);
        expect(errors).toEqual([]);
        const png = join(OUTPUT_DIR, 'report.png');
        await page.screenshot({ path: png, fullPage: true });
        expect(statSync(png).size).toBeGreaterThan(20_000);
        process.stdout.write(`report screenshot: ${png}\n`);
      } finally {
        await context.close();
      }
    },
  );
});
