#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Throughput of two servers under load, untraced and with each tracer attached
# to the server's pid: iotrace --backend ebpf, iotrace --backend ptrace,
# strace -f -c -p. Conditions are interleaved for ROUNDS rounds (A B C D A B C
# D ...) so that machine drift hits all of them. The servers: the lab's
# epoll-et reference server under the lab load generator, and nginx (1 worker,
# sendfile on, a 4 KiB file) under wrk; both on 127.0.0.1, every load bounded
# by LOAD_SEC. Prints a markdown table: median req/s, ratio to untraced,
# min-max, and iotrace's CPU seconds and peak RSS. Usage: bench/backends.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
LOAD_SEC=${LOAD_SEC:-3}
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx's worker (nobody) reads www/ here
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for c in strace wrk nginx; do
  command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || { echo "bench: $c missing (npm run setup installs it)" >&2; exit 1; }
done

# ---- the servers
native/lab/bin/epoll-et --port 0 >"$tmp/lab.out" 2>&1 &
lab_pid=$!
pids+=("$lab_pid")
for _ in $(seq 100); do grep -q 'port=' "$tmp/lab.out" && break; sleep 0.05; done
lab_port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$tmp/lab.out" | head -1)

nginx_port=$((20000 + RANDOM % 20000))
mkdir -p "$tmp/www"
head -c 4096 /dev/zero | tr '\0' a >"$tmp/www/4k.bin"
chmod -R a+rX "$tmp/www"
cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $tmp/cb; proxy_temp_path $tmp/px; fastcgi_temp_path $tmp/fc;
  uwsgi_temp_path $tmp/uw; scgi_temp_path $tmp/sc;
  server { listen 127.0.0.1:$nginx_port; root $tmp/www; }
}
EOF
/usr/sbin/nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nginx_port/4k.bin" >/dev/null 2>&1 && break; sleep 0.05; done

# ---- one measurement: load <workload> -> req/s on stdout
load() {
  case $1 in
    lab) native/lab/bin/load --target "127.0.0.1:$lab_port" --connections 16 --duration "$LOAD_SEC" 2>/dev/null |
           node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s.trim().split("\n").pop()).requestsPerSec))' ;;
    nginx) wrk -t1 -c16 -d"${LOAD_SEC}s" "http://127.0.0.1:$nginx_port/4k.bin" | awk '/Requests\/sec/ { print $2 }' ;;
  esac
}

# tracer <cond> <pid>: starts it in the background and waits until it is attached
start_tracer() {
  local cond=$1 pid=$2 children=()
  [ "$3" = nginx ] && children=(--children)
  case $cond in
    ebpf|ptrace)
      /usr/bin/time -f '%U %S %M' -o "$tmp/time" node bin/iotrace attach "$pid" "${children[@]}" --backend "$cond" --no-ui >/dev/null 2>"$tmp/tracer.err" &
      tracer=$!
      for _ in $(seq 200); do grep -q 'attached to' "$tmp/tracer.err" && return; sleep 0.05; done ;;
    strace)
      # -f follows new children only: nginx's worker is an old one, named too.
      local targets=(-p "$pid")
      for c in $(pgrep -P "$pid" || true); do targets+=(-p "$c"); done
      strace -f -c -o /dev/null "${targets[@]}" 2>"$tmp/tracer.err" &
      tracer=$!
      sleep 1 ;; # strace -c prints nothing until it ends
  esac
}

stop_tracer() {
  local cond=$1
  # /usr/bin/time ignores SIGINT while its child runs: signal iotrace itself.
  if [ "$cond" = strace ]; then kill -INT "$tracer" 2>/dev/null || true; else pkill -INT -P "$tracer" || true; fi
  wait "$tracer" 2>/dev/null || true
  if [ "$cond" = ebpf ] || [ "$cond" = ptrace ]; then echo "$2-$cond $(cat "$tmp/time")" >>"$tmp/usage"; fi
}

for r in $(seq "$rounds"); do
  for w in lab nginx; do
    pid=$lab_pid
    [ "$w" = nginx ] && pid=$nginx_pid
    for cond in untraced ebpf ptrace strace; do
      [ "$cond" = untraced ] || start_tracer "$cond" "$pid" "$w"
      echo "$w-$cond $(load "$w")" >>"$tmp/rates"
      [ "$cond" = untraced ] || stop_tracer "$cond" "$w"
    done
  done
  echo "bench: round $r of $rounds done" >&2
done

node - "$tmp/rates" "$tmp/usage" "$rounds" "$LOAD_SEC" <<'JS'
const fs = require('node:fs');
const [ratesFile, usageFile, rounds, loadSec] = process.argv.slice(2);
const group = (file) => {
  const out = {};
  for (const l of fs.readFileSync(file, 'utf8').trim().split('\n')) {
    const [k, ...v] = l.split(' ');
    (out[k] ??= []).push(v.map(Number));
  }
  return out;
};
const rates = group(ratesFile);
const usage = group(usageFile);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const labels = { untraced: 'untraced', ebpf: 'iotrace --backend ebpf', ptrace: 'iotrace --backend ptrace', strace: 'strace -f -c -p' };
const titles = { lab: 'lab epoll-et server, lab load (16 connections)', nginx: 'nginx 1 worker, sendfile on, 4 KiB file, wrk -c16' };
for (const w of ['lab', 'nginx']) {
  const base = median(rates[`${w}-untraced`].map((v) => v[0]));
  console.log(`\n${titles[w]}: ${rounds} interleaved rounds of ${loadSec} s, req/s\n`);
  console.log('| condition | median req/s | ratio to untraced | min–max req/s | iotrace CPU s / peak RSS (median) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of ['untraced', 'ebpf', 'ptrace', 'strace']) {
    const v = rates[`${w}-${c}`].map((x) => x[0]);
    const u = usage[`${w}-${c}`];
    const res = u ? `${median(u.map((x) => x[0] + x[1])).toFixed(2)} s / ${Math.round(median(u.map((x) => x[2])) / 1024)} MiB` : '';
    console.log(`| ${labels[c]} | ${fmt(median(v))} | ${(median(v) / base).toFixed(3)} | ${fmt(Math.min(...v))}–${fmt(Math.max(...v))} | ${res} |`);
  }
}
JS
