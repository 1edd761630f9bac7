#!/usr/bin/env bash
# A real etcd + kube-apiserver on 127.0.0.1 for the integration tier (test/integration/k8s-*.test.ts),
# the way controller-runtime's envtest runs them: no kubelet, scheduler or controller-manager, so
# objects are stored, validated, authorized (RBAC) and sent through the admission chain (webhooks
# included), but pods never run and no controller creates ServiceAccounts or tokens by itself.
#
#   scripts/k8s-testenv.sh build   build the binaries once (cached, keyed by version); prints the bin dir
#   scripts/k8s-testenv.sh up      build if needed, start etcd + kube-apiserver, wait for /readyz,
#                                  print KUBECONFIG=<admin kubeconfig> (last line of stdout)
#   scripts/k8s-testenv.sh down    stop both and remove their data (certificates, etcd data, kubeconfig)
#   scripts/k8s-testenv.sh env     print the running instance's variables (KUBECONFIG=, K8S_*), no start
#   scripts/k8s-testenv.sh stop-apiserver | start-apiserver
#                                  stop or start kube-apiserver alone (etcd and the data stay)
#
# Binaries: kube-apiserver from the k8s.io/kubernetes module and etcd from go.etcd.io/etcd/server/v3,
# built from the Go module proxy in a throwaway wrapper module. k8s.io/kubernetes requires its staging
# modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 with replace lines to ./staging, and replace
# lines of a dependency are ignored, so the wrapper replaces each one with its published v0.X.Y.
# The cache is outside the repository: ${XDG_CACHE_HOME:-~/.cache}/zt-authz/k8s-v<version>.
#
# Environment:
#   ZT_K8S_VERSION     Kubernetes release (default below); its go.mod `go` line must not be newer than `go`
#   ZT_K8S_CACHE       binary cache directory (default above)
#   ZT_K8S_STATE_DIR   where one instance keeps its certificates, data, logs and pids
#                      (default ${TMPDIR:-/tmp}/zt-authz-k8s-testenv-$UID); several instances need several dirs
#   ZT_K8S_START_TIMEOUT  seconds to wait for /readyz (default 90)
#   ZT_K8S_APISERVER_ARGS extra kube-apiserver flags (debugging, e.g. -v=3 to log every request)
#
# Exit codes: 0 ok, 1 failure (the reason on stderr), 3 no Go toolchain (the caller decides whether that
# is a skip; under CI=true the tests treat it as a failure).
set -euo pipefail

K8S_VERSION="${ZT_K8S_VERSION:-1.34.4}"
# etcd as pinned by that Kubernetes release's own go.mod (go.etcd.io/etcd/server/v3), so the wrapper
# module builds both from one consistent module graph.
CACHE="${ZT_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zt-authz/k8s-v$K8S_VERSION}"
STATE="${ZT_K8S_STATE_DIR:-${TMPDIR:-/tmp}/zt-authz-k8s-testenv-$(id -u)}"
START_TIMEOUT="${ZT_K8S_START_TIMEOUT:-90}"
BIN="$CACHE/bin"
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

log() { echo "[k8s-testenv] $*" >&2; }
die() { log "error: $*"; exit 1; }

have_bins() { [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -f "$BIN/.complete" ]; }

