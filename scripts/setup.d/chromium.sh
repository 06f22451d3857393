#!/usr/bin/env bash
# Set-up step (run by scripts/setup.sh): Debian's headless-capable Chromium for the report's browser
# test (packages/report/test/browser.test.ts). Idempotent: does nothing when /usr/bin/chromium exists.
# Without root or apt-get it only says so; the browser test then skips with that reason (and fails
# under CI=true, where it must run).
set -euo pipefail
log() { printf '[setup] chromium: %s\n' "$*" >&2; }
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "not installed and cannot install it here (needs root and apt-get): run 'apt-get install chromium' for the browser test"
  exit 0
fi
log "installing Debian's chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }; then
  log "apt-get could not install chromium; the browser test will be skipped (and fail under CI)"
  exit 0
fi
log "installed $(chromium --version 2>/dev/null || echo chromium)"
