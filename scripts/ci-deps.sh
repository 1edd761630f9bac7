#!/usr/bin/env bash
# System packages the test suites use, installed only when missing (CI runs as root).
# Nothing in the current suite needs one yet; nginx/prometheus/h2load arrive with their suites.
set -euo pipefail
need=()
for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "[deps] missing ${need[*]} and not root: install them first" >&2; exit 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
