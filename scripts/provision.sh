#!/usr/bin/env bash
# Brings up everything Ovation needs on this machine, idempotently, and reuses whatever already runs:
#   node_modules · PostgreSQL (DATABASE_URL) · Redis (REDIS_URL) · the Temporal CLI (dev server + UI)
#   · with --test, the Java time-skipping test server.
# Services this script starts are listed in $PROVISION_STARTED_FILE (one name a line) so that the
# caller can stop exactly those when it is done, and nothing it merely reused.
#
# Usage: scripts/provision.sh [--test] [--database NAME ...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$ROOT/.tools}"
DATA_DIR="${DATA_DIR:-$ROOT/.data}"
TEMPORAL_CLI_VERSION="v1.5.1" # later tags carry a `replace` directive that breaks `go install`
DATABASE_URL="${DATABASE_URL:-postgres://ovation:ovation@127.0.0.1:5432/ovation}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
STARTED_FILE="${PROVISION_STARTED_FILE:-/dev/null}"

want_test_server=0
extra_databases=()
while (($#)); do
  case "$1" in
    --test) want_test_server=1 ;;
    --database) extra_databases+=("$2"); shift ;;
    *) echo "provision: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\033[1mprovision\033[0m %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  step "installing $* from Debian"
  if [ ! -f "$DATA_DIR/.apt-updated" ]; then as_root apt-get update -qq; mkdir -p "$DATA_DIR"; touch "$DATA_DIR/.apt-updated"; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
# url_part URL FIELD → hostname | port | user | password | db
url_part() {
  node -e '
    const u = new URL(process.argv[1]); const f = process.argv[2];
    const v = { hostname: u.hostname, port: u.port, user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password), db: u.pathname.replace(/^\//, "") }[f];
    process.stdout.write(v || "");' "$1" "$2"
}
is_local() { case "$1" in 127.0.0.1|localhost|::1) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$TOOLS_DIR" "$DATA_DIR"
started_at=$(date +%s)

# --- node_modules ----------------------------------------------------------------------------------
if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  step "npm ci"
  t=$(date +%s)
  # `npm ci` refuses a lock file that lacks other platforms' optional binaries, which a registry
  # mirror may not serve; `npm install --no-save` then installs the same locked versions.
  (cd "$ROOT" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-save --no-audit --no-fund --loglevel=error; })
  step "node_modules installed in $(elapsed "$t")"
fi

# --- PostgreSQL ------------------------------------------------------------------------------------
PG_HOST=$(url_part "$DATABASE_URL" hostname); PG_PORT=$(url_part "$DATABASE_URL" port); PG_PORT=${PG_PORT:-5432}
PG_USER=$(url_part "$DATABASE_URL" user); PG_PASSWORD=$(url_part "$DATABASE_URL" password); PG_DB=$(url_part "$DATABASE_URL" db)
pg_answers() { PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do [ -x "$dir/$1" ] && { echo "$dir/$1"; return; }; done
  command -v "$1" || true
}
if pg_answers; then
  step "PostgreSQL answers at $PG_HOST:$PG_PORT (reused)"
else
  is_local "$PG_HOST" || { echo "provision: PostgreSQL at $PG_HOST:$PG_PORT does not answer, and it is not local" >&2; exit 1; }
  [ -n "$(pg_bin initdb)" ] || apt_install postgresql
  command -v psql >/dev/null || apt_install postgresql-client
  PGDATA="$DATA_DIR/postgres"
  # As root the cluster runs as `postgres`, which must be able to reach the data directory: a clone
  # under a private home (mode 700) is out of its reach, so the cluster then lives under /var/tmp.
  if [ "$(id -u)" = 0 ] && ! (cd / && su postgres -s /bin/sh -c "test -x '$DATA_DIR'") 2>/dev/null; then
    PGDATA="/var/tmp/ovation-postgres-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  fi
  echo "$PGDATA" >"$DATA_DIR/postgres.path" # for scripts/stop-services.sh
  # PostgreSQL refuses to run as root: the cluster belongs to the `postgres` system user.
  run_pg() { if [ "$(id -u)" = 0 ]; then (cd / && su postgres -s /bin/bash -c "$(printf '%q ' "$@")"); else "$@"; fi; }
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    step "initdb $PGDATA"
    mkdir -p "$PGDATA"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
    run_pg "$(pg_bin initdb)" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  step "starting PostgreSQL on $PG_PORT"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
  run_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=300 -c shared_buffers=256MB -c fsync=on" >/dev/null
  echo postgres >>"$STARTED_FILE"
  # The local cluster trusts local connections; create the application role the URL names.
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc "DO \$\$BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE \"$PG_USER\" LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
      END IF; END\$\$;" >/dev/null
