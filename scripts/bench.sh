#!/usr/bin/env bash
# `npm run bench [-- options]`: the load harness (bench/run.ts). Installs h2load (Debian
# package nghttp2-client) when it is missing, builds, then runs every scenario, or the ones
# given with --scenario (e.g. `npm run bench -- --scenario 4`). `npm run bench:quick` is a
# shorter smoke run. Options: node dist/bench/run.js --help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/need-h2load.sh bench
node scripts/setup.mjs
exec node dist/bench/run.js "$@"
