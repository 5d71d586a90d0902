#!/usr/bin/env bash
# Provision the Temporal Java time-skipping test server for
#   TestWorkflowEnvironment.createTimeSkipping({ server: { executable:
#     { type: 'existing-path', path: '<TOOLS_DIR>/temporal-test-server' } } })
#
# Produces (TOOLS_DIR defaults to <repo>/.tools):
#   $TOOLS_DIR/temporal-test-server             wrapper: exec java <flags> -cp <cp> io.temporal.testserver.TestServer "$@"
#   $TOOLS_DIR/test-server/<version>/lib/       the server's jars (copied out of the Maven cache)
#   $TOOLS_DIR/test-server/<version>/classpath.txt
#   $TOOLS_DIR/test-server/<version>/cds.jsa    AppCDS archive (optional: the wrapper works without it)
#   $TOOLS_DIR/test-server/<version>/cds.key    what the archive was built for (JVM, classpath, flags)
#
# Idempotent: when everything is present and matches the pinned version, it only checks and exits
# (a few milliseconds, no java/mvn run). The version is pinned in scripts/test-server/pom.xml.
#
# Environment:
#   TOOLS_DIR                            where to put things (default <repo>/.tools)
#   TEMPORAL_TEST_SERVER_ALLOW_DOWNLOAD=1  if java/mvn are missing, exit 0 without a wrapper
#                                        (callers then let the SDK download its own test server)
#   TEMPORAL_TEST_SERVER_NO_CDS=1        do not build the CDS archive
#   MAVEN_OPTS                           passed to mvn as usual (e.g. -Dmaven.repo.local=...)
# Wrapper environment (at test time):
#   TEMPORAL_TEST_SERVER_CDS=0           start without the CDS archive
#   TEMPORAL_TEST_SERVER_JAVA_OPTS       extra JVM flags, appended after the defaults
set -euo pipefail

START_NS=$(date +%s%N)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
POM="$SCRIPT_DIR/test-server/pom.xml"
TOOLS_DIR=${TOOLS_DIR:-$REPO_DIR/.tools}
MAIN_CLASS=io.temporal.testserver.TestServer
# JVM start-up flags (measured: see scripts/test-server/README.md). The server is short-lived and
# small, so C1 only, the serial collector and no perf-data file; AppCDS on top when available.
JVM_FLAGS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xlog:disable -Xlog:all=warning:stderr"
LAYOUT=1 # bump to force the wrapper / archive to be rebuilt when this script changes what it makes

log() { printf '[provision-test-server] %s\n' "$*" >&2; }
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 )) ms"; }
did=()

VERSION=$(sed -n 's:.*<temporal.test-server.version>\(.*\)</temporal.test-server.version>.*:\1:p' "$POM")
[[ -n "$VERSION" ]] || { log "cannot read temporal.test-server.version from $POM"; exit 1; }
case "$TOOLS_DIR" in *"'"*) log "TOOLS_DIR must not contain a single quote: $TOOLS_DIR"; exit 1 ;; esac
TS_DIR="$TOOLS_DIR/test-server"
VDIR="$TS_DIR/$VERSION"
LIB="$VDIR/lib"
CP_FILE="$VDIR/classpath.txt"
JSA="$VDIR/cds.jsa"
JSA_KEY="$VDIR/cds.key"
WRAPPER="$TOOLS_DIR/temporal-test-server"

missing_tool() { # $1 = message
  if [[ "${TEMPORAL_TEST_SERVER_ALLOW_DOWNLOAD:-}" == 1 ]]; then
    log "$1"
    if [[ -e "$WRAPPER" ]]; then rm -f "$WRAPPER"; log "removed $WRAPPER (it could not run here)"; fi
    log "TEMPORAL_TEST_SERVER_ALLOW_DOWNLOAD=1: no wrapper; the SDK will download its own test server"
    exit 0
  fi
  log "$1"
  log "install a JDK (>= 11) and Maven (Debian: apt-get install -y openjdk-17-jdk-headless maven),"
  log "or set TEMPORAL_TEST_SERVER_ALLOW_DOWNLOAD=1 to let the SDK download its own test server"
  exit 1
}

