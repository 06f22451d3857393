#!/usr/bin/env bash
# Set-up step (run by scripts/setup.sh): a project-local Python virtual environment (.venv-python/,
# gitignored) with numpy and safetensors from PyPI, for the Python round-trip test of
# @compactrec/interop (packages/interop/python/reconstruct.py). Idempotent: quick when the
# packages import. It never fails the set-up: without it that test is skipped locally (and fails in CI).
_py_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_py_venv="${COMPACTREC_PYTHON_VENV:-$_py_root/.venv-python}"
_py_log="$_py_venv.log"
_py_reqs="$_py_root/scripts/python/requirements.txt"
_py_stamp=$(sha256sum "$_py_reqs" | cut -c1-16)
if [ -x "$_py_venv/bin/python" ] && [ "$(cat "$_py_venv/.compactrec-stamp" 2>/dev/null)" = "$_py_stamp" ] \
  && "$_py_venv/bin/python" -c 'import numpy, safetensors' >/dev/null 2>&1; then
  :
elif ! command -v python3 >/dev/null 2>&1; then
  printf '[setup] python: python3 not found; the Python round-trip test will be skipped\n' >&2
else
  printf '[setup] python: creating %s with numpy and safetensors (PyPI)\n' "$_py_venv" >&2
  # Debian's python3 lacks the venv module unless python3-venv is installed.
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >>"$_py_log" 2>&1 || true
  fi
  if { [ -x "$_py_venv/bin/python" ] || python3 -m venv "$_py_venv"; } >"$_py_log" 2>&1 \
    && "$_py_venv/bin/python" -m pip install --quiet -r "$_py_reqs" >>"$_py_log" 2>&1 \
    && "$_py_venv/bin/python" -c 'import numpy, safetensors' >>"$_py_log" 2>&1; then
    echo "$_py_stamp" > "$_py_venv/.compactrec-stamp"
  else
    printf '[setup] python: could not install numpy/safetensors (see %s); the Python round-trip test will be skipped\n' "$_py_log" >&2
  fi
fi
unset _py_root _py_venv _py_log _py_reqs _py_stamp
return 0 2>/dev/null || exit 0
