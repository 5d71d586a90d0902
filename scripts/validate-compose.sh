#!/usr/bin/env bash
# Validates docker-compose.yml offline (no Docker engine needed) and proves that:
#   1. the file is valid with the required secrets set;
#   2. start-up is refused when AUTH_SECRET or ADMIN_API_KEY is missing;
#   3. the validator really checks the schema (a copy with an unknown key is rejected).
# Prints one result line; exits non-zero on any failure (details on stderr).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="$root/docker-compose.yml"

if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  echo "validate-compose: FAIL (neither docker-compose nor 'docker compose' found)"
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# An empty env file, so a developer's .env cannot supply (or hide) the secrets.
: >"$tmp/empty.env"

# config -q with a clean environment apart from the variables given as arguments.
run_config() { # run_config <compose file> [VAR=value ...]
  local f="$1"
  shift
  env -u AUTH_SECRET -u ADMIN_API_KEY -u POSTGRES_PASSWORD "$@" \
    "${compose[@]}" --env-file "$tmp/empty.env" --project-directory "$root" \
    -f "$f" config -q 2>"$tmp/err"
}

failures=()

# 1. Valid with dummy secrets.
if ! run_config "$file" AUTH_SECRET=dummy-auth-secret ADMIN_API_KEY=dummy-admin-key; then
  failures+=("config with secrets failed: $(tr '\n' ' ' <"$tmp/err")")
fi

# 2. Each required secret, when missing, must stop config (and so `up`).
if run_config "$file" ADMIN_API_KEY=dummy-admin-key; then
  failures+=("config without AUTH_SECRET succeeded")
elif ! grep -q "AUTH_SECRET" "$tmp/err"; then
  failures+=("config without AUTH_SECRET failed for another reason: $(tr '\n' ' ' <"$tmp/err")")
fi
if run_config "$file" AUTH_SECRET=dummy-auth-secret; then
  failures+=("config without ADMIN_API_KEY succeeded")
elif ! grep -q "ADMIN_API_KEY" "$tmp/err"; then
  failures+=("config without ADMIN_API_KEY failed for another reason: $(tr '\n' ' ' <"$tmp/err")")
fi

# 3. Schema validation is live: an unknown service key must be rejected.
sed 's|^    image: redis:.*|&\n    bogus_key: 1|' "$file" >"$tmp/bad.yml"
if ! grep -q "bogus_key" "$tmp/bad.yml"; then
  failures+=("could not build the bad-key copy (no redis image line?)")
elif run_config "$tmp/bad.yml" AUTH_SECRET=dummy-auth-secret ADMIN_API_KEY=dummy-admin-key; then
  failures+=("a file with an unknown key was accepted: validation is not running")
fi

if ((${#failures[@]})); then
  printf '  - %s\n' "${failures[@]}" >&2
  echo "validate-compose: FAIL (${#failures[@]} check(s) failed; see above)"
  exit 1
fi
echo "validate-compose: OK (valid with secrets; refused without AUTH_SECRET / ADMIN_API_KEY; unknown keys rejected) [$("${compose[@]}" version --short 2>/dev/null || echo compose)]"