# ---- java: JAVA_HOME first, then PATH. The wrapper bakes in the resolved path (the CDS archive is
# only valid for the JVM that wrote it).
JAVA_BIN=""
if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then JAVA_BIN="$JAVA_HOME/bin/java"
elif command -v java >/dev/null 2>&1; then JAVA_BIN=$(command -v java)
fi
[[ -n "$JAVA_BIN" ]] || missing_tool "java not found (neither \$JAVA_HOME/bin/java nor java on PATH)"
JAVA_BIN=$(readlink -f "$JAVA_BIN")
JVM_LIB="$(dirname "$JAVA_BIN")/../lib/server/libjvm.so"
[[ -f "$JVM_LIB" ]] || JVM_LIB="$JAVA_BIN"
JAVA_ID="$JAVA_BIN $(stat -L -c '%s %Y' "$JVM_LIB")"

mkdir -p "$TS_DIR"
# Two provisioners at once (parallel CI steps) must not interleave.
if command -v flock >/dev/null 2>&1; then exec 9>"$TS_DIR/.lock"; flock 9; fi

POM_SUM=$(sha256sum "$POM" | cut -c1-64)

# ---- 1. jars + classpath -----------------------------------------------------------------------
jars_ok() {
  [[ -f "$VDIR/lib.key" && "$(cat "$VDIR/lib.key")" == "$POM_SUM" && -s "$CP_FILE" ]] || return 1
  local IFS=: j
  for j in $(cat "$CP_FILE"); do [[ -f "$j" ]] || return 1; done
}
if ! jars_ok; then
  command -v mvn >/dev/null 2>&1 || missing_tool "mvn not found: needed once to fetch io.temporal:temporal-test-server:$VERSION"
  t0=$(date +%s%N)
  tmp="$TS_DIR/.tmp-lib.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/lib"
  # copy-dependencies puts the jars in lib/; build-classpath writes them in Maven's order, prefixed
  # with that lib/ directory. Offline first (no network when the Maven cache is warm), then online.
  mvn_args=(-B -q -f "$POM" dependency:copy-dependencies dependency:build-classpath
    -DoutputDirectory="$tmp/lib" -Dmdep.outputFile="$tmp/classpath.txt" -Dmdep.prefix="$LIB"
)
  if ! mvn -o "${mvn_args[@]}" >"$tmp/mvn.log" 2>&1; then
    log "Maven cache incomplete: resolving io.temporal:temporal-test-server:$VERSION from the registry"
    mvn "${mvn_args[@]}" >"$tmp/mvn.log" 2>&1 || { cat "$tmp/mvn.log" >&2; log "mvn failed"; rm -rf "$tmp"; exit 1; }
  fi
  [[ -f "$tmp/lib/temporal-test-server-$VERSION.jar" && -s "$tmp/classpath.txt" ]] \
    || { cat "$tmp/mvn.log" >&2; log "mvn did not produce the jars"; rm -rf "$tmp"; exit 1; }
  rm -rf "$VDIR"; mkdir -p "$VDIR"
  mv "$tmp/lib" "$LIB"
  tr -d '\n' <"$tmp/classpath.txt" >"$CP_FILE"
  echo "$POM_SUM" >"$VDIR/lib.key"
  rm -rf "$tmp"
  did+=("resolved temporal-test-server $VERSION: $(ls "$LIB" | wc -l) jars in $(( ($(date +%s%N) - t0) / 1000000 )) ms")
fi
CLASSPATH_VALUE=$(cat "$CP_FILE")

