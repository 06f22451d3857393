#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh clone: npm packages, native addons, TypeScript build.
# Every step is skipped when its inputs have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
log() { printf '[setup] %s\n' "$*" >&2; }

# Native addons (better-sqlite3, our own kernels) build from source against the local Node headers:
# node-gyp must never try to download headers (no internet here).
NODE_PREFIX=$(node -p "require('path').resolve(process.execPath, '..', '..')")
if [ -f "$NODE_PREFIX/include/node/node_api.h" ]; then export npm_config_nodedir="$NODE_PREFIX"; fi

stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# 0. System tools the set-up itself needs (present on this machine kind; installed from Debian's
# packages if a machine lacks them): a JDK + Maven for the Kafka broker, python3 for node-gyp.
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v g++ >/dev/null 2>&1 || missing+=(g++ make)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "missing ${missing[*]}: install them (the Kafka tests and native builds need them)"
  fi
fi

# 1. npm packages, reinstalled only when package-lock.json changes.
LOCK_STAMP=$(stamp package-lock.json)
if [ ! -f node_modules/.compactrec-setup ] || [ "$(cat node_modules/.compactrec-setup)" != "$LOCK_STAMP" ]; then
  log "installing npm packages (npm ci)"
  # @compactrec/native's install script would build the kernels too; step 2 below builds them (once, with a stamp).
  COMPACTREC_NATIVE_SKIP_BUILD=1 npm ci --no-audit --no-fund
  echo "$LOCK_STAMP" > node_modules/.compactrec-setup
fi

# 2. Our native kernels (packages/native), rebuilt when their sources change.
if [ -f packages/native/binding.gyp ]; then
  NATIVE_STAMP=$(stamp packages/native/binding.gyp packages/native/csrc/*)
  if [ ! -f packages/native/build/Release/compactrec_native.node ] || [ "$(cat packages/native/build/.stamp 2>/dev/null)" != "$NATIVE_STAMP" ]; then
    log "building native kernels (node-gyp)"
    (cd packages/native && npx --no-install node-gyp rebuild --release >/tmp/compactrec-native-build.log 2>&1) \
      || { log "native kernel build failed (see /tmp/compactrec-native-build.log); the JavaScript kernels will be used"; }
    [ -f packages/native/build/Release/compactrec_native.node ] && echo "$NATIVE_STAMP" > packages/native/build/.stamp
  fi
fi

# 3. Optional extras contributed by packages (e.g. the TensorFlow native backend).
for extra in scripts/setup.d/*.sh; do
  [ -f "$extra" ] || continue
  log "running $extra"
  bash "$extra"
done

# 4. TypeScript build (incremental).
log "building TypeScript (tsc -b)"
npx --no-install tsc -b
log "done"