fi
for db in "$PG_DB" "${extra_databases[@]}"; do
  exists=$(PGPASSWORD="$PG_PASSWORD" psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -Atqc "select 1 from pg_database where datname = '$db'")
  if [ "$exists" != 1 ]; then
    step "creating database $db"
    PGPASSWORD="$PG_PASSWORD" psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE \"$db\"" >/dev/null
  fi
done

# --- Redis -----------------------------------------------------------------------------------------
REDIS_HOST=$(url_part "$REDIS_URL" hostname); REDIS_PORT=$(url_part "$REDIS_URL" port); REDIS_PORT=${REDIS_PORT:-6379}
redis_answers() { command -v redis-cli >/dev/null && [ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
if redis_answers; then
  step "Redis answers at $REDIS_HOST:$REDIS_PORT (reused)"
else
  is_local "$REDIS_HOST" || { echo "provision: Redis at $REDIS_HOST:$REDIS_PORT does not answer, and it is not local" >&2; exit 1; }
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$DATA_DIR/redis"
  step "starting Redis on $REDIS_PORT"
  rm -f "$DATA_DIR/redis/redis.pid" # it does not answer: any pid file left is stale
  # AOF every second: a restart keeps the queue; losing the last second is what DESIGN accepts.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$DATA_DIR/redis" \
    --appendonly yes --appendfsync everysec --save '' \
    --pidfile "$DATA_DIR/redis/redis.pid" --logfile "$DATA_DIR/redis/redis.log"
  # While it loads its append-only file Redis answers LOADING, not PONG: after a bench run (about a
  # million keys) that took 4 s and more. Wait as long as the server lives, up to a minute.
  redis_gone() { [ -f "$DATA_DIR/redis/redis.pid" ] && ! kill -0 "$(cat "$DATA_DIR/redis/redis.pid" 2>/dev/null)" 2>/dev/null; }
  for _ in $(seq 1 600); do redis_answers && break; redis_gone && break; sleep 0.1; done
  redis_answers || { echo "provision: Redis did not start; see $DATA_DIR/redis/redis.log" >&2; exit 1; }
  echo redis >>"$STARTED_FILE"
fi

# --- Temporal CLI (dev server + Web UI) -------------------------------------------------------------
TEMPORAL_BIN="$TOOLS_DIR/bin/temporal"
if [ -x "$TEMPORAL_BIN" ] && [ "$(cat "$TEMPORAL_BIN.version" 2>/dev/null)" = "$TEMPORAL_CLI_VERSION" ]; then
  :
elif [ -n "${TEMPORAL_ADDRESS:-}" ] && [ "$want_test_server" = 0 ]; then
  step "TEMPORAL_ADDRESS is set: no local Temporal CLI needed"
elif command -v go >/dev/null; then
  step "building the Temporal CLI $TEMPORAL_CLI_VERSION with go install (first time only: minutes)"
  t=$(date +%s)
  GOBIN="$TOOLS_DIR/bin" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
  echo "$TEMPORAL_CLI_VERSION" >"$TEMPORAL_BIN.version"
  step "Temporal CLI built in $(elapsed "$t")"
else
  echo "provision: no Go toolchain to build the Temporal CLI; the SDK's own download is the fallback (online machines only)" >&2
fi

# --- Java time-skipping test server (tests only) -----------------------------------------------------
if [ "$want_test_server" = 1 ]; then
  TOOLS_DIR="$TOOLS_DIR" bash "$ROOT/scripts/provision-test-server.sh"
  # docker-compose validates docker-compose.yml offline (no Docker engine needed).
  command -v docker-compose >/dev/null || apt_install docker-compose
fi

step "ready in $(elapsed "$started_at")"
