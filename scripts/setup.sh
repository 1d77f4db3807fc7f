#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what iotrace needs on a fresh Debian machine and builds it:
# Debian packages (as root), npm packages, the native addon, the TypeScript,
# the test workloads. Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# strace: the peer the tests compare counts with. libc6-dev: static libc for
# the test workloads. g++/make/python3: node-gyp. liburing-dev: the lab's
# io_uring server. nginx (/usr/sbin/nginx; nginx-light is only nginx plus the
# echo module), redis-server, redis-tools (redis-benchmark), wrk: the real
# servers and load generators of test/real-servers.test.ts. clang, bpftool,
# libbpf-dev: the eBPF probes (probes/Makefile) and the addon's libbpf. tmux:
# the real terminal test/dashboard.test.ts drives the dashboard in. prometheus
# (/usr/bin/prometheus): the real server test/prometheus.test.ts scrapes iotrace with.
need=()
for pkg in strace g++ make python3 libc6-dev liburing-dev clang bpftool libbpf-dev nginx redis-server redis-tools wrk tmux prometheus; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  # nginx, redis-server and prometheus start their system services at install
  # (nginx on port 80, prometheus on 9090): the tests run their own instances,
  # so none may start. A
  # policy-rc.d that exits 101 makes invoke-rc.d and deb-systemd-invoke skip
  # every start; an existing one (Docker images have one) is left as it is.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# iotrace setup: no service starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2> >(grep -v 'delaying package configuration' >&2)
  if [ "$own_policy" -eq 1 ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  # Nor at boot, and stop them if a permissive policy-rc.d let them start.
  for svc in nginx redis-server prometheus prometheus-node-exporter; do
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

npm run --silent gen
npm run --silent build:probes
if [ ! -f build/Release/iotrace.node ] || [ -n "$(find native probes binding.gyp -newer build/Release/iotrace.node -print -quit)" ]; then
  npx node-gyp rebuild --loglevel=error >/dev/null
fi
npm run --silent build:ts
npm run --silent build:workloads
npm run --silent build:lab
