#!/usr/bin/env bash
# Installs TensorFlow.js's native backend (@tensorflow/tfjs-node) into the gitignored .tfjs/ folder without
# any download but the package registries:
#   1. @tensorflow/tfjs-node from npm into .tfjs/node with --ignore-scripts (its install script would fetch
#      libtensorflow and a prebuilt addon from elsewhere), its @tensorflow/* dependencies replaced by links to
#      the repo's own copies so the process holds ONE tfjs-core;
#   2. libtensorflow (libtensorflow_cc.so.2, which exports the stable C API, + libtensorflow_framework.so.2)
#      and the C API headers from the tensorflow-cpu wheel on PyPI, into tfjs-node's deps/;
#   3. tfjs-node's N-API binding built with node-gyp against the local Node headers;
#   4. a smoke test (scripts/tfjs/check-native.cjs), whose result is written to .tfjs/native.json.
# Exits 0 at once when a stamp says all of this is done for the same inputs. On failure it exits 1 and
# leaves a one-line reason in .tfjs/install.failed (details in .tfjs/install.log).
# Environment: COMPACTREC_TFJS_HOME (default <repo>/.tfjs), npm_config_nodedir (default /usr).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/tfjs"
TFJS_HOME=${COMPACTREC_TFJS_HOME:-$ROOT/.tfjs}
TFJS_NODE_VERSION=4.22.0
TF_PACKAGE=tensorflow-cpu
TF_VERSION=2.21.0
# The wheel's libraries do not use Python: pin one wheel so every machine builds against the same library.
WHEEL_PYTHON=3.11
WHEEL_PLATFORM=manylinux_2_27_x86_64

PREFIX="$TFJS_HOME/node"
PKG="$PREFIX/node_modules/@tensorflow/tfjs-node"
CACHE="$TFJS_HOME/cache"
LOG="$TFJS_HOME/install.log"
FAILED="$TFJS_HOME/install.failed"
STAMP_FILE="$TFJS_HOME/native.stamp"
MANIFEST="$TFJS_HOME/native.json"

