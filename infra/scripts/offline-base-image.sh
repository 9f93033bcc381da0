#!/usr/bin/env bash
# Build a Python base image from Debian packages, for machines that cannot pull python:3.11-slim
# (air-gapped networks, CI machines with no registry access). It is a drop-in BASE_IMAGE for our Dockerfiles:
#   debootstrap bookworm (minbase) + python3 (3.11) + python3-venv + ca-certificates, trimmed, `docker import`ed.
# Needs root, debootstrap (installed from Debian if missing) and a reachable Debian mirror (MIRROR=...).
# Idempotent: an existing image with the same tag is kept unless FORCE=1.
#
#   infra/scripts/offline-base-image.sh                 # builds mlops-base:bookworm-python3.11
#   make images BASE_IMAGE=mlops-base:bookworm-python3.11
set -euo pipefail

IMAGE="${OFFLINE_BASE_IMAGE:-mlops-base:bookworm-python3.11}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"

say() { printf '[offline-base] %s\n' "$*"; }

if [ "${FORCE:-0}" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE already exists (FORCE=1 rebuilds it)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  say "error: debootstrap needs root (sudo $0)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

ROOTFS="$(mktemp -d /tmp/mlops-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

say "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
  tail -n 30 "$ROOTFS.log" >&2
  say "error: debootstrap failed (full log: $ROOTFS.log)" >&2
  exit 1
}
rm -f "$ROOTFS.log"

say "trimming docs, man pages, locales and apt lists"
rm -rf "$ROOTFS"/usr/share/{doc,man,info,locale}/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* \
  "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/*
find "$ROOTFS/usr/lib/python3.11" -name '__pycache__' -type d -prune -exec rm -rf {} +

say "importing as $IMAGE"
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "debootstrap $SUITE minbase + $PACKAGES" \
  - "$IMAGE" >/dev/null
say "ready: $IMAGE ($(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'),"\
" $(docker run --rm "$IMAGE" python3 -V))"
