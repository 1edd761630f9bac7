#!/usr/bin/env bash
# A real Keycloak on 127.0.0.1 for the Keycloak integration tier (test/integration/keycloak.test.ts):
# the server distribution from Maven Central (org.keycloak:keycloak-quarkus-dist, a zip) run in dev
# mode with an in-memory database, and the realm scripts/keycloak/zt-test-realm.json created through
# the admin REST API (confidential service clients with client credentials, client scopes
# orders:read / orders:write, an audience mapper, realm roles, users (alice with a password and a
# TOTP authenticator, bob with a password only), and a browser flow with acr step-up: acr silver =
# the password, gold = a TOTP code too).
#
#   scripts/keycloak-testenv.sh fetch   download and unpack the distribution once (cached, keyed by version)
#   scripts/keycloak-testenv.sh up      fetch if needed, start Keycloak, create the realm, wait until the
#                                       realm's discovery document answers; prints (stdout)
#                                         KEYCLOAK_URL=http://127.0.0.1:<port>
#                                         KEYCLOAK_ISSUER=<url>/realms/zt-test
#                                         KEYCLOAK_CREDENTIALS=<state>/credentials.json
#   scripts/keycloak-testenv.sh down    stop it and remove its state directory
#   scripts/keycloak-testenv.sh env     print the running instance's variables, no start
#
# The client secrets, the user's password and TOTP secret and the admin password are random per
# `up` and only written to credentials.json (mode 600), never printed: tests read them from there.
#
# Keycloak 26 needs Java 21 or newer. JAVA_HOME is used when it is new enough, else the newest JDK
# under /usr/lib/jvm that is (the machine's default `java` may be 17).
#
# Environment:
#   ZT_KEYCLOAK_VERSION        Keycloak release (default below)
#   ZT_KEYCLOAK_CACHE          unpacked distribution (default ${XDG_CACHE_HOME:-~/.cache}/zt-authz/keycloak-<version>)
#   ZT_KEYCLOAK_STATE_DIR      one instance's log, pid and credentials
#                              (default ${TMPDIR:-/tmp}/zt-authz-keycloak-testenv-$UID)
#   ZT_KEYCLOAK_PORT           HTTP port (default: a free one)
#   ZT_KEYCLOAK_START_TIMEOUT  seconds to wait for the realm (default 300: the first start also builds
#                              Keycloak's Quarkus application, about 40 s on 2 cores)
#   ZT_KEYCLOAK_PARENT_PID     when set, the instance is stopped once that process is gone
#
# Exit codes: 0 ok, 1 failure (the reason on stderr), 3 a prerequisite is missing here (no Java 21+,
# no Maven, or the download failed): the caller decides whether that is a skip; under CI=true the
# tests treat it as a failure.
set -euo pipefail

KC_VERSION="${ZT_KEYCLOAK_VERSION:-26.7.3}"
CACHE="${ZT_KEYCLOAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zt-authz/keycloak-$KC_VERSION}"
STATE="${ZT_KEYCLOAK_STATE_DIR:-${TMPDIR:-/tmp}/zt-authz-keycloak-testenv-$(id -u)}"
START_TIMEOUT="${ZT_KEYCLOAK_START_TIMEOUT:-300}"
REALM=zt-test
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
REALM_TEMPLATE="$(dirname "$SELF")/keycloak/zt-test-realm.json"
MARKER="$STATE/.zt-authz-keycloak-testenv"
KC_HOME="$CACHE/keycloak-$KC_VERSION"

log() { echo "[keycloak-testenv] $*" >&2; }
die() { log "error: $*"; exit 1; }
missing() { log "cannot run Keycloak here: $*"; exit 3; }

# Major version of a java binary (0 when it does not run).
java_major() {
  local v
  v="$("$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')" || true
  echo "${v:-0}"
}

