#!/usr/bin/env bash
# Make sure h2load (Debian package nghttp2-client) is on PATH, installing it when we can.
# Used by `npm run bench` and `npm run soak`; $1 tags the messages.
set -euo pipefail
tag="${1:-h2load}"
command -v h2load >/dev/null 2>&1 && exit 0
echo "[$tag] h2load not found: installing nghttp2-client" >&2
cd "$(dirname "$0")/.."
if [ -x scripts/ci-deps.sh ]; then
  scripts/ci-deps.sh nghttp2-client
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null
else
  echo "[$tag] install h2load first (Debian/Ubuntu: sudo apt-get install nghttp2-client)" >&2
  exit 1
fi
