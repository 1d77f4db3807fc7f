// SPDX-License-Identifier: MIT
// Argument parsers shared by the commands: they reject bad values with
// commander's InvalidArgumentError, before anything is attached.
import { InvalidArgumentError, Option } from 'commander';

import { BACKEND_CHOICES } from '../backend';
import { parseListenAddress } from '../exporters/listen-address';

/** --backend, the same on attach, run and lab. */
export function backendOption(): Option {
  return new Option('-b, --backend <name>', 'eBPF (the target never stops) or ptrace; auto: eBPF where it loads')
    .choices([...BACKEND_CHOICES])
    .default('auto');
}

export function parsePid(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a pid is a positive integer.');
  const pid = Number(value);
  if (pid <= 0 || pid > 4194304) throw new InvalidArgumentError('a pid is between 1 and 4194304 (pid_max).');
  return pid;
}

export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('expected a number of seconds greater than 0, e.g. 10 or 0.5.');
  }
  return n;
}

export function parseInterval(value: string): number {
  const n = parseSeconds(value);
  if (n < 0.05) throw new InvalidArgumentError('the interval is at least 0.05 s.');
  return n;
}

/** --prometheus, the same on attach, run, lab and serve. */
export function prometheusOption(): Option {
  return new Option('--prometheus <[host:]port>', 'serve /metrics for Prometheus on this address (host defaults to 127.0.0.1; port 0: any free port)').argParser(
    parseListenAddress,
  );
}
