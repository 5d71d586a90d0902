#!/usr/bin/env bash
# Builds the Temporal server (not the CLI's dev server) and its SQL schema tool from the Go module
# proxy, pinned to the version docker-compose.yml runs, into .tools/bin, with the server's PostgreSQL
# schema files beside them. Idempotent and cached like the CLI: a second run costs nothing.
#
#   .tools/bin/temporal-server      go.temporal.io/server/cmd/server
#   .tools/bin/temporal-sql-tool    go.temporal.io/server/cmd/tools/sql
#   .tools/temporal-server-schema/  schema/postgresql/v12 (default store and SQL visibility)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$ROOT/.tools}"
VERSION="v1.29.1" # docker-compose.yml: temporalio/auto-setup:1.29.1
SERVER="$TOOLS_DIR/bin/temporal-server"
SQL_TOOL="$TOOLS_DIR/bin/temporal-sql-tool"
SCHEMA_DIR="$TOOLS_DIR/temporal-server-schema"

step() { printf '\033[1mprovision\033[0m %s\n' "$*"; }

if [ -x "$SERVER" ] && [ -x "$SQL_TOOL" ] && [ -d "$SCHEMA_DIR/temporal" ] \
  && [ "$(cat "$SERVER.version" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "provision: the Temporal server is built with Go, and there is no Go toolchain" >&2; exit 1; }

step "building the Temporal server $VERSION and its SQL tool with go install (first time only: minutes)"
started=$(date +%s)
mkdir -p "$TOOLS_DIR/bin"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
GOBIN="$build" GOFLAGS=-mod=mod go install "go.temporal.io/server/cmd/server@$VERSION" "go.temporal.io/server/cmd/tools/sql@$VERSION"
mv "$build/server" "$SERVER"
mv "$build/sql" "$SQL_TOOL"
# The schema files ship in the module's source, which `go install` left in the module cache.
module_dir="$(go env GOMODCACHE)/go.temporal.io/server@$VERSION"
rm -rf "$SCHEMA_DIR"
cp -r "$module_dir/schema/postgresql/v12" "$SCHEMA_DIR"
chmod -R u+w "$SCHEMA_DIR"
echo "$VERSION" >"$SERVER.version"
step "Temporal server built in $(( $(date +%s) - started ))s"
