// SPDX-License-Identifier: MIT
// The iotrace command line: parse, validate, hand over to the agent; errors a
// user can act on are one line on stderr and a non-zero exit.
import { Command, CommanderError } from 'commander';

import { registerAttach } from './commands/attach';
import { registerClassify } from './commands/classify';
import { registerExport } from './commands/export';
import { registerInspect } from './commands/inspect';
import { registerLab } from './commands/lab';
import { registerReplay } from './commands/replay';
import { registerReport } from './commands/report';
import { registerRun } from './commands/run';
import { registerServe } from './commands/serve';
import { EXIT_BUG, EXIT_USAGE, IotraceError } from './errors';
import { stopAllBackends } from './native-backend';
import { readerGone, releaseHungUpTerminalAtExit } from './terminal-hangup';
import { VERSION } from './version';

function bug(err: unknown): never {
  // Detach before anything else: the target must not stay traced by a dying iotrace.
  stopAllBackends();
  process.stderr.write(`iotrace: internal error (a bug; please report it):\n${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(EXIT_BUG);
}

export async function main(argv: string[]): Promise<void> {
  process.on('uncaughtException', bug);
  process.on('unhandledRejection', bug);
  // A closed pipe on stdout (iotrace … | head), or a closed terminal, is not worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (readerGone(err)) return;
      bug(err);
    });
  }
  releaseHungUpTerminalAtExit();

  const program = new Command();
  program
    .name('iotrace')
    .description(
      'Attach to a Linux server, trace its syscalls and name its I/O model (wait mechanism, epoll trigger, data path, concurrency) ' +
        'with the figures behind it, what each request costs, and advice. The lab shows each I/O model from outside.',
    )
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      // One line, like every other error: "iotrace: <what> (see --help)".
      outputError: (text, write) => write(`iotrace: ${text.replace(/^error: /, '').trim()} (see iotrace --help)\n`),
    });
  registerAttach(program);
  registerRun(program);
  registerReport(program);
  registerClassify(program);
  registerInspect(program);
  registerLab(program);
  registerReplay(program);
  registerServe(program);
  registerExport(program);
  program.addHelpText(
    'after',
    `
Examples:
  iotrace attach 4242 --duration 10       trace a running server for 10 s
  iotrace run -- ./server --port 8080     start a server under trace
  iotrace report session.jsonl            summary of a recording
  iotrace replay session.jsonl --speed 2  the dashboard, driven by a recording
  iotrace classify session.jsonl --from 10 --to 20
                                          the I/O model of a window of a recording
  iotrace export session.jsonl -o t.json  the timeline of a recording made with --events, for ui.perfetto.dev
  iotrace inspect 4242                    blocked syscalls, fds, epoll and io_uring from /proc, no ptrace
  iotrace lab                             a tour of the reference servers, one per I/O model
  iotrace serve --prometheus 9464 --pid 4242 --pid 4343
                                          one agent, several processes, metrics for Prometheus`,
  );

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; commander has already printed its message.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    if (err instanceof IotraceError) {
      process.stderr.write(`iotrace: ${err.message}\n`);
      process.exitCode = err.exitStatus;
      return;
    }
    bug(err);
  }
}

if (require.main === module) {
  void main(process.argv);
}
