// SPDX-License-Identifier: MIT
// `iotrace classify <recording>`: the I/O model of a recorded session, or of
// a window of it (--from/--to seconds), computed again from its snapshots.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';

import { classify } from '../classify';
import { formatClassification } from '../classify/format';
import type { Classification } from '../classify/vocabulary';
import { EXIT_USAGE, IotraceError } from '../errors';
import { readRecording } from '../recording';
import type { Snapshot } from '../snapshot';
import { windowOf } from '../snapshot-window';

function parseOffset(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new InvalidArgumentError('expected seconds from the start, e.g. 0 or 12.5.');
  return n;
}

export interface ClassifyResult {
  file: string;
  /** The window actually used: the snapshots nearest inside [from, to]. */
  fromSec: number;
  toSec: number;
  classification: Classification;
}

export async function classifyRecording(file: string, fromSec = 0, toSec = Infinity): Promise<{ result: ClassifyResult; warnings: string[] }> {
  if (toSec <= fromSec) throw new IotraceError('EUSAGE', `--to (${toSec}) must be after --from (${fromSec})`, EXIT_USAGE);
  // Two snapshots in memory whatever the file's size: the last at or before
  // --from, and the last at or before --to.
  let before: Snapshot | undefined;
  let last: Snapshot | undefined;
  let snapshots = 0;
  // Snapshots come a little after each interval: a bound snaps to the nearest
  // one within half an interval.
  let slack = 0;
  const { header, warnings } = await readRecording(file, {
    header: (h) => {
      slack = h.intervalMs / 2000;
    },
    snapshot: ({ snapshot }) => {
      snapshots++;
      const t = snapshot.tNs / 1e9;
      if (fromSec > 0 && t <= fromSec + slack) before = snapshot;
      if (t <= toSec + slack) last = snapshot;
    },
  });
  if (!snapshots) throw new IotraceError('EBADREC', `${file}: the recording has a header but no snapshot yet`);
  if (!last || (before && last.tNs <= before.tNs)) {
    throw new IotraceError('EUSAGE', `${file}: no snapshot between ${fromSec} s and ${toSec} s (snapshots are ${header.intervalMs / 1000} s apart)`);
  }
  const window = windowOf(before, last);
  return {
    result: {
      file,
      fromSec: before ? before.tNs / 1e9 : 0,
      toSec: last.tNs / 1e9,
      classification: classify({ window, inspection: header.inspection ?? null }),
    },
    warnings,
  };
}

export function registerClassify(program: Command): void {
  program
    .command('classify')
    .description('name the I/O model of a recorded session, or of a window of it')
    .argument('<file>', 'a recording written by --record')
    .option('--from <seconds>', 'start of the window, seconds from the session start', parseOffset)
    .option('--to <seconds>', 'end of the window, seconds from the session start', parseOffset)
    .option('--json', 'print { file, fromSec, toSec, classification } as one JSON document')
    .addHelpText(
      'after',
      `
The window snaps to the recording's snapshots: it starts at the last snapshot
at or before --from and ends at the last one at or before --to (each within
half an interval).
docs/classifier.md explains every label and figure.

Examples:
  iotrace classify session.jsonl                  the whole session
  iotrace classify session.jsonl --from 10 --to 20
  iotrace classify session.jsonl --json | jq '.classification.wait'`,
    )
    .action(async (file: string, opts: { from?: number; to?: number; json?: boolean }) => {
      const { result, warnings } = await classifyRecording(file, opts.from ?? 0, opts.to ?? Infinity);
      for (const w of warnings) process.stderr.write(`iotrace: warning: ${w}\n`);
      if (opts.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${file}: ${result.fromSec.toFixed(1)} s to ${result.toSec.toFixed(1)} s\n`);
      process.stdout.write(formatClassification(result.classification).join('\n') + '\n');
    });
}
