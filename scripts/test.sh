#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `npm test`: set up what is missing, build, run every test with node's runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mapfile -t files < <(find dist -name '*.test.js' -not -path '*/node_modules/*' | sort)
exec node --test --test-timeout=300000 "$@" "${files[@]}"
