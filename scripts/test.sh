#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), then every vitest project, unit and integration.
# Services the integration tests need (the Kafka broker) are started by the tests' global set-up
# unless KAFKA_BROKERS points at a running broker. Ends with one line saying how many tests were
# skipped (scripts/test-summary.mjs); under CI=true a skipped test fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p .cache
REPORT=.cache/vitest-report.json
rm -f "$REPORT"
rc=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$REPORT" "$@" || rc=$?
if [ -f "$REPORT" ]; then
  node scripts/test-summary.mjs "$REPORT" || { [ "$rc" -ne 0 ] || rc=1; }
fi
exit "$rc"
