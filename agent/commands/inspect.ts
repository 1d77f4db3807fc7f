// SPDX-License-Identifier: MIT
// `iotrace inspect <pid>`: the static picture of a process from /proc, with no
// ptrace and no eBPF: what its threads are blocked in, its descriptors, epoll
// registrations and io_uring rings.
import type { Command } from 'commander';

import { classify } from '../classify';
import { formatClassification } from '../classify/format';
import type { Classification } from '../classify/vocabulary';
import { readInspection } from '../inspect';
import { formatInspection } from '../inspect-format';
import type { Inspection } from '../inspection';
import { parsePid } from './options';

interface InspectCliOptions {
  children?: boolean;
  json?: boolean;
}

/** What `inspect` prints: `--json` is this object. */
export interface InspectResult {
  inspection: Inspection;
  /** A first classification from /proc alone: where threads sit, registrations, rings; no times, no bytes. */
  classification: Classification;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('the static picture of a process from /proc: blocked syscalls, descriptors, epoll, io_uring (no ptrace)')
    .argument('<pid>', 'process id (a thread id means its process)', parsePid)
    .option('--children', 'also its descendant processes (e.g. nginx workers)')
    .option('--json', 'print { "inspection": …, "classification": … } as one JSON document on stdout')
    .addHelpText(
      'after',
      `
Reads only /proc: the target is not stopped, traced or slowed, and registrations
made long before (epoll_ctl, io_uring_setup, O_ASYNC) are visible. Lists up to
4096 descriptors per process and 4096 registrations per epoll instance, and
always gives the true counts.

Examples:
  iotrace inspect 4242                      threads, descriptors, epoll and io_uring of pid 4242
  iotrace inspect --children $(cat /run/nginx.pid)
                                            the nginx master and its workers
  iotrace inspect 4242 --json | jq '.inspection.processes[0].epoll'`,
    )
    .action((pid: number, opts: InspectCliOptions) => {
      const inspection = readInspection(pid, { children: opts.children === true });
      const result: InspectResult = { inspection, classification: classify({ window: null, inspection }) };
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(formatInspection(result.inspection) + '\n' + formatClassification(result.classification).join('\n') + '\n');
    });
}
