#!/bin/bash
# First start: initdb with POSTGRES_USER / POSTGRES_PASSWORD (scram), the catalog database POSTGRES_DB with
# postgis + btree_gist, and Dagster's DAGSTER_POSTGRES_DB. Every start: the server in the foreground on
# POSTGRES_PORT (default 5432), listening on POSTGRES_LISTEN (default *; 127.0.0.1 on host networking).
# The healthcheck (pg_isready on Dagster's database) passes only once both databases exist. POSTGRES_SHARED_BUFFERS
# (default 512MB) sizes the buffer cache: the catalog's find_tiles reads ~1.2 GB at a million tiles (ADR 0008).
set -euo pipefail
: "${POSTGRES_USER:=jackfruit}" "${POSTGRES_DB:=jackfruit}" "${DAGSTER_POSTGRES_DB:=dagster}"
: "${POSTGRES_PORT:=5432}" "${POSTGRES_LISTEN:=*}"
[ -n "${POSTGRES_PASSWORD:-}" ] || { echo "postgres: POSTGRES_PASSWORD is not set" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql && chown -R postgres "$PGDATA" /run/postgresql && chmod 0700 "$PGDATA"
  # setpriv execs (runuser would stay as the parent and not pass the stop signal on)
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" -A scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  # setup on a private socket only, so the healthcheck cannot pass before it is done
  pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -k /run/postgresql" start >/dev/null
  q() { psql -v ON_ERROR_STOP=1 -q -h /run/postgresql -U "$POSTGRES_USER" "$@"; }
  export PGPASSWORD=$POSTGRES_PASSWORD
  q -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" 2>/dev/null || true
  q -d "$POSTGRES_DB" -c 'CREATE EXTENSION IF NOT EXISTS postgis' -c 'CREATE EXTENSION IF NOT EXISTS btree_gist'
  q -d postgres -c "CREATE DATABASE \"$DAGSTER_POSTGRES_DB\""
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres: initialized $POSTGRES_DB (postgis, btree_gist) and $DAGSTER_POSTGRES_DB"
fi
exec postgres -D "$PGDATA" -c listen_addresses="$POSTGRES_LISTEN" -p "$POSTGRES_PORT" -k /run/postgresql \
  -c shared_buffers="${POSTGRES_SHARED_BUFFERS:-512MB}"
