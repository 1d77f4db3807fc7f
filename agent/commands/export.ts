// SPDX-License-Identifier: MIT
// `iotrace export <recording> --format perfetto`: a recording's timeline for
// other tools, on stdout or in a file.
import * as fs from 'node:fs';

import { Option, type Command } from 'commander';

import { describeSystemError, IotraceError } from '../errors';
import { exportPerfetto } from '../perfetto';

interface ExportCliOptions {
  format: 'perfetto';
  output?: string;
}

/** Into a file beside the target, renamed over it once complete: a failed export leaves nothing half-written. */
async function toFile(file: string, run: (write: (text: string) => void) => Promise<void>): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w', 0o600);
  } catch (err) {
    throw new IotraceError('EEXPORT', `cannot write ${file}: ${describeSystemError(err)}`);
  }
  try {
    await run((text) => {
      try {
        fs.writeSync(fd, text);
      } catch (err) {
        throw new IotraceError('EEXPORT', `cannot write ${file}: ${describeSystemError(err)}`);
      }
    });
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.closeSync(fd);
    } catch {
      // closed already
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('export the timeline of a recording made with --events')
    .argument('<recording>', 'a recording written by --record FILE --events')
    .addOption(new Option('-f, --format <format>', 'perfetto: Chrome trace-event JSON for ui.perfetto.dev and chrome://tracing').choices(['perfetto']).default('perfetto'))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      `
One track per thread, one slice per syscall (name, class, fd, bytes, result,
errno); the time a thread spends in epoll_wait, poll or futex is a slice of
its own, the gaps between slices are user space. Open the file at
https://ui.perfetto.dev (Open trace file) or in chrome://tracing.

Examples:
  iotrace run -r t.jsonl --events -- ./server
  iotrace export t.jsonl --format perfetto -o t.json`,
    )
    .action(async (file: string, opts: ExportCliOptions) => {
      const run = async (write: (text: string) => void): Promise<void> => {
        const r = await exportPerfetto(file, write);
        for (const w of r.warnings) process.stderr.write(`iotrace: warning: ${w}\n`);
        if (opts.output) process.stderr.write(`iotrace: ${r.slices} slices written to ${opts.output}\n`);
      };
      // stdout is written synchronously on Linux (files, pipes and terminals): memory stays bounded.
      if (opts.output) await toFile(opts.output, run);
      else await run((text) => void process.stdout.write(text));
    });
}