find_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && [ "$(java_major "$JAVA_HOME/bin/java")" -ge 21 ]; then return 0; fi
  local best="" best_v=0 d v
  for d in /usr/lib/jvm/*/; do
    [ -x "$d/bin/java" ] || continue
    v="$(java_major "$d/bin/java")"
    if [ "$v" -ge 21 ] && [ "$v" -gt "$best_v" ]; then best="${d%/}" best_v="$v"; fi
  done
  [ -n "$best" ] || missing "Keycloak $KC_VERSION needs Java 21 or newer: JAVA_HOME is not set to one and none is under /usr/lib/jvm (Debian's openjdk-21-jdk-headless, or a Temurin 21/25 JDK)"
  export JAVA_HOME="$best"
}

have_dist() { [ -x "$KC_HOME/bin/kc.sh" ] && [ -f "$CACHE/.complete" ]; }

fetch() {
  if have_dist; then return 0; fi
  command -v mvn >/dev/null 2>&1 || missing "Maven (mvn) is needed to download org.keycloak:keycloak-quarkus-dist:$KC_VERSION from Maven Central"
  mkdir -p "$CACHE"
  # One downloader at a time (parallel callers on a cold cache).
  exec 8>"$CACHE/.fetch.lock"
  flock -w 1800 8 || die "timed out waiting for another download ($CACHE/.fetch.lock)"
  if have_dist; then return 0; fi
  local started=$SECONDS tmp="$CACHE/download.tmp"
  rm -rf "$tmp" "$KC_HOME"
  mkdir -p "$tmp"
  log "downloading org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip (about 170 MB) through Maven into $CACHE (first time only)..."
  # Maven checks the artifact's checksum; its local repository keeps a copy too.
  if ! mvn -B -q -Dstyle.color=never dependency:copy "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip" "-DoutputDirectory=$tmp" >"$CACHE/download.log" 2>&1; then
    tail -20 "$CACHE/download.log" >&2; echo >&2
    missing "the download of org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip failed (log above, $CACHE/download.log)"
  fi
  log "  downloaded in $((SECONDS - started)) s; unpacking"
  local zip="$tmp/keycloak-quarkus-dist-$KC_VERSION.zip"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$zip" -d "$CACHE" || die "unpacking $zip failed"
  else
    find_java
    (cd "$CACHE" && "$JAVA_HOME/bin/jar" xf "$zip") || die "unpacking $zip failed"
    chmod +x "$KC_HOME"/bin/*.sh
  fi
  [ -x "$KC_HOME/bin/kc.sh" ] || die "$zip did not hold keycloak-$KC_VERSION/bin/kc.sh"
  rm -rf "$tmp"
  touch "$CACHE/.complete"
  log "  Keycloak $KC_VERSION ready in $KC_HOME ($((SECONDS - started)) s)"
}

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
random_secret() { openssl rand -hex 24; }

# pid from the pid file, only while that process is still the Keycloak we started (pids are reused):
# kc.sh while it builds, then the JVM it execs (-Dkc.home.dir=<dist>/bin/..), same pid.
live_pid() {
  local pid
  [ -f "$STATE/keycloak.pid" ] || return 1
  pid="$(cat "$STATE/keycloak.pid")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$KC_HOME/bin/" && echo "$pid"
}

load_env() { [ -f "$STATE/env" ] && . "$STATE/env"; }

realm_ready() { curl -sf -o /dev/null --max-time 2 "$KEYCLOAK_ISSUER/.well-known/openid-configuration"; }
server_ready() { curl -sf -o /dev/null --max-time 2 "$KEYCLOAK_URL/realms/master/.well-known/openid-configuration"; }

# The admin's access token (master realm, admin-cli): the password goes in a file, not on argv.
admin_token() {
  local out
  out="$(curl -sf --max-time 10 --data-urlencode grant_type=password --data-urlencode client_id=admin-cli \
    --data-urlencode username=zt-admin --data-urlencode "password@$STATE/admin-password" \
    "$KEYCLOAK_URL/realms/master/protocol/openid-connect/token")" || return 1
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$out"
}

write_credentials() {
  local admin_svc viewer_svc other_svc portal alice alice_totp bob admin
  admin_svc="$(random_secret)" viewer_svc="$(random_secret)" other_svc="$(random_secret)"
  portal="$(random_secret)" alice="$(random_secret)" alice_totp="$(random_secret)" bob="$(random_secret)"
  admin="$(random_secret)"
  (
    umask 077
    printf '%s' "$admin" >"$STATE/admin-password"
    sed -e "s/@ADMIN_SVC_SECRET@/$admin_svc/" -e "s/@VIEWER_SVC_SECRET@/$viewer_svc/" -e "s/@OTHER_SVC_SECRET@/$other_svc/" \
      -e "s/@PORTAL_SECRET@/$portal/" -e "s/@ALICE_PASSWORD@/$alice/" -e "s/@ALICE_TOTP@/$alice_totp/" \
      -e "s/@BOB_PASSWORD@/$bob/" "$REALM_TEMPLATE" >"$STATE/realm.json"
    cat >"$STATE/credentials.json" <<EOF
{
  "url": "$KEYCLOAK_URL",
  "realm": "$REALM",
  "issuer": "$KEYCLOAK_ISSUER",
  "admin": { "username": "zt-admin", "password": "$admin" },
  "clients": {
    "orders-admin-svc": "$admin_svc",
    "orders-viewer-svc": "$viewer_svc",
    "orders-other-svc": "$other_svc",
    "orders-portal": "$portal"
  },
  "users": { "alice": "$alice", "bob": "$bob" },
  "totp": { "alice": "$alice_totp" }
}
EOF
  )
}

start_keycloak() {
  # Dev mode on loopback, in-memory H2: every `up` starts from an empty database, so nothing is
  # left in the shared cache between runs. The bootstrap admin only exists to create the realm.
  KC_BOOTSTRAP_ADMIN_USERNAME=zt-admin KC_BOOTSTRAP_ADMIN_PASSWORD="$(cat "$STATE/admin-password")" \
    setsid "$KC_HOME/bin/kc.sh" start-dev --http-host=127.0.0.1 --http-port="$PORT" --db=dev-mem \
    --hostname-strict=false --log-console-color=false </dev/null >>"$STATE/keycloak.log" 2>&1 8>&- 9>&- &
  echo $! >"$STATE/keycloak.pid"
}

wait_for() { # what check-function
  local deadline=$((SECONDS + START_TIMEOUT)) next=$((SECONDS + 15))
  until "$2"; do
    if ! live_pid >/dev/null; then log "Keycloak exited while waiting for $1"; tail -25 "$STATE/keycloak.log" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then log "no $1 within ${START_TIMEOUT}s"; tail -25 "$STATE/keycloak.log" >&2; return 1; fi
    if [ $SECONDS -ge $next ]; then log "  still waiting for $1 ($((SECONDS - STARTED)) s; log $STATE/keycloak.log)"; next=$((SECONDS + 15)); fi
    sleep 0.5
  done
}

create_realm() {
  local token code
  token="$(admin_token)" || { log "admin token refused"; return 1; }
  code="$(curl -s -o "$STATE/realm-create.out" -w '%{http_code}' --max-time 60 -H "authorization: Bearer $token" \
    -H 'content-type: application/json' --data-binary "@$STATE/realm.json" "$KEYCLOAK_URL/admin/realms")"
  [ "$code" = 201 ] || { log "creating realm $REALM: HTTP $code $(head -c 500 "$STATE/realm-create.out")"; return 1; }
}

print_env() { grep -E '^KEYCLOAK_(URL|ISSUER|CREDENTIALS)=' "$STATE/env"; }

up() {
  find_java
  fetch
  command -v curl >/dev/null 2>&1 || die "curl is needed to probe Keycloak"
  command -v openssl >/dev/null 2>&1 || die "openssl is needed for the random test secrets"
  if [ -f "$MARKER" ] && load_env && live_pid >/dev/null && realm_ready; then
    log "already running (state $STATE)"
    print_env
    return 0
  fi
  down_quiet
  mkdir -p "$STATE"
  touch "$MARKER"
  PORT="${ZT_KEYCLOAK_PORT:-$(free_port)}"
  KEYCLOAK_URL="http://127.0.0.1:$PORT"
  KEYCLOAK_ISSUER="$KEYCLOAK_URL/realms/$REALM"
  cat >"$STATE/env" <<EOF
KEYCLOAK_URL=$KEYCLOAK_URL
KEYCLOAK_ISSUER=$KEYCLOAK_ISSUER
KEYCLOAK_CREDENTIALS=$STATE/credentials.json
KEYCLOAK_VERSION=$KC_VERSION
KEYCLOAK_LOG=$STATE/keycloak.log
KEYCLOAK_STATE_DIR=$STATE
EOF
  write_credentials
  STARTED=$SECONDS
  # Keycloak rebuilds its Quarkus application (in the cache) when the build options change; one
  # starter at a time keeps two first starts from rebuilding the same directory.
  exec 9>"$CACHE/.start.lock"
  flock -w 600 9 || die "timed out waiting for another Keycloak start ($CACHE/.start.lock)"
  log "starting Keycloak $KC_VERSION (Java $(java_major "$JAVA_HOME/bin/java"), $JAVA_HOME) on $KEYCLOAK_URL..."
  start_keycloak
  watchdog
  wait_for "the server" server_ready || { down_quiet; die "Keycloak did not start"; }
  flock -u 9
  create_realm || { down_quiet; die "the realm was not created"; }
  wait_for "realm $REALM's discovery document" realm_ready || { down_quiet; die "realm $REALM did not answer"; }
  log "Keycloak $KC_VERSION ready with realm $REALM in $((SECONDS - STARTED)) s (state $STATE)"
  print_env
}

# With ZT_KEYCLOAK_PARENT_PID set (the test helpers set it), the instance is stopped once that
# process is gone, so a crashed test run leaves no Keycloak behind.
watchdog() {
  local parent="${ZT_KEYCLOAK_PARENT_PID:-}"
  [ -n "$parent" ] || return 0
  ZT_KEYCLOAK_STATE_DIR="$STATE" ZT_KEYCLOAK_CACHE="$CACHE" ZT_KEYCLOAK_VERSION="$KC_VERSION" \
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -f "$3" ]; do sleep 2; done; [ -f "$3" ] && exec "$2" down' \
    watchdog "$parent" "$SELF" "$MARKER" </dev/null >/dev/null 2>&1 8>&- 9>&- &
}

down_quiet() {
  local pid
  if pid="$(live_pid)"; then
    # setsid made Keycloak its own process group: take kc.sh and the JVM down together.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  # Remove only a directory this script created (the marker), never an arbitrary ZT_KEYCLOAK_STATE_DIR.
  if [ -f "$MARKER" ]; then rm -rf "$STATE"; elif [ -d "$STATE" ] && [ -z "$(ls -A "$STATE")" ]; then rmdir "$STATE"; fi
}

down() {
  if [ -e "$STATE" ] && [ ! -f "$MARKER" ]; then die "$STATE was not created by this script; not removing it"; fi
  down_quiet
  log "stopped; removed $STATE"
}

case "${1:-}" in
  fetch) find_java; fetch; echo "$KC_HOME" ;;
  up) up ;;
  down) down ;;
  env) if [ -f "$MARKER" ] && load_env && live_pid >/dev/null; then print_env; else die "not running (state $STATE)"; fi ;;
  *) echo "usage: $0 fetch|up|down|env" >&2; exit 2 ;;
esac
