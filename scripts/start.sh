#!/usr/bin/env bash
# `npm start`: provision what is missing, then run the whole system locally (scripts/start.ts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$ROOT/.data"
export PROVISION_STARTED_FILE="$ROOT/.data/started-by-npm-start"
: >"$PROVISION_STARTED_FILE"
bash "$ROOT/scripts/provision.sh"
exec node --import tsx "$ROOT/scripts/start.ts"
