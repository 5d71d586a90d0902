#!/usr/bin/env bash
# `npm test`: provision (PostgreSQL, Redis, the Temporal CLI and the Java test server), type-check,
# lint, then every jest suite against the real services, then the end-to-end slice against the real
# Temporal server (scripts/test-cluster.sh). Stops only the services it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/test-services.sh" npm-test ovation_test 1

echo "== type-check"; npx tsc --noEmit -p .
echo "== lint"; npx eslint .
echo "== jest"; npx jest "$@"
# The production shape of Temporal (the real server on PostgreSQL): the end-to-end, scale-out and
# crash suites again, ~2 min. Skipped when the caller picked tests (`npm test -- <pattern>`).
if [ "$#" -eq 0 ]; then echo "== jest against the Temporal server (npm run test:cluster)"; bash scripts/test-cluster.sh; fi
