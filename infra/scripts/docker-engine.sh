#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent: does nothing when `docker info` already works.
# On a machine without one (CI, the development VMs: Debian, root, no systemd) it installs Debian's docker.io
# and starts dockerd in the background, then waits for its socket. On a laptop, start Docker Desktop or
# `sudo systemctl start docker` instead; this script refuses to touch a machine it cannot provision.
set -euo pipefail

LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

say() { printf '[docker-engine] %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  say "a Docker engine answers: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)"
  exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  say "error: no Docker engine answers and this is not a root Debian machine this script can provision." >&2
  say "Start your Docker (Docker Desktop, or: sudo systemctl start docker) and retry." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing Debian's docker.io (dockerd, containerd, runc)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq docker.io >/dev/null || { apt-get update -qq && apt-get install -y -qq docker.io >/dev/null; }
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  say "starting dockerd in the background (log: $LOG)"
  mkdir -p "$(dirname "$LOG")"
  nohup dockerd >"$LOG" 2>&1 &
fi

for _ in $(seq "$WAIT_SECONDS"); do
  if docker info >/dev/null 2>&1; then
    say "engine ready: $(docker version --format '{{.Server.Version}}') (storage driver $(docker info --format '{{.Driver}}'))"
    exit 0
  fi
  sleep 1
done
say "error: dockerd did not answer within ${WAIT_SECONDS}s; last lines of $LOG:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
