#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `npm run test:sanitize`: the whole test suite with the native addon built under
# AddressSanitizer and UndefinedBehaviorSanitizer. Fails if any test fails or if any
# sanitizer report was written, whether or not a test noticed it.
#
# The sanitized addon is built in build-sanitize/ from a binding.gyp derived from the
# real one, so build/Release stays the normal build; iotrace loads it through
# IOTRACE_ADDON (agent/native.ts).
#
# Node is not instrumented, so libasan must be the first library of every node process
# that loads the addon: LD_PRELOAD. Only those get it: scripts/sanitize-env.js, loaded
# into every node process through NODE_OPTIONS, hands LD_PRELOAD on to children that
# run node (or iotrace through sh, setpriv, tmux) and to no other. libasan's start-up
# makes syscalls of its own (openat of /proc/self/maps, mmap of its shadow); a traced
# command, strace or a server that loaded it would count them, and the tests that hold
# counts to strace -f -c or to a command's known behaviour would compare a different
# program. So commands start exactly as under `npm test`; the test workloads are static
# (test/workloads/Makefile) and would ignore LD_PRELOAD anyway.
#
# Sanitizer reports also go to files in a fresh directory (log_path), and any file
# there fails the run: a report in an iotrace whose failure a test expects (a run that
# must exit non-zero) is not swallowed by that test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out=build-sanitize
mkdir -p "$out"
# The same target, its paths seen from $out, compiled with the sanitizers and -O1
# (-O2 can fold away the accesses a report would name). libubsan is linked in and bound
# to itself (-static-libubsan -Bsymbolic): as a shared library beside the preloaded
# libasan, its __sanitizer_set_report_path resolves to libasan's copy and UBSan reports
# ignore log_path and go to stderr only, where a test can swallow them.
node -e '
  const fs = require("fs");
  const gyp = JSON.parse(fs.readFileSync("binding.gyp", "utf8"));
  for (const t of gyp.targets) {
    t.sources = t.sources.map((s) => "../" + s);
    t.include_dirs = t.include_dirs.map((d) => (d === "." ? ".." : d));
    const san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"];
    t.cflags_cc = [...t.cflags_cc.filter((f) => f !== "-O2"), "-O1", "-g", ...san];
    t.ldflags = [...(t.ldflags || []), "-fsanitize=address,undefined", "-static-libubsan", "-Wl,-Bsymbolic"];
  }
  fs.writeFileSync(process.argv[1], JSON.stringify(gyp, null, 2) + "\n");
' "$out/binding.gyp"
CC=gcc CXX=g++ npx node-gyp rebuild --directory "$out" --loglevel=error >/dev/null
addon="$PWD/$out/build/Release/iotrace.node"
ldd "$addon" | grep -q libasan || { echo "test-sanitize: $addon is not linked with libasan" >&2; exit 1; }

libasan=$(gcc -print-file-name=libasan.so)
[ -e "$libasan" ] || { echo "test-sanitize: libasan not found (gcc -print-file-name=libasan.so)" >&2; exit 1; }

logs=$(mktemp -d /tmp/iotrace-sanitize.XXXXXX)
# Writable by all (sticky): some tests run iotrace as nobody, and a report it cannot write is lost.
chmod 1777 "$logs"
# detect_leaks=0: node frees nothing at exit by design, LeakSanitizer would report it all.
# quarantine_size_mb=16: freed blocks are held back (to catch a use after free) up to
# this much, not the default 256 MiB, which test/huge-recording.test.ts would count as
# the readers' memory; 16 MiB still holds every block the addon freed in the last snapshots.
export IOTRACE_ADDON="$addon"
export ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=16:abort_on_error=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"

# The same files as scripts/test.sh, or the test files given (other arguments go to
# node --test): `npm run test:sanitize -- dist/test/exactness.test.js`.
opts=()
files=()
for a in "$@"; do
  if [[ "$a" == *.test.js ]]; then files+=("$a"); else opts+=("$a"); fi
done
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find dist -name '*.test.js' -not -path '*/node_modules/*' | sort)
status=0
IOTRACE_SANITIZE_PRELOAD="$libasan" NODE_OPTIONS="--require \"$PWD/scripts/sanitize-env.js\" ${NODE_OPTIONS:-}" \
  LD_PRELOAD="$libasan" node --test --test-timeout=300000 "${opts[@]}" "${files[@]}" || status=$?

reports=("$logs"/*)
if [ -e "${reports[0]}" ]; then
  for r in "${reports[@]}"; do
    echo "test-sanitize: sanitizer report $r:" >&2
    cat "$r" >&2
  done
  echo "test-sanitize: ${#reports[@]} sanitizer report(s) in $logs" >&2
  exit 1
fi
rm -rf "$logs"
if [ "$status" -ne 0 ]; then
  echo "test-sanitize: the test suite failed (exit $status) with the sanitized addon" >&2
  exit "$status"
fi
echo "test-sanitize: no sanitizer report, every test passed with $addon" >&2
