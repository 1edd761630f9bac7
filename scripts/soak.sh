#!/usr/bin/env bash
# `npm run soak [-- options]`: the issue 8 soak test (bench/soak.ts). Installs h2load (Debian
# package nghttp2-client) when it is missing, builds, then runs 10 minutes of mixed allow/deny
# load at 70 % of the measured capacity with a policy rewrite every 30 s, and exits non-zero if a
# criterion fails. `npm run soak -- --duration 60` is the CI-length run; `--write` keeps the
# report in bench/results/soak-latest.json. Options: node dist/bench/soak.js --help.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v h2load >/dev/null 2>&1; then
  echo "[soak] h2load not found: installing nghttp2-client" >&2
  if [ -x scripts/ci-deps.sh ]; then
    scripts/ci-deps.sh nghttp2-client
  elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null
  else
    echo "[soak] install h2load first (Debian/Ubuntu: sudo apt-get install nghttp2-client)" >&2
    exit 1
  fi
fi
node scripts/setup.mjs
exec node dist/bench/soak.js "$@"
