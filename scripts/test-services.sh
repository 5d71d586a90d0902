#!/usr/bin/env bash
# Sourced by `npm test` and `npm run test:cluster`: the test database and Redis (the caller's
# TEST_DATABASE_URL / TEST_REDIS_URL, or the given defaults), no outside Temporal, the services
# provisioned, and on exit only the services this run started are stopped.
# Usage: source scripts/test-services.sh <run name> <default database name> <default Redis db>
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .data
export PROVISION_STARTED_FILE="$ROOT/.data/started-by-$1"
: >"$PROVISION_STARTED_FILE"
trap 'bash "$ROOT/scripts/stop-services.sh" "$PROVISION_STARTED_FILE"' EXIT
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://ovation:ovation@127.0.0.1:5432/$2}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/$3}"
unset TEMPORAL_ADDRESS # the suites start their own dev server and test servers
bash scripts/provision.sh --test
