#!/usr/bin/env bash
# Installs the benchmark peers on demand (never by scripts/setup.sh: PyTorch from PyPI is several GB) into
# project-local, gitignored virtual environments:
#   .peers/torch  — PyTorch from PyPI (its Linux x86_64 wheels pull the CUDA runtime packages; only the CPU is used);
#   .peers/keras  — TensorFlow (Keras 3) from the tensorflow-cpu 2.21 wheel that scripts/setup.d/tfjs-native.sh
#                   cached in .tfjs/cache (the same libtensorflow tfjs-node runs), its dependencies from PyPI.
# Each peer is independent: one that cannot be installed leaves a one-line reason in .peers/<peer>.failed and the
# benchmarks print ours alone for it. Idempotent: a peer whose stamp matches is skipped at once.
# Usage: bash benchmarks/peers/install.sh [torch] [keras]     (default: both)
# Environment: COMPACTREC_PEERS_HOME (default <repo>/.peers), PEERS_TORCH_VERSION (default 2.9.1).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HOME_DIR=${COMPACTREC_PEERS_HOME:-$ROOT/.peers}
TFJS_CACHE=${COMPACTREC_TFJS_HOME:-$ROOT/.tfjs}/cache
TORCH_VERSION=${PEERS_TORCH_VERSION:-2.9.1}
TF_VERSION=2.21.0
mkdir -p "$HOME_DIR"
LOG="$HOME_DIR/install.log"
say() { printf '[peers] %s\n' "$*" >&2; printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"; }

install_peer() { # name stamp pip-args...
  local name=$1 stamp=$2; shift 2
  local venv="$HOME_DIR/$name"
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
    say "$name: ready ($stamp)"
    return 0
  fi
  rm -f "$HOME_DIR/$name.failed" "$venv/.stamp"
  command -v python3 >/dev/null || { echo "python3 not found" >"$HOME_DIR/$name.failed"; say "$name: python3 not found"; return 1; }
  say "$name: creating $venv and installing $* (log: $LOG)"
  if ! { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >>"$LOG" 2>&1; }; then
    echo "python3 -m venv failed (see $LOG)" >"$HOME_DIR/$name.failed"; say "$name: venv failed"; return 1
  fi
  if ! "$venv/bin/python" -m pip install --progress-bar off --prefer-binary "$@" >>"$LOG" 2>&1; then
    echo "pip install $* failed (see $LOG)" >"$HOME_DIR/$name.failed"; say "$name: pip install failed (see $LOG)"; return 1
  fi
  printf '%s\n' "$stamp" >"$venv/.stamp"
  say "$name: installed ($stamp)"
}

PEERS=("$@"); [ ${#PEERS[@]} -eq 0 ] && PEERS=(torch keras)
status=0
for p in "${PEERS[@]}"; do
  case "$p" in
    torch) install_peer torch "torch==$TORCH_VERSION" "torch==$TORCH_VERSION" numpy || status=1 ;;
    keras)
      WHEEL=$(compgen -G "$TFJS_CACHE/tensorflow_cpu-$TF_VERSION-cp311-*.whl" | head -n1 || true)
      PYV=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || echo none)
      if [ -n "$WHEEL" ] && [ "$PYV" = 3.11 ]; then
        install_peer keras "tensorflow-cpu==$TF_VERSION (cached wheel)" "$WHEEL" || status=1
      else
        install_peer keras "tensorflow-cpu==$TF_VERSION" "tensorflow-cpu==$TF_VERSION" || status=1
      fi ;;
    *) say "unknown peer '$p' (use torch, keras)"; status=1 ;;
  esac
done
exit $status
