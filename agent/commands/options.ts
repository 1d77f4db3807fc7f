// SPDX-License-Identifier: MIT
// Argument parsers shared by the commands: they reject bad values with
// commander's InvalidArgumentError, before anything is attached.
import { InvalidArgumentError, Option } from 'commander';

import { BACKEND_CHOICES } from '../backend';

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
