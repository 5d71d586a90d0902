#!/usr/bin/env bash
# Stops the local PostgreSQL and Redis that scripts/provision.sh started, as listed in the file given.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${DATA_DIR:-$ROOT/.data}"
started="${1:?usage: stop-services.sh STARTED_FILE}"
[ -f "$started" ] || exit 0
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
while read -r service; do
  case "$service" in
    postgres)
      pg_ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n1); pg_ctl=${pg_ctl:-pg_ctl}
      pgdata=$(cat "$DATA_DIR/postgres.path" 2>/dev/null || echo "$DATA_DIR/postgres")
      if [ "$(id -u)" = 0 ]; then (cd / && su postgres -s /bin/bash -c "$pg_ctl -D '$pgdata' stop -m fast") >/dev/null
      else "$pg_ctl" -D "$pgdata" stop -m fast >/dev/null; fi
      echo "stopped PostgreSQL" ;;
    redis)
      port=$(node -e 'process.stdout.write(new URL(process.argv[1]).port || "6379")' "$REDIS_URL")
      redis-cli -p "$port" shutdown >/dev/null 2>&1; echo "stopped Redis" ;;
  esac
done <"$started"
: >"$started"
