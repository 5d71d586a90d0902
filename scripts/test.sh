#!/usr/bin/env bash
# `npm test`: provision (PostgreSQL, Redis, the Temporal CLI and the Java test server), type-check,
# lint, then every jest suite against the real services, then the end-to-end slice against the real
# Temporal server (scripts/test-cluster.sh). Stops only the services it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .data
export PROVISION_STARTED_FILE="$ROOT/.data/started-by-npm-test"
: >"$PROVISION_STARTED_FILE"
trap 'bash "$ROOT/scripts/stop-services.sh" "$PROVISION_STARTED_FILE"' EXIT
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://ovation:ovation@127.0.0.1:5432/ovation_test}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}"
unset TEMPORAL_ADDRESS # the suites start their own dev server and test servers
bash scripts/provision.sh --test

echo "== type-check"; npx tsc --noEmit -p .
echo "== lint"; npx eslint .
echo "== jest"; npx jest "$@"
# The production shape of Temporal (the real server on PostgreSQL): the end-to-end, scale-out and
# crash suites again, ~2 min. Skipped when the caller picked tests (`npm test -- <pattern>`).
if [ "$#" -eq 0 ]; then echo "== jest against the Temporal server (npm run test:cluster)"; bash scripts/test-cluster.sh; fi