build() {
  if have_bins; then echo "$BIN"; return 0; fi
  if ! command -v go >/dev/null 2>&1; then log "no Go toolchain (go) on PATH: cannot build kube-apiserver/etcd"; exit 3; fi
  command -v openssl >/dev/null 2>&1 || die "openssl is needed for the test certificates"
  mkdir -p "$CACHE"
  # One builder at a time (parallel test files may all call `up` on a cold cache).
  exec 9>"$CACHE/.build.lock"
  if ! flock -w 3600 9; then die "timed out waiting for another build ($CACHE/.build.lock)"; fi
  if have_bins; then echo "$BIN"; return 0; fi
  local minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  local staging="0.$minor.${K8S_VERSION##*.}"
  local mod="$CACHE/module"
  rm -rf "$mod" "$BIN.tmp"
  mkdir -p "$mod" "$BIN.tmp"
  local started=$SECONDS
  log "building kube-apiserver v$K8S_VERSION and etcd into $BIN (first time only; several minutes on 2 cores)..."
  # Keep go from fetching a newer toolchain on its own: a too-new go.mod must fail here, visibly.
  export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod"
  log "  resolving k8s.io/kubernetes@v$K8S_VERSION"
  (cd "$mod" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" >"$CACHE/download.json") ||
    die "go mod download k8s.io/kubernetes@v$K8S_VERSION failed"
  local kmod
  kmod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' "$CACHE/download.json")"
  [ -f "$kmod" ] || die "no go.mod for k8s.io/kubernetes@v$K8S_VERSION in the module cache"
  {
    echo "// Throwaway wrapper (scripts/k8s-testenv.sh): builds kube-apiserver and etcd for tests."
    echo "module zt-authz.invalid/k8s-testenv"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "$kmod")"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    # Every `k8s.io/x => ./staging/src/k8s.io/x` line of k8s.io/kubernetes's go.mod, pinned to v0.X.Y.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#replace \1 => \1 v'"$staging"'#p' "$kmod"
  } >"$mod/go.mod"
  local n
  n="$(grep -c '^replace ' "$mod/go.mod" || true)"
  [ "$n" -ge 20 ] || die "found only $n staging modules in k8s.io/kubernetes's go.mod (expected about 30)"
  cat >"$mod/tools.go" <<'EOF'
//go:build tools

// Package tools only names the two commands so `go mod tidy` records their dependencies.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
EOF
  log "  resolving dependencies ($n staging modules pinned to v$staging)"
  (cd "$mod" && go mod tidy) >"$CACHE/build.log" 2>&1 || { tail -20 "$CACHE/build.log" >&2; die "go mod tidy failed (log: $CACHE/build.log)"; }
  local pkg=k8s.io/component-base/version
  local ld="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  log "  compiling etcd"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$BIN.tmp/etcd" go.etcd.io/etcd/server/v3) >>"$CACHE/build.log" 2>&1 ||
    { tail -20 "$CACHE/build.log" >&2; die "building etcd failed (log: $CACHE/build.log)"; }
  log "  compiling kube-apiserver (the long part; $((SECONDS - started)) s so far)"
  # A progress line every minute: a cold build is quiet for several minutes otherwise.
  (while sleep 60; do log "  still compiling kube-apiserver ($((SECONDS - started)) s)"; done) &
  local ticker=$!
  local rc=0
  (cd "$mod" && go build -trimpath -ldflags "$ld" -o "$BIN.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver) >>"$CACHE/build.log" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  [ "$rc" -eq 0 ] || { tail -20 "$CACHE/build.log" >&2; die "building kube-apiserver failed (log: $CACHE/build.log)"; }
  "$BIN.tmp/kube-apiserver" --version >&2 || die "the built kube-apiserver does not run"
  "$BIN.tmp/etcd" --version | head -1 >&2 || die "the built etcd does not run"
  touch "$BIN.tmp/.complete"
  rm -rf "$BIN"
  mv "$BIN.tmp" "$BIN"
  log "built in $((SECONDS - started)) s"
  echo "$BIN"
}

MARKER="$STATE/.zt-authz-k8s-testenv"

# A free 127.0.0.1 TCP port (the kernel's pick; released at once, so a rare race is retried by `up`).
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# pid from a pid file, only while that process is still the one we started (pids are reused).
live_pid() {
  local f="$STATE/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$BIN/$1 " && echo "$pid"
}

stop_one() {
  local pid
  pid="$(live_pid "$1")" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

readyz() {
  curl -fsS --max-time 5 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}

certs() {
  local pki="$STATE/pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=zt-authz-testenv-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    leaf() { # name subject extensions
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    }
    leaf apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
    # system:masters: the admin kubeconfig bypasses RBAC, as a cluster's admin credentials do.
    leaf admin "/O=system:masters/CN=zt-authz-testenv-admin" "extendedKeyUsage=clientAuth"
    # Service-account token signing key: RSA, as clusters use (RS256 tokens).
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext ca.srl
  ) || die "creating the test certificates with openssl failed"
}

write_kubeconfig() {
  local b64='base64 -w0'
  cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: zt-authz-testenv
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority-data: $($b64 <"$STATE/pki/ca.crt")
users:
  - name: admin
    user:
      client-certificate-data: $($b64 <"$STATE/pki/admin.crt")
      client-key-data: $($b64 <"$STATE/pki/admin.key")
contexts:
  - name: zt-authz-testenv
    context: { cluster: zt-authz-testenv, user: admin, namespace: default }
current-context: zt-authz-testenv
EOF
  chmod 600 "$STATE/kubeconfig"
}

start_etcd() {
  mkdir -p "$STATE/etcd"
  "$BIN/etcd" --name testenv --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "testenv=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn </dev/null >>"$STATE/etcd.log" 2>&1 &
  echo $! >"$STATE/etcd.pid"
}

start_apiserver() {
  # Flags as envtest's, plus what zt-authz needs: RBAC, the ServiceAccount issuer with its
  # discovery document and JWKS (jwks_uri on this address, since the in-cluster name does not
  # resolve here), and the default admission chain (which includes both webhook plugins).
  "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --cert-dir "$STATE/pki" --tls-cert-file "$STATE/pki/apiserver.crt" --tls-private-key-file "$STATE/pki/apiserver.key" \
    --client-ca-file "$STATE/pki/ca.crt" \
    --authorization-mode RBAC --anonymous-auth=true \
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
    --service-account-issuer "$SA_ISSUER" \
    --service-account-jwks-uri "https://127.0.0.1:$API_PORT/openid/v1/jwks" \
    --service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
    --enable-admission-plugins MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    ${ZT_K8S_APISERVER_ARGS:-} </dev/null >>"$STATE/kube-apiserver.log" 2>&1 &
  echo $! >"$STATE/kube-apiserver.pid"
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until readyz; do
    if ! live_pid kube-apiserver >/dev/null; then tail -15 "$STATE/kube-apiserver.log" >&2; return 1; fi
    if ! live_pid etcd >/dev/null; then tail -15 "$STATE/etcd.log" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then log "no /readyz within ${START_TIMEOUT}s"; tail -15 "$STATE/kube-apiserver.log" >&2; return 1; fi
    sleep 0.25
  done
}

