// SPDX-License-Identifier: MIT
// `iotrace attach <pid>`: trace a running process until a signal, --duration or its exit.
import type { Command } from 'commander';

import { checkAttachable } from '../target';
import { backendOption, checkEventsOptions, eventsMaxOption, eventsOption, parseInterval, parsePid, parseSeconds, prometheusOption } from './options';
import { traceToEnd, type TraceCliOptions } from './trace';

export function registerAttach(program: Command): void {
  program
    .command('attach')
    .description('trace a running process, its threads and the children it creates')
    .argument('<pid>', 'process id (a thread id means its process)', parsePid)
    .addOption(backendOption())
    .option('-d, --duration <seconds>', 'stop after this many seconds', parseSeconds)
    .option('-i, --interval <seconds>', 'snapshot interval for the live view and the recording', parseInterval, 1)
    .option('-r, --record <file>', 'write the session to a JSON Lines recording as it goes')
    .addOption(eventsOption())
    .addOption(eventsMaxOption())
    .option('--children', 'also trace the child processes it already has (e.g. nginx workers)')
    .option('--json', 'print the final summary as one JSON document on stdout')
    .option('--no-ui', 'no live view, only the summary')
    .addOption(prometheusOption())
    .addHelpText(
      'after',
      `
Ends on Ctrl-C, SIGTERM, SIGHUP, --duration or the target's exit, and always
detaches: the target keeps running, untouched.

Examples:
  iotrace attach 4242                       trace until Ctrl-C, then print the summary
  iotrace attach 4242 -d 10 --json          10 seconds, summary as JSON for scripts
  iotrace attach --children $(cat /run/nginx.pid)
                                            the nginx master and its workers
  iotrace attach $(pidof nginx | cut -d' ' -f1) -r nginx.jsonl -d 30
                                            record 30 s for 'iotrace report'
  iotrace attach 4242 --prometheus 9464      /metrics on 127.0.0.1:9464 while it traces
  iotrace attach 4242 -d 5 -r t.jsonl --events && iotrace export t.jsonl --format perfetto -o t.json
                                            a timeline of every syscall, for ui.perfetto.dev`,
    )
    .action(async (pid: number, opts: TraceCliOptions) => {
      checkEventsOptions(opts);
      const tgid = checkAttachable(pid);
      await traceToEnd({ mode: 'attach', pid: tgid, seccomp: false }, opts);
    });
}
