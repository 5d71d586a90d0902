#!/usr/bin/env bash
# `npm run test:cluster`: the end-to-end, scale-out and crash suites against the production shape:
# the real Temporal server (frontend, history, matching, worker) on PostgreSQL with SQL visibility
# instead of the CLI's dev server, and a Redis Cluster of three masters (scripts/redis-cluster.ts, on
# TEST_REDIS_CLUSTER_PORTS, default 7301-7303) instead of one Redis; plus the cluster's own suites:
# the slot layout (test/ops/redis-cluster.test.ts) and a master killed mid-traffic
# (test/chaos/redis-master-kill.test.ts, on its own cluster, ports 7311-7313). Provisions like
# `npm test`, plus the server's build (cached).
set -euo pipefail
export OVATION_TEST_TEMPORAL=server
export OVATION_TEST_REDIS=cluster # test/support/global-setup.ts starts it and sets REDIS_CLUSTER_NODES
source "$(dirname "${BASH_SOURCE[0]}")/test-services.sh" npm-test-cluster ovation_test_cluster 8
bash scripts/provision-temporal-server.sh
npx jest --selectProjects e2e chaos ops --testPathPatterns 'test/e2e/(journey|holds|payments|orders|queue|sell-out|scale-out|after-sale|operator-console)\.test\.ts|test/chaos/(crashes|redis-master-kill)\.test\.ts|test/ops/redis-cluster\.test\.ts' "$@"
