#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what iotrace needs on a fresh Debian machine and builds it:
# Debian packages (as root), npm packages, the native addon, the TypeScript,
# the test workloads. Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# strace: the peer the tests compare counts with. libc6-dev: static libc for
# the test workloads. g++/make/python3: node-gyp. liburing-dev: the lab's
# io_uring server.
need=()
for pkg in strace g++ make python3 libc6-dev liburing-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

npm run --silent gen
if [ ! -f build/Release/iotrace.node ] || [ -n "$(find native probes binding.gyp -newer build/Release/iotrace.node -print -quit)" ]; then
  npx node-gyp rebuild --loglevel=error >/dev/null
fi
npm run --silent build:ts
npm run --silent build:workloads
npm run --silent build:lab
