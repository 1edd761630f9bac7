#!/usr/bin/env bash
# System packages the test suites use, installed only when missing (CI runs as root).
# Usage: scripts/ci-deps.sh [debian-package]...   e.g. scripts/ci-deps.sh nginx prometheus
# The e2e suite (test/e2e/*.test.ts) needs nginx and prometheus (which ships promtool). Both are
# only used as binaries run by the tests as the current user on 127.0.0.1: their system services
# are never started (policy-rc.d denies service starts during the install).
# nghttp2-client: h2load and nghttp (the soak, the bench, test/e2e/grpc-interop.test.ts).
# python3-grpcio + python3-grpc-tools: the Python gRPC client of test/e2e/grpc-interop.test.ts
# (gRPC's C core, as in Envoy's google_grpc client; grpc_tools compiles proto/ at test time). They
# install into the system interpreter (/usr/bin/python3), which the test uses even when another
# python3 comes first on PATH.
set -euo pipefail
need=()
for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "[deps] missing ${need[*]} and not root: install them first (sudo $0 ${need[*]})" >&2; exit 1; fi
  if ! command -v apt-get >/dev/null 2>&1; then echo "[deps] missing ${need[*]} and no apt-get on this machine" >&2; exit 1; fi
  # Keep package post-install scripts from starting nginx on :80 or a prometheus daemon.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  trap 'if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  echo "[deps] installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
