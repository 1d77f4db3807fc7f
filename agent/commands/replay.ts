// SPDX-License-Identifier: MIT
// `iotrace replay <recording>`: the dashboard driven by a recording, or its
// per-interval lines when there is no terminal (or --no-ui).
import { InvalidArgumentError, type Command } from 'commander';

import { IotraceError } from '../errors';
import { formatLiveLine } from '../format';
import { readRecording } from '../recording';
import { indexRecording, loadSnapshot } from '../recording-index';
import type { Snapshot } from '../snapshot';

interface ReplayCliOptions {
  speed: number;
  from: number;
  ui: boolean;
}

function parseSpeed(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n >= 0.25 && n <= 64)) throw new InvalidArgumentError('a speed from 0.25 to 64, e.g. 2.');
  return n;
}

function parseFrom(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new InvalidArgumentError('expected seconds from the start, e.g. 0 or 12.5.');
  return n;
}

/** The live view's lines, at once: one per snapshot from --from on. */
async function printLines(file: string, fromSec: number): Promise<void> {
  let prev: Snapshot | undefined;
  const { warnings } = await readRecording(file, {
    snapshot: ({ snapshot }) => {
      if (snapshot.tNs >= fromSec * 1e9) process.stdout.write(formatLiveLine(snapshot, prev) + '\n');
      prev = snapshot;
    },
  });
  if (!prev) throw new IotraceError('EBADREC', `${file}: the recording has a header but no snapshot yet`);
  for (const w of warnings) process.stderr.write(`iotrace: warning: ${w}\n`);
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('replay a recording in the dashboard (or print its per-interval lines)')
    .argument('<file>', 'a recording written by --record')
    .option('--speed <n>', 'playback speed, 0.25 to 64', parseSpeed, 1)
    .option('--from <seconds>', 'start at this many seconds from the session start', parseFrom, 0)
    .option('--no-ui', 'print the per-interval lines at once instead of the dashboard')
    .addHelpText(
      'after',
      `
Keys: space play/pause, right/left (n/b) one snapshot forward/back, ]/[ (+/-)
faster/slower, home/end (g/G) seek to the start/end, ? help, q quit.
Without a terminal on stdout it prints the lines, as --no-ui does.

Examples:
  iotrace replay session.jsonl
  iotrace replay session.jsonl --speed 4 --from 30
  iotrace replay session.jsonl --no-ui | less`,
    )
    .action(async (file: string, opts: ReplayCliOptions) => {
      if (!opts.ui || process.stdout.isTTY !== true) {
        await printLines(file, opts.from);
        return;
      }
      // The whole file is checked before the screen opens: a bad line is an
      // error on a normal terminal.
      const index = await indexRecording(file);
      // blessed is loaded only for a dashboard.
      const { ReplayPlayer } = await import('../../dashboard/player');
      const player = new ReplayPlayer(
        {
          file,
          header: index.header,
          count: index.count,
          timeNs: (i) => index.timeNs(i),
          load: (i) => loadSnapshot(index, i),
        },
        { speed: opts.speed, fromSec: opts.from },
      );
      try {
        await player.run();
      } finally {
        player.close();
      }
      for (const w of index.warnings) process.stderr.write(`iotrace: warning: ${w}\n`);
    });
}