load_env() { [ -f "$STATE/env" ] && . "$STATE/env" && SA_ISSUER="$K8S_SA_ISSUER"; }

print_env() {
  cat "$STATE/env"
}

up() {
  BIN="$(build)"
  command -v curl >/dev/null 2>&1 || die "curl is needed to probe /readyz"
  if [ -f "$MARKER" ] && load_env && live_pid etcd >/dev/null && live_pid kube-apiserver >/dev/null && readyz; then
    log "already running (state $STATE)"
    echo "KUBECONFIG=$STATE/kubeconfig"
    return 0
  fi
  down_quiet
  local started=$SECONDS attempt
  for attempt in 1 2 3; do
    mkdir -p "$STATE"
    touch "$MARKER"
    ETCD_PORT="$(free_port)" ETCD_PEER_PORT="$(free_port)" API_PORT="$(free_port)"
    SA_ISSUER="${ZT_K8S_SA_ISSUER:-https://kubernetes.default.svc.cluster.local}"
    cat >"$STATE/env" <<EOF
KUBECONFIG=$STATE/kubeconfig
K8S_API_URL=https://127.0.0.1:$API_PORT
K8S_CA_FILE=$STATE/pki/ca.crt
K8S_ETCD_URL=http://127.0.0.1:$ETCD_PORT
K8S_SA_ISSUER=$SA_ISSUER
K8S_STATE_DIR=$STATE
K8S_VERSION=v$K8S_VERSION
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
EOF
    certs
    write_kubeconfig
    start_etcd
    start_apiserver
    if wait_ready; then
      log "etcd and kube-apiserver v$K8S_VERSION ready on 127.0.0.1:$API_PORT in $((SECONDS - started)) s (state $STATE)"
      watchdog
      echo "KUBECONFIG=$STATE/kubeconfig"
      return 0
    fi
    log "start attempt $attempt failed (a port taken meanwhile?); retrying"
    down_quiet
  done
  die "kube-apiserver did not become ready"
}

# With ZT_K8S_PARENT_PID set (the test helpers set it), the instance is stopped once that process
# is gone, so a crashed test run leaves no apiserver behind.
watchdog() {
  local parent="${ZT_K8S_PARENT_PID:-}"
  [ -n "$parent" ] || return 0
  ZT_K8S_STATE_DIR="$STATE" ZT_K8S_CACHE="$CACHE" ZT_K8S_VERSION="$K8S_VERSION" \
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -f "$3" ]; do sleep 2; done; [ -f "$3" ] && exec "$2" down' \
    watchdog "$parent" "$SELF" "$MARKER" </dev/null >/dev/null 2>&1 &
}

down_quiet() {
  stop_one kube-apiserver
  stop_one etcd
  # Remove only a directory this script created (the marker), never an arbitrary ZT_K8S_STATE_DIR.
  if [ -f "$MARKER" ]; then rm -rf "$STATE"; elif [ -d "$STATE" ] && [ -z "$(ls -A "$STATE")" ]; then rmdir "$STATE"; fi
}

down() {
  if [ -e "$STATE" ] && [ ! -f "$MARKER" ]; then die "$STATE was not created by this script; not removing it"; fi
  down_quiet
  log "stopped; removed $STATE"
}

# Stop / start kube-apiserver alone on the same address (etcd and its data stay): tests use it to
# drop every watch at once, as an apiserver roll-out does, and to change etcd meanwhile.
apiserver_ctl() {
  [ -f "$MARKER" ] && load_env || die "no instance in $STATE"
  BIN="$(build)"
  case "$1" in
    stop) stop_one kube-apiserver; log "kube-apiserver stopped" ;;
    start)
      if ! live_pid kube-apiserver >/dev/null; then start_apiserver; fi
      wait_ready || die "kube-apiserver did not become ready after the restart"
      log "kube-apiserver started" ;;
  esac
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  env) [ -f "$MARKER" ] && live_pid kube-apiserver >/dev/null || die "not running (state $STATE)"; print_env ;;
  stop-apiserver) apiserver_ctl stop ;;
  start-apiserver) apiserver_ctl start ;;
  *) echo "usage: $0 build|up|down|env|stop-apiserver|start-apiserver" >&2; exit 2 ;;
esac