mkdir -p "$TFJS_HOME" "$CACHE"
say() { printf '[setup] tfjs-native: %s\n' "$*" >&2; printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"; }
fail() {
  printf '%s\n' "$*" >"$FAILED"
  printf '%s FAILED: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"
  exit 1
}
trap 'fail "unexpected error at line $LINENO of install-native.sh (exit $?)"' ERR

# --- quick skip -----------------------------------------------------------------------------------------
command -v node >/dev/null || fail "node not found"
NAPI=$(node -p 'process.versions.napi')
STAMP=$( { cat "$HERE/install-native.sh" "$HERE/extract-wheel.py" "$HERE/check-native.cjs"
           echo "$TFJS_NODE_VERSION $TF_PACKAGE $TF_VERSION $WHEEL_PYTHON $WHEEL_PLATFORM napi$NAPI $TFJS_HOME"
           cat "$ROOT/node_modules/@tensorflow/tfjs/package.json" "$ROOT/node_modules/@tensorflow/tfjs-core/package.json" 2>/dev/null
         } | sha256sum | cut -c1-16)
# The stamp file holds the stamp and the binding's path: both must still hold.
if [ -f "$STAMP_FILE" ] && [ -f "$MANIFEST" ] && [ "$(sed -n 1p "$STAMP_FILE")" = "$STAMP" ] \
  && [ -f "$(sed -n 2p "$STAMP_FILE")" ]; then
  exit 0
fi
rm -f "$STAMP_FILE" "$FAILED"
START=$SECONDS

# --- checks ---------------------------------------------------------------------------------------------
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || fail "no libtensorflow for $(uname -s)-$(uname -m) (Linux x86_64 only)"
ROOT_TFJS=$(node -p "require('$ROOT/node_modules/@tensorflow/tfjs/package.json').version" 2>/dev/null) \
  || fail "the repo has no node_modules/@tensorflow/tfjs (run npm ci first)"
[ "$ROOT_TFJS" = "$TFJS_NODE_VERSION" ] \
  || fail "the repo's @tensorflow/tfjs is $ROOT_TFJS but tfjs-node is pinned to $TFJS_NODE_VERSION; they must match"
command -v python3 >/dev/null || fail "python3 not found (needed for pip and to unpack the TensorFlow wheel)"
command -v make >/dev/null && command -v g++ >/dev/null || fail "make/g++ not found (needed to build the binding)"
NODE_GYP="$ROOT/node_modules/.bin/node-gyp"
[ -x "$NODE_GYP" ] || fail "node-gyp is not installed at the repo root (run npm ci first)"
if [ -z "${npm_config_nodedir:-}" ]; then
  NODE_PREFIX=$(node -p "require('path').resolve(process.execPath, '..', '..')")
  [ -f "$NODE_PREFIX/include/node/node_api.h" ] || fail "no Node headers under $NODE_PREFIX/include/node"
  export npm_config_nodedir="$NODE_PREFIX"
fi

# --- 1. tfjs-node from npm, without its install script -------------------------------------------------
HAVE=$(node -p "require('$PKG/package.json').version" 2>/dev/null || true)
if [ "$HAVE" != "$TFJS_NODE_VERSION" ]; then
  say "installing @tensorflow/tfjs-node@$TFJS_NODE_VERSION into $PREFIX (--ignore-scripts)"
  mkdir -p "$PREFIX"
  printf '{\n  "name": "compactrec-tfjs-native",\n  "private": true,\n  "description": "Written by scripts/tfjs/install-native.sh",\n  "dependencies": { "@tensorflow/tfjs-node": "%s" }\n}\n' \
    "$TFJS_NODE_VERSION" >"$PREFIX/package.json"
  (cd "$PREFIX" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error) >>"$LOG" 2>&1 \
    || fail "npm install of @tensorflow/tfjs-node@$TFJS_NODE_VERSION failed"
fi
# One tfjs-core per process: tfjs-node must require the repo's @tensorflow/* packages, not copies of its own.
for dir in "$PREFIX"/node_modules/@tensorflow/*; do
  name=$(basename "$dir")
  [ "$name" = tfjs-node ] && continue
  [ -e "$ROOT/node_modules/@tensorflow/$name" ] || continue
  if [ ! -L "$dir" ] || [ "$(readlink "$dir")" != "$ROOT/node_modules/@tensorflow/$name" ]; then
    rm -rf "$dir"
    ln -s "$ROOT/node_modules/@tensorflow/$name" "$dir"
  fi
done

# --- 2. libtensorflow + C API headers from the tensorflow-cpu wheel -------------------------------------
WHEEL_GLOB="${TF_PACKAGE//-/_}-$TF_VERSION-cp${WHEEL_PYTHON/./}-cp${WHEEL_PYTHON/./}-*.whl"
find_wheel() { compgen -G "$CACHE/$WHEEL_GLOB" | head -n1 || true; }
WHEEL=$(find_wheel)
if [ -z "$WHEEL" ]; then
  say "downloading $TF_PACKAGE==$TF_VERSION from PyPI (~270 MB, cached in $CACHE)"
  python3 -m pip download --no-deps --only-binary=:all: --python-version "$WHEEL_PYTHON" --implementation cp \
    --platform "$WHEEL_PLATFORM" --progress-bar off -d "$CACHE" "$TF_PACKAGE==$TF_VERSION" >>"$LOG" 2>&1 \
    || fail "pip download of $TF_PACKAGE==$TF_VERSION failed"
  WHEEL=$(find_wheel)
  [ -n "$WHEEL" ] || fail "pip download left no $WHEEL_GLOB in $CACHE"
fi
DEPS="$PKG/deps"
say "unpacking libtensorflow and the C API headers from $(basename "$WHEEL")"
rm -rf "$DEPS"
python3 "$HERE/extract-wheel.py" "$WHEEL" "$DEPS" >>"$LOG" 2>&1 || fail "could not unpack $(basename "$WHEEL") (see $LOG)"
if command -v nm >/dev/null; then
  # (no grep -q: with pipefail, nm would die of SIGPIPE; symbols may carry a version, TFE_Execute@@tensorflow)
  nm -D --defined-only "$DEPS/lib/libtensorflow_cc.so.2" | grep -E ' T TFE_Execute(@|$)' >/dev/null \
    || fail "libtensorflow_cc.so.2 of $TF_PACKAGE $TF_VERSION does not export the C API (TFE_Execute)"
fi
# The names binding.gyp links (-ltensorflow -ltensorflow_framework); libtensorflow.so.2.9.1 is the file whose
# presence makes tfjs-node's own install script skip its libtensorflow download, should anyone run it.
ln -sf libtensorflow_cc.so.2 "$DEPS/lib/libtensorflow.so"
ln -sf libtensorflow_cc.so.2 "$DEPS/lib/libtensorflow.so.2"
ln -sf libtensorflow_cc.so.2 "$DEPS/lib/libtensorflow.so.2.9.1"
ln -sf libtensorflow_framework.so.2 "$DEPS/lib/libtensorflow_framework.so"

# --- 3. the N-API binding -------------------------------------------------------------------------------
BINDING=$(node "$HERE/binding-path.cjs" "$PKG") || fail "could not compute tfjs-node's binding path"
BUILD_NAPI=$(basename "$(dirname "$BINDING")"); BUILD_NAPI=${BUILD_NAPI#napi-v}
say "building tfjs-node's binding (node-gyp, N-API $BUILD_NAPI)"
rm -f "$BINDING"
(cd "$PKG" && "$NODE_GYP" rebuild --release --jobs=max --module_name=tfjs_binding \
  --module_path="$(dirname "$BINDING")" --napi_build_version="$BUILD_NAPI") >>"$LOG" 2>&1 \
  || fail "node-gyp build of tfjs-node's binding failed (see $LOG)"
[ -f "$BINDING" ] || fail "node-gyp left no $BINDING"

# --- 4. smoke test, manifest, stamp ---------------------------------------------------------------------
CHECK=$(node "$HERE/check-native.cjs" "$ROOT" "$PKG" "$TF_PACKAGE==$TF_VERSION" 2>>"$LOG") \
  || fail "the built tfjs-node does not load or compute correctly (see $LOG)"
printf '%s\n' "$CHECK" >"$MANIFEST"
printf '%s\n%s\n' "$STAMP" "$BINDING" >"$STAMP_FILE"
say "ready in $((SECONDS - START)) s: $CHECK"
