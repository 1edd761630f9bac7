#!/usr/bin/env bash
# `npm run soak [-- options]`: the soak test (bench/soak.ts). Installs h2load (Debian
# package nghttp2-client) when it is missing, builds, then runs 10 minutes of mixed allow/deny
# load at 70 % of the measured capacity with a policy rewrite every 30 s, and exits non-zero if a
# criterion fails. `npm run soak -- --duration 60` is the CI-length run; `--write` keeps the
# report in bench/results/soak-latest.json. Options: node dist/bench/soak.js --help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/need-h2load.sh soak
node scripts/setup.mjs
exec node dist/bench/soak.js "$@"
