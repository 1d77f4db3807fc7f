#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `npm run demo`: install and build what is missing, start the built-in echo
# server (an epoll server from the lab), put bounded load on it from
# 127.0.0.1, and attach iotrace to it for a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seconds=${DEMO_SECONDS:-5}
out=$(mktemp)
test/workloads/bin/echo-server --port 0 >"$out" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q port= "$out" && break; sleep 0.1; done
port=$(sed -n 's/^port=//p' "$out")
node scripts/echo-load.js "$port" "$((seconds + 1))" 4 &
load=$!
sleep 0.3
echo "demo: attaching to the echo server (pid $server, 127.0.0.1:$port) for $seconds s under load" >&2
node bin/iotrace attach "$server" --duration "$seconds" "$@"
wait "$load"
