#!/bin/sh
# The part of postgres:17.6-bookworm's entrypoint the manifests use, for the harness's substitute image only:
# on an empty PGDATA, initdb as POSTGRES_USER with the password from POSTGRES_PASSWORD_FILE (or
# POSTGRES_PASSWORD), TCP with scram-sha-256, POSTGRES_DB created; then exec the server. An arbitrary UID gets a
# passwd entry through nss_wrapper in a temporary file, as upstream does (the root filesystem is read-only).
set -eu
if [ "${1:-}" = "postgres" ]; then
  : "${PGDATA:?PGDATA is not set}"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
      NSS_WRAPPER_PASSWD="$(mktemp)"; NSS_WRAPPER_GROUP="$(mktemp)"
      echo "postgres:x:$(id -u):$(id -g):PostgreSQL:$PGDATA:/bin/false" > "$NSS_WRAPPER_PASSWD"
      echo "postgres:x:$(id -g):" > "$NSS_WRAPPER_GROUP"
      export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP LD_PRELOAD=/usr/local/lib/libnss_wrapper.so
    fi
    pwfile="${POSTGRES_PASSWORD_FILE:-}"
    if [ -z "$pwfile" ]; then
      : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE}"
      pwfile="$(mktemp)"; printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    fi
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    db="${POSTGRES_DB:-$user}"
    if [ "$db" != "postgres" ]; then
      psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -q -c "CREATE DATABASE \"$db\""
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    echo "substitute entrypoint: initialised $PGDATA (user $user, database $db)"
  fi
fi
exec "$@"
