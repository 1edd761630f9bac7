#!/usr/bin/env bash
# `npm run bench [-- options]`: the issue 7 load harness (bench/run.ts). Installs h2load (Debian
# package nghttp2-client) when it is missing, builds, then runs every scenario, or the ones
# given with --scenario (e.g. `npm run bench -- --scenario 4`). `npm run bench:quick` is a
# shorter smoke run. Options: node dist/bench/run.js --help.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v h2load >/dev/null 2>&1; then
  echo "[bench] h2load not found: installing nghttp2-client" >&2
  if [ -x scripts/ci-deps.sh ]; then
    scripts/ci-deps.sh nghttp2-client
  elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null
  else
    echo "[bench] install h2load first (Debian/Ubuntu: sudo apt-get install nghttp2-client)" >&2
    exit 1
  fi
fi
node scripts/setup.mjs
exec node dist/bench/run.js "$@"