# ---- 2. AppCDS archive ---------------------------------------------------------------------------
# Written once by starting the server with -XX:ArchiveClassesAtExit, exercising it a little, and
# stopping it with SIGTERM (the JVM dumps on a normal exit). Built under a temporary name, validated
# with -Xshare:on, then renamed: a half-written archive would crash the JVM that maps it.
# The JVM rejects an archive whose jars changed size or mtime: so does this key.
JARS_ID=$(cd "$LIB" && stat -c '%n %s %Y' -- *.jar | sha256sum | cut -c1-64)
KEY_WANT="layout=$LAYOUT java=$JAVA_ID flags=$JVM_FLAGS jars=$JARS_ID cp=$CLASSPATH_VALUE"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
train() { # $1 = port: a few gRPC calls (empty messages) so the request path is archived too
  command -v curl >/dev/null 2>&1 || return 0
  local m
  for m in temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo \
           temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace \
           temporal.api.testservice.v1.TestService/GetCurrentTime \
           temporal.api.testservice.v1.TestService/LockTimeSkipping \
           temporal.api.testservice.v1.TestService/UnlockTimeSkipping \
           grpc.health.v1.Health/Check; do
    printf '\0\0\0\0\0' | curl -s -o /dev/null --max-time 5 --http2-prior-knowledge \
      -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- \
      "http://127.0.0.1:$1/$m" || true
  done
}
build_archive() {
  local tmp="$VDIR/.cds.$$.jsa" port pid i attempt
  rm -f "$tmp"
  for attempt in 1 2 3; do
    port=$(( 20000 + RANDOM % 30000 ))
    port_open "$port" && continue
    # shellcheck disable=SC2086
    "$JAVA_BIN" $JVM_FLAGS -XX:ArchiveClassesAtExit="$tmp" -cp "$CLASSPATH_VALUE" "$MAIN_CLASS" "$port" \
      >"$VDIR/.cds.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 600; i++)); do # up to 60 s on a very busy box
      port_open "$port" && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if port_open "$port"; then
      train "$port"
      kill -TERM "$pid" 2>/dev/null || true # the JVM writes the archive while it exits (~1-2 s)
      for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      break
    fi
    kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    rm -f "$tmp"
  done
  # shellcheck disable=SC2086
  if [[ -s "$tmp" ]] && "$JAVA_BIN" $JVM_FLAGS -Xshare:on -XX:SharedArchiveFile="$tmp" \
       -cp "$CLASSPATH_VALUE" -version >/dev/null 2>&1; then
    mv -f "$tmp" "$JSA"
    echo "$KEY_WANT" >"$JSA_KEY"
    rm -f "$VDIR/.cds.log"
    return 0
  fi
  rm -f "$tmp" "$JSA" "$JSA_KEY"
  return 1
}
if [[ "${TEMPORAL_TEST_SERVER_NO_CDS:-}" == 1 ]]; then
  if [[ -e "$JSA" ]]; then rm -f "$JSA" "$JSA_KEY"; did+=("removed the CDS archive (TEMPORAL_TEST_SERVER_NO_CDS=1)"); fi
elif [[ ! -f "$JSA" || ! -f "$JSA_KEY" || "$(cat "$JSA_KEY")" != "$KEY_WANT" ]]; then
  t0=$(date +%s%N)
  if build_archive; then
    did+=("built the CDS archive ($(( $(stat -c %s "$JSA") / 1048576 )) MiB) in $(( ($(date +%s%N) - t0) / 1000000 )) ms")
  else
    log "warning: could not build the CDS archive (see $VDIR/.cds.log); the wrapper starts without it"
    did+=("no CDS archive")
  fi
fi

# ---- 3. wrapper ------------------------------------------------------------------------------------
# POSIX sh (dash starts faster than bash); `exec` so the PID the SDK kills is the JVM itself.
WRAPPER_TEXT=$(cat <<EOF
#!/bin/sh
# Temporal time-skipping test server $VERSION. Generated by scripts/provision-test-server.sh; do not edit.
# Usage: temporal-test-server <port> [args...]
# Env: TEMPORAL_TEST_SERVER_CDS=0 (skip the CDS archive), TEMPORAL_TEST_SERVER_JAVA_OPTS (extra JVM flags)
java='$JAVA_BIN'
[ -x "\$java" ] || java=java
jsa='$JSA'
cds=
if [ "\${TEMPORAL_TEST_SERVER_CDS:-1}" != 0 ] && [ -f "\$jsa" ]; then cds="-XX:SharedArchiveFile=\$jsa"; fi
# A stale archive (other JVM, changed jars) is ignored by the JVM with one warning on stderr.
exec "\$java" $JVM_FLAGS \$cds \${TEMPORAL_TEST_SERVER_JAVA_OPTS:-} \\
  -cp '$CLASSPATH_VALUE' \\
  $MAIN_CLASS "\$@"
EOF
)
if [[ ! -x "$WRAPPER" || "$(cat "$WRAPPER")" != "$WRAPPER_TEXT" ]]; then
  printf '%s\n' "$WRAPPER_TEXT" >"$WRAPPER.tmp.$$"
  chmod 755 "$WRAPPER.tmp.$$"
  mv -f "$WRAPPER.tmp.$$" "$WRAPPER"
  did+=("wrote $WRAPPER")
fi

# ---- old versions: ours, under TS_DIR only --------------------------------------------------------
for d in "$TS_DIR"/*/; do
  d=${d%/}
  [[ -d "$d" && "$(basename "$d")" != "$VERSION" ]] || continue
  rm -rf "$d"; did+=("removed old $(basename "$d")")
done

if ((${#did[@]} == 0)); then
  log "up to date: temporal-test-server $VERSION at $WRAPPER ($( [[ -f "$JSA" ]] && echo with || echo without ) CDS archive), checked in $(elapsed)"
else
  for m in "${did[@]}"; do log "$m"; done
  log "done: temporal-test-server $VERSION at $WRAPPER in $(elapsed)"
fi
