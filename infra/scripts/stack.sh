#!/usr/bin/env bash
# The compose stack (infra/compose/compose.yaml): MLflow on PostgreSQL with artifacts in SeaweedFS, and the
# serving container. What `make stack-up` / `make stack-down` run.
#
#   infra/scripts/stack.sh up      build our images if missing, start everything, wait until healthy, print URLs
#   infra/scripts/stack.sh down    stop and remove the containers (volumes kept; `down -v` deletes them)
#   infra/scripts/stack.sh env     print the exports that point `make run` on this machine at the stack
#   infra/scripts/stack.sh ps|logs anything else goes to docker compose as is
# Settings come from ./.env, or from .env.example (development values) when there is no .env.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '[stack] %s\n' "$*" >&2; }

ENV_FILE=.env
if [ ! -f "$ENV_FILE" ]; then
  ENV_FILE=.env.example
  say "no .env: using the development values of .env.example (copy it to .env to change them)"
fi

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose --env-file "$ENV_FILE" -f infra/compose/compose.yaml "$@"
  else
    say "error: 'docker compose' (Compose v2) is not installed; see https://docs.docker.com/compose/install/" >&2
    exit 1
  fi
}

env_value() {  # the value of $1 in the env file, else $2
  local line
  line="$(grep -E "^$1=" "$ENV_FILE" | tail -n 1 || true)"
  if [ -n "$line" ]; then printf '%s' "${line#*=}"; else printf '%s' "$2"; fi
}

case "${1:-}" in
  up)
    tag="$(env_value MLOPS_IMAGE_TAG latest)"
    prefix="$(env_value IMAGE_PREFIX "")"
    missing=()
    for name in jobs mlflow serving; do
      docker image inspect "${prefix}mlops-$name:$tag" >/dev/null 2>&1 || missing+=("$name")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      say "building missing images: ${missing[*]}"
      IMAGE_PREFIX="$prefix" infra/scripts/build-images.sh "${missing[@]}"
    fi
    compose up -d --wait
    say "MLflow UI:              http://127.0.0.1:$(env_value MLFLOW_PORT 5000)"
    say "object store (S3 API):  http://127.0.0.1:$(env_value S3_PORT 8333)"
    say "object-store browser:   http://127.0.0.1:$(env_value S3_CONSOLE_PORT 8888)/buckets/"
    say "service docs (Swagger): http://127.0.0.1:$(env_value SERVING_PORT 3000)/  (OpenAPI: /docs.json)"
    say "run the loop in the stack: docker compose -f infra/compose/compose.yaml --env-file $ENV_FILE --profile jobs run --rm jobs"
    say "or from this machine:      eval \"\$(infra/scripts/stack.sh env)\" && make run"
    ;;
  down)
    shift
    compose down "$@"
    ;;
  env)
    printf 'export MLOPS_TRACKING_URI=http://127.0.0.1:%s\n' "$(env_value MLFLOW_PORT 5000)"
    printf 'export MLOPS_DATA_ROOT=s3://%s/data\n' "$(env_value MLOPS_DATA_BUCKET mlops)"
    printf 'export MLOPS_S3_ENDPOINT_URL=http://127.0.0.1:%s\n' "$(env_value S3_PORT 8333)"
    printf 'export AWS_ACCESS_KEY_ID=%s\n' "$(env_value S3_ACCESS_KEY "")"
    printf 'export AWS_SECRET_ACCESS_KEY=%s\n' "$(env_value S3_SECRET_KEY "")"
    printf 'export AWS_DEFAULT_REGION=us-east-1\n'
    ;;
  "")
    say "usage: $0 up|down|env|<docker compose command>" >&2
    exit 2
    ;;
  *)
    compose "$@"
    ;;
esac
