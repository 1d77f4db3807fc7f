#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `npm run demo [-- MODEL [options]]`: install and build what is missing, then
# run a lab reference server (epoll-lt unless a model is named) under bounded
# load on 127.0.0.1, traced by iotrace for 5 seconds. `npm run demo -- --list`
# lists the models; `npm run demo -- tour` visits them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
case "${1:-}" in
  "") exec node bin/iotrace lab epoll-lt --duration 5 ;;
  tour) shift; exec node bin/iotrace lab "$@" ;;
  *) exec node bin/iotrace lab "$@" ;;
esac
