// SPDX-License-Identifier: MIT
// `iotrace run -- <cmd>`: start a command under trace; exit with its status.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Command } from 'commander';

import { EXIT_FAILURE, IotraceError } from '../errors';
import { backendOption, checkEventsOptions, eventsMaxOption, eventsOption, parseInterval, parseSeconds, prometheusOption } from './options';
import { traceToEnd, type TraceCliOptions } from './trace';

interface RunCliOptions extends TraceCliOptions {
  allSyscalls?: boolean;
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** execvp's search, done here so that a missing command is an error before anything starts. */
export function resolveCommand(cmd: string): string {
  if (cmd.includes('/')) {
    const abs = path.resolve(cmd);
    if (!fs.existsSync(abs)) throw new IotraceError('ENOENT', `command not found: ${cmd}`);
    if (!isExecutableFile(abs)) throw new IotraceError('EACCES', `not an executable file: ${cmd}`);
    return abs;
  }
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const file = path.resolve(dir || '.', cmd);
    if (isExecutableFile(file)) return file;
  }
  throw new IotraceError('ENOENT', `command not found: ${cmd}`);
}

/** Exit status of a shell for a child's end: the code, or 128 + signal number. */
function shellStatus(exit: { code: number | null; signal: string | null } | null): number {
  if (!exit) return EXIT_FAILURE;
  if (exit.code !== null) return exit.code;
  const n = exit.signal ? (os.constants.signals as Record<string, number>)[exit.signal] : undefined;
  return typeof n === 'number' ? 128 + n : EXIT_FAILURE;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('start a command under trace and exit with its exit status')
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .addOption(backendOption())
    .option('-d, --duration <seconds>', 'detach after this many seconds (the command runs on)', parseSeconds)
    .option('-i, --interval <seconds>', 'snapshot interval for the live view and the recording', parseInterval, 1)
    .option('-r, --record <file>', 'write the session to a JSON Lines recording as it goes')
    .addOption(eventsOption())
    .addOption(eventsMaxOption())
    .option('--json', "print the final summary as JSON on stdout (the command's stdout goes to stderr)")
    .option('--no-ui', 'no live view, only the summary')
    .addOption(prometheusOption())
    .option('--all-syscalls', 'ptrace: stop on every syscall instead of only the catalogued I/O ones (slower)')
    .addHelpText(
      'after',
      `
Under eBPF nothing stops the command: every syscall from its exec on is
counted, and it may run on after iotrace. Under ptrace a seccomp filter
installed before exec makes only the catalogued I/O syscalls stop it (what
strace --seccomp-bpf does); --all-syscalls stops on all. The first Ctrl-C or
SIGTERM goes to the command; a second one detaches.

Examples:
  iotrace run -- dd if=/dev/zero of=/dev/null bs=512 count=100000
  iotrace run --json -- ./server --port 8080 > summary.json
  iotrace run -r session.jsonl --all-syscalls -- python3 app.py
  iotrace run --prometheus 0.0.0.0:9464 -- ./server
                                            /metrics on every interface (the user's choice)
  iotrace run -r t.jsonl --events -- curl -s example.com   a timeline: iotrace export t.jsonl --format perfetto`,
    )
    .action(async (command: string[], opts: RunCliOptions) => {
      checkEventsOptions(opts);
      const file = resolveCommand(command[0]);
      const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
      const result = await traceToEnd(
        { mode: 'run', path: file, argv: command, env, seccomp: !opts.allSyscalls, stdoutToStderr: opts.json === true },
        opts,
      );
      process.exitCode = result.summary.endReason === 'target-exit' ? shellStatus(result.exit) : 0;
    });
}
