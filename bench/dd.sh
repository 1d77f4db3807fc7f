#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Overhead on a syscall-tight loop, `dd if=/dev/zero of=/dev/null bs=512`,
# untraced and under each tracer, interleaved for ROUNDS rounds so machine
# drift hits every condition alike. Throughput is dd's own figure (records
# per second, from the time dd reports), so tracer start-up is not counted.
# Prints a markdown table: median rate, ratio to untraced, min-max, and
# iotrace's own CPU seconds and peak RSS. Usage: bench/dd.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
fast=2000000   # records untraced (about a second)
slow=100000    # records under a tracer
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v strace >/dev/null || { echo "bench: strace missing (apt-get install strace)" >&2; exit 1; }

dd_rate() { # stderr of dd -> records per second
  awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") { print '"$1"' / $(i-1); exit } }' "$2"
}

run_case() { # name count command...
  local name=$1 count=$2; shift 2
  "$@" 2>"$tmp/err" >/dev/null || { echo "bench: $name failed:" >&2; cat "$tmp/err" >&2; exit 1; }
  echo "$name $(dd_rate "$count" "$tmp/err")" >>"$tmp/rates"
}

dd_cmd() { echo dd if=/dev/zero of=/dev/null bs=512 count="$1"; }

attach_case() { # iotrace attach to a shell that then execs dd
  local count=$1 fifo=$tmp/go
  rm -f "$fifo"; mkfifo "$fifo"
  sh -c "read x < $fifo; exec $(dd_cmd "$count")" 2>"$tmp/err" &
  local target=$!
  /usr/bin/time -f '%U %S %M' -o "$tmp/time" node bin/iotrace attach "$target" --no-ui >/dev/null 2>"$tmp/iot" &
  local tracer=$!
  for _ in $(seq 100); do grep -q attached "$tmp/iot" && break; sleep 0.05; done
  echo go >"$fifo"
  wait "$target"; wait "$tracer"
  echo "iotrace-attach $(dd_rate "$count" "$tmp/err")" >>"$tmp/rates"
  echo "iotrace-attach $(cat "$tmp/time")" >>"$tmp/usage"
}

timed_iotrace() { # name args...: iotrace run with its CPU and RSS recorded
  local name=$1; shift
  /usr/bin/time -f '%U %S %M' -o "$tmp/time" node bin/iotrace run --no-ui "$@" -- $(dd_cmd $slow) >/dev/null 2>"$tmp/err"
  echo "$name $(dd_rate $slow "$tmp/err")" >>"$tmp/rates"
  echo "$name $(cat "$tmp/time")" >>"$tmp/usage"
}

for r in $(seq "$rounds"); do
  run_case untraced $fast $(dd_cmd $fast)
  timed_iotrace iotrace-run
  timed_iotrace iotrace-run-all --all-syscalls
  attach_case $slow
  run_case strace-c $slow strace -f -c -o /dev/null $(dd_cmd $slow)
  run_case strace-c-seccomp $slow strace -f -c --seccomp-bpf -o /dev/null $(dd_cmd $slow)
  echo "bench: round $r of $rounds done" >&2
done

node - "$tmp/rates" "$tmp/usage" "$rounds" <<'JS'
const fs = require('node:fs');
const [ratesFile, usageFile, rounds] = process.argv.slice(2);
const rates = {};
for (const l of fs.readFileSync(ratesFile, 'utf8').trim().split('\n')) {
  const [k, v] = l.split(' ');
  (rates[k] ??= []).push(Number(v));
}
const usage = {};
for (const l of fs.readFileSync(usageFile, 'utf8').trim().split('\n')) {
  const [k, u, s, rss] = l.split(' ');
  (usage[k] ??= []).push({ cpu: Number(u) + Number(s), rssKiB: Number(rss) });
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = median(rates.untraced);
const labels = {
  untraced: 'untraced',
  'iotrace-run': 'iotrace run (seccomp)',
  'iotrace-run-all': 'iotrace run --all-syscalls',
  'iotrace-attach': 'iotrace attach',
  'strace-c': 'strace -f -c',
  'strace-c-seccomp': 'strace -f -c --seccomp-bpf',
};
console.log(`dd if=/dev/zero of=/dev/null bs=512, ${rounds} interleaved rounds, records/s from dd's own timing\n`);
console.log('| condition | median records/s | ratio to untraced | min–max records/s | iotrace CPU s / peak RSS |');
console.log('|---|---:|---:|---:|---:|');
for (const [k, label] of Object.entries(labels)) {
  const a = rates[k];
  const u = usage[k];
  const cost = u ? `${median(u.map((x) => x.cpu)).toFixed(2)} s / ${Math.round(median(u.map((x) => x.rssKiB)) / 1024)} MiB` : '';
  console.log(`| ${label} | ${Math.round(median(a)).toLocaleString('en-US')} | ${(median(a) / base).toFixed(4)} | ${Math.round(Math.min(...a)).toLocaleString('en-US')}–${Math.round(Math.max(...a)).toLocaleString('en-US')} | ${cost} |`);
}
JS
