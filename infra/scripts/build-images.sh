#!/usr/bin/env bash
# Build the platform's images from the repo root (what `make images` runs):
#   serving  (serving/Dockerfile)       the BentoML service, no Great Expectations / Evidently
#   jobs     (pipelines/Dockerfile)     pipelines and monitoring: validate, train, monitor, retrain
#   mlflow   (infra/mlflow/Dockerfile)  MLflow tracking server with psycopg2 and boto3
# Each is tagged <prefix>mlops-<name>:<git revision> and :latest, and labelled with the revision.
#
#   infra/scripts/build-images.sh [serving|jobs|mlflow ...]
# Environment:
#   BASE_IMAGE      default python:3.11-slim; when it is neither present nor pullable, the offline base from
#                   infra/scripts/offline-base-image.sh is used if it exists (else: a message saying how to make it)
#   CA_BUNDLE       CA bundle trusted during the build (a proxy's CA); default the host's
#                   /etc/ssl/certs/ca-certificates.crt when it exists; CA_BUNDLE=none to use the base image's own
#   IMAGE_PREFIX    e.g. ghcr.io/acme/ (default: none, local images)
#   IMAGE_TAG       default: git describe --always --dirty
#   SERVING_EXTRA_PACKAGES  libraries a project's model needs at serving time (names in uv.lock), e.g. "xgboost"
set -euo pipefail
cd "$(dirname "$0")/../.."

DEFAULT_BASE="python:3.11-slim"
OFFLINE_BASE="${OFFLINE_BASE_IMAGE:-mlops-base:bookworm-python3.11}"
BASE_IMAGE="${BASE_IMAGE:-$DEFAULT_BASE}"
PREFIX="${IMAGE_PREFIX:-}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
TAG="${IMAGE_TAG:-$(git describe --always --dirty --abbrev=12 2>/dev/null || echo dev)}"
declare -A DOCKERFILE=([serving]=serving/Dockerfile [jobs]=pipelines/Dockerfile [mlflow]=infra/mlflow/Dockerfile)
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(jobs mlflow serving)

say() { printf '[images] %s\n' "$*"; }

for name in "${NAMES[@]}"; do
  [ -n "${DOCKERFILE[$name]:-}" ] || { say "error: unknown image '$name' (expected: ${!DOCKERFILE[*]})" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || {
  say "error: no Docker engine answers (start Docker; on a bare Debian CI machine: infra/scripts/docker-engine.sh)" >&2
  exit 1
}

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && ! docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
  if [ "$BASE_IMAGE" = "$DEFAULT_BASE" ] && docker image inspect "$OFFLINE_BASE" >/dev/null 2>&1; then
    say "$DEFAULT_BASE cannot be pulled here: using the offline base $OFFLINE_BASE"
    BASE_IMAGE="$OFFLINE_BASE"
  else
    say "error: base image $BASE_IMAGE is not present and cannot be pulled." >&2
    say "Without registry access, make one from Debian packages: sudo infra/scripts/offline-base-image.sh" >&2
    exit 1
  fi
fi

CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
if [ "$CA_BUNDLE" != "none" ] && [ -r "$CA_BUNDLE" ]; then
  cmp -s "$CA_BUNDLE" infra/certs/ca-bundle.crt 2>/dev/null || cp "$CA_BUNDLE" infra/certs/ca-bundle.crt
  say "build stages trust $CA_BUNDLE"
else
  rm -f infra/certs/ca-bundle.crt
fi

for name in "${NAMES[@]}"; do
  image="${PREFIX}mlops-${name}"
  say "building $image:$TAG from ${DOCKERFILE[$name]} (base $BASE_IMAGE)"
  started=$SECONDS
  extra=()
  [ "$name" != serving ] || extra=(--build-arg "SERVING_EXTRA=${SERVING_EXTRA_PACKAGES:-}")
  docker build --quiet --build-arg BASE_IMAGE="$BASE_IMAGE" "${extra[@]}" \
    --label org.opencontainers.image.revision="$REVISION" \
    --label org.opencontainers.image.source="mlops-platform/${DOCKERFILE[$name]}" \
    -f "${DOCKERFILE[$name]}" -t "$image:$TAG" -t "$image:latest" . 2>&1 \
    | grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'docs.docker.com/go/buildx' -e '^$' || true
  docker image inspect "$image:$TAG" >/dev/null 2>&1 || { say "error: $image did not build" >&2; exit 1; }
  say "$image:$TAG built in $((SECONDS - started))s," \
    "$(docker image inspect "$image:$TAG" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
done
