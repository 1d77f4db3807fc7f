// SPDX-License-Identifier: MIT
// Argument parsers shared by the commands: they reject bad values with
// commander's InvalidArgumentError, before anything is attached.
import { InvalidArgumentError, Option } from 'commander';

import { BACKEND_CHOICES } from '../backend';
import { EXIT_USAGE, IotraceError } from '../errors';
import { EVENTS_MAX_DEFAULT } from '../events';
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

export function parseEventsMax(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a number of events, at least 1.');
  return n;
}

/** --events, the same on attach, run and lab. */
export function eventsOption(): Option {
  return new Option('--events', 'also record every syscall as an event: a timeline for `iotrace export --format perfetto` (needs --record)');
}

export function eventsMaxOption(): Option {
  return new Option('--events-max <n>', `events kept in the recording; past it they are dropped and counted (default ${EVENTS_MAX_DEFAULT})`).argParser(parseEventsMax);
}

/** Checked before anything starts: the timeline lives in the recording. */
export function checkEventsOptions(opts: { events?: boolean; eventsMax?: number; record?: string }): void {
  if (opts.eventsMax !== undefined && !opts.events) throw new IotraceError('EUSAGE', '--events-max goes with --events', EXIT_USAGE);
  if (opts.events && !opts.record) {
    throw new IotraceError('EUSAGE', '--events needs --record <file>: the timeline is kept in the recording', EXIT_USAGE);
  }
}
