#!/usr/bin/env bash
# Make the repo-local virtual environment and sync it from uv.lock. Needs only Python 3.11+ and the package index.
# - never `pip install --user` (PEP 668 systems refuse it): everything goes into ./.venv
# - uv comes from PATH, or is installed into ./.venv from the package index
# - UV_PYTHON_DOWNLOADS=never: uv's managed Pythons come from GitHub, which many networks block
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
export UV_PYTHON_DOWNLOADS=never

say() { printf '[bootstrap] %s\n' "$*"; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  say "error: $PYTHON not found. Install Python 3.11+ or run: make PYTHON=/path/to/python3.11 ..." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "error: $("$PYTHON" -V 2>&1) is too old; Python 3.11+ is needed (make PYTHON=python3.12 ...)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $("$PYTHON" -V 2>&1)"
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    say "error: '$PYTHON -m venv' failed: install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2
    exit 1
  fi
fi

if command -v uv >/dev/null 2>&1; then
  UV="$(command -v uv)"
else
  UV="$VENV/bin/uv"
  if [ ! -x "$UV" ]; then
    say "uv not on PATH: installing it into $VENV from the package index"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
  fi
fi

say "syncing $VENV from uv.lock ($("$UV" --version))"
UV_PROJECT_ENVIRONMENT="$VENV" "$UV" sync --frozen --quiet --python "$VENV/bin/python"
say "ready: $VENV/bin/mlops"
