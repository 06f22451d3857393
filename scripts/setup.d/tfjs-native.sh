#!/usr/bin/env bash
# Set-up step (run by scripts/setup.sh after npm ci, before tsc): TensorFlow.js's native backend
# (tfjs-node + libtensorflow from PyPI, built here) in the gitignored .tfjs/ folder; see scripts/tfjs/install-native.sh.
# Idempotent and quick when done. It never fails the set-up: without it @compactrec/tf-backend uses wasm.
_tfjs_native_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! bash "$_tfjs_native_root/scripts/tfjs/install-native.sh"; then
  printf '[setup] tfjs-native: not installed (%s); the wasm backend will be used\n' \
    "$(head -n1 "${COMPACTREC_TFJS_HOME:-$_tfjs_native_root/.tfjs}/install.failed" 2>/dev/null || echo 'see .tfjs/install.log')" >&2
fi
unset _tfjs_native_root
# Sourced or run: never a failure.
return 0 2>/dev/null || exit 0
