// SPDX-License-Identifier: MIT
// `iotrace report <file>`: the summary of a recorded session.
import type { Command } from 'commander';

import { IotraceError } from '../errors';
import { formatSummary } from '../format';
import { readRecording } from '../recording';
import type { Snapshot } from '../snapshot';
import { summarize, type Summary } from '../summary';

/** The summary of a recording: its summary line, or, if iotrace died first, one made from its last snapshot. */
export async function summaryOfRecording(file: string): Promise<Summary> {
  let last: Snapshot | undefined;
  let summary: Summary | undefined;
  const { header, warnings } = await readRecording(file, {
    snapshot: (s) => {
      last = s.snapshot;
    },
    summary: (s) => {
      summary = s.summary;
    },
  });
  if (summary) return { ...summary, warnings: [...summary.warnings, ...warnings] };
  if (!last) throw new IotraceError('EBADREC', `${file}: the recording has a header but no snapshot yet`);
  return summarize({
    header,
    snapshot: last,
    endReason: 'unknown (no summary line: iotrace did not finish)',
    exit: null,
    warnings: [...warnings, `${file}: no summary line; this summary is built from the last snapshot, at ${(last.tNs / 1e9).toFixed(1)} s`],
  });
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('print the summary of a recording')
    .argument('<file>', 'a recording written by --record')
    .option('--json', 'print the summary as one JSON document on stdout')
    .addHelpText(
      'after',
      `
A recording cut short (iotrace killed, disk full) is read up to its last
complete line, with a warning.

Examples:
  iotrace report session.jsonl
  iotrace report session.jsonl --json | jq '.syscalls[0]'`,
    )
    .action(async (file: string, opts: { json?: boolean }) => {
      const summary = await summaryOfRecording(file);
      for (const w of summary.warnings) process.stderr.write(`iotrace: warning: ${w}\n`);
      if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else process.stdout.write(formatSummary(summary));
    });
}
