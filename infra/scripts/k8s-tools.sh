#!/usr/bin/env bash
# Tools the offline manifest checks (tests/k8s) need beyond the project's lock.
#
# checkov pins boto3, packaging and others at versions that conflict with uv.lock, so it lives in its own
# environment, .venv-tools/checkov (uv marks a venv git-ignored itself), installed from a hash-locked
# requirements file. Re-running is cheap: the environment is rebuilt only when the lock changes.
#
#   infra/scripts/k8s-tools.sh checkov   create or reuse the environment; print the checkov executable's path
#   infra/scripts/k8s-tools.sh lock      re-resolve tests/k8s/checkov-requirements.txt for CHECKOV_VERSION
#
# Progress goes to stderr; stdout carries only the path, so callers can capture it.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHECKOV_VERSION=3.3.30
LOCK=tests/k8s/checkov-requirements.txt
ENV_DIR=.venv-tools/checkov
UV=.venv/bin/uv
export UV_PYTHON_DOWNLOADS=never

say() { printf '[k8s-tools] %s\n' "$*" >&2; }

[ -x "$UV" ] || { say "error: $UV is missing: run make setup first"; exit 1; }

lock_digest() { sha256sum "$LOCK" | cut -d' ' -f1; }

case "${1:-}" in
  checkov)
    stamp="$ENV_DIR/.lock-sha256"
    if [ -x "$ENV_DIR/bin/checkov" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(lock_digest)" ]; then
      say "checkov $CHECKOV_VERSION ready in $ENV_DIR"
    else
      say "installing checkov $CHECKOV_VERSION into $ENV_DIR from $LOCK (hash-checked)"
      rm -rf "$ENV_DIR"
      # The project's interpreter (3.11 or newer): the lock is resolved for every Python from 3.11 on.
      "$UV" venv --quiet --python .venv/bin/python "$ENV_DIR" >&2
      "$UV" pip install --quiet --python "$ENV_DIR/bin/python" --require-hashes -r "$LOCK" >&2
      installed="$("$ENV_DIR/bin/checkov" --version)"
      [ "$installed" = "$CHECKOV_VERSION" ] || { say "error: $LOCK installs checkov $installed, expected $CHECKOV_VERSION"; exit 1; }
      lock_digest > "$stamp"
    fi
    printf '%s\n' "$PWD/$ENV_DIR/bin/checkov"
    ;;
  lock)
    say "resolving checkov==$CHECKOV_VERSION for Python 3.11 into $LOCK"
    resolved="$(printf 'checkov==%s\n' "$CHECKOV_VERSION" \
      | "$UV" pip compile --quiet --universal --generate-hashes --python-version 3.11 --no-header -)"
    { printf '# checkov %s and its dependencies, hash-locked, for its own environment (not the project lock).\n' \
        "$CHECKOV_VERSION"
      printf '# Regenerate with: infra/scripts/k8s-tools.sh lock\n'
      printf '%s\n' "$resolved"; } > "$LOCK"
    ;;
  *)
    say "usage: $0 checkov|lock"
    exit 2
    ;;
esac
