#!/usr/bin/env node
// Reads vitest's JSON report (scripts/test.sh writes it) and prints one line with how many tests were
// skipped, and which. Under CI=true any skipped test fails the run: CI has the datasets, the native
// addon, Python and Kafka, so a skip there means a set-up step is broken.
//   node scripts/test-summary.mjs REPORT.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const report = JSON.parse(readFileSync(file, 'utf8'));
const skipped = [];
for (const f of report.testResults ?? []) {
  for (const t of f.assertionResults ?? []) {
    if (t.status === 'skipped' || t.status === 'pending' || t.status === 'todo')
      skipped.push(`${f.name}: ${t.fullName}`);
  }
}
const total = report.numTotalTests ?? 0;
process.stdout.write(`[test] ${skipped.length} of ${total} tests skipped${skipped.length ? ':' : ''}\n`);
for (const s of skipped.slice(0, 50)) process.stdout.write(`[test]   skipped ${s}\n`);
if (skipped.length > 50) process.stdout.write(`[test]   … and ${skipped.length - 50} more\n`);
if (process.env.CI === 'true' && skipped.length > 0) {
  process.stdout.write(
    '[test] CI=true: no test may be skipped in CI (datasets, native addon, Python and Kafka are installed there)\n',
  );
  process.exit(1);
}
